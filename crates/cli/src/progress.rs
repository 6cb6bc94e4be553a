//! What `sluice watch` and `sluice status` say about a deployment document, as plain text,
//! rendered from sluice-core's `Deployment` (a renamed field breaks the build, not the display).

use sluice_core::analysis::Outcome;
use sluice_core::deployment::{HoldKind, HookNext};
use sluice_core::duration::format_seconds;
use sluice_core::strategy::OnTimeout;
use sluice_core::{Action, Deployment, Status};

/// An analysis verdict as `watch` and `status` say it.
fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "no verdict yet",
    }
}

/// One line per target, and one for the bake and the alarms: where the deployment is now.
pub fn describe(doc: &Deployment) -> Vec<String> {
    let steps = doc.plan.step_count();
    let step = doc.step.map(|s| s + 1);
    let mut lines = Vec::new();
    for t in &doc.targets {
        let name = t.name();
        let to = &t.target_version;
        let from = t
            .previous_version
            .as_ref()
            .map_or("-".to_string(), |v| v.to_string());
        let line = match (t.action, step) {
            (Action::Unchanged, _) => format!("{name} already on v{to}"),
            (Action::Created, None) => {
                format!("{name} new alias, created on v{to} at the first shift")
            }
            (Action::Created, Some(_)) => format!("{name} created on v{to}"),
            (Action::Shift, None) => format!("{name} v{from} -> v{to}, nothing shifted yet"),
            (Action::Shift, Some(s)) if doc.weight.is_full() => {
                format!("{name} all on v{to} (step {s}/{steps})")
            }
            (Action::Shift, Some(s)) => format!(
                "{name} {} on v{to} (step {s}/{steps}), v{from} serves the rest",
                doc.weight
            ),
        };
        lines.push(
            if doc.dry_run && t.action != Action::Unchanged && step.is_some() {
                format!(
                    "{line} (dry run: what a real deployment would route; the alias is untouched)"
                )
            } else {
                line
            },
        );
    }
    if let Some(run) = &doc.hook_run {
        let hook = format!("{} hook {}", run.phase.as_str(), run.function);
        match run.next {
            HookNext::Callback => lines.push(format!(
                "{hook} called with a task token: waiting for its report until {} (SendTaskSuccess / SendTaskFailure)",
                run.deadline
            )),
            HookNext::Invoke | HookNext::Wait => lines.push(format!(
                "{hook} in progress: {} so far, called again {}, times out at {}",
                match run.calls {
                    1 => "1 call".to_string(),
                    n => format!("{n} calls"),
                },
                if run.next == HookNext::Wait {
                    format!("in {}", format_seconds(run.wait_seconds))
                } else {
                    "now".to_string()
                },
                run.deadline
            )),
            HookNext::Passed | HookNext::Failed => {}
        }
    }
    let bake = &doc.bake;
    let left = bake.required_seconds.saturating_sub(bake.elapsed_seconds);
    if let Some(hold) = bake.hold.as_ref().filter(|_| doc.status == Status::Baking) {
        let then = match (hold.kind, hold.on_timeout) {
            (_, OnTimeout::Rollback) => "rollback",
            (HoldKind::Approval, OnTimeout::Promote) => "go on",
            (HoldKind::Pause, OnTimeout::Promote) => "resume",
        };
        lines.push(match hold.kind {
            HoldKind::Approval => format!(
                "waiting for approval before step {}/{steps}: {} left, then {then} (sluice approve / reject {})",
                hold.before_step.map_or(0, |s| s + 1),
                format_seconds(left),
                doc.deployment_id
            ),
            HoldKind::Pause => format!(
                "paused by {}: {} left of the pause limit, then {then}; {} of bake after it (sluice resume {})",
                hold.by.as_deref().unwrap_or("an operator"),
                format_seconds(left),
                format_seconds(hold.bake_left),
                doc.deployment_id
            ),
        });
    } else if doc.status == Status::Baking && bake.required_seconds > 0 {
        lines.push(format!(
            "baking: {} of {} ({} left)",
            format_seconds(bake.elapsed_seconds),
            format_seconds(bake.required_seconds),
            format_seconds(bake.required_seconds.saturating_sub(bake.elapsed_seconds))
        ));
    }
    if let Some(lost) = doc.watch_lost.as_ref().filter(|l| Some(l.step) == doc.step) {
        let why = match lost.failure.plain_cause() {
            cause if cause.trim().is_empty() => lost.failure.error.to_string(),
            cause => format!("{}: {cause}", lost.failure.error),
        };
        lines.push(format!(
            "alarm events not watched since {} ({why}): the backstop checks every {} only",
            lost.at,
            format_seconds(doc.check_interval_seconds)
        ));
    }
    if let Some(note) = doc.safety_net.as_ref().filter(|_| !doc.status.is_settled()) {
        lines.push(format!(
            "its execution has ended, but the safety net could not settle it yet ({}, {}): the sweeper tries again on its schedule",
            note.at, note.why
        ));
    }
    if let Some(check) = &doc.last_check {
        let firing: Vec<String> = check.firing.iter().map(|a| a.name.to_string()).collect();
        let quiet: Vec<String> = check
            .insufficient_data
            .iter()
            .map(|a| a.to_string())
            .collect();
        let mut verdict = match (&check.unread, firing.is_empty()) {
            (Some(why), _) => format!("not known yet (could not be read: {why})"),
            (None, _) if doc.alarms.is_empty() => String::new(),
            (None, true) => "alarms healthy".to_string(),
            (None, false) => format!("alarms FIRING: {}", firing.join(", ")),
        };
        if !quiet.is_empty() {
            verdict.push_str(&format!(" (no data yet: {})", quiet.join(", ")));
        }
        if !check.excused.is_empty() {
            let names: Vec<String> = check.excused.iter().map(|a| a.to_string()).collect();
            verdict.push_str(&format!(
                " (in ALARM since the start, allowed until it leaves ALARM: {})",
                names.join(", ")
            ));
        }
        if !verdict.is_empty() {
            lines.push(format!("{verdict}, checked {}", check.checked_at));
        }
        for t in &check.analysis {
            let outcome = outcome_word(t.outcome);
            lines.push(format!(
                "analysis {}: {outcome}: {}, checked {}",
                t.target, t.summary, check.checked_at
            ));
        }
    }
    for w in &doc.warnings {
        lines.push(format!("warning: {w}"));
    }
    lines
}

