//! watch: `{"document": Deployment, "token": task token}` -> what it watches. The bake's Watch
//! state (`lambda:invoke.waitForTaskToken`) calls it once per bake: it registers the task token
//! against each of the deployment's alarms in the ledger, so that alarm-event can fail the task
//! the moment CloudWatch says an alarm went to ALARM, then reads the alarms once (one already
//! firing fails the task at once) and returns; the task then waits until the bake's last check
//! releases it, or an alarm event fails it.

use serde_json::{Value, json};
use sluice_aws::{AlarmReader, Tasks, Watches};
use sluice_core::duration::format_seconds;
use sluice_core::{AlarmSummary, Deployment, Error, ErrorName, Watch};

pub async fn watch<A: AlarmReader, W: Watches, T: Tasks>(
    alarms: &A,
    ledger: &W,
    tasks: &T,
    input: Value,
    now: &str,
) -> Result<Value, Error> {
    let token = input
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal("watch needs {\"document\", \"token\"}; token is missing"))?
        .to_string();
    let doc = Deployment::from_json(input.get("document").cloned().unwrap_or(Value::Null))?;
    let watch = Watch::of(&doc, &token, now)?;
    // Registered before the alarms are read: an alarm that fires in between is seen either way.
    for alarm in &doc.alarms {
        ledger.watch(alarm, &watch).await?;
    }
    if ledger
        .watch_began(&doc.deployment_id, watch.step, &token)
        .await?
    {
        // The bake's last check came first: there is nothing left to wait for.
        for alarm in &doc.alarms {
            ledger
                .unwatch(alarm, &doc.deployment_id, Some(&token))
                .await?;
        }
        tasks.succeed_task(&token).await?;
        return Ok(json!({"deploymentId": doc.deployment_id, "watching": [], "bakeEnded": true}));
    }
    let readings = alarms.read_alarms(&doc.alarms).await?;
    let summary = AlarmSummary::of(&doc.alarms, &readings);
    if !summary.healthy() {
        return Err(Error::new(
            ErrorName::AlarmBreached,
            format!(
                "{} at {}, {} of {} baked); found as the bake's watch began",
                summary.breaches(),
                doc.bake_label(),
                format_seconds(doc.bake.elapsed_seconds),
                format_seconds(doc.bake.required_seconds)
            ),
        ));
    }
    Ok(json!({"deploymentId": doc.deployment_id, "watching": doc.alarms, "bakeEnded": false}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_aws::fake::{FakeAws, Task};
    use sluice_aws::{AwsErrorKind, Watches};
    use sluice_core::AlarmState;
    use sluice_core::testing::baking;

    fn input(token: &str) -> Value {
        json!({"document": baking(&["errors", "latency"]).to_json(), "token": token})
    }

    #[tokio::test]
    async fn registers_the_token_against_every_alarm_and_leaves_the_task_waiting() {
        let aws = FakeAws::new()
            .alarm("errors", AlarmState::Ok)
            .alarm("latency", AlarmState::InsufficientData);
        aws.waiting_task("tok");
        let out = watch(&aws, &aws, &aws, input("tok"), "t1").await.unwrap();
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
        let err = watch(&aws, &aws, &aws, input("tok"), "t1")
            .await
            .unwrap_err();
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
        assert_eq!(aws.bake_ended("d-1", 0).await.unwrap(), None);
        let out = watch(&aws, &aws, &aws, input("tok"), "t1").await.unwrap();
        assert_eq!(out["bakeEnded"], true);
        assert_eq!(aws.task("tok"), Some(Task::Succeeded));
        assert!(aws.watches_of("errors").is_empty() && aws.watches_of("latency").is_empty());
    }

    #[tokio::test]
    async fn a_failed_registration_is_an_error_the_state_machine_retries() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        aws.fail_next("Watch", AwsErrorKind::Transient, false);
        let err = watch(&aws, &aws, &aws, input("tok"), "t1")
            .await
            .unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        let err = watch(&aws, &aws, &aws, json!({"document": {}}), "t1")
            .await
            .unwrap_err();
        assert_eq!(err.name, ErrorName::InternalError);
    }
}
