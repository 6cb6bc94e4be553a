//! sluice, the command line.

mod deployments;
mod error;
mod operate;
mod plan;
mod progress;
mod report;
mod sam;

use clap::{Args, Parser, Subcommand};
use deployments::Context;
use error::{CliError, Done, exit};
use serde_json::{Value, json};
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::sfn::StepFunctions;
use sluice_core::ledger::CommandKind;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Safe, progressive deployments of AWS Lambda aliases, run by Step Functions",
    after_help = "Examples:\n  sluice deploy --function orders --alias live --strategy Canary10Percent5Minutes --alarm orders-errors --wait\n  \
        sluice watch orders-live-20261127T100000Z\n  sluice plan --strategy Linear10PercentEvery3Minutes\n  \
        sluice rollback orders:live --reason \"errors since 14:00\" --wait\n  sluice freeze --reason \"holiday freeze\" --until 2027-01-04T08:00:00Z\n\n\
        Exit codes: 0 deployed; 3 failed or refused, every alias back where it was; 4 failed, some alias not back; 1 sluice could not do what was asked; 2 a bad command line."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A command on a running deployment.
#[derive(Args)]
struct Operate {
    #[command(flatten)]
    sluice: SluiceStack,
    /// The deployment id (or its execution ARN).
    id: String,
    /// Why (recorded in the deployment's history, with who: the caller's STS identity).
    #[arg(long)]
    reason: Option<String>,
}

/// Where sluice runs: its state machine and its ledger.
#[derive(Args)]
struct SluiceStack {
    /// sluice's SAM stack: its StateMachineArn and LedgerTableName outputs, unless given below.
    #[arg(long, env = "SLUICE_STACK")]
    stack: Option<String>,
    /// sluice's state machine (the stack's StateMachineArn output).
    #[arg(long, env = "SLUICE_STATE_MACHINE_ARN")]
    state_machine: Option<String>,
    /// sluice's ledger table (the stack's LedgerTableName output): locks and records.
    #[arg(long, env = "SLUICE_LEDGER_TABLE")]
    ledger_table: Option<String>,
    /// Send every AWS call here (a local stack); also read from AWS_ENDPOINT_URL.
    #[arg(long)]
    endpoint_url: Option<String>,
}

// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start a deployment (the request is checked here first: a bad flag starts nothing).
    #[command(
        after_help = "Examples:\n  sluice deploy --function orders --alias live --target-version alias:candidate \\\n      \
        --strategy Canary10Percent5Minutes --alarm orders-errors --pre-traffic orders-pre --wait\n  \
        sluice deploy --request request.json --name orders-release-42\n  \
        sluice deploy --function orders --alias live --strategy Linear10PercentEvery3Minutes --approve-before-full --approval-timeout 2h\n  \
        sluice deploy --function orders --alias live --target-version 42 --strategy Canary10Percent5Minutes \\\n      \
        --alarm orders-errors --dry-run --wait\n\n\
        Exit codes (with --wait): as `sluice watch`; a dry run exits 0 when the deployment would have gone through, 3 when it would have been refused or rolled back."
    )]
    Deploy {
        #[command(flatten)]
        sluice: SluiceStack,
        /// The whole request as a JSON file (instead of the flags below).
        #[arg(long, conflicts_with_all = ["function", "alias", "strategy"])]
        request: Option<PathBuf>,
        /// The function to deploy (name or ARN).
        #[arg(long, required_unless_present = "request")]
        function: Option<String>,
        /// Its alias that moves to the new version.
        #[arg(long, required_unless_present = "request")]
        alias: Option<String>,
        /// A published version, or alias:NAME; absent: publish the function's current code.
        #[arg(long)]
        target_version: Option<String>,
        /// A preset (Canary10Percent5Minutes, ...) or a JSON strategy.
        #[arg(long, required_unless_present = "request")]
        strategy: Option<String>,
        /// A CloudWatch alarm that rolls the deployment back (repeat for more).
        #[arg(long = "alarm")]
        alarms: Vec<String>,
        #[arg(long)]
        pre_traffic: Option<String>,
        #[arg(long)]
        post_traffic: Option<String>,
        /// How often a bake is checked: the canary analysis and the alarms' backstop (default 1m
        /// with the analysis, 5m without; alarm events stop a bake at once).
        #[arg(long, alias = "poll-interval")]
        check_interval: Option<String>,
        /// Turn the canary analysis of the versions' own metrics off ("analysis": false).
        #[arg(long)]
        no_analysis: bool,
        /// An alarm (one of --alarm) that may be in ALARM as the deployment starts: the fix for
        /// what it reports. It is ignored until it leaves ALARM, then guards (repeat for more).
        #[arg(long = "allow-firing-alarm")]
        allow_firing_alarms: Vec<String>,
        /// What an alarm without data (INSUFFICIENT_DATA) counts as: healthy (default) or breach.
        #[arg(long, value_parser = ["healthy", "breach"])]
        insufficient_data: Option<String>,
        /// Wait for a person's approval before step N, 2 or later (repeat; `sluice plan` numbers
        /// the steps): the deployment holds at the step before, alarms and analysis judging.
        #[arg(long = "approve-before-step", value_name = "N")]
        approve_before: Vec<usize>,
        /// Wait for a person's approval before the step to 100%.
        #[arg(long)]
        approve_before_full: bool,
        /// How long a gate waits for approval.
        #[arg(long, default_value = "4h")]
        approval_timeout: String,
        /// What a gate does when nobody approved in time.
        #[arg(long, value_parser = ["rollback", "promote"], default_value = "rollback")]
        approval_on_timeout: String,
        /// Why the deployment is made (recorded, with who asked: the caller's STS identity).
        #[arg(long)]
        reason: Option<String>,
        /// Go through a freeze (sluice freeze), saying why; recorded.
        #[arg(long, value_name = "REASON")]
        override_freeze: Option<String>,
        /// Run everything but the alias writes: validation, hooks, bakes, alarms and analysis,
        /// reporting what each step would do; no alias written, no lock taken ("dryRun": true).
        #[arg(long)]
        dry_run: bool,
        /// The deployment id (the execution's name); default: function-alias-time.
        #[arg(long)]
        name: Option<String>,
        /// Watch it to the end (exit code as `watch`).
        #[arg(long)]
        wait: bool,
    },
    /// Roll a finished deployment back: its alias returns to the version live before it, as a
    /// deployment of its own (locks, record, hooks if given), through a freeze and, by default,
    /// not stopped by alarms already firing.
    #[command(
        after_help = "Examples:\n  sluice rollback orders:live --reason \"errors after the 14:00 release\" --wait\n  \
        sluice rollback orders:live --to 41\n  sluice rollback orders:live --deployment orders-live-20261127T100000Z \\\n      \
        --strategy Linear10PercentEvery1Minute --alarm orders-errors\n\n\
        Exit codes (with --wait): 0 rolled back (the rollback deployment succeeded); 3 it failed or was refused, the alias where it was; 4 failed, the alias not back; 1 sluice could not do what was asked."
    )]
    Rollback {
        #[command(flatten)]
        sluice: SluiceStack,
        #[command(flatten)]
        ask: operate::RollbackAsk,
        /// The rollback's deployment id; default: function-alias-rollback-time.
        #[arg(long)]
        name: Option<String>,
        /// Watch it to the end (exit code as `watch`).
        #[arg(long)]
        wait: bool,
    },
    /// Pass the gate a deployment waits at (its next step follows).
    #[command(
        after_help = "Example:\n  sluice approve orders-live-20261127T100000Z --reason \"canary looks good\""
    )]
    Approve(Operate),
    /// Roll a deployment back from the gate it waits at, saying why.
    #[command(
        after_help = "Example:\n  sluice reject orders-live-20261127T100000Z --reason \"p99 up 30%\""
    )]
    Reject(Operate),
    /// Hold a deployment at its current weight (alarms and the analysis keep judging), up to the
    /// request's pause limit (default 1h, then rollback).
    #[command(
        after_help = "Example:\n  sluice pause orders-live-20261127T100000Z --reason \"checking a support ticket\""
    )]
    Pause(Operate),
    /// Go on from a pause with the bake that was left.
    #[command(after_help = "Example:\n  sluice resume orders-live-20261127T100000Z")]
    Resume(Operate),
    /// Skip the rest of the current bake (or pause; at a gate, approve); with --full go to 100%
    /// now, skipping the steps and gates left (the PostTraffic hook still runs).
    #[command(
        after_help = "Examples:\n  sluice promote orders-live-20261127T100000Z\n  sluice promote orders-live-20261127T100000Z --full --reason \"hotfix, verified at 10%\""
    )]
    Promote {
        #[command(flatten)]
        on: Operate,
        #[arg(long)]
        full: bool,
    },
    /// What the ledger knows of an alias: every deployment that moved it, newest first.
    #[command(
        after_help = "Examples:\n  sluice history orders:live\n  sluice history orders:live --limit 5 --json"
    )]
    History {
        #[command(flatten)]
        sluice: SluiceStack,
        /// FUNCTION:ALIAS.
        target: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Stop the line: refuse every new deployment (or a function's) until unfrozen or --until.
    #[command(
        after_help = "Examples:\n  sluice freeze --reason \"holiday freeze\" --until 2027-01-04T08:00:00Z\n  \
        sluice freeze --function orders --reason \"INC-1234: payments outage\" --until 8h\n  sluice freeze --list\n\n\
        Running deployments go on; sluice rollback, and requests with overrideFreeze (deploy --override-freeze REASON), go through, recorded."
    )]
    Freeze {
        #[command(flatten)]
        sluice: SluiceStack,
        /// Freeze this function only (repeat for more); default: every deployment.
        #[arg(long = "function")]
        functions: Vec<String>,
        /// Why (required): shown to everyone refused.
        #[arg(long, required_unless_present = "list")]
        reason: Option<String>,
        /// When it ends by itself: a time (RFC 3339) or a duration from now (8h).
        #[arg(long)]
        until: Option<String>,
        /// Show every freeze instead.
        #[arg(long, conflicts_with_all = ["reason", "until", "functions"])]
        list: bool,
    },
    /// Lift a freeze: every deployment's, or a function's.
    #[command(after_help = "Examples:\n  sluice unfreeze\n  sluice unfreeze --function orders")]
    Unfreeze {
        #[command(flatten)]
        sluice: SluiceStack,
        #[arg(long = "function")]
        functions: Vec<String>,
    },
    /// Follow a deployment to its end: weight, step, bake left, alarms; then the outcome.
    #[command(after_help = "Example:\n  sluice watch orders-live-20261127T100000Z")]
    Watch {
        #[command(flatten)]
        sluice: SluiceStack,
        /// The deployment id, or the execution ARN.
        id: String,
    },
    /// Where a deployment is, from Step Functions and the ledger.
    #[command(after_help = "Example:\n  sluice status orders-live-20261127T100000Z --json")]
    Status {
        #[command(flatten)]
        sluice: SluiceStack,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// One self-contained HTML page of a deployment (running or ended): its verdict, a timeline
    /// of weights, bakes, gates, pauses, hooks, checks and alarm moves, each version's own
    /// metrics against the analysis's lines, who did what, the request, the plan and the cost.
    #[command(
        after_help = "Examples:\n  sluice report orders-live-20261127T100000Z\n  \
        sluice report orders-live-20261127T100000Z --out /tmp/orders.html\n\n\
        The page needs no network to open (no script, no URL). What could not be read (an execution past Step \
        Functions' 90 days, metrics past CloudWatch's retention) is said on the page."
    )]
    Report {
        #[command(flatten)]
        sluice: SluiceStack,
        /// The deployment id, or the execution ARN.
        id: String,
        /// Where to write it (default: ID.html in the current directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The state machine's deployments, newest first.
    #[command(after_help = "Example:\n  sluice list --function orders --running")]
    List {
        #[command(flatten)]
        sluice: SluiceStack,
        #[arg(long)]
        function: Option<String>,
        #[arg(long)]
        running: bool,
    },
    /// Stop a deployment and wait until every alias is back on its previous version.
    #[command(after_help = "Example:\n  sluice abort orders-live-20261127T100000Z")]
    Abort {
        #[command(flatten)]
        sluice: SluiceStack,
        id: String,
    },
    /// Show what a strategy (or a whole request) does, step by step, and what it costs in Step
    /// Functions and CloudWatch (no AWS calls).
    #[command(
        after_help = "Examples:\n  sluice plan --strategy Canary10Percent5Minutes\n  \
        sluice plan --strategy '{\"steps\": [{\"weight\": 5, \"bake\": \"10m\"}, {\"weight\": 100}]}' --alarms --check-interval 1m\n  \
        sluice from-sam template.yaml > requests.json && sluice plan --request requests.json"
    )]
    Plan {
        /// A preset name (Canary10Percent5Minutes, Linear10PercentEvery3Minutes, AllAtOnce, ...)
        /// or a JSON strategy ({"canary": ...}, {"linear": ...}, {"steps": [...]}).
        #[arg(long, required_unless_present = "request")]
        strategy: Option<String>,
        /// A request file instead (one request, a list, or what `sluice from-sam` printed): each
        /// is shown as validate will run it, with its own alarms, analysis, hooks and interval.
        #[arg(long, conflicts_with_all = ["strategy", "check_interval", "alarms", "no_analysis"])]
        request: Option<PathBuf>,
        /// How often the bake's backstop reads the alarms, as the request would say it
        /// (default 5m, stretched as validate stretches it when a plan would not fit).
        #[arg(long, alias = "poll-interval")]
        check_interval: Option<String>,
        /// The deployment watches alarms (alarm events stop a bake; the backstop reads them
        /// every check interval).
        #[arg(long)]
        alarms: bool,
        /// The request turns the canary analysis off ("analysis": false).
        #[arg(long)]
        no_analysis: bool,
    },
    /// Print the sluice request for each function of a SAM template with a DeploymentPreference
    /// (Globals merged, intrinsics read with the parameters' defaults or --parameter values);
    /// what it cannot map is named in each entry's notes.
    #[command(
        after_help = "Examples:\n  sluice from-sam template.yaml > requests.json\n  \
        sluice from-sam template.yaml --parameter Environment=prod --parameter Stage=live > requests.json\n  \
        sluice plan --request requests.json"
    )]
    FromSam {
        /// The SAM template (YAML or JSON).
        template: PathBuf,
        /// The alias SAM publishes each new version to (AutoPublishAlias), which sluice deploys from.
        #[arg(long, default_value = "candidate")]
        candidate_alias: String,
        /// A template parameter's value, as the stack is deployed with it (repeat); without it,
        /// a parameter's Default is used.
        #[arg(long = "parameter", value_name = "NAME=VALUE")]
        parameters: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version end well; anything else is a bad command line.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let endpoint = match &cli.command {
        Command::Deploy { sluice, .. }
        | Command::Watch { sluice, .. }
        | Command::Status { sluice, .. }
        | Command::Report { sluice, .. }
        | Command::List { sluice, .. }
        | Command::Abort { sluice, .. }
        | Command::Rollback { sluice, .. }
        | Command::History { sluice, .. }
        | Command::Freeze { sluice, .. }
        | Command::Unfreeze { sluice, .. }
        | Command::Approve(Operate { sluice, .. })
        | Command::Reject(Operate { sluice, .. })
        | Command::Pause(Operate { sluice, .. })
        | Command::Resume(Operate { sluice, .. })
        | Command::Promote {
            on: Operate { sluice, .. },
            ..
        } => sluice.endpoint_url.clone(),
        _ => None,
    };
    if let Some(url) = endpoint {
        // SAFETY: no other thread runs yet; the SDK reads AWS_ENDPOINT_URL when clients are built.
        unsafe { std::env::set_var("AWS_ENDPOINT_URL", url) };
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(CliError::Other(format!("cannot start: {e}"))),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(done) => done.exit_code(),
        Err(e) => fail(e),
    }
}

