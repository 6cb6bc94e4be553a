//! What `sluice report` draws over time, read from the states an execution ran (each with the
//! document it output) and the deployment's record: the new version's weight as steps, the bakes,
//! gates, pauses and hooks as spans, every check as a mark coloured by its verdict, the alarms'
//! moves and the ending. Pure: built from what was read, unit-tested without AWS.

use sluice_aws::cloudwatch::AlarmChange;
use sluice_aws::sfn::StateRun;
use sluice_core::analysis::Outcome;
use sluice_core::deployment::HoldKind;
use sluice_core::{Deployment, ErrorName, Status, Timestamp};

/// The states of the hook loop: a hook's span runs from its first to its last.
const HOOK_STATES: [&str; 8] = [
    "PreTrafficHook",
    "PostTrafficHook",
    "HookNext",
    "HookWait",
    "CallHook",
    "CallHookWithToken",
    "JudgeHook",
    "HookPassed",
];

/// The states whose document carries a check's verdict.
const CHECK_STATES: [&str; 2] = ["CheckAlarms", "ApplyCommand"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Breach,
    /// Nothing known: the alarms could not be read.
    Unread,
    /// The analysis had no verdict yet (too little traffic), nothing failed.
    Undecided,
    /// A rule of the analysis failed, fewer times in a row than its `failAfter`: not yet a breach.
    Failing,
}

impl Verdict {
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Breach => "breach",
            Verdict::Unread => "unread",
            Verdict::Undecided => "no-verdict",
            Verdict::Failing => "failing",
        }
    }
}

/// A span of time on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub from: Timestamp,
    pub to: Timestamp,
    pub label: String,
}

/// The new version's weight from `at` on (percent), and the step that set it.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightMark {
    pub at: Timestamp,
    pub percent: f64,
    /// 1-based; None for a rollback (back to 0).
    pub step: Option<usize>,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckMark {
    pub at: Timestamp,
    pub verdict: Verdict,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub at: Timestamp,
    pub status: String,
    pub good: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub start: Timestamp,
    pub end: Timestamp,
    /// In time order: the first shift, every later one, and a rollback's return to 0.
    pub weights: Vec<WeightMark>,
    pub bakes: Vec<Span>,
    pub gates: Vec<Span>,
    pub pauses: Vec<Span>,
    pub hooks: Vec<Span>,
    pub checks: Vec<CheckMark>,
    pub alarms: Vec<AlarmChange>,
    /// Lines of the record with no state of the execution to place them (its history is gone).
    pub lines: Vec<(Timestamp, String)>,
    pub ending: Option<Ending>,
    /// The execution's states were read: the spans and marks are complete.
    pub from_execution: bool,
}

/// The verdict of one check, as its document recorded it: a breach is what ended the bake
/// (`healthy` false), a rule failing under its `failAfter` is no verdict yet.
pub fn verdict_of(doc: &Deployment) -> Option<(Timestamp, Verdict, String)> {
    let check = doc.last_check.as_ref()?;
    let outcome = |o: Outcome| check.analysis.iter().any(|a| a.outcome == o);
    // An unread check is never healthy; it ends the bake only past its overtime.
    let ended_bake = doc.status == Status::AlarmBreached;
    let verdict = if check.unread.is_some() && !ended_bake {
        Verdict::Unread
    } else if !check.healthy {
        Verdict::Breach
    } else if outcome(Outcome::Fail) {
        Verdict::Failing
    } else if outcome(Outcome::Inconclusive) {
        Verdict::Undecided
    } else {
        Verdict::Healthy
    };
    let mut text = Vec::new();
    if let Some(why) = &check.unread {
        text.push(format!("alarms not read: {why}"));
    }
    for a in &check.firing {
        text.push(format!("{} in ALARM", a.name));
    }
    for a in &check.fired {
        text.push(format!(
            "{} went to ALARM and out of it ({})",
            a.name, a.reason
        ));
    }
    for a in &check.missing {
        text.push(format!("{a} no longer exists"));
    }
    for a in &check.analysis {
        text.push(format!("analysis {}: {}", a.target, a.summary));
    }
    if let Some(f) = doc.failure.as_ref().filter(|_| !check.healthy) {
        text.push(format!("{}: {}", f.error, f.plain_cause()));
    }
    if text.is_empty() {
        text.push(if doc.alarms.is_empty() {
            "checked".to_string()
        } else {
            "alarms healthy".to_string()
        });
    }
    Some((check.checked_at, verdict, text.join("; ")))
}

