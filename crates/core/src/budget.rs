//! What a deployment costs in Step Functions history events and state transitions, counted in one
//! place: validate refuses a plan whose worst case (every task retried as often as the state
//! machine allows, then the longest way to fail) would reach the history limit (an execution that
//! reaches it stops at once and no Catch runs), and the end-to-end tests hold the success path's
//! count to a real execution's history.
//!
//! The shape counted (statemachine/deployment.asl.json): Validate, AnythingToDeploy,
//! HasPreTrafficHook, [the PreTraffic hook's loop], then per step Shift and Progress; a step that bakes runs
//! one Bake, a Parallel state of two branches — the backstop (BakeWait, CheckAlarms and
//! BakeProgress once per check, then BakeDone) and the watch (Watch, a task that waits for its
//! token until the bake ends, an alarm event fails it, or an operator's command does) — and
//! Progress again; then HasPostTrafficHook, [the PostTraffic hook's loop], Finish and Deployed.
//! A hook's loop is PreTrafficHook (or PostTrafficHook: the hook function starts it) and HookNext,
//! then per call CallHook (or CallHookWithToken), JudgeHook and HookNext, with HookWait between
//! calls, and HookPassed once it passed; an invoked hook takes up to `MAX_HOOK_CALLS` calls. A gate holds
//! a bake on for up to its timeout, a pause for up to the pause limit; each operator's command
//! ends the bake's Parallel, runs ApplyCommand and Progress, and starts the bake anew.

use crate::duration::format_seconds;
use crate::error::Error;
use crate::hooks::{HookMode, Hooks, MAX_HOOK_CALLS, TrafficHook};
use crate::strategy::Plan;

/// Checks a bake may take past its end when its alarms could not be read (AWS throttled or failed
/// the read: not known yet, so read again) before it fails the deployment.
pub const OVERTIME_CHECKS: u64 = 3;

/// Most commands one deployment may take: each costs history events (the bake's Parallel ends, the
/// command is applied, a new one starts), which the history budget counts.
pub const MAX_COMMANDS: u64 = 20;

/// Step Functions stops a Standard execution at this many history events.
pub const HISTORY_LIMIT: u64 = 25_000;

/// Events a Task state writes when it succeeds first time (Entered, Scheduled, Started,
/// Succeeded, Exited); a retried attempt adds Scheduled, Started and Failed.
const TASK: u64 = 5;
const RETRY: u64 = 3;
/// A task that waits for its token (`.waitForTaskToken`) also writes TaskSubmitted.
const CALLBACK_TASK: u64 = 6;
/// Choice, Wait, Pass, Succeed and Fail states: Entered and Exited.
const STATE: u64 = 2;
/// A Parallel state: Entered, Started, Succeeded (or Failed), Exited.
const PARALLEL: u64 = 4;
/// ExecutionStarted and ExecutionSucceeded/Failed.
const EXECUTION: u64 = 2;

/// Retries the state machine allows each task, every retrier of it added up (its Retry's
/// MaxAttempts). A contract test holds these to statemachine/deployment.asl.json.
pub const RETRIES: [(&str, u64); 14] = [
    ("Validate", 10),
    ("PreTrafficHook", 10),
    ("CallHook", 6),
    ("CallHookWithToken", 6),
    ("JudgeHook", 6),
    ("Shift", 10),
    ("CheckAlarms", 10),
    ("ApplyCommand", 10),
    ("Watch", 10),
    ("PostTrafficHook", 10),
    ("Finish", 10),
    ("Rollback", 99),
    ("ExplainRollbackFailure", 3),
    ("ExplainSettled", 3),
];

