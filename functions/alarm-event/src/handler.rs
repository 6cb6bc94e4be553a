//! alarm-event: an EventBridge "CloudWatch Alarm State Change" event -> what it did. When an
//! alarm goes to ALARM, fails the task of every bake watching it (SendTaskFailure, error
//! `AlarmBreached`, a cause naming the alarm, its reason and the step): the bake's Parallel
//! fails at once, its Wait is cancelled and Rollback runs.
//!
//! Events come at least once, late, or for alarms nobody watches, and none of that may do harm:
//! an event for an unwatched alarm finds no watch; one from before a deployment started is not
//! about it; a second delivery, or one for a bake that has ended, meets a closed task (Step
//! Functions answers TaskTimedOut or InvalidToken), which is nothing to do but forget the watch.

use serde::Serialize;
use sluice_aws::{Tasks, Watches};
use sluice_core::{AlarmEvent, AlarmName, Error, ErrorName, Incoming};

/// What an alarm event did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmName>,
    /// Why the event changed nothing (not an alarm event, or not a move into ALARM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// The deployments whose bakes it stopped.
    pub stopped: Vec<String>,
    /// The deployments whose bakes had ended already (their watches are forgotten).
    pub already_ended: Vec<String>,
    /// The deployments the event is not about (the alarm changed before they started).
    pub not_about: Vec<String>,
}

