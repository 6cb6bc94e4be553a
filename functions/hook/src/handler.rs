//! What the hook function does with one call: start the phase's hook, or judge its last answer.

use serde::Deserialize;
use sluice_core::deployment::HookPhase;
use sluice_core::{Deployment, Error, Timestamp};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookCall {
    pub document: Deployment,
    /// The deployment's id, for the runtime's logs (the document carries it too).
    #[allow(dead_code)]
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// Start this phase's hook; absent: judge the answer in `document.hookRun`.
    #[serde(default)]
    pub start: Option<HookPhase>,
}

pub fn hook(call: HookCall, now: Timestamp) -> Result<Deployment, Error> {
    let mut doc = call.document;
    match call.start {
        Some(phase) => doc.start_hook(phase, now)?,
        None => doc.judge_hook(now)?,
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_aws::runtime::read_input;
    use sluice_core::testing::{one_target, t};

    fn run(input: Value, now: Timestamp) -> Result<Deployment, Error> {
        hook(read_input("hook", input)?, now)
    }

    /// The loop as the state machine runs it: start, the answer written beside the run (as
    /// CallHook's ResultSelector and ResultPath write it), then judged.
    #[test]
    fn a_hook_is_started_then_judged_as_the_state_machine_hands_it_over() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.hooks.pre_traffic = Some(sluice_core::hooks::TrafficHook::invoked(
            sluice_core::testing::function("smoke"),
        ));
        let started = run(
            json!({"document": d.to_json(), "deploymentId": "d-1", "start": "PreTraffic"}),
            t(0),
        )
        .unwrap();
        let mut doc = started.to_json();
        assert_eq!(doc["hookRun"]["next"], "Invoke");
        assert_eq!(doc["hookRun"]["function"], "smoke");
        // As JSON text: the state machine's States.JsonToString($.Payload).
        doc["hookRun"]["answer"] =
            json!({"payload": json!({"status": "InProgress", "state": {"job": 7}}).to_string()});
        let judged = run(json!({"document": doc, "deploymentId": "d-1"}), t(5))
            .unwrap()
            .to_json();
        assert_eq!(judged["hookRun"]["next"], "Wait");
        assert_eq!(judged["hookRun"]["payload"]["state"], json!({"job": 7}));
        assert!(
            judged["hookRun"].get("answer").is_none(),
            "the answer is read once"
        );
    }

    #[test]
    fn a_call_it_cannot_read_is_an_internal_error() {
        let err = run(json!({"document": {}, "start": "PreTraffic"}), t(0)).unwrap_err();
        assert_eq!(err.name, sluice_core::ErrorName::InternalError);
        let d = one_target(json!("AllAtOnce"), &[]);
        let err = run(json!({"document": d.to_json(), "start": "Sometime"}), t(0)).unwrap_err();
        assert_eq!(err.name, sluice_core::ErrorName::InternalError);
    }
}