/// The timeline of a deployment: from its execution's states where they could be read, else
/// from its record alone.
pub fn build(
    runs: Option<&[StateRun]>,
    record: Option<&Deployment>,
    alarms: Vec<AlarmChange>,
    start: Timestamp,
    end: Timestamp,
) -> Timeline {
    let mut t = Timeline {
        start,
        end,
        weights: Vec::new(),
        bakes: Vec::new(),
        gates: Vec::new(),
        pauses: Vec::new(),
        hooks: Vec::new(),
        checks: Vec::new(),
        alarms,
        lines: Vec::new(),
        ending: None,
        from_execution: runs.is_some(),
    };
    match runs {
        Some(runs) => from_runs(&mut t, runs, record),
        None => {
            if let Some(doc) = record {
                t.lines = doc
                    .history
                    .iter()
                    .map(|e| (e.at, e.message.clone()))
                    .collect();
            }
        }
    }
    if let Some(doc) = record.filter(|d| d.status.is_settled()) {
        let back = matches!(doc.status, Status::RolledBack | Status::RollbackIncomplete);
        // A rollback the execution's states did not show (the safety net did it after a stop).
        if back && t.weights.last().is_some_and(|w| w.percent > 0.0) {
            t.weights.push(WeightMark {
                at: doc.updated_at.min(end).max(start),
                percent: 0.0,
                step: None,
                label: "rolled back by the safety net: every alias on its previous version"
                    .to_string(),
            });
        }
        // After the last move: the record's last write may come before the Rollback state ends.
        let last_move = t.weights.last().map_or(start, |w| w.at);
        t.ending = Some(Ending {
            at: doc.updated_at.max(last_move).min(end).max(start),
            status: doc.status.as_str().to_string(),
            good: matches!(doc.status, Status::Deployed | Status::NothingToDeploy),
        });
    }
    t
}

