//! explain: `{"failure": {Error, Cause}, "rollingBack"?: {Error, Cause}}` -> `{Error, Cause}`.
//! The state machine's ExplainRefusal and ExplainRollbackFailure states call it where a caught
//! failure would otherwise end the execution as Step Functions wrote it (a refused request, a
//! rollback that could not finish): sluice-core's one place for plain words
//! (`Explain::plain`, tested there) reduces Lambda's error JSON to its message. No AWS calls.

use sluice_core::Explain;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_aws::runtime::run(
        "explain",
        |explain: Explain| async move { Ok(explain.plain()) },
    )
    .await
}
