//! validate's rules: every target, hook and alarm checked on what was read, before anything is
//! written; then how each target starts, and the first document.

use super::{Action, AliasSnapshot, Bake, Deployment, Event, Status, TargetState};
use crate::alarms::AlarmReading;
use crate::bounds::{MAX_REASON_CHARS, clip};
use crate::error::{Error, ErrorName};
use crate::ledger::LockHolder;
use crate::names::{AliasName, FunctionRef};
use crate::request::{Request, Target};
use crate::strategy::Plan;
use crate::time::Timestamp;
use crate::weight::{Version, Weight};

/// Where the version to deploy comes from, with what validate read about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// Publish the function's current code (nothing to read).
    Publish,
    /// A named version, and whether Lambda has it.
    Version { version: Version, exists: bool },
    /// Another alias of the same function, as read (None: it does not exist).
    Alias {
        name: AliasName,
        alias: Option<AliasSnapshot>,
    },
}

/// A published version as Lambda describes it: what a weighted alias and a deployment need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub state: VersionState,
    /// The execution role's ARN.
    pub role: String,
    /// The dead-letter queue or topic, if any.
    pub dead_letter: Option<String>,
}

/// A version's `State` (and why, when it is not Active).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionState {
    Active,
    /// Still being made ready (SnapStart, or an update in progress): it may become Active.
    Pending(String),
    /// Failed, or inactive: it will not serve.
    Unusable(String),
}

/// A target that passed every check: its function's ARN, its alias as read, and the version to
/// deploy (None: publish the current code, once every check has passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTarget {
    pub function_arn: String,
    pub alias: Option<AliasSnapshot>,
    pub version: Option<Version>,
}

/// A target as validate resolved it against Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTarget {
    pub function_arn: Option<String>,
    pub action: Action,
    pub previous_version: Option<Version>,
    pub target_version: Version,
    pub revision_id: String,
}

/// Refuses a function (target or hook) that Lambda does not have; otherwise its ARN.
pub fn require_function(
    field: &str,
    function: &FunctionRef,
    arn: Option<String>,
) -> Result<String, Error> {
    arn.ok_or_else(|| Error::invalid(field, format!("function {function} does not exist")))
}

impl CheckedTarget {
    /// Checks `target` (the request's `index`th) on what was read: its alias (None: not created
    /// yet) must not be mid-shift, and the version to deploy must exist and be a single version.
    pub fn of(
        target: &Target,
        index: usize,
        function_arn: String,
        alias: Option<AliasSnapshot>,
        source: VersionSource,
    ) -> Result<CheckedTarget, Error> {
        if let Some(snapshot) = &alias
            && let Some((v, w)) = &snapshot.routing.additional
        {
            return Err(Error::new(
                ErrorName::AliasBusy,
                format!(
                    "{} already routes {} to version {} besides version {}: another deployment is in progress, \
                     or one stopped half-way. Let it finish, or point the alias at one version, then start again",
                    target.name(),
                    w,
                    v,
                    snapshot.routing.version
                ),
            ));
        }
        let field = format!("targets[{index}].targetVersion");
        let version = match source {
            VersionSource::Publish => None,
            VersionSource::Version { version, exists } => {
                if !exists {
                    return Err(Error::invalid(
                        &field,
                        format!(
                            "version {version} of {} does not exist",
                            target.function_name
                        ),
                    ));
                }
                Some(version)
            }
            VersionSource::Alias { name, alias } => {
                let other = alias.ok_or_else(|| {
                    Error::invalid(
                        &field,
                        format!("alias {}:{name} does not exist", target.function_name),
                    )
                })?;
                if other.routing.additional.is_some() {
                    return Err(Error::invalid(
                        &field,
                        format!(
                            "alias {}:{name} routes to two versions ({}); name one version",
                            target.function_name,
                            other.routing.describe()
                        ),
                    ));
                }
                Some(other.routing.version)
            }
        };
        Ok(CheckedTarget {
            function_arn,
            alias,
            version,
        })
    }
}