fn fail(e: CliError) -> ExitCode {
    eprintln!("sluice: {e}");
    ExitCode::from(exit::FAILED)
}

async fn context(sluice: SluiceStack) -> Result<Context, CliError> {
    let (mut state_machine, mut table) = (sluice.state_machine, sluice.ledger_table);
    if let Some(stack) = &sluice.stack
        && (state_machine.is_none() || table.is_none())
    {
        let outputs = sluice_aws::cloudformation::stack_outputs(stack)
            .await
            .map_err(CliError::aws(format!(
                "cannot read the outputs of stack {stack}"
            )))?;
        state_machine = state_machine.or_else(|| outputs.get("StateMachineArn").cloned());
        table = table.or_else(|| outputs.get("LedgerTableName").cloned());
    }
    let ledger = table.map(DynamoLedger::with_table);
    Ok(Context {
        sfn: StepFunctions::from_env(),
        ledger,
        state_machine,
    })
}

async fn run(command: Command) -> Result<Done, CliError> {
    match command {
        Command::Plan {
            strategy,
            request,
            check_interval,
            alarms,
            no_analysis,
        } => match request {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                plan::run_request(&text, &path.display().to_string()).map(Done::Print)
            }
            None => plan::run(
                &strategy.unwrap_or_default(),
                check_interval.as_deref(),
                alarms,
                !no_analysis,
            )
            .map(Done::Print),
        },
        Command::FromSam {
            template,
            candidate_alias,
            parameters,
        } => sam::run(&template, &candidate_alias, &parameters).map(Done::Print),
        Command::Deploy {
            sluice,
            request,
            function,
            alias,
            target_version,
            strategy,
            alarms,
            pre_traffic,
            post_traffic,
            check_interval,
            no_analysis,
            allow_firing_alarms,
            insufficient_data,
            approve_before,
            approve_before_full,
            approval_timeout,
            approval_on_timeout,
            reason,
            override_freeze,
            dry_run,
            name,
            wait,
        } => {
            let (mut request, from_flags) = match request {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
                        path: path.display().to_string(),
                        source,
                    })?;
                    let value: Value = serde_json::from_str(&text).map_err(|e| {
                        CliError::refused(format!("{} is not JSON: {e}", path.display()))
                    })?;
                    (value, false)
                }
                None => (
                    from_flags(
                        function.unwrap_or_default(),
                        alias.unwrap_or_default(),
                        target_version,
                        strategy.unwrap_or_default(),
                        alarms,
                        pre_traffic,
                        post_traffic,
                        check_interval,
                        no_analysis,
                        allow_firing_alarms,
                        insufficient_data,
                    )?,
                    true,
                ),
            };
            if !approve_before.is_empty() || approve_before_full {
                let gate = json!({"timeout": approval_timeout, "onTimeout": approval_on_timeout});
                request["strategy"] = plan::with_gates(
                    &request["strategy"],
                    &approve_before,
                    approve_before_full,
                    &gate,
                )?;
            }
            if let Some(r) = reason {
                request["reason"] = json!(r);
            }
            if let Some(r) = override_freeze {
                request["overrideFreeze"] = json!(r);
            }
            if dry_run {
                request["dryRun"] = json!(true);
            }
            deployments::check(&request, from_flags)?;
            let ctx = context(sluice).await?;
            start(&ctx, request, name, "", wait).await
        }
        Command::Rollback {
            sluice,
            ask,
            name,
            wait,
        } => {
            let ctx = context(sluice).await?;
            let lambda = LambdaFunctions::from_env();
            let Some(request) = operate::rollback_request(&ctx, &lambda, ask).await? else {
                return Ok(Done::Quiet);
            };
            deployments::check(&request, false)?;
            start(&ctx, request, name, "-rollback", wait).await
        }
        Command::Approve(on) => operate(on, CommandKind::Approve).await,
        Command::Reject(on) => operate(on, CommandKind::Reject).await,
        Command::Pause(on) => operate(on, CommandKind::Pause).await,
        Command::Resume(on) => operate(on, CommandKind::Resume).await,
        Command::Promote { on, full } => {
            let kind = if full {
                CommandKind::PromoteFull
            } else {
                CommandKind::Promote
            };
            operate(on, kind).await
        }
        Command::History {
            sluice,
            target,
            limit,
            json,
        } => operate::history(
            &context(sluice).await?,
            &LambdaFunctions::from_env(),
            &target,
            limit,
            json,
        )
        .await
        .map(Done::Print),
        Command::Freeze {
            sluice,
            functions,
            reason,
            until,
            list,
        } => {
            let ctx = context(sluice).await?;
            if list {
                operate::freezes(&ctx).await.map(Done::Print)
            } else {
                operate::freeze(
                    &ctx,
                    &LambdaFunctions::from_env(),
                    &functions,
                    reason.as_deref().unwrap_or_default(),
                    until.as_deref(),
                )
                .await
                .map(Done::Print)
            }
        }
        Command::Unfreeze { sluice, functions } => operate::unfreeze(
            &context(sluice).await?,
            &LambdaFunctions::from_env(),
            &functions,
        )
        .await
        .map(Done::Print),
        Command::Watch { sluice, id } => deployments::watch(&context(sluice).await?, &id)
            .await
            .map(Done::Ended),
        Command::Status { sluice, id, json } => {
            deployments::status(&context(sluice).await?, &id, json)
                .await
                .map(Done::Print)
        }
        Command::Report { sluice, id, out } => report::run(&context(sluice).await?, &id, out)
            .await
            .map(Done::Print),
        Command::List {
            sluice,
            function,
            running,
        } => deployments::list(&context(sluice).await?, function.as_deref(), running)
            .await
            .map(Done::Print),
        Command::Abort { sluice, id } => {
            let ctx = context(sluice).await?;
            deployments::abort(&ctx, &LambdaFunctions::from_env(), &id)
                .await
                .map(Done::Ended)
        }
    }
}

