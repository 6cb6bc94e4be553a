//! `sluice deploy`, `watch`, `status`, `list` and `abort`: Step Functions executions of sluice's
//! state machine and their records in the ledger. Requests are checked locally first, with the
//! same sluice-core parser the state machine's validate runs.

use crate::error::{CliError, Ending};
use crate::progress::{describe, live};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sluice_aws::clock::now;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::sfn::{ExecutionInfo, StepFunctions};
use sluice_aws::{FunctionStore, Ledger};
use sluice_core::{Deployment, ExecutionStatus, Request, Status};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How long `watch` and `abort` wait for the safety net to settle an execution that ended: past
/// the sweeper's default period (5 minutes), which settles it when its status event was lost.
const SETTLE_WAIT: Duration = Duration::from_secs(360);
/// When the wait is said: reconcile settles within seconds, unless the status event was lost.
const SETTLE_NOTICE: Duration = Duration::from_secs(15);

/// Where sluice runs, as the CLI found it: its state machine and its ledger.
pub struct Context {
    pub sfn: StepFunctions,
    pub ledger: Option<DynamoLedger>,
    pub state_machine: Option<String>,
}

impl Context {
    fn state_machine(&self) -> Result<&str, CliError> {
        self.state_machine.as_deref().ok_or_else(|| {
            CliError::refused(
                "no state machine: pass --stack NAME (sluice's stack), or --state-machine ARN / \
                 SLUICE_STATE_MACHINE_ARN (its StateMachineArn output)",
            )
        })
    }

    /// An execution ARN from a deployment id (the execution's name) or an ARN.
    pub(crate) fn execution_arn(&self, id: &str) -> Result<String, CliError> {
        if id.starts_with("arn:") {
            return Ok(id.to_string());
        }
        Ok(format!(
            "{}:{id}",
            self.state_machine()?
                .replacen(":stateMachine:", ":execution:", 1)
        ))
    }

    async fn describe(&self, arn: &str) -> Result<ExecutionInfo, CliError> {
        self.sfn
            .describe(arn)
            .await
            .map_err(CliError::aws("could not read the execution"))
    }

    pub(crate) async fn record(&self, id: &str) -> Result<Option<Deployment>, CliError> {
        let Some(ledger) = &self.ledger else {
            return Ok(None);
        };
        ledger
            .load(id)
            .await
            .map_err(CliError::aws(format!("could not read the record of {id}")))
    }

    pub(crate) async fn latest_document(&self, arn: &str) -> Result<Option<Deployment>, CliError> {
        self.sfn
            .latest_document(arn)
            .await
            .map_err(CliError::aws("could not read the execution's history"))
    }
}

/// Checks a request locally, naming the flag (or the request file's field) that is wrong.
pub fn check(request: &Value, from_flags: bool) -> Result<(), CliError> {
    Request::parse(request).map(|_| ()).map_err(|e| {
        if !from_flags {
            return CliError::refused(format!("the request is refused: {}", e.message));
        }
        let field = e.field.as_deref().unwrap_or_default();
        let flag = [
            ("targets[0].functionName", "--function"),
            ("targets[0].alias", "--alias"),
            ("targets[0].targetVersion", "--target-version"),
            ("strategy", "--strategy"),
            ("alarms", "--alarm"),
            ("hooks.preTraffic", "--pre-traffic"),
            ("hooks.postTraffic", "--post-traffic"),
            ("checkInterval", "--check-interval"),
            ("pollInterval", "--check-interval"),
            ("allowFiringAlarms", "--allow-firing-alarm"),
            ("insufficientData", "--insufficient-data"),
            ("reason", "--reason"),
            ("overrideFreeze", "--override-freeze"),
        ]
        .iter()
        .find(|(name, _)| field.starts_with(name))
        .map_or("the request", |(_, flag)| flag);
        CliError::refused(format!("{flag} is refused: {}", e.message))
    })
}