const fn retries(task: &str) -> u64 {
    let mut i = 0;
    while i < RETRIES.len() {
        if str_eq(RETRIES[i].0, task) {
            return RETRIES[i].1;
        }
        i += 1;
    }
    panic!("a task without a retry count")
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A task's events when it uses every retry it has.
const fn worst_task(task: &str) -> u64 {
    TASK + retries(task) * RETRY
}

/// A traffic hook that answers at its first call: the state starting it, HookNext, the call,
/// JudgeHook, HookNext and HookPassed.
fn hook_events(hook: &TrafficHook) -> u64 {
    let call = match hook.mode {
        HookMode::Invoke => TASK,
        HookMode::Callback => CALLBACK_TASK,
    };
    TASK + STATE + call + TASK + STATE + STATE
}

/// The states a hook's first call passes through (as `hook_events`).
const HOOK_TRANSITIONS: u64 = 6;

/// A traffic hook's worst case: every call it may take (an invoked hook answering InProgress
/// until its deadline), each task with every retry.
fn hook_worst(hook: &TrafficHook) -> u64 {
    let start = worst_task("PreTrafficHook").max(worst_task("PostTrafficHook")) + STATE;
    match hook.mode {
        HookMode::Invoke => {
            start
                + MAX_HOOK_CALLS
                    * (worst_task("CallHook") + worst_task("JudgeHook") + STATE + STATE)
                + STATE
        }
        HookMode::Callback => {
            start
                + CALLBACK_TASK
                + retries("CallHookWithToken") * RETRY
                + worst_task("JudgeHook")
                + 2 * STATE
        }
    }
}

/// What a deployment's bakes judge: the alarms (watched by events, read by the backstop), and
/// the versions' own metrics (the canary analysis, read at each check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Judges {
    pub alarms: bool,
    pub analysis: bool,
    /// How long a bake may go on past its end for an inconclusive analysis.
    pub keep_baking_seconds: u64,
    /// How long operators may pause the deployment in all (`pause.limit`).
    pub pause_seconds: u64,
}

impl Judges {
    /// Whether a bake reads anything at its checks (else one Wait bakes the step).
    pub fn checks(self) -> bool {
        self.alarms || self.analysis
    }
}

/// What one deployment costs when nothing fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// History events of a successful execution.
    pub events: u64,
    /// Billed state transitions (one per state entered).
    pub transitions: u64,
    /// Backstop alarm checks during the bakes (an alarm event needs none: it stops the bake).
    #[serde(alias = "polls")]
    pub checks: u64,
    /// The most history events it may write, failures and retries included.
    #[serde(default)]
    pub worst_case_events: u64,
    /// Operators' commands (approve, pause, promote, ...) its history has room for, at most
    /// `MAX_COMMANDS` (0 in documents written before sluice took commands).
    #[serde(default)]
    pub commands: u64,
}

/// The backstop checks one bake takes: one per check interval, the last at the bake's end.
fn checks_in(bake_seconds: u64, check_seconds: u64, judges: Judges) -> u64 {
    if judges.checks() {
        bake_seconds.div_ceil(check_seconds.max(1))
    } else {
        // Nothing to read: one Wait bakes the step, and one CheckAlarms counts it done.
        1
    }
}

/// The backstop checks a plan's bakes take.
pub fn checks(plan: &Plan, check_seconds: u64, judges: Judges) -> u64 {
    plan.steps()
        .iter()
        .filter(|s| s.bake_seconds > 0)
        .map(|s| checks_in(s.bake_seconds, check_seconds, judges))
        .sum()
}