impl ResolvedTarget {
    /// What Lambda enforces before an alias routes to this target's version, checked before any
    /// traffic moves: the version is Active (a Pending one is waited for: `TransientAws`, retried;
    /// a failed one refuses the request), and a weighted alias's two versions share their execution
    /// role and dead-letter config. `index` names the target in the request.
    pub fn check_versions(
        &self,
        target: &Target,
        index: usize,
        new: Option<&VersionInfo>,
        previous: Option<&VersionInfo>,
    ) -> Result<(), Error> {
        let field = format!("targets[{index}].targetVersion");
        let name = &target.function_name;
        let version = &self.target_version;
        let new = new.ok_or_else(|| {
            Error::invalid(
                &field,
                format!("version {version} of {name} does not exist"),
            )
        })?;
        match &new.state {
            VersionState::Active => {}
            VersionState::Pending(why) => {
                return Err(Error::new(
                    ErrorName::TransientAws,
                    format!(
                        "version {version} of {name} is not ready yet ({why}); waiting for it to be Active"
                    ),
                ));
            }
            VersionState::Unusable(why) => {
                return Err(Error::invalid(
                    &field,
                    format!("version {version} of {name} cannot serve ({why})"),
                ));
            }
        }
        let (Action::Shift, Some(previous), Some(old)) =
            (self.action, self.previous_version.as_ref(), previous)
        else {
            return Ok(());
        };
        let mut differences = Vec::new();
        if old.role != new.role {
            differences.push(format!(
                "the execution role ({} has {}, {version} has {})",
                previous, old.role, new.role
            ));
        }
        if old.dead_letter != new.dead_letter {
            let or_none = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
            differences.push(format!(
                "the dead-letter config ({} has {}, {version} has {})",
                previous,
                or_none(&old.dead_letter),
                or_none(&new.dead_letter)
            ));
        }
        if differences.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(
            &field,
            format!(
                "Lambda routes an alias to two versions only when they share their execution role \
                 and dead-letter config; versions {previous} and {version} of {name} differ in {}",
                differences.join(" and ")
            ),
        ))
    }

    /// A checked target going to `target_version`: it shifts from the version its alias serves,
    /// is already there, or (no alias yet) gets its alias created by the first shift, after the
    /// PreTraffic hook passed.
    pub fn of(checked: CheckedTarget, target_version: Version) -> ResolvedTarget {
        let function_arn = Some(checked.function_arn);
        match checked.alias {
            None => ResolvedTarget {
                function_arn,
                action: Action::Created,
                previous_version: None,
                target_version,
                revision_id: String::new(),
            },
            Some(alias) => ResolvedTarget {
                function_arn,
                action: if alias.routing.version == target_version {
                    Action::Unchanged
                } else {
                    Action::Shift
                },
                previous_version: Some(alias.routing.version),
                target_version,
                revision_id: alias.revision_id,
            },
        }
    }
}

