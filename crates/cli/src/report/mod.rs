//! `sluice report ID`: one self-contained HTML page of what a deployment did and why. It reads
//! the execution (every state it ran and the document each output), the record in the ledger,
//! the alarms' history and each version's own AWS/Lambda metrics, and draws what it could read:
//! what it could not is said on the page, never left blank without a word.

mod html;
pub mod timeline;

use crate::deployments::Context;
use crate::error::CliError;
use sluice_aws::AwsErrorKind;
use sluice_aws::clock::now_precise;
use sluice_aws::cloudwatch::CloudWatchAlarms;
use sluice_aws::sfn::ExecutionInfo;
use sluice_core::analysis::{Metric, MetricQuery, Series};
use sluice_core::duration::format_seconds;
use sluice_core::ledger::CommandKind;
use sluice_core::{Action, Deployment, ExecutionStatus, Status, Timestamp};
use std::path::{Path, PathBuf};
use timeline::Timeline;

/// CloudWatch keeps 1-minute points 15 days, 5-minute points 63 days, 1-hour points 455 days.
const RETENTION: [(i64, i64); 3] = [(15, 60), (63, 300), (455, 3600)];

/// One version's figures over the deployment, a point per period.
#[derive(Debug, Clone, Default)]
pub struct VersionSeries {
    pub version: String,
    pub invocations: Series,
    pub errors: Series,
    pub p90: Series,
    pub p99: Series,
}

#[derive(Debug, Clone)]
pub struct TargetMetrics {
    pub name: String,
    /// Absent for an alias the deployment created (no version served before it).
    pub stable: Option<VersionSeries>,
    pub new: VersionSeries,
    /// The analysis's error-rate lines, in percent.
    pub error_thresholds: Vec<(String, f64)>,
    /// The analysis's latency line, in milliseconds, from the stable's own figures.
    pub latency_thresholds: Vec<(String, f64)>,
    /// Seconds per point.
    pub period: i64,
}

/// Everything the page shows.
pub struct Report {
    pub id: String,
    pub subtitle: String,
    pub generated_at: Timestamp,
    pub running: bool,
    /// One sentence: the Fail cause, "deployed", or where a running deployment is.
    pub verdict: String,
    pub verdict_class: &'static str,
    /// What could not be read, and what that leaves out.
    pub notes: Vec<String>,
    pub timeline: Timeline,
    pub metrics: Result<Vec<TargetMetrics>, String>,
    /// Who asked for the deployment and every operator's command, with who and why.
    pub actions: Vec<(Timestamp, String)>,
    pub history: Vec<(Timestamp, String)>,
    pub plan: Vec<Vec<String>>,
    pub cost: Option<String>,
    pub request: Option<String>,
}

/// Writes the report of `id` to `out` (default `<id>.html`); says what it drew.
pub async fn run(ctx: &Context, id: &str, out: Option<PathBuf>) -> Result<String, CliError> {
    let report = gather(ctx, &CloudWatchAlarms::from_env(), id).await?;
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{}.html", report.id)));
    write(&path, &html::render(&report))?;
    let t = &report.timeline;
    let mut said = format!(
        "report of {} written to {}: {} shift{}, {} check{}, {} alarm move{}{}",
        report.id,
        path.display(),
        t.weights.iter().filter(|w| w.step.is_some()).count(),
        plural(t.weights.iter().filter(|w| w.step.is_some()).count()),
        t.checks.len(),
        plural(t.checks.len()),
        t.alarms.len(),
        plural(t.alarms.len()),
        match &report.metrics {
            Ok(targets) => format!(
                ", metrics of {} target{}",
                targets.len(),
                plural(targets.len())
            ),
            Err(_) => ", no metrics".to_string(),
        }
    );
    said.push_str(&format!("\n  {}", report.verdict));
    for note in &report.notes {
        said.push_str(&format!("\n  note: {note}"));
    }
    Ok(said)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Written whole or not at all: to a file beside it, then renamed over it.
fn write(path: &Path, page: &str) -> Result<(), CliError> {
    let partial = path.with_extension("html.partial");
    let failed = |e: std::io::Error| {
        CliError::Other(format!(
            "could not write the report to {}: {e}",
            path.display()
        ))
    };
    std::fs::write(&partial, page).map_err(failed)?;
    std::fs::rename(&partial, path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        failed(e)
    })
}