/// What a successful execution writes, and its worst case.
pub fn success(plan: &Plan, check_seconds: u64, judges: Judges, hooks: &Hooks) -> Cost {
    let checks = checks(plan, check_seconds, judges);
    let steps = plan.step_count() as u64;
    let bakes = plan.steps().iter().filter(|s| s.bake_seconds > 0).count() as u64;
    let hook_tasks = hooks.count() as u64;
    // The watch branch: the Watch task (every bake: it is the operators' way in too).
    let (watch, watch_worst, watch_states) =
        (CALLBACK_TASK, CALLBACK_TASK + retries("Watch") * RETRY, 1);
    // Bake, the watch branch, BakeDone, and Progress after the Parallel.
    let per_bake = PARALLEL + watch + STATE + STATE;
    let per_check = STATE + TASK + STATE; // BakeWait, CheckAlarms, BakeProgress
    // A command: the Parallel fails (the watch's Commanded Fail instead of its end), ApplyCommand
    // and Progress run, and the bake starts anew (another Parallel and watch).
    let per_command = TASK + STATE + per_bake;
    // ... and may cut a check short, so one more check with every retry.
    let per_command_worst = worst_task("ApplyCommand")
        + STATE
        + PARALLEL
        + watch_worst
        + 2 * STATE
        + (STATE + worst_task("CheckAlarms") + STATE);
    let gates = plan.steps().iter().filter(|s| s.approval.is_some()).count() as u64;
    let events = EXECUTION
        + TASK // Validate
        + 3 * STATE // AnythingToDeploy, HasPreTrafficHook, HasPostTrafficHook
        + hooks.traffic().map(hook_events).sum::<u64>()
        + steps * (TASK + STATE) // Shift, Progress
        + bakes * per_bake
        + checks * per_check
        + gates * per_command // each gate approved as it is reached
        + TASK // Finish
        + STATE; // Deployed
    // Validate, three Choices, each hook's loop, Shift and Progress per step; per bake the Parallel,
    // the watch branch's states, BakeDone and Progress; three per check; per approval
    // ApplyCommand, Progress and the bake again; Finish and Deployed.
    let transitions = 1
        + 3
        + hook_tasks * HOOK_TRANSITIONS
        + steps * 2
        + (bakes + gates) * (1 + watch_states + 2)
        + gates * 2
        + checks * 3
        + 2;
    // The checks holds may take: every gate waiting out its timeout, and pauses up to the limit,
    // each checked at most ten times (`keep_baking_interval`).
    let hold = |seconds: u64| {
        if judges.checks() {
            keep_baking_checks(check_seconds, seconds)
        } else {
            u64::from(seconds > 0)
        }
    };
    let hold_checks = plan
        .steps()
        .iter()
        .filter_map(|s| s.approval)
        .map(|g| hold(g.timeout_seconds))
        .sum::<u64>()
        + hold(judges.pause_seconds);
    // Every task retried as often as the state machine allows, and then the longest way to
    // fail: every Rollback attempt, the explanation and the Fail state.
    let without_commands = EXECUTION
        + worst_task("Validate")
        + 3 * STATE
        + hooks.traffic().map(hook_worst).sum::<u64>()
        + steps * (worst_task("Shift") + STATE)
        + bakes * (PARALLEL + watch_worst + STATE + STATE)
        + (checks + hold_checks + overtime(plan, check_seconds, judges))
            * (STATE + worst_task("CheckAlarms") + STATE)
        + worst_task("Finish")
        + STATE
        + FAILING;
    // Each gate's approval, budgeted with the gate (not one of the commands): the command, a
    // Parallel of its own when the step before has no bake, and the checks past a hold's end.
    let without_commands = without_commands
        + gates
            * (per_command_worst
                + PARALLEL
                + watch_worst
                + 2 * STATE
                + OVERTIME_CHECKS * (STATE + worst_task("CheckAlarms") + STATE));
    // Operators' commands get what the history has left, up to MAX_COMMANDS.
    let commands = ((HISTORY_LIMIT - 1).saturating_sub(without_commands) / per_command_worst)
        .min(MAX_COMMANDS);
    let worst_case_events = without_commands + commands * per_command_worst;
    Cost {
        events,
        transitions,
        checks,
        worst_case_events,
        commands,
    }
}

/// Checks a bake with the analysis may take past its end waiting for Lambda's metrics to arrive
/// up to it (they land a minute or more late on AWS): one, `LAG_CHECK_SECONDS` (or the check
/// interval, if shorter) after the bake's end. It counts among the `OVERTIME_CHECKS` a bake may
/// take past its end, so the history budget is the same.
pub const LAG_CHECKS: u64 = 1;
pub const LAG_CHECK_SECONDS: u64 = 120;

/// How often an inconclusive analysis is checked while its bake goes on past its end: the check
/// interval, or a tenth of `keepBaking` if longer, so a long keepBaking costs at most ten checks
/// a bake.
pub fn keep_baking_interval(check_seconds: u64, keep_seconds: u64) -> u64 {
    check_seconds.max(keep_seconds.div_ceil(10)).max(1)
}