impl Deployment {
    /// The document validate hands to the state machine.
    pub fn new(
        request: &Request,
        deployment_id: &str,
        execution_arn: &str,
        now: Timestamp,
        resolved: Vec<ResolvedTarget>,
    ) -> Result<Deployment, Error> {
        if resolved.len() != request.targets.len() {
            return Err(Error::internal("resolved targets do not match the request"));
        }
        let targets: Vec<TargetState> = request
            .targets
            .iter()
            .zip(resolved)
            .map(|(t, r)| TargetState {
                function_name: t.function_name.clone(),
                function_arn: r.function_arn,
                alias: t.alias.clone(),
                action: r.action,
                previous_version: r.previous_version,
                target_version: r.target_version,
                revision_id: r.revision_id,
            })
            .collect();
        let mut history: Vec<Event> = targets
            .iter()
            .map(|t| Event {
                at: now,
                message: match (t.action, &t.previous_version) {
                    (Action::Shift, Some(prev)) => format!(
                        "{}: version {} -> {} ({})",
                        t.name(),
                        prev,
                        t.target_version,
                        request.plan.describe()
                    ),
                    (Action::Created, _) => format!(
                        "{}: no alias yet; the first shift creates it on version {} (first deployment)",
                        t.name(),
                        t.target_version
                    ),
                    _ => format!(
                        "{}: already serves version {}, nothing to deploy",
                        t.name(),
                        t.target_version
                    ),
                },
            })
            .collect();
        let shifts = targets.iter().any(|t| t.action == Action::Shift);
        let creates = targets.iter().any(|t| t.action == Action::Created);
        let mut plan = request.plan.clone();
        let status = if shifts || creates {
            Status::Ready
        } else {
            history.push(Event {
                at: now,
                message: "nothing to deploy".into(),
            });
            Status::NothingToDeploy
        };
        if creates && !shifts {
            // No earlier version to shift traffic from: the new aliases start on the new version.
            plan = Plan::all_at_once();
            history.push(Event {
                at: now,
                message: "first deployment of every alias: no earlier version to shift from, so \
                          no canary; the aliases start on the new version at once"
                    .into(),
            });
        }
        if request.analysis.is_some() && shifts {
            for t in targets.iter().filter(|t| t.action == Action::Created) {
                history.push(Event {
                    at: now,
                    message: format!(
                        "{} is a new alias: no stable version to compare with, so the canary analysis does not judge it",
                        t.name()
                    ),
                });
            }
        }
        let p = &request.provenance;
        if p.requested_by.is_some() || p.reason.is_some() || p.rollback_of.is_some() {
            let by = p
                .requested_by
                .as_deref()
                .unwrap_or("(requestedBy not given)");
            let undo = p
                .rollback_of
                .as_ref()
                .map_or(String::new(), |id| format!(", to undo deployment {id}"));
            let why = p
                .reason
                .as_ref()
                .map_or(String::new(), |r| format!(": {}", crate::bounds::quote(r)));
            history.insert(
                0,
                Event {
                    at: now,
                    message: format!("requested by {by}{undo}{why}"),
                },
            );
        }
        if request.dry_run && status == Status::Ready {
            history.push(Event {
                at: now,
                message:
                    "dry run: validation, hooks, bakes, alarms and analysis as this deployment \
                          would have them; no alias is written and no lock taken, so the new \
                          version gets no traffic through the aliases"
                        .into(),
            });
        }
        let check_interval_note = request.check_interval.note();
        if let Some(note) = &check_interval_note {
            history.push(Event {
                at: now,
                message: note.clone(),
            });
        }
        let cost = crate::budget::success(
            &plan,
            request.check_interval.seconds,
            request.judges(),
            &request.hooks,
        );
        Ok(Deployment {
            schema_version: super::SCHEMA_VERSION,
            deployment_id: deployment_id.to_string(),
            execution_arn: execution_arn.to_string(),
            status,
            strategy_name: request.strategy_name.clone(),
            plan,
            targets,
            alarms: request.alarms.clone(),
            hooks: request.hooks.clone(),
            analysis: request.analysis.clone(),
            tally: Default::default(),
            excused_alarms: Vec::new(),
            insufficient_data_breaches: request.insufficient_data_breaches,
            requested_by: p.requested_by.clone(),
            reason: p.reason.clone(),
            rollback_of: p.rollback_of.clone(),
            dry_run: request.dry_run,
            would_refuse: Vec::new(),
            pause: request.pause,
            paused_seconds: 0,
            gates_passed: Vec::new(),
            promoted_full: false,
            commands: 0,
            interrupt: None,
            warnings: Vec::new(),
            check_interval_seconds: request.check_interval.seconds,
            check_interval_note,
            cost: Some(cost),
            step: None,
            weight: Weight::ZERO,
            bake: Bake::default(),
            next_wait_seconds: 0,
            watch_timeout_seconds: 0,
            last_check: None,
            hook_run: None,
            watch_lost: None,
            safety_net: None,
            history,
            history_dropped: 0,
            started_at: now,
            updated_at: now,
            failure: None,
        })
    }