async fn gather(ctx: &Context, cw: &CloudWatchAlarms, id: &str) -> Result<Report, CliError> {
    let arn = ctx.execution_arn(id)?;
    let mut notes = Vec::new();
    let execution = match ctx.sfn.describe(&arn).await {
        Ok(info) => Some(info),
        Err(e) if e.kind == AwsErrorKind::NotFound => {
            notes.push(
                "Step Functions no longer has this execution (it keeps them 90 days after they \
                 end): the timeline shows the record's lines only."
                    .to_string(),
            );
            None
        }
        Err(e) => return Err(CliError::aws("could not read the execution")(e)),
    };
    let name = execution.as_ref().map_or_else(
        || id.rsplit(':').next().unwrap_or(id).to_string(),
        |e| e.name.clone(),
    );
    let record = ctx.record(&name).await?.or(match &execution {
        Some(_) => ctx.latest_document(&arn).await?,
        None => None,
    });
    if execution.is_none() && record.is_none() {
        return Err(CliError::refused(format!(
            "{name}: no such deployment (neither Step Functions nor the ledger knows it)"
        )));
    }
    let runs = match &execution {
        Some(_) => match ctx.sfn.state_runs(&arn).await {
            Ok(runs) => Some(runs),
            Err(e) => {
                notes.push(format!(
                    "the execution's history could not be read ({e}): the timeline shows the record's lines only"
                ));
                None
            }
        },
        None => None,
    };
    let generated_at = now_precise();
    let running = execution
        .as_ref()
        .is_some_and(|e| e.status == ExecutionStatus::Running);
    let start = execution
        .as_ref()
        .map(|e| e.started)
        .or(record.as_ref().map(|d| d.started_at))
        .unwrap_or(generated_at);
    let end = match (&execution, &record) {
        (Some(e), _) if running => generated_at.max(e.started),
        (Some(e), Some(d)) => e.stopped.unwrap_or(generated_at).max(d.updated_at),
        (Some(e), None) => e.stopped.unwrap_or(generated_at),
        (None, Some(d)) => d.updated_at,
        (None, None) => generated_at,
    }
    .max(start);
    let alarm_names = record
        .as_ref()
        .map(|d| d.alarms.clone())
        .unwrap_or_default();
    let alarms = match cw.state_changes(&alarm_names, start, Some(end)).await {
        Ok(changes) => changes,
        Err(e) => {
            notes.push(format!("the alarms' history could not be read ({e})"));
            Vec::new()
        }
    };
    let timeline = timeline::build(runs.as_deref(), record.as_ref(), alarms, start, end);
    let metrics = match &record {
        Some(doc) => metrics(cw, doc, start, end, generated_at).await,
        None => Err("the deployment was refused before it had targets: no metrics to draw".into()),
    };
    let (verdict, verdict_class) = verdict(execution.as_ref(), record.as_ref(), running);
    Ok(Report {
        subtitle: subtitle(execution.as_ref(), record.as_ref(), start, end),
        id: name,
        generated_at,
        running,
        verdict,
        verdict_class,
        notes,
        metrics,
        actions: record.as_ref().map(actions).unwrap_or_default(),
        history: record
            .as_ref()
            .map(|d| {
                d.history
                    .iter()
                    .map(|e| (e.at, e.message.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        plan: record.as_ref().map(plan).unwrap_or_default(),
        cost: record.as_ref().and_then(cost),
        request: execution
            .as_ref()
            .and_then(|e| e.input.as_deref())
            .map(
                |input| match serde_json::from_str::<serde_json::Value>(input) {
                    Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| input.to_string()),
                    Err(_) => input.to_string(),
                },
            ),
        timeline,
    })
}

fn subtitle(
    execution: Option<&ExecutionInfo>,
    record: Option<&Deployment>,
    start: Timestamp,
    end: Timestamp,
) -> String {
    let mut parts = Vec::new();
    if let Some(doc) = record {
        let targets: Vec<String> = doc
            .targets
            .iter()
            .map(|t| match &t.previous_version {
                Some(from) if t.action == Action::Shift => {
                    format!("{} v{from} -> v{}", t.name(), t.target_version)
                }
                _ => format!("{} v{}", t.name(), t.target_version),
            })
            .collect();
        parts.push(targets.join(", "));
        parts.push(doc.strategy_name.clone());
        if doc.dry_run {
            parts.push("dry run".into());
        }
    }
    if let Some(e) = execution {
        parts.push(format!("execution {}", e.status));
    }
    parts.push(format!(
        "started {start}, {} long",
        format_seconds(((end.unix_millis() - start.unix_millis()) / 1000).max(0) as u64)
    ));
    parts.join(" · ")
}

/// The one sentence at the top.
fn verdict(
    execution: Option<&ExecutionInfo>,
    record: Option<&Deployment>,
    running: bool,
) -> (String, &'static str) {
    if running {
        let at = record
            .map(|d| crate::progress::describe(d).join("; "))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "starting".into());
        return (format!("Running: {at}"), "running");
    }
    let failure = record.and_then(|d| d.failure.clone());
    let dry = record.is_some_and(|d| d.dry_run);
    let succeeded = execution.is_some_and(|e| e.status == ExecutionStatus::Succeeded);
    // What the execution says went wrong: the rollback failing, the record settled before.
    let execution_why = execution
        .and_then(|e| {
            e.error
                .clone()
                .map(|error| (error, e.cause.clone().unwrap_or_default()))
        })
        .map(|(error, cause)| format!("{error}: {cause}"));
    match record.map(|d| d.status) {
        Some(Status::Deployed) if dry => {
            let refused = record.map(|d| d.would_refuse.clone()).unwrap_or_default();
            if refused.is_empty() {
                (
                    "Dry run passed: no alias was written; a real deployment would have gone through."
                        .into(),
                    "good",
                )
            } else {
                (
                    format!(
                        "Dry run over: no alias was written; every check passed, but a real deployment would have been refused: {}",
                        refused.join("; ")
                    ),
                    "bad",
                )
            }
        }
        Some(Status::Deployed) => {
            let to: Vec<String> = record
                .map(|d| {
                    d.targets
                        .iter()
                        .map(|t| format!("{} serves v{}", t.name(), t.target_version))
                        .collect()
                })
                .unwrap_or_default();
            (format!("Deployed: {}.", to.join(", ")), "good")
        }
        Some(Status::NothingToDeploy) => (
            "Nothing to deploy: every alias already served its new version.".into(),
            "good",
        ),
        // The dry run's recorded cause says what a real deployment would have done.
        Some(Status::RolledBack | Status::RollbackIncomplete) if dry => (
            match failure {
                Some(f) => format!("Dry run ({}): {}", f.error, f.cause),
                None => "Dry run over: no alias was written.".into(),
            },
            "bad",
        ),
        Some(Status::RolledBack) => (
            match failure {
                Some(f) => format!("Rolled back ({}): {}", f.error, f.cause),
                None => "Rolled back: every alias is on its previous version.".into(),
            },
            "bad",
        ),
        Some(Status::RollbackIncomplete) => (
            format!(
                "Rollback incomplete: {}",
                failure.map_or("some alias is not back".into(), |f| f.cause)
            ),
            "bad",
        ),
        // The execution ended well but the record was not settled as deployed (Finish failed):
        // as `sluice watch` says it, some alias may not be where it should.
        Some(status) if succeeded && dry => (
            format!(
                "The dry run's execution SUCCEEDED, but its record says {} (no alias was written).",
                status.as_str()
            ),
            "bad",
        ),
        Some(status) if succeeded => (
            format!(
                "The execution SUCCEEDED, but its record says {}: check every alias (sluice status).",
                status.as_str()
            ),
            "bad",
        ),
        Some(_) => {
            // Not settled: the execution's own failure (a rollback that failed) comes first.
            let why = execution_why
                .or_else(|| failure.map(|f| format!("{}: {}", f.error, f.cause)))
                .unwrap_or_else(|| "no cause was recorded".into());
            let status = execution.map_or("-", |e| e.status.as_str());
            (
                format!("Failed ({status}), some alias may not be back: {why}"),
                "bad",
            )
        }
        None => {
            let status = execution.map_or("-", |e| e.status.as_str());
            (
                format!(
                    "Refused ({status}): {}",
                    execution_why.unwrap_or_else(|| "no cause was recorded".into())
                ),
                "bad",
            )
        }
    }
}

/// Who asked, and every operator's command (with who and why), in order.
fn actions(doc: &Deployment) -> Vec<(Timestamp, String)> {
    let mut out = Vec::new();
    let mut asked = format!(
        "{} asked for it",
        doc.requested_by
            .as_deref()
            .unwrap_or("someone (no caller recorded)")
    );
    if let Some(reason) = &doc.reason {
        asked.push_str(&format!(": \"{reason}\""));
    }
    if let Some(of) = &doc.rollback_of {
        asked.push_str(&format!(" (a rollback of {of})"));
    }
    out.push((doc.started_at, asked));
    let commands = [
        CommandKind::PromoteFull,
        CommandKind::Approve,
        CommandKind::Reject,
        CommandKind::Pause,
        CommandKind::Resume,
        CommandKind::Promote,
    ];
    for e in &doc.history {
        // Each command's line names it as `Command::describe` does ("reject by ARN (why)"), at
        // its start or after what it did ("rejected at the gate ...: reject by ...").
        // The rollback's summary repeats the reject's line: it is said once.
        if commands
            .iter()
            .any(|k| e.message.contains(&format!("{} by ", k.as_str())))
            && !out
                .iter()
                .any(|(_, said)| e.message.starts_with(&format!("{said}. ")))
        {
            out.push((e.at, e.message.clone()));
        }
    }
    out
}

fn plan(doc: &Deployment) -> Vec<Vec<String>> {
    doc.plan
        .steps()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                format!("{}/{}", i + 1, doc.plan.step_count()),
                s.weight.to_string(),
                format_seconds(s.bake_seconds),
                s.approval.as_ref().map_or(String::new(), |g| {
                    format!("approval, {}", format_seconds(g.timeout_seconds))
                }),
            ]
        })
        .collect()
}