fn from_runs(t: &mut Timeline, runs: &[StateRun], record: Option<&Deployment>) {
    let end = t.end;
    let mut hook: Option<Span> = None;
    let mut hold: Option<(HoldKind, Timestamp, String)> = None;
    let mut last_check: Option<Timestamp> = None;
    for run in runs {
        let exited = run.exited.unwrap_or(end);
        let in_hook = HOOK_STATES.contains(&run.name.as_str());
        if let Some(h) = hook.as_mut() {
            if in_hook && !matches!(run.name.as_str(), "PreTrafficHook" | "PostTrafficHook") {
                h.to = exited;
            } else {
                t.hooks.extend(hook.take());
            }
        }
        match run.name.as_str() {
            "PreTrafficHook" | "PostTrafficHook" => {
                let phase = run.name.trim_end_matches("Hook");
                let function = run
                    .document
                    .as_ref()
                    .and_then(|d| d.hook_run.as_ref().map(|h| h.function.name().to_string()))
                    .or_else(|| {
                        let doc = run.document.as_ref().or(record)?;
                        let hook = match phase {
                            "PreTraffic" => doc.hooks.pre_traffic.as_ref(),
                            _ => doc.hooks.post_traffic.as_ref(),
                        }?;
                        Some(hook.function.name().to_string())
                    })
                    .unwrap_or_default();
                hook = Some(Span {
                    from: run.entered,
                    to: exited,
                    label: format!("{phase} hook {function}").trim_end().to_string(),
                });
            }
            "Shift" => {
                // A Shift caught into Rollback outputs its input with `failure`: not a shift.
                if let Some(doc) = run
                    .document
                    .as_ref()
                    .filter(|d| d.step.is_some() && d.failure.is_none())
                {
                    let step = doc.step.map(|s| s + 1);
                    t.weights.push(WeightMark {
                        at: exited,
                        percent: doc.weight.percent(),
                        step,
                        label: format!(
                            "step {}/{}: {} on the new version{}",
                            step.unwrap_or(0),
                            doc.plan.step_count(),
                            doc.weight,
                            if doc.dry_run {
                                " (dry run: no alias written)"
                            } else {
                                ""
                            }
                        ),
                    });
                }
            }
            "Bake" => t.bakes.push(Span {
                from: run.entered,
                to: exited,
                label: "bake".into(),
            }),
            "Rollback" => {
                // A hold ends where the rollback begins.
                close_hold(t, hold.take(), run.entered);
                // Caught (the rollback failed), its output is its input: nothing was put back.
                let done = run.document.as_ref().filter(|d| {
                    matches!(d.status, Status::RolledBack | Status::RollbackIncomplete)
                });
                if let Some(doc) = done {
                    t.weights.push(WeightMark {
                        at: exited,
                        percent: 0.0,
                        step: None,
                        label: match doc.status {
                            _ if doc.dry_run => {
                                "dry run over: no alias was written (a real rollback would put every alias back)"
                                    .into()
                            }
                            Status::RolledBack => {
                                "rolled back: every alias on its previous version".into()
                            }
                            _ => "rollback incomplete: some alias was left alone".into(),
                        },
                    });
                }
            }
            name if CHECK_STATES.contains(&name) => {
                let Some(doc) = &run.document else { continue };
                // Caught into the rollback, its output is its input with `failure`: the hold it
                // held ends here, and it judged nothing.
                if doc.failure.is_some() && doc.status == Status::Baking {
                    close_hold(t, hold.take(), exited);
                    continue;
                }
                // ApplyCommand carries the last check on unless it read the alarms itself (a
                // newer check), or its read of them found one firing and ended the bake.
                let alarm_read_ended = name == "ApplyCommand"
                    && doc.status == Status::AlarmBreached
                    && doc
                        .failure
                        .as_ref()
                        .is_some_and(|f| f.error.as_str() == ErrorName::AlarmBreached.as_str());
                if let Some((at, verdict, text)) = verdict_of(doc)
                    && (last_check.is_none_or(|seen| at > seen || name == "CheckAlarms")
                        || alarm_read_ended)
                {
                    last_check = Some(at);
                    t.checks.push(CheckMark {
                        at: exited,
                        verdict,
                        text,
                    });
                }
                let now = doc
                    .bake
                    .hold
                    .as_ref()
                    .filter(|_| doc.status == Status::Baking);
                // A hold may end and another begin in one document (a resume into a gate).
                if let (Some((kind, since, _)), Some(h)) = (&hold, now)
                    && (*kind != h.kind || *since != h.since)
                {
                    close_hold(t, hold.take(), exited);
                }
                match (&hold, now) {
                    (None, Some(h)) => {
                        let label = match h.kind {
                            HoldKind::Approval => format!(
                                "waiting for approval before step {}",
                                h.before_step.map_or(0, |s| s + 1)
                            ),
                            HoldKind::Pause => {
                                format!("paused by {}", h.by.as_deref().unwrap_or("an operator"))
                            }
                        };
                        hold = Some((h.kind, h.since, label));
                    }
                    (Some(_), None) => close_hold(t, hold.take(), exited),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    t.hooks.extend(hook.take());
    close_hold(t, hold.take(), end);
    t.weights.sort_by_key(|w| w.at);
}

fn close_hold(t: &mut Timeline, hold: Option<(HoldKind, Timestamp, String)>, to: Timestamp) {
    if let Some((kind, from, label)) = hold {
        let span = Span { from, to, label };
        match kind {
            HoldKind::Approval => t.gates.push(span),
            HoldKind::Pause => t.pauses.push(span),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::testing::{one_target, t as at};

    fn run(name: &str, from: u32, to: u32, doc: Option<&Deployment>) -> StateRun {
        StateRun {
            name: name.into(),
            entered: at(from),
            exited: Some(at(to)),
            document: doc.cloned(),
        }
    }

    /// A canary that shifted, baked with two checks, and was rolled back by the second.
    #[test]
    fn shifts_bakes_checks_and_a_rollback() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], at(2)).unwrap();
        let shifted = d.clone();
        let ok = sluice_core::testing::reading("errors", sluice_core::AlarmState::Ok, "fine");
        d.record_check(&[ok], &[], at(60)).unwrap();
        let healthy = d.clone();
        let firing =
            sluice_core::testing::reading("errors", sluice_core::AlarmState::Alarm, "3 errors");
        d.record_check(&[firing], &[], at(120)).unwrap();
        let breached = d.clone();
        d.status = Status::RolledBack;
        let rolled = d.clone();
        let runs = vec![
            run("Validate", 0, 1, None),
            run("Shift", 1, 2, Some(&shifted)),
            run("Bake", 2, 121, None),
            run("CheckAlarms", 59, 60, Some(&healthy)),
            run("CheckAlarms", 119, 120, Some(&breached)),
            run("Rollback", 121, 122, Some(&rolled)),
        ];
        let tl = build(Some(&runs), Some(&rolled), vec![], at(0), at(123));
        let weights: Vec<f64> = tl.weights.iter().map(|w| w.percent).collect();
        assert_eq!(weights, vec![10.0, 0.0]);
        assert_eq!(tl.weights[0].step, Some(1));
        assert_eq!(tl.bakes.len(), 1);
        let verdicts: Vec<Verdict> = tl.checks.iter().map(|c| c.verdict).collect();
        assert_eq!(verdicts, vec![Verdict::Healthy, Verdict::Breach]);
        assert!(tl.checks[1].text.contains("errors in ALARM"), "{tl:?}");
        let ending = tl.ending.unwrap();
        assert_eq!((ending.status.as_str(), ending.good), ("RolledBack", false));
    }

    /// A stop the safety net settled: no Rollback state, the record says RolledBack.
    #[test]
    fn a_rollback_by_the_safety_net_returns_the_weight_to_zero() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], at(2)).unwrap();
        let shifted = d.clone();
        d.status = Status::RolledBack;
        d.updated_at = at(50);
        let runs = vec![run("Shift", 1, 2, Some(&shifted))];
        let tl = build(Some(&runs), Some(&d), vec![], at(0), at(40));
        let weights: Vec<(f64, Timestamp)> = tl.weights.iter().map(|w| (w.percent, w.at)).collect();
        assert_eq!(
            weights,
            vec![(10.0, at(2)), (0.0, at(40))],
            "clamped to the end"
        );
    }

    /// Without the execution's states (past the 90 days Step Functions keeps them), the record's
    /// lines are what is drawn.
    #[test]
    fn without_the_execution_the_record_lines_are_drawn() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.record_shift(0, vec!["r1".into()], at(2)).unwrap();
        let tl = build(None, Some(&d), vec![], at(0), at(10));
        assert!(!tl.from_execution);
        assert!(!tl.lines.is_empty());
        assert!(tl.weights.is_empty());
    }

    /// A hook's span covers its whole loop, and a pause's span runs until the check after it.
    #[test]
    fn hooks_and_pauses_are_spans() {
        use sluice_core::ledger::{Command, CommandKind};
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], at(12)).unwrap();
        let shifted = d.clone();
        let pause = Command {
            kind: CommandKind::Pause,
            by: "arn:aws:iam::1:user/ann".into(),
            reason: Some("ticket".into()),
            at: at(20),
        };
        d.apply_command(Some(&pause), at(20)).unwrap();
        let paused = d.clone();
        let resume = Command {
            kind: CommandKind::Resume,
            by: "arn:aws:iam::1:user/ann".into(),
            reason: None,
            at: at(40),
        };
        d.apply_command(Some(&resume), at(40)).unwrap();
        let resumed = d.clone();
        let runs = vec![
            run("PreTrafficHook", 1, 2, None),
            run("HookNext", 2, 2, None),
            run("CallHook", 2, 5, None),
            run("JudgeHook", 5, 6, None),
            run("HookPassed", 6, 6, None),
            run("Shift", 11, 12, Some(&shifted)),
            run("ApplyCommand", 19, 20, Some(&paused)),
            run("ApplyCommand", 39, 40, Some(&resumed)),
        ];
        let tl = build(Some(&runs), None, vec![], at(0), at(60));
        assert_eq!(tl.hooks.len(), 1);
        assert_eq!((tl.hooks[0].from, tl.hooks[0].to), (at(1), at(6)));
        assert_eq!(tl.pauses.len(), 1, "{tl:?}");
        assert_eq!((tl.pauses[0].from, tl.pauses[0].to), (at(20), at(40)));
        assert!(tl.pauses[0].label.contains("ann"), "{:?}", tl.pauses);
    }

    /// A pause that ends into a gate within one document: the pause's span closes, the gate's
    /// opens. An ApplyCommand that read no alarms draws no second mark for the last check.
    #[test]
    fn a_hold_that_becomes_another_and_a_check_carried_on() {
        use sluice_core::deployment::{Hold, HoldKind};
        use sluice_core::strategy::OnTimeout;
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], at(2)).unwrap();
        d.record_check(&[], &[], at(10)).unwrap();
        let checked = d.clone();
        let hold = |kind, since| Hold {
            kind,
            since,
            from_elapsed: 0,
            on_timeout: OnTimeout::Rollback,
            seconds: 600,
            before_step: Some(1),
            bake_left: 0,
            by: Some("ann".into()),
        };
        let mut paused = checked.clone();
        paused.status = Status::Baking;
        paused.bake.hold = Some(hold(HoldKind::Pause, at(20)));
        let mut gated = checked.clone();
        gated.status = Status::Baking;
        gated.bake.hold = Some(hold(HoldKind::Approval, at(40)));
        let runs = vec![
            run("CheckAlarms", 9, 10, Some(&checked)),
            run("ApplyCommand", 19, 20, Some(&paused)),
            run("ApplyCommand", 39, 40, Some(&gated)),
        ];
        let tl = build(Some(&runs), None, vec![], at(0), at(60));
        assert_eq!(tl.checks.len(), 1, "one check: {:?}", tl.checks);
        let spans = |list: &[Span]| list.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>();
        assert_eq!(spans(&tl.pauses), vec![(at(20), at(40))]);
        assert_eq!(spans(&tl.gates), vec![(at(40), at(60))]);
    }

    /// A state caught into the rollback outputs its input (with `failure`, or `rollbackFailure`):
    /// neither is drawn as a shift, nor a failed rollback as the weight back to 0.
    #[test]
    fn caught_states_are_not_drawn_as_what_they_failed_to_do() {
        let mut d = one_target(json!("Linear10PercentEvery1Minute"), &[]);
        d.record_shift(0, vec!["r1".into()], at(2)).unwrap();
        let shifted = d.clone();
        let mut caught = d.clone();
        caught.failure = Some(sluice_core::Failure::new(
            sluice_core::ErrorName::AwsFailure,
            "Rate exceeded",
        ));
        let runs = vec![
            run("Shift", 1, 2, Some(&shifted)),
            run("Shift", 70, 71, Some(&caught)),
            run("Rollback", 71, 72, Some(&caught)),
        ];
        let tl = build(Some(&runs), None, vec![], at(0), at(80));
        let weights: Vec<f64> = tl.weights.iter().map(|w| w.percent).collect();
        assert_eq!(weights, vec![10.0], "{:?}", tl.weights);
    }
}
