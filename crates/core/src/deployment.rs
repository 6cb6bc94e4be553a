//! The deployment document: the one value that flows through the state machine, and every
//! decision taken over it. Phase functions read AWS, call these, and write AWS; nothing here
//! does I/O, so every rule is unit-tested without AWS.

use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use crate::request::Request;
use crate::strategy::{Plan, Step};
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
    /// Every alias is back on its previous version.
    RolledBack,
}

/// What a deployment does with one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Shift traffic from `previousVersion` to `targetVersion` per the plan.
    Shift,
    /// The alias did not exist; validate created it on the target version (first deployment).
    Created,
    /// The alias already serves the target version.
    Unchanged,
}

/// Where one alias routes: its main version, and at most one additional weighted version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Routing {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional: Option<(Version, Weight)>,
}

impl Routing {
    pub fn only(version: Version) -> Routing {
        Routing {
            version,
            additional: None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.additional {
            None => format!("version {}", self.version),
            Some((v, w)) => format!("version {} with {} on version {}", self.version, w, v),
        }
    }
}

/// An alias as read from Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSnapshot {
    pub routing: Routing,
    pub revision_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetState {
    pub function_name: String,
    pub alias: String,
    pub action: Action,
    /// The version that served before: the rollback point. None when the alias was created.
    pub previous_version: Option<Version>,
    pub target_version: Version,
    /// The alias RevisionId sluice last read or wrote.
    pub revision_id: String,
}

impl TargetState {
    pub fn name(&self) -> String {
        format!("{}:{}", self.function_name, self.alias)
    }
}

/// The hooks, serialized only when present so the state machine can test `IsPresent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_traffic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_traffic: Option<String>,
}

/// Bake progress of the current step, counted in the state machine's own Wait seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bake {
    pub required_seconds: u64,
    pub elapsed_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// One alarm as read from CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
    #[serde(default)]
    pub reason: String,
}

/// The last health check, kept for whoever watches the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verdict {
    pub checked_at: String,
    pub healthy: bool,
    /// Alarms in ALARM, with CloudWatch's reason.
    pub firing: Vec<AlarmReading>,
    /// Alarms with too little data to judge: counted healthy, but shown (never silently passed).
    pub insufficient_data: Vec<String>,
    /// Alarms named in the request that CloudWatch no longer has.
    pub missing: Vec<String>,
}

/// One line of the deployment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    pub at: String,
    pub message: String,
}

/// Why the deployment failed, in the shape Step Functions' Catch writes (`Error`, `Cause`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl Failure {
    /// The cause as a person should read it: a Lambda error's JSON is reduced to its message,
    /// also where the state machine wrapped it in text ("PostTraffic hook h failed: {...}").
    pub fn plain_cause(&self) -> String {
        let Some(start) = self.cause.find('{') else {
            return self.cause.clone();
        };
        let (before, json) = self.cause.split_at(start);
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
            return self.cause.clone();
        };
        let message = map.get("errorMessage").and_then(Value::as_str);
        match (
            before.is_empty(),
            map.get("errorType").and_then(Value::as_str),
            message,
        ) {
            (true, _, Some(msg)) => msg.to_string(),
            (false, Some(ty), Some(msg)) => format!("{before}{ty}: {msg}"),
            (false, None, Some(msg)) => format!("{before}{msg}"),
            _ => self.cause.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    pub deployment_id: String,
    pub status: Status,
    pub strategy: String,
    pub plan: Plan,
    pub targets: Vec<TargetState>,
    pub alarms: Vec<String>,
    pub hooks: HookNames,
    pub poll_interval_seconds: u64,
    /// Index into `plan` of the step on the aliases now; None before the first shift.
    pub step: Option<usize>,
    /// The weight on the aliases now.
    pub weight: Weight,
    pub bake: Bake,
    /// How long the next Wait state waits (its SecondsPath).
    pub next_wait_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<Verdict>,
    pub history: Vec<Event>,
    pub started_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// A target as validate resolved it against Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTarget {
    pub action: Action,
    pub previous_version: Option<Version>,
    pub target_version: Version,
    pub revision_id: String,
}

