//! The deployment ledger, as sluice-core sees it: its four kinds of item and their rules.
//! Storage (one DynamoDB table with a hash key only) lives in sluice-aws.
//!
//! - `LOCK#<function ARN>#<alias>`: who holds an alias, and when one may take it over.
//! - `DEPLOYMENT#<id>`: a deployment's record, its latest document; settled once, never again.
//! - `WATCH#<alarm name>`: every bake watching an alarm, by deployment id (one read finds all the
//!   watches of an alarm), and what an alarm event does to each.
//! - `BAKE#<deployment id>#<step>`: where a bake's watch and the bake's end meet: whichever comes
//!   second finishes the watch's task.
//! - `ALIAS#<function ARN>#<alias>#<deployment id>`: the alias journal, one entry per alias a
//!   deployment moves (what `sluice history` and `sluice rollback` read, newest first, through
//!   the `journal` index).
//! - `FREEZE#*` and `FREEZE#<function ARN>`: a freeze validate honours (`sluice freeze`).

use crate::alarms::BakePoint;
use crate::bounds::{MAX_CAUSE_CHARS, MAX_REASON_CHARS, clip};
use crate::error::{Error, ErrorName};
use crate::events::AlarmEvent;
use crate::failure::Failure;
use crate::names::AlarmName;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The ledger key of the lock on `alias` of the function with this ARN.
pub fn lock_key(function_arn: &str, alias: &str) -> String {
    format!("LOCK#{function_arn}#{alias}")
}

/// The ledger key of a deployment's record.
pub fn record_key(deployment_id: &str) -> String {
    format!("DEPLOYMENT#{deployment_id}")
}

/// The ledger key of an alarm's watches.
pub fn watch_key(alarm: &AlarmName) -> String {
    format!("WATCH#{alarm}")
}

/// The ledger key where a bake's watch, the bake's end and operators' commands meet; `slot` is
/// the bake's `Deployment::bake_slot` (the step, and how many commands it took before).
pub fn bake_key(deployment_id: &str, slot: &str) -> String {
    format!("BAKE#{deployment_id}#{slot}")
}

/// What an operator asks of a running deployment (`sluice approve`, `pause`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandKind {
    /// Pass the gate the deployment waits at.
    Approve,
    /// Roll back from the gate the deployment waits at.
    Reject,
    /// Hold at the current weight (alarms and analysis keep judging).
    Pause,
    /// Go on from a pause with the bake that was left.
    Resume,
    /// Skip the rest of the current bake (or pause; at a gate: approve).
    Promote,
    /// Go to 100 % now, skipping the steps and gates left.
    PromoteFull,
}

impl CommandKind {
    /// The command as the CLI names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Approve => "approve",
            CommandKind::Reject => "reject",
            CommandKind::Pause => "pause",
            CommandKind::Resume => "resume",
            CommandKind::Promote => "promote",
            CommandKind::PromoteFull => "promote --full",
        }
    }
}

/// A command, who gave it and why: kept at the bake's meeting point, where the ledger decides
/// whether it or the bake's own end came first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub kind: CommandKind,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: Timestamp,
}

impl Command {
    /// "promote by arn:… (\"reason\")".
    pub fn describe(&self) -> String {
        let why = self
            .reason
            .as_ref()
            .map_or(String::new(), |r| format!(" ({})", crate::bounds::quote(r)));
        format!("{} by {}{why}", self.kind.as_str(), self.by)
    }
}

/// A bake's meeting point as a write found it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeetingPoint {
    /// The watch's task token, once the watch began.
    pub token: Option<String>,
    /// The bake's own end was recorded.
    pub ended: bool,
    /// An operator's command was recorded.
    pub command: Option<Command>,
}

/// The ledger's index of what may need the safety net: every record not settled yet and every
/// lock (each carries an `open` attribute, which a settled record drops). The sweeper reads it.
pub const OPEN_INDEX: &str = "open";
/// The `open` attribute of an unsettled record.
pub const OPEN_DEPLOYMENT: &str = "deployment";
/// The `open` attribute of a lock.
pub const OPEN_LOCK: &str = "lock";

/// The ledger's index of the alias journal and the freezes: partition `journal` (an alias's
/// [`alias_journal`], or [`FREEZES`]), sorted by `at` (epoch milliseconds).
pub const JOURNAL_INDEX: &str = "journal";
/// The journal partition that lists every freeze.
pub const FREEZES: &str = "FREEZES";

/// The journal partition of one alias: every deployment that moved it.
pub fn alias_journal(function_arn: &str, alias: &str) -> String {
    format!("ALIAS#{function_arn}#{alias}")
}

/// The ledger key of one deployment's entry in an alias's journal.
pub fn alias_entry_key(function_arn: &str, alias: &str, deployment_id: &str) -> String {
    format!("{}#{deployment_id}", alias_journal(function_arn, alias))
}

/// What a freeze stops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "functionArn")]
pub enum FreezeScope {
    /// Every deployment the state machine runs.
    All,
    /// Every deployment moving an alias of the function with this ARN.
    Function(String),
}