/// The checks a bake may take past its end for an inconclusive analysis.
pub fn keep_baking_checks(check_seconds: u64, keep_seconds: u64) -> u64 {
    keep_seconds.div_ceil(keep_baking_interval(check_seconds, keep_seconds))
}

/// The checks bakes may take past their ends: alarms or metrics unread (or not arrived yet), and
/// an inconclusive analysis baking on.
fn overtime(plan: &Plan, check_seconds: u64, judges: Judges) -> u64 {
    if !judges.checks() {
        return 0;
    }
    let keep = keep_baking_checks(check_seconds, judges.keep_baking_seconds);
    plan.steps().iter().filter(|s| s.bake_seconds > 0).count() as u64 * (OVERTIME_CHECKS + keep)
}

/// The longest way to fail: every Rollback attempt, the explanation and the Fail state.
const FAILING: u64 = worst_task("Rollback")
    + STATE // RollbackResult
    + worst_task("ExplainRollbackFailure")
    + STATE; // the Fail state

/// The most a deployment may write: a success's events, then the longest way to fail, and room
/// for retries elsewhere.
pub fn worst_case_events(plan: &Plan, check_seconds: u64, judges: Judges, hooks: &Hooks) -> u64 {
    success(plan, check_seconds, judges, hooks).worst_case_events
}

/// The longest check interval a request may ask for, and the most validate stretches it to.
pub const MAX_CHECK_SECONDS: u64 = 3600;

/// How often the backstop reads the alarms during a bake when the request does not say: alarm
/// events stop a bake at once, so the backstop only catches what an event missed.
pub const DEFAULT_CHECK_SECONDS: u64 = 300;

/// How often a bake is checked when the canary analysis is on and the request does not say: a
/// clear regression of the new version's own metrics is caught within a minute or two.
pub const DEFAULT_ANALYSIS_CHECK_SECONDS: u64 = 60;

/// The check interval a request gets when it does not say, before any stretching.
pub fn default_check_seconds(judges: Judges) -> u64 {
    if judges.analysis {
        DEFAULT_ANALYSIS_CHECK_SECONDS
    } else {
        DEFAULT_CHECK_SECONDS
    }
}

/// The shortest check interval (1 s to 1 h) at which the worst case fits, if any does.
pub fn shortest_check_that_fits(plan: &Plan, judges: Judges, hooks: &Hooks) -> Option<u64> {
    let fits = |p| worst_case_events(plan, p, judges, hooks) < HISTORY_LIMIT;
    if !fits(MAX_CHECK_SECONDS) {
        return None;
    }
    // Fewer checks at longer intervals: the cost falls as the interval grows.
    let (mut lo, mut hi) = (1u64, MAX_CHECK_SECONDS);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// The backstop's check interval for a plan: the one asked for, or the default, stretched when
/// the plan would not fit one execution's history at the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInterval {
    pub seconds: u64,
    /// The default was stretched to this, so that the plan fits.
    pub stretched: bool,
    /// The default it was stretched from.
    pub default_seconds: u64,
}

/// Why no check interval can be had as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCheckInterval {
    /// Outside 1 s to 1 h.
    OutOfRange { asked: u64 },
    /// The plan would not fit at the interval asked; it would at `shortest` or longer.
    TooOften {
        asked: u64,
        worst: u64,
        shortest: u64,
    },
    /// The plan fits no interval at all.
    PlanTooLong,
}

