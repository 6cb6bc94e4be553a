//! watch: `{"document": Deployment, "token": task token}` -> what it watches. The bake's Watch
//! state (`lambda:invoke.waitForTaskToken`) calls it once per bake: it registers the task token
//! against each of the deployment's alarms in the ledger, so that alarm-event can fail the task
//! the moment CloudWatch says an alarm went to ALARM, then reads the alarms once (one already
//! firing fails the task at once) and returns; the task then waits until the bake's last check
//! releases it, or an alarm event fails it.

use sluice_aws::ending::refuse_if_settled;
use sluice_aws::watches::end_watch;
use sluice_aws::{AlarmReader, Ledger, Tasks, Watches};
use sluice_core::deployment::WatchCall;
use sluice_core::{Error, ErrorName, Timestamp, WatchOutcome};

pub async fn watch<A: AlarmReader, W: Ledger + Watches, T: Tasks>(
    alarms: &A,
    ledger: &W,
    tasks: &T,
    call: WatchCall,
    now: Timestamp,
) -> Result<WatchOutcome, Error> {
    let WatchCall {
        document: doc,
        token,
    } = call;
    let watch = doc.watch(&token, now)?;
    // No watch for a deployment settled already (a redrive): nothing would ever release it.
    refuse_if_settled(ledger, &doc).await?;
    // Registered before the alarms are read: an alarm that fires in between is seen either way.
    for alarm in &doc.alarms {
        ledger.watch(alarm, &watch).await?;
    }
    let point = ledger
        .watch_began(&doc.deployment_id, &doc.bake_slot(), &token)
        .await?;
    if let Some(command) = point.command {
        // An operator's command came before the watch began: end the bake with it, so that it
        // is applied (the task fails with OperatorCommand, as the CLI would have failed it).
        for alarm in &doc.alarms {
            ledger
                .unwatch(alarm, &doc.deployment_id, Some(&token))
                .await?;
        }
        return Err(Error::new(ErrorName::OperatorCommand, command.describe()));
    }
    if point.ended {
        // The bake's last check came first: there is nothing left to wait for.
        end_watch(ledger, tasks, &doc, &token).await?;
        return Ok(doc.watch_came_late());
    }
    let readings = alarms.read_alarms(&doc.alarms).await?;
    doc.watch_begins(&readings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_aws::fake::{FakeAws, Task};
    use sluice_aws::runtime::read_input;
    use sluice_aws::{AwsErrorKind, Watches};
    use sluice_core::testing::{baking, t};
    use sluice_core::{AlarmState, ErrorName};

    /// watch, handed `input` as the runtime hands it over; its answer as the state machine reads it.
    async fn run(aws: &FakeAws, input: Value, now: Timestamp) -> Result<Value, Error> {
        let out = watch(aws, aws, aws, read_input("watch", input)?, now).await?;
        Ok(serde_json::to_value(out).unwrap())
    }

    fn input(token: &str) -> Value {
        json!({"document": baking(&["errors", "latency"]).to_json(), "token": token})
    }

    /// A redriven bake of a settled deployment registers no watch: nothing would release it.
    #[tokio::test]
    async fn a_deployment_settled_already_registers_no_watch() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        aws.waiting_task("tok");
        aws.settle(&baking(&[]));
        let err = run(&aws, input("tok"), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlreadySettled);
        assert!(aws.watches_of("errors").is_empty());
    }

    #[tokio::test]
    async fn registers_the_token_against_every_alarm_and_leaves_the_task_waiting() {
        let aws = FakeAws::new()
            .alarm("errors", AlarmState::Ok)
            .alarm("latency", AlarmState::InsufficientData);
        aws.waiting_task("tok");
        let out = run(&aws, input("tok"), t(1)).await.unwrap();
        assert_eq!(out["watching"], json!(["errors", "latency"]));
        for alarm in ["errors", "latency"] {
            let w = aws.watches_of(alarm).remove("d-1").unwrap();
            assert_eq!((w.token.as_str(), w.step), ("tok", 0));
            assert_eq!(w.label, "step 1/2 (10% on the new version");
        }
        assert_eq!(aws.task("tok"), Some(Task::Waiting));
    }

    #[tokio::test]
    async fn an_alarm_already_firing_fails_the_task_at_once() {
        let aws = FakeAws::new()
            .alarm("errors", AlarmState::Ok)
            .alarm("latency", AlarmState::Alarm);
        let err = run(&aws, input("tok"), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlarmBreached);
        assert!(
            err.message.starts_with(
                "alarm latency is in ALARM (latency set to Alarm by the test) at step 1/2 (10% on the new \
                 version, 0s of 30s baked)"
            ),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_watch_that_begins_after_its_bake_ended_ends_its_own_task() {
        let aws = FakeAws::new()
            .alarm("errors", AlarmState::Ok)
            .alarm("latency", AlarmState::Ok);
        aws.waiting_task("tok");
        assert_eq!(aws.bake_ended("d-1", "0").await.unwrap().token, None);
        let out = run(&aws, input("tok"), t(1)).await.unwrap();
        assert_eq!(out["bakeEnded"], true);
        assert_eq!(aws.task("tok"), Some(Task::Succeeded));
        assert!(aws.watches_of("errors").is_empty() && aws.watches_of("latency").is_empty());
    }

    #[tokio::test]
    async fn a_failed_registration_is_an_error_the_state_machine_retries() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        aws.fail_next("Watch", AwsErrorKind::Transient, false);
        let err = run(&aws, input("tok"), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        let err = run(&aws, json!({"document": {}}), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InternalError);
    }
}