impl FreezeScope {
    /// The ledger key of the freeze of this scope.
    pub fn key(&self) -> String {
        match self {
            FreezeScope::All => "FREEZE#*".into(),
            FreezeScope::Function(arn) => format!("FREEZE#{arn}"),
        }
    }
}

/// A freeze: no new deployment in its scope starts until it is lifted or its `until` passes,
/// unless the request overrides it with a reason (`sluice rollback` always does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freeze {
    pub scope: FreezeScope,
    /// The function as the operator named it, for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    pub reason: String,
    /// Who froze (the caller's STS identity).
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Freeze {
    /// Whether it still stops deployments at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// "orders frozen by arn:… since T until U: \"holiday\"".
    pub fn describe(&self) -> String {
        let what = match (&self.scope, &self.function_name) {
            (FreezeScope::All, _) => "every deployment".to_string(),
            (FreezeScope::Function(_), Some(name)) => format!("function {name}"),
            (FreezeScope::Function(arn), None) => format!("function {arn}"),
        };
        let until = self
            .until
            .map_or(" (until unfrozen)".to_string(), |u| format!(" until {u}"));
        format!(
            "{what} frozen by {} since {}{until}: {}",
            self.by,
            self.at,
            crate::bounds::quote(&self.reason)
        )
    }
}

/// What validate does about the freezes in scope of a request at `now`: refuses it with
/// `Frozen`, naming every freeze, who and why; or, when the request overrides freezes with a
/// reason, the history lines that say so. Freezes past their `until` are not in force.
pub fn judge_freezes(
    freezes: &[Freeze],
    now: Timestamp,
    override_reason: Option<&str>,
) -> Result<Vec<String>, Error> {
    let held: Vec<&Freeze> = freezes.iter().filter(|f| f.in_force(now)).collect();
    if held.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(reason) = override_reason {
        return Ok(held
            .iter()
            .map(|f| {
                format!(
                    "{}; overridden by the request (overrideFreeze): {}",
                    f.describe(),
                    crate::bounds::quote(reason)
                )
            })
            .collect());
    }
    let list: Vec<String> = held.iter().map(|f| f.describe()).collect();
    Err(Error::new(
        ErrorName::Frozen,
        clip(
            &format!(
                "deployments are frozen: {}. Nothing was touched. Wait for the freeze to end, lift \
                 it (sluice unfreeze), or override it with a reason (\"overrideFreeze\", \
                 sluice deploy --override-freeze REASON); sluice rollback always goes through",
                list.join("; ")
            ),
            MAX_CAUSE_CHARS,
        ),
    ))
}

/// One deployment in an alias's journal: what `sluice history` lists and `sluice rollback`
/// goes back from. Its outcome is the deployment's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasEntry {
    pub deployment_id: String,
    pub execution_arn: String,
    pub function_arn: String,
    pub function_name: String,
    pub alias: String,
    pub started_at: Timestamp,
    /// The version fully live before it (None: it created the alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    pub target_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The deployment it undid (a `sluice rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

impl AliasEntry {
    /// Its ledger key.
    pub fn key(&self) -> String {
        alias_entry_key(&self.function_arn, &self.alias, &self.deployment_id)
    }
}

/// What the open index holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenItem {
    /// A record not settled yet.
    Deployment {
        deployment_id: String,
        execution_arn: String,
    },
    /// A lock and its holder.
    Lock { key: String, holder: LockHolder },
}

/// Who holds an alias lock: a deployment and the execution running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    pub deployment_id: String,
    pub execution_arn: String,
    /// When the lock was taken.
    pub since: Timestamp,
}

/// One alias lock a deployment needs: its ledger key and the alias it guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasLock {
    pub key: String,
    /// "function:alias", for messages.
    pub alias: String,
}

impl AliasLock {
    /// The lock on `alias` of the function with this ARN; `name` is "function:alias".
    pub fn of(function_arn: &str, alias: &str, name: String) -> AliasLock {
        AliasLock {
            key: lock_key(function_arn, alias),
            alias: name,
        }
    }
}

/// What to do about a lock someone already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldLock {
    /// This very execution holds it (a retried validate): keep it.
    Ours,
    /// Its holder's execution is no longer running: take it over, saying so.
    Stale(String),
    /// Another running deployment holds it.
    Busy(Error),
}

/// Judges a lock `held` by someone, for the execution `me`, given whether the holder's
/// execution still runs.
pub fn judge_lock(me: &str, lock: &AliasLock, held: &LockHolder, holder_running: bool) -> HeldLock {
    if held.execution_arn == me {
        HeldLock::Ours
    } else if !holder_running {
        HeldLock::Stale(format!(
            "{}: took over the lock of deployment {} (execution {}, no longer running, locked since {})",
            lock.alias, held.deployment_id, held.execution_arn, held.since
        ))
    } else {
        HeldLock::Busy(Error::new(
            ErrorName::AliasBusy,
            format!(
                "{} is being deployed by {} (execution {}, since {}). Let it finish, or stop that \
                 execution (sluice then rolls it back), and start again",
                lock.alias, held.deployment_id, held.execution_arn, held.since
            ),
        ))
    }
}