/// What shift does with one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftDecision {
    /// The alias already routes as wanted (a retried shift whose write had landed).
    AlreadyThere { revision_id: String },
    /// Write the wanted routing, conditional on this revision.
    Update { expected_revision: String },
    /// Someone else changed the alias.
    Conflict(String),
}

/// What rollback does with one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackDecision {
    /// Already on the previous version with no weights.
    AlreadyRolledBack,
    /// Point it back, conditional on this revision.
    RollBack { expected_revision: String },
    /// Not as sluice left it: leave it alone and say what was found.
    Foreign(String),
}

/// The result of rolling back one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackOutcome {
    RolledBack,
    AlreadyRolledBack,
    NotTouched(String),
    Refused(String),
}

impl Deployment {
    /// The document validate hands to the state machine.
    pub fn new(
        request: &Request,
        deployment_id: &str,
        now: &str,
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
                alias: t.alias.clone(),
                action: r.action,
                previous_version: r.previous_version,
                target_version: r.target_version,
                revision_id: r.revision_id,
            })
            .collect();
        let shifting = targets.iter().filter(|t| t.action == Action::Shift).count();
        let mut history: Vec<Event> = targets
            .iter()
            .map(|t| Event {
                at: now.to_string(),
                message: match (t.action, &t.previous_version) {
                    (Action::Shift, Some(prev)) => format!(
                        "{}: version {} -> {} ({})",
                        t.name(),
                        prev,
                        t.target_version,
                        request.plan.describe()
                    ),
                    (Action::Created, _) => format!(
                        "{}: alias created on version {} (first deployment)",
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
        let status = if shifting == 0 {
            history.push(Event {
                at: now.to_string(),
                message: "nothing to deploy".into(),
            });
            Status::NothingToDeploy
        } else {
            Status::Ready
        };
        Ok(Deployment {
            deployment_id: deployment_id.to_string(),
            status,
            strategy: request.strategy_name.clone(),
            plan: request.plan.clone(),
            targets,
            alarms: request.alarms.clone(),
            hooks: HookNames {
                pre_traffic: request.hooks.pre_traffic.clone(),
                post_traffic: request.hooks.post_traffic.clone(),
            },
            poll_interval_seconds: request.poll_interval_seconds,
            step: None,
            weight: Weight::ZERO,
            bake: Bake::default(),
            next_wait_seconds: 0,
            last_check: None,
            history,
            started_at: now.to_string(),
            updated_at: now.to_string(),
            failure: None,
        })
    }

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

    pub fn shifting_targets(&self) -> impl Iterator<Item = &TargetState> {
        self.targets.iter().filter(|t| t.action == Action::Shift)
    }

    /// The step shift applies next, refusing when the document is not at a shift point.
    pub fn next_step(&self) -> Result<(usize, Step), Error> {
        if !matches!(self.status, Status::Ready | Status::ShiftNext) {
            return Err(Error::internal(format!(
                "shift was called with status {:?}; it runs only after Ready or ShiftNext",
                self.status
            )));
        }
        let index = self.step.map_or(0, |s| s + 1);
        let step = self.plan.steps().get(index).cloned().ok_or_else(|| {
            Error::internal(format!(
                "there is no step {} in a plan of {}",
                index + 1,
                self.plan.len()
            ))
        })?;
        Ok((index, step))
    }

    /// Where a shifting target's alias should route at `weight`.
    pub fn wanted_routing(target: &TargetState, weight: Weight) -> Result<Routing, Error> {
        let previous = target.previous_version.clone().ok_or_else(|| {
            Error::internal(format!(
                "{} has no previous version to shift from",
                target.name()
            ))
        })?;
        Ok(if weight.is_full() {
            Routing::only(target.target_version.clone())
        } else {
            Routing {
                version: previous,
                additional: Some((target.target_version.clone(), weight)),
            }
        })
    }

    /// Shift's rule for one alias: idempotent when the wanted routing is already there,
    /// conditional on the last revision sluice saw, a conflict otherwise.
    pub fn decide_shift(
        target: &TargetState,
        observed: &AliasSnapshot,
        wanted: &Routing,
    ) -> ShiftDecision {
        if &observed.routing == wanted {
            ShiftDecision::AlreadyThere {
                revision_id: observed.revision_id.clone(),
            }
        } else if observed.revision_id == target.revision_id {
            ShiftDecision::Update {
                expected_revision: target.revision_id.clone(),
            }
        } else {
            ShiftDecision::Conflict(format!(
                "{} was changed by someone else: it routes to {} (revision {}), not the revision {} sluice wrote; \
                 sluice leaves it as it is",
                target.name(),
                observed.routing.describe(),
                observed.revision_id,
                target.revision_id
            ))
        }
    }

    /// Records a completed shift to step `index`, with each shifting target's new revision.
    pub fn record_shift(
        &mut self,
        index: usize,
        revisions: Vec<String>,
        now: &str,
    ) -> Result<(), Error> {
        let step = self
            .plan
            .steps()
            .get(index)
            .cloned()
            .ok_or_else(|| Error::internal(format!("no step {}", index + 1)))?;
        let mut revisions = revisions.into_iter();
        for t in self
            .targets
            .iter_mut()
            .filter(|t| t.action == Action::Shift)
        {
            t.revision_id = revisions
                .next()
                .ok_or_else(|| Error::internal("a shifted target has no revision"))?;
        }
        self.step = Some(index);
        self.weight = step.weight;
        self.bake = Bake {
            required_seconds: step.bake_seconds,
            elapsed_seconds: 0,
        };
        self.updated_at = now.to_string();
        self.history.push(Event {
            at: now.to_string(),
            message: format!(
                "step {}/{}: {} of traffic on the new version{}",
                index + 1,
                self.plan.len(),
                step.weight,
                if step.bake_seconds > 0 {
                    format!(", baking {}", format_seconds(step.bake_seconds))
                } else {
                    String::new()
                }
            ),
        });
        self.after_progress();
        Ok(())
    }

    /// Sets status and the next wait from bake progress.
    fn after_progress(&mut self) {
        let remaining = self
            .bake
            .required_seconds
            .saturating_sub(self.bake.elapsed_seconds);
        if remaining == 0 {
            self.next_wait_seconds = 0;
            let last = self.step.map(|s| s + 1) == Some(self.plan.len());
            self.status = if last {
                Status::AllShifted
            } else {
                Status::ShiftNext
            };
        } else {
            // Without alarms there is nothing to poll: wait out the bake in one go.
            self.next_wait_seconds = if self.alarms.is_empty() {
                remaining
            } else {
                remaining.min(self.poll_interval_seconds)
            };
            self.status = Status::Baking;
        }
    }

    /// Records a health check made after waiting `next_wait_seconds`.
    pub fn record_check(&mut self, readings: &[AlarmReading], now: &str) -> Result<(), Error> {
        if self.status != Status::Baking {
            return Err(Error::internal(format!(
                "check-alarms was called with status {:?}; it runs only while Baking",
                self.status
            )));
        }
        self.bake.elapsed_seconds =
            (self.bake.elapsed_seconds + self.next_wait_seconds).min(self.bake.required_seconds);
        self.updated_at = now.to_string();
        let firing: Vec<AlarmReading> = readings
            .iter()
            .filter(|r| r.state == AlarmState::Alarm)
            .cloned()
            .collect();
        let insufficient_data: Vec<String> = readings
            .iter()
            .filter(|r| r.state == AlarmState::InsufficientData)
            .map(|r| r.name.clone())
            .collect();
        let missing: Vec<String> = self
            .alarms
            .iter()
            .filter(|a| !readings.iter().any(|r| &r.name == *a))
            .cloned()
            .collect();
        let healthy = firing.is_empty() && missing.is_empty();
        self.last_check = Some(Verdict {
            checked_at: now.to_string(),
            healthy,
            firing: firing.clone(),
            insufficient_data,
            missing: missing.clone(),
        });
        if healthy {
            self.after_progress();
            if self.status != Status::Baking {
                self.history.push(Event {
                    at: now.to_string(),
                    message: format!(
                        "step {}/{} baked {} with no alarm",
                        self.step.map_or(0, |s| s + 1),
                        self.plan.len(),
                        format_seconds(self.bake.required_seconds)
                    ),
                });
            }
            return Ok(());
        }
        let mut reasons: Vec<String> = firing
            .iter()
            .map(|a| {
                if a.reason.is_empty() {
                    format!("alarm {} is in ALARM", a.name)
                } else {
                    format!("alarm {} is in ALARM ({})", a.name, a.reason)
                }
            })
            .collect();
        reasons.extend(
            missing
                .iter()
                .map(|m| format!("alarm {m} no longer exists")),
        );
        let cause = format!(
            "{} at step {}/{} ({} on the new version, {} of {} baked)",
            reasons.join("; "),
            self.step.map_or(0, |s| s + 1),
            self.plan.len(),
            self.weight,
            format_seconds(self.bake.elapsed_seconds),
            format_seconds(self.bake.required_seconds)
        );
        self.history.push(Event {
            at: now.to_string(),
            message: cause.clone(),
        });
        self.status = Status::AlarmBreached;
        self.next_wait_seconds = 0;
        self.failure = Some(Failure {
            error: ErrorName::AlarmBreached.as_str().to_string(),
            cause,
        });
        Ok(())
    }

    /// Rollback's rule for one alias: touch it only if it still looks as sluice left it.
    pub fn decide_rollback(
        &self,
        target: &TargetState,
        observed: &AliasSnapshot,
    ) -> RollbackDecision {
        let Some(previous) = &target.previous_version else {
            return RollbackDecision::Foreign(format!("{} has no previous version", target.name()));
        };
        let r = &observed.routing;
        if r.version == *previous && r.additional.is_none() {
            return RollbackDecision::AlreadyRolledBack;
        }
        // A state sluice may have written without recording it (a shift that failed after its write).
        let written_by_sluice = match &r.additional {
            None => r.version == target.target_version,
            Some((v, w)) => {
                r.version == *previous
                    && *v == target.target_version
                    && self.plan.steps().iter().any(|s| s.weight == *w)
            }
        };
        if observed.revision_id == target.revision_id || written_by_sluice {
            RollbackDecision::RollBack {
                expected_revision: observed.revision_id.clone(),
            }
        } else {
            RollbackDecision::Foreign(format!(
                "{} was changed by someone else: it routes to {} (revision {}); \
                 sluice would have left version {} with at most {} on version {}. Not rolled back: fix it by hand",
                target.name(),
                r.describe(),
                observed.revision_id,
                previous,
                self.weight,
                target.target_version
            ))
        }
    }

    /// Records the rollback of every target and returns whether any alias was refused.
    pub fn record_rollback(
        &mut self,
        outcomes: Vec<(usize, RollbackOutcome, Option<String>)>,
        now: &str,
    ) -> Result<(), Error> {
        let failure = self.failure.clone().unwrap_or(Failure {
            error: "States.TaskFailed".into(),
            cause: "rollback was requested without a recorded failure".into(),
        });
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for (i, outcome, revision) in outcomes {
            let t = self
                .targets
                .get_mut(i)
                .ok_or_else(|| Error::internal(format!("no target {i}")))?;
            if let Some(rev) = revision {
                t.revision_id = rev;
            }
            let prev = t
                .previous_version
                .as_ref()
                .map_or("-".to_string(), |v| v.to_string());
            match outcome {
                RollbackOutcome::RolledBack => {
                    done.push(format!("{} back on version {}", t.name(), prev))
                }
                RollbackOutcome::AlreadyRolledBack => {
                    done.push(format!("{} already on version {}", t.name(), prev))
                }
                RollbackOutcome::NotTouched(why) => {
                    done.push(format!("{} left alone ({why})", t.name()))
                }
                RollbackOutcome::Refused(why) => refused.push(why),
            }
        }
        self.updated_at = now.to_string();
        self.next_wait_seconds = 0;
        let cause = failure.plain_cause();
        let summary = if refused.is_empty() {
            self.status = Status::RolledBack;
            format!("{cause}. Rolled back: {}", done.join("; "))
        } else {
            format!(
                "{cause}. Rollback INCOMPLETE: {}. Done: {}",
                refused.join("; "),
                if done.is_empty() {
                    "nothing".to_string()
                } else {
                    done.join("; ")
                }
            )
        };
        self.history.push(Event {
            at: now.to_string(),
            message: summary.clone(),
        });
        if refused.is_empty() {
            self.failure = Some(Failure {
                error: failure.error,
                cause: summary,
            });
            Ok(())
        } else {
            Err(Error::new(ErrorName::AliasConflict, summary))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(n: &str) -> Version {
        Version::parse(n).unwrap()
    }

    fn request(strategy: Value, alarms: &[&str]) -> Request {
        Request::parse(&json!({
            "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "4"}],
            "strategy": strategy,
            "alarms": alarms,
            "pollInterval": "10s"
        }))
        .unwrap()
    }

    fn deployment(strategy: Value, alarms: &[&str]) -> Deployment {
        Deployment::new(
            &request(strategy, alarms),
            "d-1",
            "t0",
            vec![ResolvedTarget {
                action: Action::Shift,
                previous_version: Some(v("3")),
                target_version: v("4"),
                revision_id: "r0".into(),
            }],
        )
        .unwrap()
    }

    fn ok(name: &str) -> AlarmReading {
        AlarmReading {
            name: name.into(),
            state: AlarmState::Ok,
            reason: String::new(),
        }
    }

    #[test]
    fn a_canary_walks_through_its_plan_by_wait_seconds() {
        let mut d = deployment(
            json!({"canary": {"percent": 10, "interval": "25s"}}),
            &["errors"],
        );
        assert_eq!(d.status, Status::Ready);
        let (i, step) = d.next_step().unwrap();
        assert_eq!((i, step.weight.hundredths()), (0, 1000));
        d.record_shift(i, vec!["r1".into()], "t1").unwrap();
        assert_eq!((d.status, d.next_wait_seconds), (Status::Baking, 10));
        let mut waited = 0;
        while d.status == Status::Baking {
            waited += d.next_wait_seconds;
            d.record_check(&[ok("errors")], "t").unwrap();
        }
        assert_eq!(
            waited, 25,
            "bake is counted in Wait seconds, the last wait trimmed to what remains"
        );
        assert_eq!(d.status, Status::ShiftNext);
        let (i, step) = d.next_step().unwrap();
        assert!(step.weight.is_full());
        d.record_shift(i, vec!["r2".into()], "t2").unwrap();
        assert_eq!(d.status, Status::AllShifted);
        assert!(d.next_step().is_err(), "no shift after the last step");
        assert_eq!(d.targets[0].revision_id, "r2");
    }

    #[test]
    fn without_alarms_a_bake_is_one_wait() {
        let mut d = deployment(json!({"canary": {"percent": 10, "interval": "5m"}}), &[]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        assert_eq!(d.next_wait_seconds, 300);
    }

    #[test]
    fn wanted_routing_keeps_the_old_version_main_until_full() {
        let d = deployment(json!("AllAtOnce"), &[]);
        let t = &d.targets[0];
        let w10 = Weight::from_percent(10.0).unwrap();
        assert_eq!(
            Deployment::wanted_routing(t, w10).unwrap(),
            Routing {
                version: v("3"),
                additional: Some((v("4"), w10))
            }
        );
        assert_eq!(
            Deployment::wanted_routing(t, Weight::FULL).unwrap(),
            Routing::only(v("4"))
        );
    }

    #[test]
    fn an_alarm_breach_names_the_alarm_and_stops() {
        let mut d = deployment(json!("Canary10Percent5Minutes"), &["errors", "latency"]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        d.record_check(&[ok("errors"), ok("latency")], "t2")
            .unwrap();
        let firing = AlarmReading {
            name: "latency".into(),
            state: AlarmState::Alarm,
            reason: "p99 > 1s".into(),
        };
        d.record_check(&[ok("errors"), firing], "t3").unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "AlarmBreached");
        assert!(
            f.cause.contains("alarm latency is in ALARM (p99 > 1s)"),
            "{}",
            f.cause
        );
        assert!(
            f.cause
                .contains("step 1/2 (10% on the new version, 20s of 5m baked)"),
            "{}",
            f.cause
        );
    }

    #[test]
    fn insufficient_data_passes_visibly_and_a_missing_alarm_fails() {
        let mut d = deployment(json!("Canary10Percent5Minutes"), &["errors", "gone"]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        let quiet = AlarmReading {
            name: "errors".into(),
            state: AlarmState::InsufficientData,
            reason: String::new(),
        };
        d.record_check(&[quiet.clone(), ok("gone")], "t2").unwrap();
        let verdict = d.last_check.clone().unwrap();
        assert!(verdict.healthy);
        assert_eq!(verdict.insufficient_data, vec!["errors".to_string()]);
        d.record_check(&[quiet], "t3").unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(
            d.failure
                .unwrap()
                .cause
                .contains("alarm gone no longer exists")
        );
    }

    #[test]
    fn shift_is_idempotent_and_refuses_foreign_changes() {
        let d = deployment(json!("Canary10Percent5Minutes"), &[]);
        let t = &d.targets[0];
        let wanted = Deployment::wanted_routing(t, Weight::from_percent(10.0).unwrap()).unwrap();
        let snap = |routing: Routing, rev: &str| AliasSnapshot {
            routing,
            revision_id: rev.into(),
        };
        assert_eq!(
            Deployment::decide_shift(t, &snap(wanted.clone(), "r9"), &wanted),
            ShiftDecision::AlreadyThere {
                revision_id: "r9".into()
            }
        );
        assert_eq!(
            Deployment::decide_shift(t, &snap(Routing::only(v("3")), "r0"), &wanted),
            ShiftDecision::Update {
                expected_revision: "r0".into()
            }
        );
        match Deployment::decide_shift(t, &snap(Routing::only(v("2")), "rX"), &wanted) {
            ShiftDecision::Conflict(msg) => assert!(
                msg.contains("orders:live was changed by someone else")
                    && msg.contains("version 2")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rollback_touches_only_what_sluice_left() {
        let mut d = deployment(
            json!({"steps": [{"weight": 10, "bake": "1m"}, {"weight": 50, "bake": "1m"}, {"weight": 100}]}),
            &[],
        );
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        let t = d.targets[0].clone();
        let snap = |routing: Routing, rev: &str| AliasSnapshot {
            routing,
            revision_id: rev.into(),
        };
        let w = |p: f64| Weight::from_percent(p).unwrap();
        // Recorded revision: roll back.
        assert_eq!(
            d.decide_rollback(
                &t,
                &snap(
                    Routing {
                        version: v("3"),
                        additional: Some((v("4"), w(10.0)))
                    },
                    "r1"
                )
            ),
            RollbackDecision::RollBack {
                expected_revision: "r1".into()
            }
        );
        // A later plan step written by a shift that failed before recording it.
        assert_eq!(
            d.decide_rollback(
                &t,
                &snap(
                    Routing {
                        version: v("3"),
                        additional: Some((v("4"), w(50.0)))
                    },
                    "r2"
                )
            ),
            RollbackDecision::RollBack {
                expected_revision: "r2".into()
            }
        );
        assert_eq!(
            d.decide_rollback(&t, &snap(Routing::only(v("4")), "r3")),
            RollbackDecision::RollBack {
                expected_revision: "r3".into()
            }
        );
        // Already back: nothing to do (a second rollback run).
        assert_eq!(
            d.decide_rollback(&t, &snap(Routing::only(v("3")), "r4")),
            RollbackDecision::AlreadyRolledBack
        );
        // Someone else's routing.
        for foreign in [
            Routing::only(v("5")),
            Routing {
                version: v("3"),
                additional: Some((v("4"), w(33.0))),
            },
            Routing {
                version: v("3"),
                additional: Some((v("5"), w(10.0))),
            },
        ] {
            match d.decide_rollback(&t, &snap(foreign.clone(), "rX")) {
                RollbackDecision::Foreign(msg) => {
                    assert!(msg.contains("changed by someone else"), "{msg}")
                }
                other => panic!("{foreign:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn rollback_summary_keeps_the_reason_and_reports_refusals() {
        let mut d = deployment(json!("Canary10Percent5Minutes"), &["errors"]);
        d.failure = Some(Failure {
            error: "AliasConflict".into(),
            cause: json!({"errorType": "AliasConflict", "errorMessage": "orders:live was changed"})
                .to_string(),
        });
        let mut ok_doc = d.clone();
        ok_doc
            .record_rollback(
                vec![(0, RollbackOutcome::RolledBack, Some("r5".into()))],
                "t9",
            )
            .unwrap();
        assert_eq!(ok_doc.status, Status::RolledBack);
        let f = ok_doc.failure.unwrap();
        assert_eq!(f.error, "AliasConflict");
        assert_eq!(
            f.cause,
            "orders:live was changed. Rolled back: orders:live back on version 3"
        );
        assert_eq!(ok_doc.targets[0].revision_id, "r5");

        let err = d
            .record_rollback(
                vec![(0, RollbackOutcome::Refused("found version 9".into()), None)],
                "t9",
            )
            .unwrap_err();
        assert_eq!(err.name, ErrorName::AliasConflict);
        assert!(
            err.message.contains("Rollback INCOMPLETE: found version 9"),
            "{}",
            err.message
        );
    }

    #[test]
    fn plain_cause_unwraps_lambda_error_json() {
        let f = |cause: &str| {
            Failure {
                error: "E".into(),
                cause: cause.into(),
            }
            .plain_cause()
        };
        let json = r#"{"errorType":"SmokeTestFailed","errorMessage":"GET /orders returned 500"}"#;
        assert_eq!(f(json), "GET /orders returned 500");
        assert_eq!(
            f(&format!("PostTraffic hook h failed: {json}")),
            "PostTraffic hook h failed: SmokeTestFailed: GET /orders returned 500"
        );
        assert_eq!(f("plain text"), "plain text");
        assert_eq!(f("text with {not json"), "text with {not json");
    }

    #[test]
    fn nothing_to_deploy_when_no_target_shifts() {
        let d = Deployment::new(
            &request(json!("AllAtOnce"), &[]),
            "d-2",
            "t0",
            vec![ResolvedTarget {
                action: Action::Unchanged,
                previous_version: Some(v("4")),
                target_version: v("4"),
                revision_id: "r".into(),
            }],
        )
        .unwrap();
        assert_eq!(d.status, Status::NothingToDeploy);
        assert!(d.history.iter().any(|e| e.message == "nothing to deploy"));
    }

    #[test]
    fn the_document_round_trips_and_refuses_strangers() {
        let mut d = deployment(json!("Linear10PercentEvery1Minute"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        let json = d.to_json();
        assert_eq!(json["status"], "Baking");
        assert_eq!(json["weight"], 10);
        assert!(
            json["hooks"].get("preTraffic").is_none(),
            "absent hooks stay absent for IsPresent"
        );
        assert_eq!(Deployment::from_json(json.clone()).unwrap(), d);
        let mut bad = json;
        bad["plan"][0]["weight"] = json!(150);
        let err = Deployment::from_json(bad).unwrap_err();
        assert_eq!(err.name, ErrorName::InternalError);
        assert!(err.message.contains("plan"), "{}", err.message);
    }
}
