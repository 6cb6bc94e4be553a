//! A callback traffic hook (`"mode": "callback"`) that reports SendTaskFailure (QaRejected): QA rejected the release.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    demo_app::run_callback_hook(demo_app::Report::Reject).await
}