/// How wide `sluice watch`'s weight bar is, in characters.
const BAR: usize = 24;

/// A weight as a bar: "[██████░░░░░░░░░░░░░░░░░░]".
pub fn bar(percent: f64) -> String {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * BAR as f64).round() as usize;
    format!("[{}{}]", "█".repeat(filled), "░".repeat(BAR - filled))
}

/// One version's figures at a check, short: "v7 0.4% errors (1 of 250), p99 120 ms".
fn figures(version: &str, f: &sluice_core::analysis::Figures, statistic: Option<&str>) -> String {
    let mut out = format!(
        "v{version} {} errors ({} of {})",
        percent(f.error_rate()),
        f.errors,
        f.invocations
    );
    if let (Some(ms), Some(stat)) = (f.latency_ms, statistic) {
        out.push_str(&format!(", {stat} {ms:.0} ms"));
    }
    out
}

fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p < 0.1 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// `sluice watch` on a terminal: the same facts as [`describe`], compact and redrawn in place:
/// each target's weight bar, the step and time left, what the deployment waits for, and the last
/// verdict with both versions' figures.
pub fn live(doc: &Deployment) -> Vec<String> {
    let steps = doc.plan.step_count();
    let step = doc.step.map(|s| s + 1);
    let mut lines = Vec::new();
    let bake = &doc.bake;
    let left = bake.required_seconds.saturating_sub(bake.elapsed_seconds);
    for t in doc.targets.iter().filter(|t| t.action != Action::Unchanged) {
        if doc.status == Status::RolledBack && !doc.dry_run {
            lines.push(format!(
                "{} {}    0% on v{}  rolled back{}",
                t.name(),
                bar(0.0),
                t.target_version,
                t.previous_version
                    .as_ref()
                    .map_or(String::new(), |v| format!(", back on v{v}"))
            ));
            continue;
        }
        if doc.status == Status::RollbackIncomplete && !doc.dry_run {
            lines.push(format!(
                "{} {} {:>5} on v{}  ROLLBACK INCOMPLETE: look at the alias",
                t.name(),
                bar(doc.weight.percent()),
                doc.weight.to_string(),
                t.target_version
            ));
            continue;
        }
        let percent = if step.is_some() {
            doc.weight.percent()
        } else {
            0.0
        };
        lines.push(format!(
            "{} {} {:>5} on v{}  step {}/{steps}{}",
            t.name(),
            bar(percent),
            doc.weight.to_string(),
            t.target_version,
            step.unwrap_or(0),
            if doc.dry_run { "  (dry run)" } else { "" }
        ));
    }
    let waits = match (doc.status, &doc.hook_run, &bake.hold) {
        (_, Some(run), _)
            if matches!(
                run.next,
                HookNext::Invoke | HookNext::Wait | HookNext::Callback
            ) =>
        {
            format!(
                "waiting for: the {} hook {} (until {})",
                run.phase.as_str(),
                run.function,
                run.deadline
            )
        }
        (Status::Ready, _, _) => "waiting for: the first shift".to_string(),
        (Status::Baking, _, Some(hold)) if hold.kind == HoldKind::Approval => format!(
            "waiting for: approval before step {}/{steps} (sluice approve {}), {} left",
            hold.before_step.map_or(0, |s| s + 1),
            doc.deployment_id,
            format_seconds(left)
        ),
        (Status::Baking, _, Some(hold)) => format!(
            "waiting for: resume (paused by {}), {} of the pause limit left",
            hold.by.as_deref().unwrap_or("an operator"),
            format_seconds(left)
        ),
        (Status::Baking, _, None) => format!(
            "waiting for: the bake, {} of {} left (as of the last check; next check in {})",
            format_seconds(left),
            format_seconds(bake.required_seconds),
            format_seconds(doc.next_wait_seconds)
        ),
        (Status::ShiftNext, _, _) => format!(
            "waiting for: the shift to step {}/{steps}",
            step.unwrap_or(0) + 1
        ),
        (Status::AllShifted, _, _) => {
            "waiting for: the PostTraffic hook and the finish".to_string()
        }
        (Status::AlarmBreached, _, _) => "waiting for: the rollback".to_string(),
        (status, _, _) => format!("ended: {}", status.as_str()),
    };
    lines.push(waits);
    if let Some(check) = &doc.last_check {
        let alarms = if check.unread.is_some() {
            "alarms not read".to_string()
        } else if !check.firing.is_empty() {
            let names: Vec<String> = check.firing.iter().map(|a| a.name.to_string()).collect();
            format!("alarms FIRING: {}", names.join(", "))
        } else if doc.alarms.is_empty() {
            "no alarms".to_string()
        } else {
            "alarms healthy".to_string()
        };
        lines.push(format!("last check {}: {alarms}", check.checked_at));
        let statistic = doc
            .analysis
            .as_ref()
            .and_then(|a| a.latency.as_ref())
            .map(|l| l.statistic.as_str());
        for a in &check.analysis {
            let outcome = outcome_word(a.outcome);
            lines.push(format!(
                "  {} {outcome}: {} vs {}",
                a.target,
                figures(a.new_version.as_str(), &a.new, statistic),
                figures(a.stable_version.as_str(), &a.stable, statistic)
            ));
        }
    }
    for w in &doc.warnings {
        lines.push(format!("warning: {w}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::describe;
    use serde_json::json;
    use sluice_core::Deployment;
    use sluice_core::testing::every_field;

    /// A document as the functions write it, read the way the CLI reads a record or a state's
    /// output: a field renamed in sluice-core without its old name fails here.
    fn read(doc: serde_json::Value) -> Deployment {
        Deployment::from_json(doc).expect("a document")
    }

    #[test]
    fn the_last_step_leaves_nothing_on_the_old_version() {
        let doc = read(json!({
            "deploymentId": "d-1", "status": "AllShifted", "strategyName": "canary 10% 1m",
            "step": 1, "weight": 100, "alarms": [], "hooks": {}, "checkIntervalSeconds": 300,
            "bake": {"requiredSeconds": 0, "elapsedSeconds": 0}, "nextWaitSeconds": 0,
            "history": [], "startedAt": "2026-11-27T10:00:00Z", "updatedAt": "2026-11-27T10:01:00Z",
            "plan": [{"weight": 10, "bakeSeconds": 60}, {"weight": 100, "bakeSeconds": 0}],
            "targets": [{"functionName": "orders", "alias": "live", "action": "Shift",
                         "previousVersion": "6", "targetVersion": "7", "revisionId": "r"}]
        }));
        assert_eq!(describe(&doc), vec!["orders:live all on v7 (step 2/2)"]);
    }

    #[test]
    fn a_baking_canary_with_its_alarms() {
        let doc = read(json!({
            "deploymentId": "d-1", "status": "Baking", "strategyName": "Canary10Percent5Minutes",
            "step": 0, "weight": 10, "alarms": ["orders-p99"], "hooks": {}, "checkIntervalSeconds": 60,
            "plan": [{"weight": 10, "bakeSeconds": 300}, {"weight": 100, "bakeSeconds": 0}],
            "bake": {"requiredSeconds": 300, "elapsedSeconds": 120}, "nextWaitSeconds": 60,
            "history": [], "startedAt": "2026-11-27T09:58:00Z", "updatedAt": "2026-11-27T10:00:00Z",
            "targets": [{"functionName": "orders", "alias": "live", "action": "Shift",
                         "previousVersion": "6", "targetVersion": "7", "revisionId": "r"}],
            "lastCheck": {"checkedAt": "2026-11-27T10:00:00Z", "healthy": true, "firing": [],
                          "insufficientData": ["orders-p99"], "missing": []}
        }));
        assert_eq!(
            describe(&doc),
            vec![
                "orders:live 10% on v7 (step 1/2), v6 serves the rest",
                "baking: 2m of 5m (3m left)",
                "alarms healthy (no data yet: orders-p99), checked 2026-11-27T10:00:00Z",
            ]
        );
    }

    #[test]
    fn every_field_a_document_carries_is_shown_from_the_type() {
        let doc = read(every_field().to_json());
        assert_eq!(
            describe(&doc),
            vec![
                "orders:live 10% on v4 (step 1/2), v3 serves the rest",
                "billing:live 10% on v2 (step 1/2), v1 serves the rest",
                "alarm events not watched since 2026-11-27T10:00:01Z (States.Timeout): the backstop checks every 18m49s only",
                "its execution has ended, but the safety net could not settle it yet (2026-11-27T10:00:03Z, orders:live could not be rolled back: Rate exceeded): the sweeper tries again on its schedule",
                "alarms FIRING: orders-errors (no data yet: orders-p99), checked 2026-11-27T10:00:02Z",
            ]
        );
    }

    /// A hook taking its time is shown with its calls and its deadline.
    #[test]
    fn a_running_hook_is_shown() {
        use sluice_core::deployment::{HookAnswer, HookPhase};
        use sluice_core::testing::{one_target, t};
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.hooks.pre_traffic = Some(sluice_core::hooks::TrafficHook::invoked(
            sluice_core::testing::function("smoke"),
        ));
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        d.hook_run.as_mut().unwrap().answer = Some(HookAnswer {
            payload: json!({"status": "InProgress", "retryAfterSeconds": 300}).to_string(),
        });
        d.judge_hook(t(1)).unwrap();
        let lines = describe(&read(d.to_json()));
        assert_eq!(
            lines[1],
            "PreTraffic hook smoke in progress: 1 call so far, called again in 5m, times out at 2026-11-27T11:00:00Z"
        );
    }

    /// `sluice watch` shows the last verdict and both versions' figures per target, and a pass
    /// without a verdict stays on screen as a warning.
    #[test]
    fn the_analysis_verdict_and_its_figures_are_shown() {
        use sluice_core::analysis::Figures;
        use sluice_core::testing::{analysed, t};
        let mut d = analysed(&[], json!({}));
        let f = |invocations, errors| Figures {
            invocations,
            errors,
            throttles: 0,
            latency_ms: None,
            latency_calls: 0,
        };
        let judged = d.judge_versions(&[(f(41, 0), f(359, 2))]);
        d.record_check_with(&[], &[], judged, t(2)).unwrap();
        let lines = describe(&read(d.to_json()));
        assert!(
            lines.iter().any(|l| l.starts_with(
                "analysis a:live: pass: v2 error rate 0% (0 of 41) vs v1 0.6% (2 of 359), p = 1; v2 served 41 of 400 invocations (10% asked)"
            )),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("alarms healthy")),
            "no alarms: {lines:#?}"
        );
        while d.status == sluice_core::Status::Baking {
            let judged = d.judge_versions(&[(f(3, 0), f(37, 0))]);
            d.record_check_with(&[], &[], judged, t(3)).unwrap();
        }
        let lines = describe(&read(d.to_json()));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("warning: step 1/2: passed without a verdict")),
            "{lines:#?}"
        );
    }
}

