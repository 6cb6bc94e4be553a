//! The deployment document: the one value that flows through the state machine, and every
//! decision taken over it. Phase functions read AWS, call these, and write AWS; nothing here
//! does I/O, so every rule is unit-tested without AWS.
//!
//! This file holds the document's types and what every phase uses; each phase has its own file
//! (start, hook, shift, bake, control, rollback, ending, undo; lifecycle: the events each phase puts on
//! EventBridge), adding one `impl` block per type for that phase's
//! rules, and routing.rs holds where an alias routes and how one is written. No other module
//! adds methods to these types.

mod bake;
mod control;
mod ending;
mod hook;
pub mod lifecycle;
mod rollback;
mod routing;
mod shift;
mod start;
mod undo;

pub use bake::{
    CheckAnswer, OVERTIME_SECONDS, Verdict, WATCH_GRACE_SECONDS, WatchCall, WatchOutcome,
};
pub use control::{Hold, HoldKind};
pub use ending::{SettledBy, Settlement};
pub use hook::{
    DEFAULT_RETRY_AFTER_SECONDS, HOOK_INVOCATION_SECONDS, HookAnswer, HookNext, HookPhase, HookRun,
    MAX_HOOK_ANSWER_BYTES, MAX_HOOK_STATE_BYTES,
};
pub use lifecycle::{Lifecycle, LifecycleEvent};
pub use rollback::RollbackOutcome;
pub use routing::{AliasDecision, AliasSnapshot, AliasWrite, Routing};
pub use start::{
    CheckedTarget, ResolvedTarget, VersionInfo, VersionSource, VersionState, require_function,
};
pub use undo::{Undo, UndoAsked, undo_point};

use crate::analysis::{Analysis, Tally};
use crate::bounds::{HISTORY_HEAD, MAX_EVENT_CHARS, MAX_HISTORY_EVENTS, clip};
use crate::budget::Cost;
use crate::error::Error;
use crate::failure::Failure;
use crate::hooks::Hooks;
use crate::ledger::AliasLock;
use crate::names::{AlarmName, AliasName, FunctionRef};
use crate::strategy::{PausePolicy, Plan};
use crate::time::Timestamp;
use crate::weight::{Version, Weight};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the state machine branches on after each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Validated; no alias shifted yet.
    Ready,
    /// Every target already serves its target version: the deployment ends here.
    NothingToDeploy,
    /// The current step is baking: Wait, then check alarms.
    Baking,
    /// The current step baked cleanly: shift to the next one.
    ShiftNext,
    /// The last step is done and baked: every alias serves its target version only.
    AllShifted,
    /// An alarm fired (or vanished): roll back.
    AlarmBreached,
    /// Every alias sluice moved is back on its previous version.
    RolledBack,
    /// Some alias was not as sluice left it and was left alone; the failure says which.
    RollbackIncomplete,
    /// Every alias serves its new version and the locks are released: the record's last word,
    /// written after the state machine's last Choice.
    Deployed,
}

impl Status {
    /// The status as the document and the state machine's Choices write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "Ready",
            Status::NothingToDeploy => "NothingToDeploy",
            Status::Baking => "Baking",
            Status::ShiftNext => "ShiftNext",
            Status::AllShifted => "AllShifted",
            Status::AlarmBreached => "AlarmBreached",
            Status::RolledBack => "RolledBack",
            Status::RollbackIncomplete => "RollbackIncomplete",
            Status::Deployed => "Deployed",
        }
    }

    /// An ending recorded for good: no later phase or safety net changes it.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Status::RolledBack
                | Status::RollbackIncomplete
                | Status::Deployed
                | Status::NothingToDeploy
        )
    }

    /// Every status; the contract tests hold the state machine's Choices to exactly these
    /// (less `Deployed`, which no Choice follows).
    pub const ALL: [Status; 9] = [
        Status::Ready,
        Status::NothingToDeploy,
        Status::Baking,
        Status::ShiftNext,
        Status::AllShifted,
        Status::AlarmBreached,
        Status::RolledBack,
        Status::RollbackIncomplete,
        Status::Deployed,
    ];
}