impl CheckInterval {
    /// The one rule for the check interval, for validate and `sluice plan` alike.
    pub fn choose(
        plan: &Plan,
        asked: Option<u64>,
        judges: Judges,
        hooks: &Hooks,
    ) -> Result<CheckInterval, NoCheckInterval> {
        let fits = |s| worst_case_events(plan, s, judges, hooks) < HISTORY_LIMIT;
        let shortest =
            || shortest_check_that_fits(plan, judges, hooks).ok_or(NoCheckInterval::PlanTooLong);
        let default_seconds = default_check_seconds(judges);
        match asked {
            Some(s) if !(1..=MAX_CHECK_SECONDS).contains(&s) => {
                Err(NoCheckInterval::OutOfRange { asked: s })
            }
            Some(s) if fits(s) => Ok(CheckInterval {
                seconds: s,
                stretched: false,
                default_seconds,
            }),
            Some(s) => Err(NoCheckInterval::TooOften {
                asked: s,
                worst: worst_case_events(plan, s, judges, hooks),
                shortest: shortest()?,
            }),
            None if fits(default_seconds) => Ok(CheckInterval {
                seconds: default_seconds,
                stretched: false,
                default_seconds,
            }),
            None => Ok(CheckInterval {
                seconds: shortest()?,
                stretched: true,
                default_seconds,
            }),
        }
    }

    /// Why the interval is not the default, for the document's history.
    pub fn note(&self) -> Option<String> {
        self.stretched.then(|| {
            let what = if self.default_seconds == DEFAULT_CHECK_SECONDS {
                "the backstop checks the alarms"
            } else {
                "the bake is checked"
            };
            format!(
                "{what} every {} instead of the default {}, so that the whole \
                 plan fits one execution's {HISTORY_LIMIT} history events (alarm events still stop a bake at once)",
                format_seconds(self.seconds),
                format_seconds(self.default_seconds),
            )
        })
    }
}