fn cost(doc: &Deployment) -> Option<String> {
    doc.cost.as_ref().map(|c| {
        format!(
            "{} history events in a successful run ({} at worst, of Step Functions' 25,000), {} state transitions, {} backstop checks, room for {} operator commands",
            c.events, c.worst_case_events, c.transitions, c.checks, c.commands
        )
    })
}

/// Each target's versions over the deployment, from AWS/Lambda's metrics by ExecutedVersion.
async fn metrics(
    cw: &CloudWatchAlarms,
    doc: &Deployment,
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
) -> Result<Vec<TargetMetrics>, String> {
    // From the window's start (an hour before the deployment's, to be safe at a boundary).
    let age_days = (now.unix_seconds() - start.unix_seconds() + 3600) / 86_400;
    let Some(&(_, period)) = RETENTION.iter().find(|(days, _)| age_days < *days) else {
        return Err(format!(
            "the metrics have expired: CloudWatch keeps them 455 days, and this deployment began {age_days} days ago. The timeline above is drawn from what the ledger and Step Functions hold."
        ));
    };
    let mut queries = Vec::new();
    let targets: Vec<_> = doc
        .targets
        .iter()
        .filter(|t| t.action != Action::Unchanged)
        .collect();
    for (i, t) in targets.iter().enumerate() {
        let mut versions = vec![("new", t.target_version.clone())];
        if let Some(v) = t
            .previous_version
            .clone()
            .filter(|_| t.action == Action::Shift)
        {
            versions.push(("stable", v));
        }
        for (side, version) in versions {
            for (metric, stat) in [
                (Metric::Invocations, "Sum"),
                (Metric::Errors, "Sum"),
                (Metric::Duration, "p90"),
                (Metric::Duration, "p99"),
            ] {
                queries.push(MetricQuery {
                    id: query_id(i, side, metric, stat),
                    function_name: t.function_name.name().to_string(),
                    resource: format!("{}:{}", t.function_name.name(), t.alias),
                    version: version.clone(),
                    metric,
                    stat: stat.to_string(),
                });
            }
        }
    }
    if queries.is_empty() {
        return Err("no alias moved: no versions to compare".into());
    }
    // From the minute before the first shift to the minute after the end.
    let from = Timestamp::from_unix_seconds(start.unix_seconds() / period * period - period);
    let to = end.plus_seconds(period as u64);
    let mut read = cw
        .read_metrics_every(&queries, from, to, period)
        .await
        .map_err(|e| format!("the versions' metrics could not be read: {e}"))?;
    if read.is_empty() {
        return Err(format!(
            "CloudWatch has no AWS/Lambda figures for these versions over the deployment: no traffic reached them through the alias, or the data has expired (1-minute points are kept 15 days, 5-minute 63, 1-hour 455). Period asked: {}.",
            format_seconds(period as u64)
        ));
    }
    let mut out = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let mut take = |side: &str, version: String| VersionSeries {
            invocations: read
                .remove(&query_id(i, side, Metric::Invocations, "Sum"))
                .unwrap_or_default(),
            errors: read
                .remove(&query_id(i, side, Metric::Errors, "Sum"))
                .unwrap_or_default(),
            p90: read
                .remove(&query_id(i, side, Metric::Duration, "p90"))
                .unwrap_or_default(),
            p99: read
                .remove(&query_id(i, side, Metric::Duration, "p99"))
                .unwrap_or_default(),
            version,
        };
        let new = take("new", t.target_version.to_string());
        let stable = t
            .previous_version
            .as_ref()
            .filter(|_| t.action == Action::Shift)
            .map(|v| take("stable", v.to_string()));
        let (error_thresholds, latency_thresholds) = thresholds(doc, stable.as_ref());
        out.push(TargetMetrics {
            name: t.name(),
            stable,
            new,
            error_thresholds,
            latency_thresholds,
            period,
        });
    }
    Ok(out)
}

