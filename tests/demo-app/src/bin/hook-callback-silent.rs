//! A callback traffic hook (`"mode": "callback"`) that reports nothing at all: its timeout ends it.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    demo_app::run_callback_hook(demo_app::Report::Nothing).await
}