    /// Records the freezes this deployment goes through (`overrideFreeze`), as
    /// `ledger::judge_freezes` worded them: in the history and the warnings.
    pub fn record_overridden_freezes(&mut self, lines: Vec<String>, now: Timestamp) {
        for line in lines {
            self.warnings.push(clip(&line, MAX_REASON_CHARS));
            self.record(now, line);
        }
    }

    /// Records what would refuse the real deployment a dry run stands for (the freezes in scope,
    /// as `Freeze::describe` words them): in the history, and in `would_refuse` for its ending.
    pub fn record_would_refuse(&mut self, lines: Vec<String>, now: Timestamp) {
        for line in lines {
            let line = clip(&line, MAX_REASON_CHARS);
            self.record(
                now,
                format!("dry run: a real deployment would be refused now: {line}"),
            );
            self.would_refuse.push(line);
        }
    }

    /// The alias journal's entries of this deployment: one per alias it moves.
    /// A dry run has none: it moved no alias, and `sluice rollback` must not go back from it.
    pub fn journal_entries(&self) -> Vec<crate::ledger::AliasEntry> {
        self.targets
            .iter()
            .filter(|t| t.action != Action::Unchanged && !self.dry_run)
            .map(|t| crate::ledger::AliasEntry {
                deployment_id: self.deployment_id.clone(),
                execution_arn: self.execution_arn.clone(),
                function_arn: t
                    .function_arn
                    .clone()
                    .unwrap_or_else(|| t.function_name.to_string()),
                function_name: t.function_name.to_string(),
                alias: t.alias.to_string(),
                started_at: self.started_at,
                previous_version: t.previous_version.as_ref().map(|v| v.to_string()),
                target_version: t.target_version.to_string(),
                requested_by: self.requested_by.clone(),
                reason: self.reason.clone(),
                rollback_of: self.rollback_of.clone(),
            })
            .collect()
    }

