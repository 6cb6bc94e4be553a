//! check-alarms: Deployment -> Deployment. After a Wait, counts the waited seconds into the
//! bake, reads the alarms, and says what comes next: bake on, shift on, or roll back.

use serde_json::Value;
use sluice_aws::{AlarmReader, Ledger};
use sluice_core::{Deployment, Error, Status};

pub async fn check_alarms<A: AlarmReader, L: Ledger>(
    alarms: &A,
    ledger: &L,
    input: Value,
    now: &str,
) -> Result<Deployment, Error> {
    let mut doc = Deployment::from_json(input)?;
    let readings = alarms.read_alarms(&doc.alarms).await?;
    doc.record_check(&readings, now)?;
    // A breach is recorded, so a rollback the execution cannot finish keeps its reason.
    if doc.status == Status::AlarmBreached {
        ledger.save(&doc).await?;
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::FakeAws;
    use sluice_core::testing::baking;
    use sluice_core::{AlarmState, ErrorName, Status};

    #[tokio::test]
    async fn bakes_in_polls_then_moves_on() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        let mut polls = 0;
        while d.status == Status::Baking {
            d = check_alarms(&aws, &aws, d.to_json(), "t").await.unwrap();
            polls += 1;
        }
        assert_eq!(
            (polls, d.status, d.bake.elapsed_seconds),
            (3, Status::ShiftNext, 30)
        );
        assert!(d.last_check.unwrap().healthy);
    }

    #[tokio::test]
    async fn an_alarm_in_alarm_stops_the_deployment_by_name() {
        let aws = FakeAws::new()
            .alarm("errors", AlarmState::Ok)
            .alarm("latency", AlarmState::Ok);
        let d = check_alarms(&aws, &aws, baking(&["errors", "latency"]).to_json(), "t")
            .await
            .unwrap();
        assert_eq!(d.status, Status::Baking);
        aws.set_alarm("latency", AlarmState::Alarm);
        let d = check_alarms(&aws, &aws, d.to_json(), "t").await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert_eq!(
            aws.record("d-1").unwrap(),
            d.to_json(),
            "the breach is recorded"
        );
        let failure = d.failure.unwrap();
        assert_eq!(failure.error, "AlarmBreached");
        assert!(
            failure.cause.starts_with("alarm latency is in ALARM"),
            "{}",
            failure.cause
        );
        assert!(
            !failure.cause.contains("errors"),
            "only the firing alarm is named"
        );
    }

    #[tokio::test]
    async fn a_failed_read_is_an_error_not_a_pass() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        aws.fail_next("DescribeAlarms", AwsErrorKind::Transient, false);
        let err = check_alarms(&aws, &aws, baking(&["errors"]).to_json(), "t")
            .await
            .unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
    }

    #[tokio::test]
    async fn without_alarms_one_wait_bakes_the_step() {
        let aws = FakeAws::new();
        let d = baking(&[]);
        assert_eq!(d.next_wait_seconds, 30);
        let d = check_alarms(&aws, &aws, d.to_json(), "t").await.unwrap();
        assert_eq!(d.status, Status::ShiftNext);
    }
}