/// What a deployment does with one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Shift traffic from `previousVersion` to `targetVersion` per the plan.
    Shift,
    /// The alias did not exist (a first deployment): the first shift, after the PreTraffic hook
    /// passed, creates it on the target version.
    Created,
    /// The alias already serves the target version.
    Unchanged,
}

/// The shape of the document this code writes. Later shapes only add fields (with defaults), so
/// every phase, and reconcile after an upgrade of sluice, reads the documents of earlier ones;
/// fields a phase does not know are ignored.
pub const SCHEMA_VERSION: u32 = 7;

fn schema_v1() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetState {
    /// The function as the request named it.
    pub function_name: FunctionRef,
    /// The function's unqualified ARN, as Lambda named it (what the alias lock is keyed on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    pub alias: AliasName,
    pub action: Action,
    /// The version that served before: the rollback point. None when the alias was created.
    pub previous_version: Option<Version>,
    pub target_version: Version,
    /// The alias RevisionId sluice last read or wrote; empty for an alias not created yet.
    pub revision_id: String,
}

impl TargetState {
    /// "function:alias", as messages name it.
    pub fn name(&self) -> String {
        format!("{}:{}", self.function_name, self.alias)
    }

    /// The lock on this target's alias (held only when the deployment moves it).
    pub fn alias_lock(&self) -> AliasLock {
        // Documents of the first shape carry no ARN; they never held locks either.
        let function = self
            .function_arn
            .as_deref()
            .unwrap_or(self.function_name.as_str());
        AliasLock::of(function, self.alias.as_str(), self.name())
    }

    /// The lock this target needs, when the deployment moves it.
    pub fn lock(&self) -> Option<AliasLock> {
        (self.action != Action::Unchanged).then(|| self.alias_lock())
    }
}

/// Bake progress of the current step, counted in the state machine's own Wait seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Bake {
    pub required_seconds: u64,
    pub elapsed_seconds: u64,
    /// From when the next check reads the alarms' history (the first shift, then each check, across
    /// steps), so an alarm that fired and cleared between two checks is still seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_since: Option<Timestamp>,
    /// Checks past the bake's end whose alarms could not be read (the bake is never over on one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unread_checks: u64,
    /// When this step's shift landed: the analysis reads the versions' metrics from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shifted_at: Option<Timestamp>,
    /// Checks made in this step so far (the first one does not judge latency: warm-up).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub checks: u64,
    /// How long the bake went on past its end, waiting for enough traffic for a verdict.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kept_baking_seconds: u64,
    /// The start of the newest minute the last check's metrics had data for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_until: Option<Timestamp>,
    /// Checks past the bake's end that waited for Lambda's metrics to arrive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lag_checks: u64,
    /// Commands this step took so far: each starts the step's bake anew in the state machine, at
    /// its own meeting point in the ledger (`bake_slot`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u64,
    /// A gate waiting for approval, or an operator's pause: the bake goes on (alarms and the
    /// analysis judge) until it is approved or resumed, or its time runs out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

/// The safety net could not settle the deployment (yet): when, and why. It tries again (the
/// sweeper, on its schedule) until it can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyNetNote {
    pub at: Timestamp,
    pub why: String,
}

/// When and why a bake lost its watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchLost {
    /// The step whose bake it was.
    pub step: usize,
    pub at: Timestamp,
    /// The watch task's error, as Step Functions caught it.
    pub failure: Failure,
}