pub async fn alarm_event<W: Watches, T: Tasks>(
    ledger: &W,
    tasks: &T,
    event: Incoming<AlarmEvent>,
) -> Result<Outcome, Error> {
    let event = match event {
        Incoming::Event(e) => e,
        // Retrying an event sluice cannot read would not make it readable.
        Incoming::Ignored(why) => {
            return Ok(Outcome {
                ignored: Some(why),
                ..Outcome::default()
            });
        }
    };
    if !event.stops_bakes() {
        return Ok(Outcome {
            ignored: Some(format!(
                "the alarm went to {}: only ALARM stops a bake",
                event.state.as_str()
            )),
            alarm: Some(event.alarm_name),
            ..Outcome::default()
        });
    }
    let mut out = Outcome {
        alarm: Some(event.alarm_name.clone()),
        ..Outcome::default()
    };
    let mut failed = Vec::new();
    for watch in ledger.watches(&event.alarm_name).await? {
        let id = watch.deployment_id.clone();
        let Some(failure) = watch.stopped_by(&event) else {
            out.not_about.push(id);
            continue;
        };
        // Each watch on its own: one that AWS fails must not keep the others from stopping.
        match tasks.fail_task(&watch.token, &failure).await {
            Ok(true) => out.stopped.push(id),
            Ok(false) => {
                // Its bake has ended (a duplicate or a late event): forget the watch.
                match ledger
                    .unwatch(&event.alarm_name, &id, Some(&watch.token))
                    .await
                {
                    Ok(()) => out.already_ended.push(id),
                    Err(e) => failed.push(format!("{id}: {e}")),
                }
            }
            Err(e) => failed.push(format!("{id}: {e}")),
        }
    }
    if !failed.is_empty() {
        // Lambda retries the event; the watches stopped already answer "ended" then.
        return Err(Error::new(
            ErrorName::TransientAws,
            format!(
                "alarm {} went to ALARM, but stopping these bakes failed: {}",
                event.alarm_name,
                failed.join("; ")
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::{FakeAws, Task};
    use sluice_aws::runtime::read_input;
    use sluice_core::Timestamp;
    use sluice_core::testing::{alarm, baking};

    /// alarm-event, handed `event` as the runtime hands it over; its answer as JSON.
    async fn run(aws: &FakeAws, event: Value) -> Result<Value, Error> {
        let out = alarm_event(aws, aws, read_input("alarm-event", event)?).await?;
        Ok(serde_json::to_value(out).unwrap())
    }

    fn event(alarm: &str, state: &str, at: &str) -> Value {
        json!({
            "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change",
            "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}")],
            "detail": {
                "alarmName": alarm,
                "state": {"value": state, "reason": "Threshold Crossed", "timestamp": at},
                "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-27T09:00:00.000+0000"}
            }
        })
    }

    /// Deployment `id` baking, its watch on `errors` waiting on `token`.
    async fn watching(aws: &FakeAws, id: &str, token: &str) {
        let mut d = baking(&["errors"]);
        d.deployment_id = id.into();
        d.started_at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
        let w = d
            .watch(token, Timestamp::parse("2026-11-27T10:00:01Z").unwrap())
            .unwrap();
        aws.watch(&alarm("errors"), &w).await.unwrap();
        aws.waiting_task(token);
    }

    const LATER: &str = "2026-11-27T10:00:05.000+0000";

    #[tokio::test]
    async fn an_alarm_fails_every_bake_watching_it_with_a_plain_cause() {
        let aws = FakeAws::new();
        watching(&aws, "d-1", "tok-1").await;
        watching(&aws, "d-2", "tok-2").await;
        let out = run(&aws, event("errors", "ALARM", LATER)).await.unwrap();
        assert_eq!(out["stopped"], json!(["d-1", "d-2"]));
        let Some(Task::Failed { error, cause }) = aws.task("tok-1") else {
            panic!("the task was not failed");
        };
        assert_eq!(error, "AlarmBreached");
        assert_eq!(
            cause,
            "alarm errors went to ALARM (Threshold Crossed) at step 1/2 (10% on the new version, 4s of 30s \
             baked); CloudWatch's alarm event stopped the bake"
        );
    }

    #[tokio::test]
    async fn a_duplicate_event_does_nothing_but_forget_the_watch() {
        let aws = FakeAws::new();
        watching(&aws, "d-1", "tok-1").await;
        run(&aws, event("errors", "ALARM", LATER)).await.unwrap();
        let first = aws.task("tok-1");
        let out = run(&aws, event("errors", "ALARM", LATER)).await.unwrap();
        assert_eq!(out["alreadyEnded"], json!(["d-1"]));
        assert_eq!(aws.task("tok-1"), first, "the first failure stands");
        assert!(aws.watches_of("errors").is_empty());
        let third = run(&aws, event("errors", "ALARM", LATER)).await.unwrap();
        assert_eq!(third["stopped"], json!([]));
    }

    #[tokio::test]
    async fn late_unwatched_and_other_state_events_change_nothing() {
        let aws = FakeAws::new();
        watching(&aws, "d-1", "tok-1").await;
        let writes = aws.writes();
        for e in [
            // Changed before the deployment started: an earlier deployment's alarm.
            event("errors", "ALARM", "2026-11-27T09:59:00.000+0000"),
            // Nobody watches it.
            event("stranger", "ALARM", LATER),
            // Back to OK, or no data.
            event("errors", "OK", LATER),
            event("errors", "INSUFFICIENT_DATA", LATER),
            // Not an alarm event at all.
            json!({"detail-type": "Scheduled Event", "detail": {}}),
            json!("not even an object"),
        ] {
            run(&aws, e.clone()).await.unwrap();
            assert_eq!(aws.task("tok-1"), Some(Task::Waiting), "{e}");
        }
        assert_eq!(aws.writes(), writes, "nothing written");
        assert_eq!(aws.watches_of("errors").len(), 1);
    }

    #[tokio::test]
    async fn a_failed_send_stops_the_others_and_asks_for_a_retry() {
        let aws = FakeAws::new();
        watching(&aws, "d-1", "tok-1").await;
        watching(&aws, "d-2", "tok-2").await;
        aws.fail_next("SendTaskFailure", AwsErrorKind::Transient, false);
        let err = run(&aws, event("errors", "ALARM", LATER))
            .await
            .unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        assert!(err.message.contains("d-1"), "{}", err.message);
        assert!(matches!(aws.task("tok-2"), Some(Task::Failed { .. })));
        // Lambda's retry stops the one left.
        let out = run(&aws, event("errors", "ALARM", LATER)).await.unwrap();
        assert_eq!(out["stopped"], json!(["d-1"]));
    }
}