fn query_id(target: usize, side: &str, metric: Metric, stat: &str) -> String {
    format!(
        "t{target}{side}{}{}",
        metric.name().to_ascii_lowercase(),
        stat.to_ascii_lowercase().replace('.', "_")
    )
}

/// The analysis's lines: the error floor and maximum; the latency the new version fails above,
/// from the stable's mean over the deployment.
type Lines = Vec<(String, f64)>;

fn thresholds(doc: &Deployment, stable: Option<&VersionSeries>) -> (Lines, Lines) {
    let Some(a) = &doc.analysis else {
        return (Vec::new(), Vec::new());
    };
    let mut errors = vec![(
        format!(
            "floor {}%: never failed at or below",
            short_pct(a.errors.floor)
        ),
        a.errors.floor * 100.0,
    )];
    if let Some(max) = a.errors.max {
        errors.push((
            format!(
                "max {}%: failed above, whatever the stable's",
                short_pct(max)
            ),
            max * 100.0,
        ));
    }
    let mut latency = Vec::new();
    if let (Some(rule), Some(stable)) = (&a.latency, stable) {
        let points = match rule.statistic.as_str() {
            "p90" => Some(&stable.p90),
            "p99" => Some(&stable.p99),
            _ => None,
        };
        if let Some(points) = points.filter(|p| !p.is_empty()) {
            let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
            let line = (mean * (1.0 + rule.tolerance)).max(mean + rule.min_ms);
            latency.push((
                format!(
                    "{} fails above ~{line:.0} ms (the stable's {:.0} ms +{:.0}%, at least +{:.0} ms)",
                    rule.statistic,
                    mean,
                    rule.tolerance * 100.0,
                    rule.min_ms
                ),
                line,
            ));
        }
    }
    (errors, latency)
}

