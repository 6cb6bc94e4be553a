//! hook: `{"document": Deployment, "deploymentId", "start"?: "PreTraffic" | "PostTraffic"}` ->
//! Deployment. The state machine's hook loop calls it to start a traffic hook (`start`) and to
//! judge each answer of it; sluice-core decides (no AWS calls here: the state machine invokes
//! the user's hook itself, so a hook may take Lambda's 15 minutes without sluice waiting on it).

mod handler;

use sluice_aws::clock::now;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_aws::runtime::run("hook", |call| async move { handler::hook(call, now()) }).await
}
