//! A callback traffic hook (`"mode": "callback"`) that reports SendTaskSuccess: the QA sign-off came.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    demo_app::run_callback_hook(demo_app::Report::Approve).await
}