/// A deployment id for an execution name (1-80 of letters, digits, - and _): function-alias-time,
/// the function and alias cut short when they are long, never the time.
pub fn deployment_id(function: &str, alias: &str, now: &str) -> String {
    const MAX: usize = 80;
    let base = function.rsplit(':').next().unwrap_or(function);
    let stamp: String = now.chars().filter(char::is_ascii_alphanumeric).collect();
    let name: String = format!("{base}-{alias}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(MAX.saturating_sub(stamp.len() + 1))
        .collect();
    format!("{name}-{stamp}")
}

pub async fn deploy(ctx: &Context, request: &Value, name: &str) -> Result<String, CliError> {
    let arn = ctx
        .sfn
        .start(ctx.state_machine()?, name, &request.to_string())
        .await
        .map_err(CliError::aws("could not start the deployment"))?;
    let region = arn.split(':').nth(3).unwrap_or("us-east-1");
    if request["dryRun"] == json!(true) {
        println!("dry run {name} started: no alias will be written, no lock taken");
    } else {
        println!("deployment {name} started");
    }
    println!("  execution: {arn}");
    println!(
        "  console:   https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
    );
    Ok(arn)
}

/// Follows a deployment to its end.
pub async fn watch(ctx: &Context, id: &str) -> Result<Ending, CliError> {
    let arn = ctx.execution_arn(id)?;
    let terminal = std::io::stdout().is_terminal();
    let bar = terminal.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut shown: Vec<String> = Vec::new();
    let mut dry_run = false;
    let info = loop {
        let info = ctx.describe(&arn).await?;
        if let Some(doc) = ctx.latest_document(&arn).await? {
            dry_run |= doc.dry_run;
            let lines = describe(&doc);
            match &bar {
                // On a terminal, the compact view redrawn in place; in a log, each new line once.
                Some(bar) => bar.set_message(live(&doc).join("\n  ")),
                None => {
                    for line in lines.iter().filter(|l| !shown.contains(l)) {
                        println!("{} {line}", now());
                    }
                }
            }
            shown = lines;
        }
        if info.status != ExecutionStatus::Running {
            break info;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
        for line in &shown {
            println!("  {line}");
        }
    }
    outcome(ctx, &info, dry_run).await
}

/// How an ended execution left the aliases, once the safety net settled it: the record has the
/// last word where the execution's status and the record disagree (a redrive that reached its end
/// after the deployment was rolled back, a stop that came after Finish recorded it deployed).
async fn outcome(ctx: &Context, info: &ExecutionInfo, dry: bool) -> Result<Ending, CliError> {
    let settled = settle(ctx, &info.name).await?;
    let recorded = settled.as_ref().map(|d| d.status);
    // Known from the execution's own documents too: the CLI may know no ledger table.
    let dry = dry || settled.as_ref().is_some_and(|d| d.dry_run);
    let dry_run = settled.clone().filter(|_| dry);
    let refused = settled
        .as_ref()
        .map(|d| d.would_refuse.clone())
        .unwrap_or_default();
    if dry && recorded == Some(Status::Deployed) && !refused.is_empty() {
        // A dry run whose every check passed, through a freeze a real deployment would meet.
        println!(
            "{} dry run over (no alias was written): every check passed, but a real deployment \
             would have been refused: {}",
            info.name,
            refused.join("; ")
        );
        for w in settled.iter().flat_map(|d| &d.warnings) {
            println!("  warning: {w}");
        }
        print_report(dry_run.as_ref());
        return Ok(Ending::RolledBack);
    }
    if info.status == ExecutionStatus::Succeeded
        && matches!(
            recorded,
            None | Some(Status::Deployed | Status::NothingToDeploy)
        )
    {
        if dry {
            println!(
                "{} SUCCEEDED: dry run passed (no alias was written); a real deployment would have gone through",
                info.name
            );
        } else {
            println!("{} SUCCEEDED: deployed", info.name);
        }
        for w in settled.iter().flat_map(|d| &d.warnings) {
            println!("  warning: {w}");
        }
        print_report(dry_run.as_ref());
        return Ok(Ending::Deployed);
    }
    if recorded == Some(Status::Deployed) && dry {
        println!(
            "{} {} after the dry run was recorded as passed (no alias was written)",
            info.name, info.status
        );
        print_report(dry_run.as_ref());
        return Ok(Ending::Deployed);
    }
    if recorded == Some(Status::Deployed) {
        println!(
            "{} {} after the deployment was recorded: every alias serves its new version",
            info.name, info.status
        );
        return Ok(Ending::Deployed);
    }
    let reason = match info.status {
        ExecutionStatus::Succeeded => format!(
            "SUCCEEDED, but its record says {}",
            recorded.map_or("-", Status::as_str)
        ),
        _ => format!(
            "{}: {}",
            info.error.as_deref().unwrap_or(info.status.as_str()),
            info.cause.as_deref().unwrap_or("no cause given")
        ),
    };
    let ending = match recorded {
        // Refused before any lock was taken, or nothing moved: every alias is where it was.
        None if ctx.ledger.is_some() => Ending::RolledBack,
        Some(Status::RolledBack) | Some(Status::NothingToDeploy) => Ending::RolledBack,
        _ => Ending::NotRolledBack,
    };
    if info.status == ExecutionStatus::Succeeded {
        println!("{} {reason}", info.name);
    } else {
        println!("{} {} {reason}", info.name, info.status);
    }
    for w in settled.iter().flat_map(|d| &d.warnings) {
        println!("  warning: {w}");
    }
    if let Some(f) = settled
        .and_then(|d| d.failure)
        .filter(|f| !reason.contains(&f.cause))
    {
        println!("  {}", f.cause);
    }
    if ending == Ending::NotRolledBack && !dry {
        println!(
            "  some alias may not be back on its previous version: check it (sluice status {})",
            info.name
        );
    }
    if dry {
        println!("  a dry run: no alias was written");
    }
    print_report(dry_run.as_ref());
    // A dry run wrote no alias: whatever stopped it, every alias is where it was.
    Ok(if dry { Ending::RolledBack } else { ending })
}

/// A dry run's report: what it did and what a real deployment would have done, step by step.
fn print_report(dry_run: Option<&Deployment>) {
    let Some(doc) = dry_run else {
        return;
    };
    println!("dry run report (no alias was written):");
    for (i, e) in doc.history.iter().enumerate() {
        if i == sluice_core::bounds::HISTORY_HEAD && doc.history_dropped > 0 {
            println!(
                "  ... {} lines dropped here to keep the record small ...",
                doc.history_dropped
            );
        }
        println!("  {} {}", e.at, e.message);
    }
}

/// The record once settled (the safety net may still be at work right after a stop).
async fn settle(ctx: &Context, id: &str) -> Result<Option<Deployment>, CliError> {
    let started = Instant::now();
    let mut told = false;
    loop {
        let record = ctx.record(id).await?;
        let settled = record.as_ref().is_none_or(|d| d.status.is_settled());
        if settled || started.elapsed() > SETTLE_WAIT {
            return Ok(record);
        }
        if !told && started.elapsed() > SETTLE_NOTICE {
            eprintln!(
                "waiting for the safety net to settle {id} (its status event may be lost: the sweeper \
                 settles it within SweepMinutes, 5 by default; up to {}s)",
                SETTLE_WAIT.as_secs()
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn status(ctx: &Context, id: &str, as_json: bool) -> Result<String, CliError> {
    let arn = ctx.execution_arn(id)?;
    let info = ctx.describe(&arn).await?;
    let record = ctx.record(&info.name).await?;
    // A running deployment is where its execution's latest state left it (the bake's progress,
    // a lost watch); one that ended, where its record says.
    let from_history = match (&record, info.status) {
        (Some(_), status) if status != ExecutionStatus::Running => None,
        _ => ctx.latest_document(&arn).await?,
    };
    let document = match info.status {
        ExecutionStatus::Running => from_history.as_ref().or(record.as_ref()),
        _ => record.as_ref().or(from_history.as_ref()),
    };
    if as_json {
        let out = json!({
            "deploymentId": info.name,
            "executionArn": info.execution_arn,
            "execution": info.status,
            "status": document.map(|d| d.status),
            "error": info.error,
            "cause": info.cause,
            "started": info.started,
            "document": document,
        });
        return serde_json::to_string_pretty(&out).map_err(|e| CliError::Other(e.to_string()));
    }
    let mut out = format!(
        "{} ({}), started {}{}",
        info.name,
        info.status,
        info.started,
        document.map_or(String::new(), |d| format!(
            ", {} {}",
            if d.dry_run { "dry run" } else { "deployment" },
            d.status.as_str()
        ))
    );
    for line in document.map(describe).unwrap_or_default() {
        out.push_str(&format!("\n  {line}"));
    }
    if let Some(cause) = record
        .and_then(|d| d.failure)
        .map(|f| f.cause)
        .or(info.cause)
    {
        out.push_str(&format!("\n  why: {cause}"));
    }
    Ok(out)
}

pub async fn list(
    ctx: &Context,
    function: Option<&str>,
    running: bool,
) -> Result<String, CliError> {
    let executions = ctx
        .sfn
        .list(ctx.state_machine()?, running, 100)
        .await
        .map_err(CliError::aws("could not list the deployments"))?;
    let mut rows = vec![format!(
        "{:<40} {:<10} {:<21} targets",
        "deployment", "execution", "started"
    )];
    for e in executions {
        let record = ctx.record(&e.name).await?;
        let targets = record.as_ref().map_or_else(Vec::new, |d| d.targets.clone());
        if let Some(f) = function
            && !targets.iter().any(|t| t.function_name.name() == f)
        {
            continue;
        }
        rows.push(format!(
            "{:<40} {:<10} {:<21} {}{}",
            e.name,
            e.status.as_str(),
            e.started.to_string(),
            if record.as_ref().is_some_and(|d| d.dry_run) {
                "(dry run) "
            } else {
                ""
            },
            targets
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(rows.join("\n"))
}

/// Stops a deployment and waits until the safety net has put every alias back.
pub async fn abort(
    ctx: &Context,
    functions: &LambdaFunctions,
    id: &str,
) -> Result<Ending, CliError> {
    let arn = ctx.execution_arn(id)?;
    let info = ctx.describe(&arn).await?;
    if info.status != ExecutionStatus::Running {
        return Err(CliError::refused(format!(
            "{} has ended already ({}); nothing to abort",
            info.name, info.status
        )));
    }
    ctx.sfn
        .stop(&arn, "aborted with sluice abort")
        .await
        .map_err(CliError::aws(format!("could not stop {}", info.name)))?;
    println!(
        "{} stopped; waiting for the safety net to put every alias back ...",
        info.name
    );
    let record = settle(ctx, &info.name).await?;
    let Some(record) = record else {
        println!("nothing was locked or moved yet");
        return Ok(Ending::RolledBack);
    };
    if record.dry_run {
        // It wrote no alias: where they are now is others' doing, not this one's to be back from.
        println!("  a dry run: it wrote no alias and held no lock; nothing to put back");
        return Ok(Ending::RolledBack);
    }
    let mut weighted = false;
    for t in &record.targets {
        let line = match functions.get_alias(&t.function_name, &t.alias).await {
            Ok(Some(a)) => {
                weighted |= a.routing.additional.is_some();
                format!("{} is on {}", t.name(), a.routing.describe())
            }
            Ok(None) => format!("{} does not exist", t.name()),
            Err(e) => format!("{} could not be read: {e}", t.name()),
        };
        println!("  {line}");
    }
    Ok(if weighted || record.status != Status::RolledBack {
        println!(
            "  not every alias is back: {}",
            record.failure.map(|f| f.cause).unwrap_or_default()
        );
        Ending::NotRolledBack
    } else {
        Ending::RolledBack
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_flag_is_refused_by_name() {
        let request =
            json!({"targets": [{"functionName": "orders", "alias": "live"}], "strategy": "Blue"});
        assert!(
            check(&request, true)
                .unwrap_err()
                .to_string()
                .starts_with("--strategy is refused: strategy: unknown preset")
        );
        let request = json!({"targets": [{"functionName": "orders", "alias": "live", "targetVersion": "$LATEST"}], "strategy": "AllAtOnce"});
        assert!(
            check(&request, true)
                .unwrap_err()
                .to_string()
                .starts_with("--target-version is refused")
        );
        let request = json!({"targets": [], "strategy": "AllAtOnce"});
        assert!(
            check(&request, false)
                .unwrap_err()
                .to_string()
                .starts_with("the request is refused: targets")
        );
    }

    #[test]
    fn deployment_ids_are_execution_names() {
        let id = deployment_id(
            "arn:aws:lambda:us-east-1:1:function:orders",
            "live",
            "2026-11-27T10:00:00Z",
        );
        assert_eq!(id, "orders-live-20261127T100000Z");
        let long = deployment_id(&"x".repeat(100), "live", "2026-11-27T10:00:00Z");
        assert!(long.len() <= 80, "{long}");
        assert!(
            long.ends_with("-20261127T100000Z"),
            "the time keeps two deployments of one alias apart: {long}"
        );
    }
}
