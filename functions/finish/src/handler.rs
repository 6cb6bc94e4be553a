//! finish: Deployment -> Deployment. The state machine's last step of a successful deployment:
//! every alias serves its new version, so the record says Deployed and the deployment's locks and
//! watches are released. Should it keep failing, the aliases are right all the same: the safety
//! net finishes the record when the execution's SUCCEEDED event comes.

use sluice_aws::{Ledger, Watches};
use sluice_core::{Deployment, Error, Timestamp};

pub async fn finish<L: Ledger + Watches>(
    ledger: &L,
    doc: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    sluice_aws::ending::finish(ledger, doc, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_aws::fake::FakeAws;
    use sluice_aws::runtime::read_input;
    use sluice_core::testing::{t, ten};
    use sluice_core::{ErrorName, Status};

    /// finish, handed `input` as the runtime hands it over.
    async fn run(aws: &FakeAws, input: Value, now: Timestamp) -> Result<Deployment, Error> {
        finish(aws, read_input("finish", input)?, now).await
    }

    /// a:live at 10 % of version 2, recorded and locked by its execution.
    fn locked() -> (FakeAws, Deployment) {
        sluice_aws::fake::baking_and_locked()
    }

    #[tokio::test]
    async fn the_last_step_of_a_success_records_it_and_unlocks() {
        let (aws, mut d) = locked();
        d.status = Status::AllShifted;
        let out = run(&aws, d.to_json(), t(9)).await.unwrap();
        assert_eq!(out.status, Status::Deployed);
        assert!(aws.locks().is_empty());
        assert_eq!(aws.record("d-1").unwrap()["status"], "Deployed");
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            ten(),
            "finish moves no alias"
        );
    }

    /// Redrive: the execution was stopped, the safety net rolled the deployment back, then the
    /// execution was redriven and reached Finish. It must not end as a success.
    #[tokio::test]
    async fn a_deployment_settled_before_finish_is_no_success() {
        let (aws, mut d) = locked();
        let mut record = d.clone();
        record.status = Status::RolledBack;
        record.failure = Some(sluice_core::Failure::new(
            ErrorName::ExecutionAborted,
            "the execution was stopped (ABORTED); sluice's safety net rolled it back",
        ));
        aws.set_record("d-1", record.to_json());
        d.status = Status::AllShifted;
        let err = run(&aws, d.to_json(), t(9)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlreadySettled);
        assert!(
            err.message.contains("settled as RolledBack"),
            "{}",
            err.message
        );
        assert_eq!(
            aws.record("d-1").unwrap()["status"],
            "RolledBack",
            "the record stands"
        );
        // Finish's own earlier try, its answer lost: answered again.
        let (aws, mut d) = locked();
        d.status = Status::AllShifted;
        let first = run(&aws, d.to_json(), t(9)).await.unwrap();
        assert_eq!(run(&aws, d.to_json(), t(10)).await.unwrap(), first);
    }

    #[tokio::test]
    async fn a_deployment_that_is_not_done_is_not_finished() {
        let (aws, d) = locked();
        let err = run(&aws, d.to_json(), t(9)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InternalError);
        assert_eq!(aws.locks().len(), 1, "its locks are kept");
    }
}
