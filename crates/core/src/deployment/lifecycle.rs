//! The lifecycle events sluice puts on EventBridge (source `sluice`), for chat, paging and audit
//! tools: one `detail-type` per moment of a deployment, each detail built here from the document
//! as the phase left it. docs/events.md holds a JSON Schema per detail-type; the end-to-end test
//! holds the events emitted to them.

use super::{Action, Deployment, Settlement, Status};
use crate::failure::Failure;
use crate::request::StartCall;
use serde_json::{Value, json};

/// The shape of every detail this code writes (later shapes only add fields).
pub const LIFECYCLE_SCHEMA: u32 = 1;

/// The `source` of every event.
pub const SOURCE: &str = "sluice";

/// A moment of a deployment that sluice tells EventBridge about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Validate recorded it: nothing moved yet.
    DeploymentStarted,
    /// Refused before anything moved (validate).
    DeploymentFailed,
    /// A step's weight is on every alias.
    TrafficShifted,
    /// A bake's check: its verdict.
    CheckCompleted,
    /// An operator paused it.
    DeploymentPaused,
    /// An operator resumed it.
    DeploymentResumed,
    /// Every alias serves its new version.
    DeploymentSucceeded,
    /// Rolled back: every alias back on its previous version.
    DeploymentRolledBack,
    /// Rolled back, but some alias was not as sluice left it and was left alone.
    RollbackIncomplete,
    /// The safety net settled an execution that ended where no Catch ran.
    SafetyNetRepaired,
}

impl Lifecycle {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Lifecycle::DeploymentStarted => "DeploymentStarted",
            Lifecycle::DeploymentFailed => "DeploymentFailed",
            Lifecycle::TrafficShifted => "TrafficShifted",
            Lifecycle::CheckCompleted => "CheckCompleted",
            Lifecycle::DeploymentPaused => "DeploymentPaused",
            Lifecycle::DeploymentResumed => "DeploymentResumed",
            Lifecycle::DeploymentSucceeded => "DeploymentSucceeded",
            Lifecycle::DeploymentRolledBack => "DeploymentRolledBack",
            Lifecycle::RollbackIncomplete => "RollbackIncomplete",
            Lifecycle::SafetyNetRepaired => "SafetyNetRepaired",
        }
    }

    /// Every detail-type, for the docs and the contract test.
    pub const ALL: [Lifecycle; 10] = [
        Lifecycle::DeploymentStarted,
        Lifecycle::DeploymentFailed,
        Lifecycle::TrafficShifted,
        Lifecycle::CheckCompleted,
        Lifecycle::DeploymentPaused,
        Lifecycle::DeploymentResumed,
        Lifecycle::DeploymentSucceeded,
        Lifecycle::DeploymentRolledBack,
        Lifecycle::RollbackIncomplete,
        Lifecycle::SafetyNetRepaired,
    ];

    /// The event a rollback's ending is.
    pub fn of_rollback(status: Status) -> Lifecycle {
        if status == Status::RollbackIncomplete {
            Lifecycle::RollbackIncomplete
        } else {
            Lifecycle::DeploymentRolledBack
        }
    }
}

/// One event: its detail-type and detail.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleEvent {
    pub detail_type: &'static str,
    pub detail: Value,
}

/// The detail's `summary`: one line a notification can show as it is (no template quoting).
fn summarize(detail: &mut Value, kind: Lifecycle) {
    let said = detail["cause"]
        .as_str()
        .or(detail["message"].as_str())
        .unwrap_or_default()
        .to_string();
    detail["summary"] = json!(format!(
        "sluice {}: {}: {said}",
        kind.detail_type(),
        detail["deploymentId"].as_str().unwrap_or("-")
    ));
}

fn failure_fields(detail: &mut Value, failure: Option<&Failure>) {
    if let Some(f) = failure {
        detail["error"] = json!(f.error.as_str());
        detail["cause"] = json!(f.plain_cause());
    }
}