async fn operate(on: Operate, kind: CommandKind) -> Result<Done, CliError> {
    let ctx = context(on.sluice).await?;
    operate::command(&ctx, &on.id, kind, on.reason)
        .await
        .map(Done::Print)
}

/// Starts a checked request as the caller (its `requestedBy`), named `name` or
/// function-alias{suffix}-time, and follows it to its end when asked.
async fn start(
    ctx: &Context,
    mut request: Value,
    name: Option<String>,
    suffix: &str,
    wait: bool,
) -> Result<Done, CliError> {
    request["requestedBy"] = json!(operate::identity().await?);
    let name = name.unwrap_or_else(|| {
        let t = &request["targets"][0];
        deployments::deployment_id(
            t["functionName"].as_str().unwrap_or("deployment"),
            &format!("{}{suffix}", t["alias"].as_str().unwrap_or("")),
            &sluice_aws::clock::now().to_string(),
        )
    });
    let arn = deployments::deploy(ctx, &request, &name).await?;
    if wait {
        deployments::watch(ctx, &arn).await.map(Done::Ended)
    } else {
        Ok(Done::Quiet)
    }
}

/// The request the deploy flags describe.
#[allow(clippy::too_many_arguments)]
fn from_flags(
    function: String,
    alias: String,
    target_version: Option<String>,
    strategy: String,
    alarms: Vec<String>,
    pre_traffic: Option<String>,
    post_traffic: Option<String>,
    check_interval: Option<String>,
    no_analysis: bool,
    allow_firing_alarms: Vec<String>,
    insufficient_data: Option<String>,
) -> Result<Value, CliError> {
    let strategy = if strategy.trim_start().starts_with('{') {
        serde_json::from_str(&strategy)
            .map_err(|e| CliError::refused(format!("--strategy is not valid JSON: {e}")))?
    } else {
        Value::String(strategy)
    };
    let mut target = json!({"functionName": function, "alias": alias});
    if let Some(v) = target_version {
        target["targetVersion"] = json!(v);
    }
    let mut request = json!({"targets": [target], "strategy": strategy});
    if !alarms.is_empty() {
        request["alarms"] = json!(alarms);
    }
    let mut hooks = serde_json::Map::new();
    if let Some(h) = pre_traffic {
        hooks.insert("preTraffic".into(), json!(h));
    }
    if let Some(h) = post_traffic {
        hooks.insert("postTraffic".into(), json!(h));
    }
    if !hooks.is_empty() {
        request["hooks"] = Value::Object(hooks);
    }
    if let Some(p) = check_interval {
        request["checkInterval"] = json!(p);
    }
    if no_analysis {
        request["analysis"] = json!(false);
    }
    if !allow_firing_alarms.is_empty() {
        request["allowFiringAlarms"] = json!(allow_firing_alarms);
    }
    if let Some(policy) = insufficient_data {
        request["insufficientData"] = json!(policy);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_s_help_has_an_example() {
        let cli = Cli::command();
        assert!(
            cli.get_after_help()
                .is_some_and(|h| h.to_string().contains("Examples:"))
        );
        for sub in cli.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("Example:") || help.contains("Examples:"),
                "sluice {} --help has no example",
                sub.get_name()
            );
        }
    }
}