/// One line of the deployment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub at: Timestamp,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The shape this document was written in (absent: 1, the first).
    #[serde(default = "schema_v1")]
    pub schema_version: u32,
    pub deployment_id: String,
    /// The execution running this deployment: the holder of its alias locks.
    #[serde(default)]
    pub execution_arn: String,
    pub status: Status,
    /// The strategy's short name, as the request wrote it or described ("canary 5% 30s").
    pub strategy_name: String,
    pub plan: Plan,
    pub targets: Vec<TargetState>,
    pub alarms: Vec<AlarmName>,
    pub hooks: Hooks,
    /// The canary analysis of the versions' own metrics (None: turned off, or a document written
    /// before sluice had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// The analysis' failed checks so far.
    #[serde(default, skip_serializing_if = "Tally::is_empty")]
    pub tally: Tally,
    /// Alarms allowed to be in ALARM as the deployment started (`allowFiringAlarms`) that have not
    /// left ALARM since: ignored until they do, then they guard as usual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excused_alarms: Vec<AlarmName>,
    /// An alarm without data is a breach (`insufficientData: "breach"`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub insufficient_data_breaches: bool,
    /// Who asked for the deployment (`requestedBy`: the CLI writes the caller's STS identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Why (`reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The deployment this one undoes (`sluice rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// A dry run (`dryRun`): validation, hooks, bakes, alarms and analysis as the deployment would
    /// have them, but no alias is ever written and no lock taken (`locks` is empty), and the
    /// alias journal does not list it. Always written: the hooks' payloads name it.
    #[serde(default)]
    pub dry_run: bool,
    /// What would refuse the real deployment that a dry run goes through (a freeze in scope): its
    /// ending says so, and the CLI exits as for a refusal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_refuse: Vec<String>,
    /// How long an operator may pause the deployment in all, and what then (`pause`).
    #[serde(default, skip_serializing_if = "PausePolicy::is_default")]
    pub pause: PausePolicy,
    /// How long it was paused so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paused_seconds: u64,
    /// The gates passed (by the index of the step each came before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates_passed: Vec<usize>,
    /// An operator sent it to 100 % (`sluice promote --full`): the next shift is the last step.
    #[serde(default, skip_serializing_if = "is_false")]
    pub promoted_full: bool,
    /// Operators' commands applied so far (the history budget holds `MAX_COMMANDS`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commands: u64,
    /// The command that interrupted the bake, as the state machine's Bake Catch wrote it: the
    /// bake's check then applies the command (read from the ledger) instead of checking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt: Option<Failure>,
    /// What passed without a verdict or a reading, for the CLI and the final message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How often the backstop reads the alarms during a bake (alarm events need no reading).
    /// Documents written before its rename call it pollIntervalSeconds.
    #[serde(alias = "pollIntervalSeconds")]
    pub check_interval_seconds: u64,
    /// Why the check interval is longer than the default (validate stretched it to fit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval_note: Option<String>,
    /// What the execution costs in history events and state transitions, when nothing fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Index into `plan` of the step on the aliases now; None before the first shift.
    pub step: Option<usize>,
    /// The weight on the aliases now.
    pub weight: Weight,
    pub bake: Bake,
    /// How long the next Wait state waits (its SecondsPath).
    pub next_wait_seconds: u64,
    /// How long the bake's watch waits for its token before giving up on events (its
    /// TimeoutSecondsPath): the bake left plus a grace; the backstop decides the bake anyway.
    #[serde(default)]
    pub watch_timeout_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<Verdict>,
    /// The traffic hook being run (or last run): what the state machine's hook loop calls, waits
    /// for and branches on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_run: Option<HookRun>,
    /// A bake whose watch was lost (it failed, or outlived the bake): alarm events did not stop
    /// it, only the backstop's checks did (written by the state machine's WatchLost state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_lost: Option<WatchLost>,
    /// The safety net's last failure to settle this deployment, while it is unsettled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_net: Option<SafetyNetNote>,
    pub history: Vec<Event>,
    /// History lines dropped to keep the document small (the first and the latest are kept).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_dropped: u64,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Deployment {
    /// Reads a document handed in by the state machine.
    pub fn from_json(value: Value) -> Result<Deployment, Error> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            Error::internal(format!(
                "the deployment document is not one sluice wrote ({}: {})",
                e.path(),
                e.inner()
            ))
        })
    }

    pub fn to_json(&self) -> Value {
        // A document of plain data always serializes.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The locks this deployment holds while it runs, one per alias it moves (none in a dry
    /// run: it moves none, and must not keep a real deployment out).
    pub fn locks(&self) -> Vec<AliasLock> {
        if self.dry_run {
            return Vec::new();
        }
        self.targets.iter().filter_map(TargetState::lock).collect()
    }

    /// "step 2/3", as messages name the step on the aliases now.
    fn step_label(&self) -> String {
        format!(
            "step {}/{}",
            self.step.map_or(0, |s| s + 1),
            self.plan.step_count()
        )
    }

    /// Adds a line to the history, clipped, dropping the oldest line after the head when full.
    pub(crate) fn record(&mut self, now: Timestamp, message: String) {
        self.updated_at = now;
        if self.history.len() >= MAX_HISTORY_EVENTS {
            self.history.remove(HISTORY_HEAD);
            self.history_dropped += 1;
        }
        self.history.push(Event {
            at: now,
            message: clip(&message, MAX_EVENT_CHARS),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_target, t};
    use serde_json::json;

    #[test]
    fn the_document_round_trips_and_refuses_strangers() {
        let mut d = one_target(json!("Linear10PercentEvery1Minute"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let json = d.to_json();
        assert_eq!(json["status"], "Baking");
        assert_eq!(json["weight"], 10);
        assert_eq!(json["strategyName"], "Linear10PercentEvery1Minute");
        assert!(
            json["hooks"].get("preTraffic").is_none(),
            "absent hooks stay absent for IsPresent"
        );
        assert_eq!(Deployment::from_json(json.clone()).unwrap(), d);
        let mut bad = json;
        bad["plan"][0]["weight"] = json!(150);
        let err = Deployment::from_json(bad).unwrap_err();
        assert_eq!(err.name, crate::ErrorName::InternalError);
        assert!(err.message.contains("plan"), "{}", err.message);
    }

    /// Documents written by the first shape (before the ledger) are still read: reconcile
    /// meets them after an upgrade of sluice, and rollback must still work on them.
    #[test]
    fn documents_of_the_first_shape_are_read_and_rolled_back() {
        for golden in [
            include_str!("../../tests/golden/v1-breached.json"),
            include_str!("../../tests/golden/v1-baking.json"),
        ] {
            let value: serde_json::Value = serde_json::from_str(golden).unwrap();
            assert!(
                value.get("schemaVersion").is_none(),
                "a first-shape document"
            );
            let d = Deployment::from_json(value).unwrap();
            assert_eq!(d.schema_version, 1);
            assert_eq!(d.execution_arn, "");
            assert!(!d.targets.is_empty());
        }
        let mut d = Deployment::from_json(
            serde_json::from_str(include_str!("../../tests/golden/v1-breached.json")).unwrap(),
        )
        .unwrap();
        let outcomes = d
            .targets
            .iter()
            .map(|t| match t.restore_to() {
                Ok(_) => RollbackOutcome::RolledBack {
                    revision_id: "r9".into(),
                },
                Err(leave) => leave,
            })
            .collect();
        d.record_rollback(outcomes, t(9)).unwrap();
        assert_eq!(d.status, Status::RolledBack);
    }

    #[test]
    fn fields_a_phase_does_not_know_are_ignored() {
        let mut json = one_target(json!("AllAtOnce"), &[]).to_json();
        json["aFieldOfALaterShape"] = json!({"anything": [1, 2]});
        json["targets"][0]["anotherOne"] = json!(true);
        assert!(Deployment::from_json(json).is_ok());
    }

    #[test]
    fn a_deployment_locks_each_alias_it_moves() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.targets[0].function_arn = Some("arn:aws:lambda:us-east-1:1:function:orders".into());
        let locks = d.locks();
        assert_eq!(locks.len(), 1);
        assert_eq!(
            locks[0].key,
            "LOCK#arn:aws:lambda:us-east-1:1:function:orders#live"
        );
        assert_eq!(locks[0].alias, "orders:live");
    }

    #[test]
    fn unchanged_targets_take_no_lock() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.targets[0].action = Action::Unchanged;
        assert!(d.locks().is_empty());
    }

    #[test]
    fn every_status_is_listed_once() {
        // A new variant fails to compile here until it is added to Status::ALL.
        let position = |s: Status| match s {
            Status::Ready => 0,
            Status::NothingToDeploy => 1,
            Status::Baking => 2,
            Status::ShiftNext => 3,
            Status::AllShifted => 4,
            Status::AlarmBreached => 5,
            Status::RolledBack => 6,
            Status::RollbackIncomplete => 7,
            Status::Deployed => 8,
        };
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(position(*s), i);
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
    }
}