#[cfg(test)]
mod live_tests {
    use super::{bar, live};
    use serde_json::json;
    use sluice_core::analysis::Figures;
    use sluice_core::testing::{analysed, t};

    #[test]
    fn the_bar_fills_with_the_weight() {
        assert_eq!(bar(0.0).matches('█').count(), 0);
        assert_eq!(bar(50.0).matches('█').count(), 12);
        assert_eq!(bar(100.0).matches('░').count(), 0);
        assert_eq!(bar(250.0).chars().count(), 26, "clamped");
    }

    /// A bake with the analysis: the bar, the step, what it waits for and both versions' figures.
    #[test]
    fn a_bake_with_its_verdict_and_both_versions() {
        let mut d = analysed(&[], json!({"latency": {"statistic": "p99"}}));
        let f = |invocations, errors, ms| Figures {
            invocations,
            errors,
            throttles: 0,
            latency_ms: Some(ms),
            latency_calls: invocations,
        };
        let judged = d.judge_versions(&[(f(41, 0, 120.0), f(359, 2, 118.0))]);
        d.record_check_with(&[], &[], judged, t(2)).unwrap();
        let lines = live(&d);
        assert!(lines[0].starts_with("a:live [██"), "{lines:#?}");
        assert!(lines[0].contains("10% on v2  step 1/2"), "{lines:#?}");
        assert!(
            lines[1].starts_with("waiting for: the bake, "),
            "{lines:#?}"
        );
        assert!(
            lines[2].starts_with("last check 2026-11-27T10:00:02Z: no alarms"),
            "{lines:#?}"
        );
        assert_eq!(
            lines[3],
            "  a:live pass: v2 0% errors (0 of 41), p99 120 ms vs v1 0.6% errors (2 of 359), p99 118 ms",
            "{lines:#?}"
        );
    }

    #[test]
    fn a_rolled_back_deployment_is_shown_back_on_its_version() {
        let mut d = sluice_core::testing::one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.status = sluice_core::Status::RolledBack;
        let lines = live(&d);
        assert!(
            lines[0].contains("0% on v4  rolled back, back on v3"),
            "{lines:#?}"
        );
        assert!(!lines[0].contains('█'), "{lines:#?}");
    }
}