impl Deployment {
    /// The `kind` event of this document, as the phase that emits it left it.
    pub fn lifecycle(&self, kind: Lifecycle) -> LifecycleEvent {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                json!({
                    "functionName": t.function_name.to_string(),
                    "alias": t.alias.to_string(),
                    "action": match t.action {
                        Action::Shift => "shift",
                        Action::Created => "create",
                        Action::Unchanged => "unchanged",
                    },
                    "fromVersion": t.previous_version.as_ref().map(|v| v.to_string()),
                    "toVersion": t.target_version.to_string(),
                })
            })
            .collect();
        let mut detail = json!({
            "schemaVersion": LIFECYCLE_SCHEMA,
            "deploymentId": self.deployment_id,
            "executionArn": self.execution_arn,
            "dryRun": self.dry_run,
            "status": self.status.as_str(),
            "at": self.updated_at.to_string(),
            "strategy": self.strategy_name,
            "step": self.step.map(|s| s + 1),
            "steps": self.plan.step_count(),
            "weight": self.weight.percent(),
            "targets": targets,
            "message": self.history.last().map(|e| e.message.clone()).unwrap_or_default(),
        });
        if let Some(by) = &self.requested_by {
            detail["requestedBy"] = json!(by);
        }
        if let Some(reason) = &self.reason {
            detail["reason"] = json!(reason);
        }
        match kind {
            Lifecycle::CheckCompleted => {
                if let Some(v) = &self.last_check {
                    detail["check"] = json!({
                        "healthy": v.healthy,
                        "checkedAt": v.checked_at.to_string(),
                        "firing": v.firing.iter().map(|a| a.name.to_string()).collect::<Vec<_>>(),
                        "insufficientData": v.insufficient_data.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "unread": v.unread,
                        "analysis": v.analysis.iter().map(|a| json!({
                            "target": a.target,
                            "outcome": a.outcome,
                            "summary": a.summary,
                        })).collect::<Vec<_>>(),
                        "bakedSeconds": self.bake.elapsed_seconds,
                        "bakeSeconds": self.bake.required_seconds,
                    });
                }
            }
            Lifecycle::DeploymentPaused => {
                if let Some(hold) = &self.bake.hold {
                    detail["by"] = json!(hold.by);
                    detail["holdSeconds"] = json!(hold.seconds);
                }
            }
            Lifecycle::DeploymentRolledBack
            | Lifecycle::RollbackIncomplete
            | Lifecycle::DeploymentFailed => failure_fields(&mut detail, self.failure.as_ref()),
            _ => {}
        }
        summarize(&mut detail, kind);
        LifecycleEvent {
            detail_type: kind.detail_type(),
            detail,
        }
    }

    /// SafetyNetRepaired: how the safety net settled this deployment (the document after it).
    pub fn repaired(&self, settlement: Settlement) -> LifecycleEvent {
        let mut event = self.lifecycle(Lifecycle::SafetyNetRepaired);
        event.detail["settlement"] = json!(match settlement {
            Settlement::NotOurs => "notOurs",
            Settlement::Finish => "finish",
            Settlement::RollBack => "rollBack",
            Settlement::Release => "release",
        });
        failure_fields(&mut event.detail, self.failure.as_ref());
        summarize(&mut event.detail, Lifecycle::SafetyNetRepaired);
        event
    }
}