fn short_pct(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_aws::sfn::StateRun;
    use sluice_core::testing::{analysed, one_target, t};

    fn report(doc: &Deployment, metrics: Result<Vec<TargetMetrics>, String>) -> Report {
        let runs = vec![StateRun {
            name: "Shift".into(),
            entered: t(1),
            exited: Some(t(2)),
            document: Some(doc.clone()),
        }];
        Report {
            id: "d-1".into(),
            subtitle: "orders".into(),
            generated_at: t(100),
            running: false,
            verdict: "Rolled back (AlarmBreached): <errors> fired".into(),
            verdict_class: "bad",
            notes: vec![],
            timeline: timeline::build(Some(&runs), Some(doc), vec![], t(0), t(100)),
            metrics,
            actions: actions(doc),
            history: vec![],
            plan: plan(doc),
            cost: cost(doc),
            request: Some("{\"a\": \"<b>\"}".into()),
        }
    }

    /// The page carries no URL and no script: it opens with the network off; what it quotes is
    /// escaped.
    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(2)).unwrap();
        let page = html::render(&report(&d, Err("no metrics <yet>".into())));
        assert!(!page.contains("://"), "no URL");
        assert!(!page.contains("<script"), "no script");
        assert!(page.contains("&lt;errors&gt; fired"));
        assert!(page.contains("no metrics &lt;yet&gt;"));
        assert_eq!(page.matches("class=\"shift\"").count(), 1);
        assert!(
            page.contains("<td>1/2</td><td>10%</td><td>5m</td>"),
            "the plan"
        );
    }

    #[test]
    fn each_version_is_charted_with_the_analysis_lines() {
        let d = analysed(
            &[],
            json!({"latency": {"statistic": "p99", "tolerance": 0.2}}),
        );
        let series = |v: &str, p99: f64| VersionSeries {
            version: v.into(),
            invocations: vec![(60, 10.0), (120, 12.0)],
            errors: vec![(120, 1.0)],
            p90: vec![(60, p99 / 2.0)],
            p99: vec![(60, p99)],
        };
        let stable = series("1", 100.0);
        let (errors, latency) = thresholds(&d, Some(&stable));
        assert!(errors[0].0.starts_with("floor 1%"), "{errors:?}");
        assert_eq!(latency.len(), 1, "{latency:?}");
        let metrics = vec![TargetMetrics {
            name: "a:live".into(),
            stable: Some(stable),
            new: series("2", 300.0),
            error_thresholds: errors,
            latency_thresholds: latency,
            period: 60,
        }];
        let page = html::render(&report(&d, Ok(metrics)));
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 3);
        assert_eq!(
            page.matches("class=\"series new\"").count(),
            4,
            "a line per chart, two for latency"
        );
        assert_eq!(page.matches("class=\"threshold\"").count(), 2);
    }

    #[test]
    fn commands_and_who_asked_are_the_actions() {
        use sluice_core::ledger::Command;
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.requested_by = Some("arn:aws:iam::1:user/ann".into());
        d.reason = Some("release 42".into());
        d.record_shift(0, vec!["r1".into()], t(2)).unwrap();
        let pause = Command {
            kind: CommandKind::Pause,
            by: "arn:aws:iam::1:user/bob".into(),
            reason: Some("a ticket".into()),
            at: t(3),
        };
        d.apply_command(Some(&pause), t(3)).unwrap();
        let said: Vec<String> = actions(&d).into_iter().map(|(_, s)| s).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert_eq!(
            said[0],
            "arn:aws:iam::1:user/ann asked for it: \"release 42\""
        );
        assert!(
            said[1].starts_with("pause by arn:aws:iam::1:user/bob"),
            "{said:?}"
        );
        assert!(said[1].contains("a ticket"), "{said:?}");
    }

    #[test]
    fn metrics_past_their_keeping_are_said_to_have_expired() {
        let d = one_target(json!("AllAtOnce"), &[]);
        let old = Timestamp::from_unix_seconds(0);
        let now = old.plus_seconds(500 * 86_400);
        let got = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(metrics(&CloudWatchAlarms::from_env(), &d, old, old, now));
        assert!(got.unwrap_err().starts_with("the metrics have expired"));
    }

    #[test]
    fn query_ids_are_what_cloudwatch_takes() {
        let id = query_id(3, "stable", Metric::Duration, "p99.9");
        assert_eq!(id, "t3stabledurationp99_9");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }

    /// A reject's line says what it did first ("rejected at the gate before ...: reject by ..."):
    /// it is still who did what.
    #[test]
    fn a_reject_at_a_gate_is_an_action() {
        use sluice_core::ledger::Command;
        let strategy = json!({"steps": [
            {"weight": 10, "bake": "1m"},
            {"approval": {"timeout": "10m", "onTimeout": "rollback"}},
            {"weight": 100}
        ]});
        let mut d = one_target(strategy, &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let mut n = 2;
        while d.bake.hold.is_none() {
            d.record_check(&[], &[], t(n)).unwrap();
            n += 60;
            assert!(n < 2000, "never reached the gate: {:?}", d.status);
        }
        let reject = Command {
            kind: CommandKind::Reject,
            by: "arn:aws:iam::1:user/carol".into(),
            reason: Some("p99 up 30%".into()),
            at: t(n),
        };
        d.apply_command(Some(&reject), t(n)).unwrap();
        // The rollback's summary line repeats the cause, as rollback.rs writes it.
        let cause = d.failure.clone().unwrap().cause;
        d.history.push(sluice_core::deployment::Event {
            at: t(n + 1),
            message: format!("{cause}. Rolled back: a:live back on version 1"),
        });
        let said: Vec<String> = actions(&d).into_iter().map(|(_, s)| s).collect();
        let rejects: Vec<&String> = said
            .iter()
            .filter(|s| s.contains("reject by arn:aws:iam::1:user/carol"))
            .collect();
        assert_eq!(rejects.len(), 1, "{said:#?}");
        assert!(rejects[0].contains("p99 up 30%"), "{said:?}");
    }

    #[test]
    fn a_dry_run_a_real_deployment_would_have_been_refused_is_not_called_passed() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.dry_run = true;
        d.status = Status::Deployed;
        d.would_refuse = vec!["orders is frozen".into()];
        let (said, class) = verdict(None, Some(&d), false);
        assert_eq!(class, "bad");
        assert!(
            said.contains("would have been refused: orders is frozen"),
            "{said}"
        );
    }

    /// Each ending says in one sentence what the execution and the record say together.
    #[test]
    fn the_verdict_of_each_ending() {
        use sluice_core::{ErrorName, Failure};
        let info = |status: &str, error: Option<&str>, cause: Option<&str>| ExecutionInfo {
            execution_arn: "arn:aws:states:us-east-1:1:execution:sm:d-1".into(),
            name: "d-1".into(),
            status: ExecutionStatus::of(status),
            error: error.map(str::to_string),
            cause: cause.map(str::to_string),
            output: None,
            input: None,
            started: t(0),
            stopped: Some(t(9)),
        };
        let mut d = one_target(json!("AllAtOnce"), &[]);
        // Finish failed after every alias was shifted: the execution succeeded, the record not.
        d.status = Status::AllShifted;
        let (said, class) = verdict(Some(&info("SUCCEEDED", None, None)), Some(&d), false);
        assert!(
            said.starts_with("The execution SUCCEEDED, but its record says AllShifted"),
            "{said}"
        );
        assert_eq!(class, "bad");
        // The rollback failed: the execution's error comes before the reason it rolled back.
        d.status = Status::AlarmBreached;
        d.failure = Some(Failure::new(ErrorName::AlarmBreached, "errors fired"));
        let failed = info("FAILED", Some("RollbackFailed"), Some("Rate exceeded"));
        let (said, _) = verdict(Some(&failed), Some(&d), false);
        assert_eq!(
            said,
            "Failed (FAILED), some alias may not be back: RollbackFailed: Rate exceeded"
        );
        // A dry run's rollback says the recorded cause, once.
        d.status = Status::RolledBack;
        d.dry_run = true;
        d.failure = Some(Failure::new(
            ErrorName::AlarmBreached,
            "errors fired. Dry run over, no alias written; a real deployment would have rolled back",
        ));
        let (said, _) = verdict(Some(&info("FAILED", None, None)), Some(&d), false);
        assert_eq!(said.matches("Dry run").count(), 2, "{said}");
        assert!(
            said.starts_with("Dry run (AlarmBreached): errors fired."),
            "{said}"
        );
        // Refused before any record: the execution's own error.
        let refused = info(
            "FAILED",
            Some("InvalidRequest"),
            Some("strategy: unknown preset"),
        );
        let (said, _) = verdict(Some(&refused), None, false);
        assert_eq!(
            said,
            "Refused (FAILED): InvalidRequest: strategy: unknown preset"
        );
    }

    /// An ApplyCommand whose own read of the alarms found one firing is a breach mark; a caught
    /// ApplyCommand ends the pause it held; an unread check that ended the bake is a breach.
    #[test]
    fn a_command_s_own_alarm_read_and_an_unread_ending_are_breaches() {
        use sluice_aws::sfn::StateRun;
        use sluice_core::deployment::{Hold, HoldKind};
        use sluice_core::strategy::OnTimeout;
        use sluice_core::{ErrorName, Failure};
        let run = |name: &str, at: u32, doc: &Deployment| StateRun {
            name: name.into(),
            entered: t(at),
            exited: Some(t(at + 1)),
            document: Some(doc.clone()),
        };
        let ok = sluice_core::testing::reading("errors", sluice_core::AlarmState::Ok, "fine");
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.record_check(&[ok], &[], t(10)).unwrap();
        let checked = d.clone();
        let mut breached = d.clone();
        breached.status = Status::AlarmBreached;
        breached.failure = Some(Failure::new(ErrorName::AlarmBreached, "errors fired"));
        if let Some(c) = breached.last_check.as_mut() {
            c.healthy = false;
        }
        let runs = vec![
            run("CheckAlarms", 9, &checked),
            run("ApplyCommand", 20, &breached),
        ];
        let tl = timeline::build(Some(&runs), None, vec![], t(0), t(40));
        let verdicts: Vec<_> = tl.checks.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            vec![timeline::Verdict::Healthy, timeline::Verdict::Breach]
        );

        let mut paused = checked.clone();
        paused.status = Status::Baking;
        paused.bake.hold = Some(Hold {
            kind: HoldKind::Pause,
            since: t(15),
            from_elapsed: 0,
            on_timeout: OnTimeout::Rollback,
            seconds: 600,
            before_step: None,
            bake_left: 60,
            by: Some("ann".into()),
        });
        let mut caught = paused.clone();
        caught.failure = Some(Failure::new(ErrorName::AwsFailure, "Rate exceeded"));
        let runs = vec![
            run("ApplyCommand", 14, &paused),
            run("ApplyCommand", 30, &caught),
        ];
        let tl = timeline::build(Some(&runs), None, vec![], t(0), t(60));
        let spans: Vec<_> = tl.pauses.iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(spans, vec![(t(15), t(31))], "ended by the caught command");

        let mut unread = checked.clone();
        unread.status = Status::AlarmBreached;
        if let Some(c) = unread.last_check.as_mut() {
            c.unread = Some("Rate exceeded".into());
            c.healthy = false;
        }
        let (_, verdict, _) = timeline::verdict_of(&unread).unwrap();
        assert_eq!(verdict, timeline::Verdict::Breach);
        unread.status = Status::Baking;
        let (_, verdict, _) = timeline::verdict_of(&unread).unwrap();
        assert_eq!(verdict, timeline::Verdict::Unread);
    }
}
