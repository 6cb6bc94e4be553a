//! sluice, the command line.

mod plan;
mod sam;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Safe, progressive deployments of AWS Lambda aliases, run by Step Functions",
    after_help = "Examples:\n  sluice plan --strategy Linear10PercentEvery3Minutes\n  sluice from-sam template.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a strategy does, step by step, and what it costs in Step Functions (no AWS calls).
    #[command(
        after_help = "Examples:\n  sluice plan --strategy Canary10Percent5Minutes\n  \
        sluice plan --strategy '{\"steps\": [{\"weight\": 5, \"bake\": \"10m\"}, {\"weight\": 100}]}' --alarms --poll-interval 30s"
    )]
    Plan {
        /// A preset name (Canary10Percent5Minutes, Linear10PercentEvery3Minutes, AllAtOnce, ...)
        /// or a JSON strategy ({"canary": ...}, {"linear": ...}, {"steps": [...]}).
        #[arg(long)]
        strategy: String,
        /// How often alarms are read during a bake, as the request would say it.
        #[arg(long, default_value = "10s")]
        poll_interval: String,
        /// The deployment watches alarms (bakes are then checked every poll interval).
        #[arg(long)]
        alarms: bool,
    },
    /// Print the sluice request for each function of a SAM template with a DeploymentPreference.
    #[command(after_help = "Example:\n  sluice from-sam template.yaml > requests.json")]
    FromSam {
        /// The SAM template (YAML or JSON).
        template: PathBuf,
        /// The alias SAM publishes each new version to (AutoPublishAlias), which sluice deploys from.
        #[arg(long, default_value = "candidate")]
        candidate_alias: String,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Plan {
            strategy,
            poll_interval,
            alarms,
        } => plan::run(&strategy, &poll_interval, alarms),
        Command::FromSam {
            template,
            candidate_alias,
        } => sam::run(&template, &candidate_alias),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("sluice: {message}");
            ExitCode::FAILURE
        }
    }
}