/// DeploymentFailed of a request validate refused: no document exists (the request may not
/// even be readable), so the detail holds the execution, the targets as the request wrote them
/// (when it did), and the refusal.
pub fn refused(call: &StartCall, error: &crate::error::Error) -> LifecycleEvent {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let targets: Vec<Value> = call.request["targets"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| json!({"functionName": text(&t["functionName"]), "alias": text(&t["alias"])}))
                .collect()
        })
        .unwrap_or_default();
    LifecycleEvent {
        detail_type: Lifecycle::DeploymentFailed.detail_type(),
        detail: json!({
            "schemaVersion": LIFECYCLE_SCHEMA,
            "deploymentId": call.deployment_id,
            "executionArn": call.execution_arn,
            "dryRun": call.request["dryRun"] == json!(true),
            "status": "Refused",
            "targets": targets,
            "error": error.name.as_str(),
            "cause": error.message,
            "message": error.message,
            "summary": format!(
                "sluice DeploymentFailed: {}: {}",
                call.deployment_id, error.message
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{breached, one_target, t};

    /// docs/events/<detail-type>.schema.json, as published.
    fn schema(kind: Lifecycle) -> Value {
        let path = format!(
            "{}/../../docs/events/{}.schema.json",
            env!("CARGO_MANIFEST_DIR"),
            kind.detail_type()
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Every detail-type has its schema in docs/events, and what this code writes has every
    /// field the schema requires (the end-to-end test validates the events emitted in full).
    #[test]
    fn every_detail_type_has_a_schema_whose_required_fields_it_writes() {
        let mut d = breached(["r1", "r2"]);
        d.last_check = Some(
            serde_json::from_value(json!({
                "checkedAt": "2026-11-27T10:00:05Z", "healthy": true, "firing": [],
                "insufficientData": [], "missing": []
            }))
            .unwrap(),
        );
        d.bake.hold = Some(
            serde_json::from_value(json!({
                "kind": "pause", "since": "2026-11-27T10:00:05Z", "fromElapsed": 0,
                "onTimeout": "rollback", "seconds": 3600
            }))
            .unwrap(),
        );
        for kind in Lifecycle::ALL {
            let event = match kind {
                Lifecycle::DeploymentFailed => refused(
                    &StartCall {
                        request: json!({}),
                        deployment_id: "d-1".into(),
                        execution_arn: "arn:x".into(),
                        execution_start_time: None,
                    },
                    &crate::error::Error::invalid("targets", "missing"),
                ),
                Lifecycle::SafetyNetRepaired => d.repaired(Settlement::RollBack),
                other => d.lifecycle(other),
            };
            let schema = schema(kind);
            assert_eq!(schema["title"], format!("sluice {}", kind.detail_type()));
            for field in schema["required"].as_array().unwrap() {
                let field = field.as_str().unwrap();
                assert!(
                    event.detail.get(field).is_some(),
                    "{}: {field} is required by its schema, not written",
                    kind.detail_type()
                );
            }
        }
    }

    #[test]
    fn each_moment_says_what_a_listener_needs() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        let started = d.lifecycle(Lifecycle::DeploymentStarted);
        assert_eq!(started.detail_type, "DeploymentStarted");
        assert_eq!(started.detail["status"], "Ready");
        assert_eq!(started.detail["step"], Value::Null);
        assert_eq!(
            started.detail["targets"][0]["toVersion"],
            d.targets[0].target_version.to_string()
        );
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let shifted = d.lifecycle(Lifecycle::TrafficShifted);
        assert_eq!(
            (
                shifted.detail["step"].clone(),
                shifted.detail["weight"].clone()
            ),
            (json!(1), json!(10.0))
        );
        assert!(
            shifted.detail["message"]
                .as_str()
                .unwrap()
                .starts_with("step 1/2")
        );
        let back = breached(["r1", "r2"]);
        let rolled = back.lifecycle(Lifecycle::of_rollback(Status::RolledBack));
        assert_eq!(rolled.detail_type, "DeploymentRolledBack");
        assert_eq!(rolled.detail["error"], "AlarmBreached");
        assert!(rolled.detail["cause"].as_str().unwrap().contains("errors"));
        assert_eq!(
            Lifecycle::of_rollback(Status::RollbackIncomplete),
            Lifecycle::RollbackIncomplete
        );
        let repaired = back.repaired(Settlement::RollBack);
        assert_eq!(
            (repaired.detail_type, repaired.detail["settlement"].clone()),
            ("SafetyNetRepaired", json!("rollBack"))
        );
    }
}