/// One deployment's watch on an alarm during one bake (kept in the alarm's `WATCH#` item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    pub deployment_id: String,
    pub execution_arn: String,
    /// The task token the bake's Watch state waits on.
    pub token: String,
    /// Index of the step baking.
    pub step: usize,
    /// "step 1/2 (10% on the new version": where a breach happens.
    pub label: String,
    /// When the deployment started: an alarm event from before it is not about it.
    pub since: Timestamp,
    /// When the watch began, and how much of the bake had passed by then.
    pub watching_since: Timestamp,
    pub baked_seconds: u64,
    pub bake_seconds: u64,
}

impl Watch {
    /// What an alarm event does to this watch: the failure to send its task, or None when the
    /// event does not stop it (the alarm did not go to ALARM, or changed before the deployment
    /// started).
    pub fn stopped_by(&self, event: &AlarmEvent) -> Option<Failure> {
        if !event.stops_bakes() {
            return None;
        }
        if let Some(changed) = event.at
            && changed < self.since
        {
            return None;
        }
        let baked = match event.at {
            Some(changed) => (self.baked_seconds + changed.seconds_since(self.watching_since))
                .min(self.bake_seconds),
            None => self.baked_seconds,
        };
        let reason = if event.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", clip(&event.reason, MAX_REASON_CHARS))
        };
        let at = BakePoint {
            label: self.label.clone(),
            baked_seconds: baked,
            bake_seconds: self.bake_seconds,
        };
        let cause = at.breach(
            &format!("alarm {} went to ALARM{reason}", event.alarm_name),
            "; CloudWatch's alarm event stopped the bake",
        );
        Some(Failure::new(
            ErrorName::AlarmBreached,
            clip(&cause, MAX_CAUSE_CHARS),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::FromEvent;
    use crate::testing::{alarm_event, baking_at, t};
    use serde_json::Value;

    fn held(execution: &str) -> LockHolder {
        LockHolder {
            deployment_id: "d-0".into(),
            execution_arn: execution.into(),
            since: t(0),
        }
    }

    #[test]
    fn a_running_holder_refuses_a_dead_one_is_taken_over_and_our_own_is_kept() {
        let lock = AliasLock::of(
            "arn:aws:lambda:us-east-1:1:function:orders",
            "live",
            "orders:live".into(),
        );
        assert_eq!(
            lock.key,
            "LOCK#arn:aws:lambda:us-east-1:1:function:orders#live"
        );
        assert_eq!(
            judge_lock("arn:me", &lock, &held("arn:me"), true),
            HeldLock::Ours
        );
        match judge_lock("arn:me", &lock, &held("arn:other"), true) {
            HeldLock::Busy(e) => {
                assert_eq!(e.name, ErrorName::AliasBusy);
                assert!(
                    e.message
                        .starts_with("orders:live is being deployed by d-0 (execution arn:other")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_lock("arn:me", &lock, &held("arn:other"), false),
            HeldLock::Stale(m) if m.contains("took over the lock of deployment d-0")
        ));
    }

    fn event(state: &str, at: &str) -> Value {
        alarm_event(state, "Threshold Crossed: 1 datapoint [3.0] >= 1.0", at)
    }

    fn watch() -> Watch {
        let d = baking_at(
            "Canary10Percent5Minutes",
            &["errors"],
            "2026-11-27T10:00:00Z",
            "2026-11-27T10:00:01Z",
        );
        d.watch("token-1", Timestamp::parse("2026-11-27T10:00:02Z").unwrap())
            .unwrap()
    }

    #[test]
    fn an_alarm_event_fails_the_watch_naming_alarm_reason_and_step() {
        let e = AlarmEvent::from_event(&event("ALARM", "2026-11-27T10:01:32.500+0000")).unwrap();
        let f = watch().stopped_by(&e).unwrap();
        assert_eq!(f.error, "AlarmBreached");
        assert_eq!(
            f.cause,
            "alarm errors went to ALARM (Threshold Crossed: 1 datapoint [3.0] >= 1.0) at step 1/2 (10% on the \
             new version, 1m30s of 5m baked); CloudWatch's alarm event stopped the bake"
        );
    }

    #[test]
    fn events_that_are_not_about_the_deployment_do_nothing() {
        let w = watch();
        let ok = AlarmEvent::from_event(&event("OK", "2026-11-27T10:01:00Z")).unwrap();
        assert_eq!(w.stopped_by(&ok), None, "only ALARM stops a bake");
        let before = AlarmEvent::from_event(&event("ALARM", "2026-11-27T09:59:59Z")).unwrap();
        assert_eq!(
            w.stopped_by(&before),
            None,
            "a change before the deployment started"
        );
    }
}