    /// The alarms firing as the deployment starts that the request allowed to
    /// (`allowFiringAlarms`, set aside by `AlarmSummary::excusing`): ignored until they leave
    /// ALARM, said in the history and the warnings.
    pub fn excuse_alarms(&mut self, firing: &[AlarmReading], now: Timestamp) {
        for a in firing {
            let reason = if a.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.reason)
            };
            let message = format!(
                "alarm {} is in ALARM as the deployment starts{reason}: allowed by allowFiringAlarms, \
                 it is ignored until it leaves ALARM, then guards the deployment",
                a.name
            );
            self.excused_alarms.push(a.name.clone());
            self.warnings.push(clip(&message, MAX_REASON_CHARS));
            self.record(now, message);
        }
    }

    /// Refuses to start over a record of an earlier execution of the same name: Step Functions
    /// lets a name be used again once it forgot the first execution (90 days after it ended),
    /// and the ledger may still hold that one's record. A record this execution wrote (a retried
    /// validate) started after the execution did.
    pub fn refuse_reused_name(&self, started: Timestamp) -> Result<(), Error> {
        const SLACK_SECONDS: u64 = 3600;
        if started.seconds_since(self.started_at) < SLACK_SECONDS {
            return Ok(());
        }
        Err(Error::new(
            ErrorName::InvalidRequest,
            format!(
                "the deployment id {} was used by an earlier deployment (started {}, {}), whose record \
                 the ledger still keeps; start this one under another name",
                self.deployment_id,
                self.started_at,
                self.status.as_str()
            ),
        ))
    }

    /// This deployment as a lock holder.
    pub fn holder(&self, now: Timestamp) -> LockHolder {
        LockHolder {
            deployment_id: self.deployment_id.clone(),
            execution_arn: self.execution_arn.clone(),
            since: now,
        }
    }

    /// Notes a lock taken over from a deployment that died holding it.
    pub fn record_takeover(&mut self, now: Timestamp, message: String) {
        self.record(now, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TargetVersion;
    use crate::testing::{EXECUTION, function, request, resolved, t, ten, v};
    use crate::{Routing, Status};
    use serde_json::json;

    fn target() -> Target {
        Target {
            function_name: function("orders"),
            alias: AliasName::parse("live").unwrap(),
            version: TargetVersion::Publish,
        }
    }

    fn snap(routing: Routing) -> AliasSnapshot {
        AliasSnapshot {
            routing,
            revision_id: "r1".into(),
        }
    }

    #[test]
    fn an_alias_with_weights_is_busy() {
        let err = CheckedTarget::of(
            &target(),
            0,
            "arn:f".into(),
            Some(snap(ten())),
            VersionSource::Publish,
        )
        .unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy);
        assert!(
            err.message
                .contains("orders:live already routes 10% to version 2 besides version 1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_version_to_deploy_must_exist_and_be_single() {
        let t = target();
        let named = |exists| VersionSource::Version {
            version: v("9"),
            exists,
        };
        assert_eq!(
            CheckedTarget::of(&t, 0, "arn:f".into(), None, named(true))
                .unwrap()
                .version,
            Some(v("9"))
        );
        let err = CheckedTarget::of(&t, 2, "arn:f".into(), None, named(false)).unwrap_err();
        assert_eq!(
            err.message,
            "targets[2].targetVersion: version 9 of orders does not exist"
        );
        let of_alias = |alias| VersionSource::Alias {
            name: AliasName::parse("candidate").unwrap(),
            alias,
        };
        assert_eq!(
            CheckedTarget::of(
                &t,
                0,
                "arn:f".into(),
                None,
                of_alias(Some(snap(Routing::only(v("3")))))
            )
            .unwrap()
            .version,
            Some(v("3"))
        );
        assert!(
            CheckedTarget::of(&t, 0, "arn:f".into(), None, of_alias(None))
                .unwrap_err()
                .message
                .contains("alias orders:candidate does not exist")
        );
        assert!(
            CheckedTarget::of(&t, 0, "arn:f".into(), None, of_alias(Some(snap(ten()))))
                .unwrap_err()
                .message
                .contains("routes to two versions")
        );
        assert_eq!(
            CheckedTarget::of(&t, 0, "arn:f".into(), None, VersionSource::Publish)
                .unwrap()
                .version,
            None
        );
    }

    #[test]
    fn a_version_must_be_active_and_share_role_and_dead_letter_with_the_one_it_shifts_from() {
        let shift = resolved("orders", "3", "r0", "4");
        let info = |role: &str, state: VersionState| VersionInfo {
            state,
            role: role.into(),
            dead_letter: None,
        };
        let active = info("r", VersionState::Active);
        assert!(
            shift
                .check_versions(&target(), 0, Some(&active), Some(&active))
                .is_ok()
        );
        let e = shift
            .check_versions(
                &target(),
                0,
                Some(&info("r", VersionState::Pending("SnapStart".into()))),
                Some(&active),
            )
            .unwrap_err();
        assert_eq!(e.name, ErrorName::TransientAws);
        assert!(
            e.message
                .contains("version 4 of orders is not ready yet (SnapStart)"),
            "{}",
            e.message
        );
        let e = shift
            .check_versions(
                &target(),
                2,
                Some(&info("r", VersionState::Unusable("Failed".into()))),
                Some(&active),
            )
            .unwrap_err();
        assert_eq!(
            e.message,
            "targets[2].targetVersion: version 4 of orders cannot serve (Failed)"
        );
        let e = shift
            .check_versions(
                &target(),
                0,
                Some(&info("other", VersionState::Active)),
                Some(&active),
            )
            .unwrap_err();
        assert_eq!(e.name, ErrorName::InvalidRequest);
        assert!(
            e.message
                .ends_with("differ in the execution role (3 has r, 4 has other)"),
            "{}",
            e.message
        );
        let mut dlq = active.clone();
        dlq.dead_letter = Some("arn:sqs:dlq".into());
        assert!(
            shift
                .check_versions(&target(), 0, Some(&dlq), Some(&active))
                .unwrap_err()
                .message
                .contains("the dead-letter config (3 has none, 4 has arn:sqs:dlq)")
        );
        let e = shift
            .check_versions(&target(), 0, None, Some(&active))
            .unwrap_err();
        assert_eq!(
            e.message,
            "targets[0].targetVersion: version 4 of orders does not exist"
        );
    }

    #[test]
    fn a_name_used_again_after_90_days_is_refused_and_a_retry_is_not() {
        let old = Deployment::new(
            &request(json!("AllAtOnce"), &[]),
            "d-1",
            EXECUTION,
            t(0),
            vec![],
        )
        .unwrap_err();
        assert_eq!(
            old.name,
            ErrorName::InternalError,
            "resolved targets must match"
        );
        let d = crate::testing::one_target(json!("AllAtOnce"), &[]);
        assert!(
            d.refuse_reused_name(t(0)).is_ok(),
            "this execution's own record"
        );
        let later = Timestamp::from_unix_seconds(t(0).unix_seconds() + 91 * 86_400);
        let e = d.refuse_reused_name(later).unwrap_err();
        assert_eq!(e.name, ErrorName::InvalidRequest);
        assert!(
            e.message.starts_with("the deployment id d-1 was used by an earlier deployment (started 2026-11-27T10:00:00Z, Ready)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn missing_functions_name_their_field() {
        assert_eq!(
            require_function("hooks.preTraffic", &function("h"), Some("arn:h".into())).unwrap(),
            "arn:h"
        );
        let err = require_function("hooks.preTraffic", &function("h"), None).unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidRequest);
        assert_eq!(err.message, "hooks.preTraffic: function h does not exist");
    }

    #[test]
    fn each_target_starts_as_created_unchanged_or_shifting() {
        let checked = |alias: Option<AliasSnapshot>| CheckedTarget {
            function_arn: "arn:f".into(),
            alias,
            version: None,
        };
        let on = |n: &str| Some(snap(Routing::only(v(n))));
        let shift = ResolvedTarget::of(checked(on("3")), v("4"));
        assert_eq!(
            (shift.action, shift.previous_version),
            (Action::Shift, Some(v("3")))
        );
        assert_eq!(
            ResolvedTarget::of(checked(on("4")), v("4")).action,
            Action::Unchanged
        );
        let created = ResolvedTarget::of(checked(None), v("4"));
        assert_eq!(
            (created.action, created.previous_version),
            (Action::Created, None)
        );
        assert_eq!(
            created.revision_id, "",
            "created by the first shift, not by validate"
        );
    }

    #[test]
    fn nothing_to_deploy_when_every_alias_is_there_already() {
        let d = Deployment::new(
            &request(json!("AllAtOnce"), &[]),
            "d-2",
            EXECUTION,
            t(0),
            vec![resolved("orders", "4", "r", "4")],
        )
        .unwrap();
        assert_eq!(d.status, Status::NothingToDeploy);
        assert!(d.history.iter().any(|e| e.message == "nothing to deploy"));
    }

    #[test]
    fn a_first_deployment_runs_and_goes_all_at_once() {
        let checked = CheckedTarget {
            function_arn: "arn:f".into(),
            alias: None,
            version: None,
        };
        let d = Deployment::new(
            &request(json!("Canary10Percent5Minutes"), &[]),
            "d-3",
            EXECUTION,
            t(0),
            vec![ResolvedTarget::of(checked, v("4"))],
        )
        .unwrap();
        assert_eq!(d.status, Status::Ready, "its hooks run too");
        assert_eq!(d.plan, crate::Plan::all_at_once());
        assert_eq!(d.execution_arn, EXECUTION);
        assert_eq!(d.schema_version, crate::deployment::SCHEMA_VERSION);
    }
}