impl NoCheckInterval {
    /// The request's refusal; `field` names the interval as the request wrote it.
    pub fn refusal(self, field: &str) -> Error {
        match self {
            NoCheckInterval::OutOfRange { asked } => Error::invalid(
                field,
                format!("\"{}\" is outside 1s to 1h", format_seconds(asked)),
            ),
            NoCheckInterval::TooOften {
                asked,
                worst,
                shortest,
            } => Error::invalid(
                field,
                format!(
                    "checking the alarms every {} would take up to {worst} Step Functions history events, and an \
                     execution stops at {HISTORY_LIMIT} (only the safety net could then roll it back). Use \"{}\" or longer",
                    format_seconds(asked),
                    format_seconds(shortest)
                ),
            ),
            NoCheckInterval::PlanTooLong => Error::invalid(
                "strategy",
                format!(
                    "has more steps and bake than one execution's {HISTORY_LIMIT} history events allow, even checking \
                     the alarms hourly; split it into several deployments"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;

    const ALARMS: Judges = Judges {
        alarms: true,
        analysis: false,
        keep_baking_seconds: 0,
        pause_seconds: 3600,
    };
    const NONE: Judges = Judges {
        alarms: false,
        analysis: false,
        keep_baking_seconds: 0,
        pause_seconds: 3600,
    };

    fn plan(name: &str) -> Plan {
        Strategy::preset(name).unwrap().plan().unwrap()
    }

    #[test]
    fn a_half_hour_canary_at_the_defaults() {
        let p = plan("Canary10Percent30Minutes");
        let c = success(&p, 300, ALARMS, &Hooks::default());
        assert_eq!(c.checks, 6);
        // 2 + 5 + 6 + 2·7 (shifts) + (4 + 6 + 2 + 2) (the bake) + 6·9 (checks) + 5 + 2
        assert_eq!(c.events, 102);
        assert!(c.events <= 120);
        assert_eq!(c.transitions, 1 + 3 + 4 + (1 + 1 + 2) + 18 + 2);
        assert_eq!(c.commands, MAX_COMMANDS, "room for every command");
        // At a 10 s interval the same plan checked 180 times: ~1,650 events before the watch.
        assert_eq!(success(&p, 10, ALARMS, &Hooks::default()).checks, 180);
    }

    #[test]
    fn hooks_and_alarmless_bakes() {
        let p = plan("Linear10PercentEvery1Minute");
        let invoked = |name| TrafficHook::invoked(crate::testing::function(name));
        let hooks = Hooks {
            pre_traffic: Some(invoked("pre")),
            post_traffic: Some(TrafficHook {
                mode: HookMode::Callback,
                ..invoked("post")
            }),
            check: None,
        };
        let without = success(&p, 300, NONE, &Hooks::default());
        assert_eq!(without.checks, 9, "one Wait per bake without alarms");
        let with = success(&p, 300, NONE, &hooks);
        // Each hook: its start, HookNext, the call (a callback task writes TaskSubmitted too),
        // JudgeHook, HookNext and HookPassed.
        assert_eq!(with.events, without.events + 2 * (3 * TASK + 3 * STATE) + 1);
        assert_eq!(with.transitions, without.transitions + 2 * 6);
        // The worst case holds every call an invoked hook may take: 32 calls of up to 50 events.
        let pre_only = Hooks {
            post_traffic: None,
            ..hooks.clone()
        };
        let d = |h: &Hooks| success(&p, 300, NONE, h).worst_case_events;
        assert_eq!(
            d(&pre_only) - d(&Hooks::default()),
            (35 + 2) + 32 * (23 + 23 + 2 + 2) + 2
        );
        assert_eq!(
            d(&hooks) - d(&pre_only),
            (35 + 2) + (6 + 18) + 23 + 4,
            "a callback hook is called once"
        );
        let with_alarms = success(&p, 300, ALARMS, &Hooks::default());
        assert_eq!(
            with_alarms.events, without.events,
            "every bake has its watch, alarms or not: it is the operators' way in too"
        );
    }

    #[test]
    fn gates_and_pauses_cost_ten_checks_at_most_and_commands_get_what_is_left() {
        let gated = plan("Canary10Percent30Minutes")
            .with_gate(
                1,
                crate::strategy::Gate {
                    timeout_seconds: 24 * 3600,
                    on_timeout: crate::strategy::OnTimeout::Rollback,
                },
            )
            .unwrap();
        let plain = success(
            &plan("Canary10Percent30Minutes"),
            60,
            ALARMS,
            &Hooks::default(),
        );
        let c = success(&gated, 60, ALARMS, &Hooks::default());
        // An approval as it is reached: one command (ApplyCommand, Progress, the bake again).
        assert_eq!(
            c.events,
            plain.events + TASK + STATE + (PARALLEL + CALLBACK_TASK + 2 * STATE)
        );
        // A day's gate checked every 2h24m at most: ten checks, each up to 39 events; and its
        // approval reserved: a command with every retry (120), a Parallel and watch of its own
        // (44) and the overtime checks past its end (3 · 39).
        assert_eq!(
            c.worst_case_events,
            plain.worst_case_events + 10 * 39 + 120 + 44 + 3 * 39
        );
        let no_pause = Judges {
            pause_seconds: 0,
            ..ALARMS
        };
        assert_eq!(
            success(&gated, 60, no_pause, &Hooks::default()).worst_case_events,
            c.worst_case_events - 10 * 39
        );
    }

    #[test]
    fn the_shortest_check_that_fits_is_the_boundary() {
        let p = plan("Linear10PercentEvery10Minutes");
        let hooks = Hooks::default();
        // 9 bakes of 600 s: 675 checks at 8 s, each up to 39 events with its retries, cannot fit.
        // (A pause of the default hour adds ten checks at most; commands get what is left.)
        assert_eq!(shortest_check_that_fits(&p, ALARMS, &hooks), Some(10));
        let week = Strategy::Canary {
            percent: crate::Weight::from_percent(10.0).unwrap(),
            interval_seconds: 7 * 24 * 3600,
        }
        .plan()
        .unwrap();
        assert!(
            worst_case_events(&week, 300, ALARMS, &hooks) >= HISTORY_LIMIT,
            "a week at the default interval does not fit as it is"
        );
        let p = shortest_check_that_fits(&week, ALARMS, &hooks).unwrap();
        assert!(worst_case_events(&week, p, ALARMS, &hooks) < HISTORY_LIMIT);
        assert!(worst_case_events(&week, p - 1, ALARMS, &hooks) >= HISTORY_LIMIT);
        assert_eq!(p, 976, "a week of bake needs 16m16s between checks");
    }
}
