//! What a deployment costs in Step Functions history events and state transitions, counted in one
//! place: validate refuses a plan whose worst case (every task retried as often as the state
//! machine allows, then the longest way to fail) would reach the history limit (an execution that
//! reaches it stops at once and no Catch runs), and the end-to-end test holds the success path's
//! count to a real execution's history.

use crate::request::Hooks;
use crate::strategy::Plan;

/// Step Functions stops a Standard execution at this many history events.
pub const HISTORY_LIMIT: u64 = 25_000;

/// Events a Task state writes when it succeeds first time (Entered, Scheduled, Started,
/// Succeeded, Exited); a retried attempt adds Scheduled, Started and Failed.
const TASK: u64 = 5;
const RETRY: u64 = 3;
/// Choice, Wait, Pass, Succeed and Fail states: Entered and Exited.
const STATE: u64 = 2;
/// ExecutionStarted and ExecutionSucceeded/Failed.
const EXECUTION: u64 = 2;

/// Retries the state machine allows each task, every retrier of it added up (its Retry's
/// MaxAttempts). A contract test holds these to statemachine/deployment.asl.json.
pub const RETRIES: [(&str, u64); 8] = [
    ("Validate", 6),
    ("PreTrafficHook", 3),
    ("Shift", 6),
    ("CheckAlarms", 6),
    ("PostTrafficHook", 3),
    ("Finish", 10),
    ("Rollback", 99),
    ("ExplainRollbackFailure", 3),
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

/// What one deployment costs when nothing fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// History events of a successful execution.
    pub events: u64,
    /// Billed state transitions (one per state entered).
    pub transitions: u64,
    /// Alarm checks during the bakes.
    pub polls: u64,
    /// The most history events it may write, failures and retries included.
    #[serde(default)]
    pub worst_case_events: u64,
}

/// The alarm checks a plan's bakes take: one per poll interval of each bake with alarms to
/// read; without alarms, one Wait per bake.
pub fn polls(plan: &Plan, poll_seconds: u64, has_alarms: bool) -> u64 {
    plan.steps()
        .iter()
        .filter(|s| s.bake_seconds > 0)
        .map(|s| {
            if has_alarms {
                s.bake_seconds.div_ceil(poll_seconds.max(1))
            } else {
                1
            }
        })
        .sum()
}

/// A successful execution: Validate, AnythingToDeploy, HasPreTrafficHook, [PreTrafficHook],
/// then per step Shift and Progress, per poll Bake, CheckAlarms and Progress, then
/// HasPostTrafficHook, [PostTrafficHook], Finish and Deployed.
pub fn success(plan: &Plan, poll_seconds: u64, has_alarms: bool, hooks: &Hooks) -> Cost {
    let polls = polls(plan, poll_seconds, has_alarms);
    let steps = plan.step_count() as u64;
    let hook_tasks = hooks.named().count() as u64;
    let events = EXECUTION
        + TASK // Validate
        + 3 * STATE // AnythingToDeploy, HasPreTrafficHook, HasPostTrafficHook
        + hook_tasks * TASK
        + steps * (TASK + STATE) // Shift, Progress
        + polls * (STATE + TASK + STATE) // Bake, CheckAlarms, Progress
        + TASK // Finish
        + STATE; // Deployed
    let transitions = 1 + 3 + hook_tasks + steps * 2 + polls * 3 + 2;
    // Every task retried as often as the state machine allows, and then the longest way to
    // fail: every Rollback attempt, the explanation and the Fail state.
    let worst_case_events = EXECUTION
        + worst_task("Validate")
        + 3 * STATE
        + hooks.pre_traffic.iter().count() as u64 * worst_task("PreTrafficHook")
        + hooks.post_traffic.iter().count() as u64 * worst_task("PostTrafficHook")
        + steps * (worst_task("Shift") + STATE)
        + polls * (STATE + worst_task("CheckAlarms") + STATE)
        + worst_task("Finish")
        + STATE
        + FAILING;
    Cost {
        events,
        transitions,
        polls,
        worst_case_events,
    }
}

/// The longest way to fail: every Rollback attempt, the explanation and the Fail state.
const FAILING: u64 = worst_task("Rollback")
    + STATE // RollbackResult
    + worst_task("ExplainRollbackFailure")
    + STATE; // the Fail state

/// The most a deployment may write: a success's events, then the longest way to fail, and room
/// for retries elsewhere.
pub fn worst_case_events(plan: &Plan, poll_seconds: u64, has_alarms: bool, hooks: &Hooks) -> u64 {
    success(plan, poll_seconds, has_alarms, hooks).worst_case_events
}

/// The shortest poll interval (1 s to 1 h) at which the worst case fits, if any does.
pub fn shortest_poll_that_fits(plan: &Plan, has_alarms: bool, hooks: &Hooks) -> Option<u64> {
    let fits = |p| worst_case_events(plan, p, has_alarms, hooks) < HISTORY_LIMIT;
    if !fits(3600) {
        return None;
    }
    // Fewer polls at longer intervals: the cost falls as the interval grows.
    let (mut lo, mut hi) = (1u64, 3600u64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;

    fn plan(name: &str) -> Plan {
        Strategy::preset(name).unwrap().plan().unwrap()
    }

    #[test]
    fn matches_the_measured_formula() {
        // Measured on the state machine before Finish existed: 15 + 7·steps + 9·polls; Finish
        // adds one task.
        let p = plan("Canary10Percent30Minutes");
        let c = success(&p, 10, true, &Hooks::default());
        assert_eq!(c.polls, 180);
        assert_eq!(c.events, 15 + 7 * 2 + 9 * 180 + TASK);
        assert_eq!(c.transitions, 549 + 1, "549 measured, plus Finish");
    }

    #[test]
    fn hooks_and_alarmless_bakes() {
        let p = plan("Linear10PercentEvery1Minute");
        let hooks = Hooks {
            pre_traffic: Some("pre".into()),
            post_traffic: Some("post".into()),
        };
        let without = success(&p, 10, false, &Hooks::default());
        assert_eq!(without.polls, 9, "one Wait per bake without alarms");
        assert_eq!(
            success(&p, 10, false, &hooks).events,
            without.events + 2 * TASK
        );
    }

    #[test]
    fn the_shortest_poll_that_fits_is_the_boundary() {
        let p = plan("Linear10PercentEvery10Minutes");
        let hooks = Hooks::default();
        // 9 bakes of 600 s: 1,080 checks at 5 s, each up to 27 events with its retries, cannot fit.
        assert_eq!(shortest_poll_that_fits(&p, true, &hooks), Some(6));
        let week = Strategy::Canary {
            percent: crate::Weight::from_percent(10.0).unwrap(),
            interval_seconds: 7 * 24 * 3600,
        }
        .plan()
        .unwrap();
        let p = shortest_poll_that_fits(&week, true, &hooks).unwrap();
        assert!(worst_case_events(&week, p, true, &hooks) < HISTORY_LIMIT);
        assert!(worst_case_events(&week, p - 1, true, &hooks) >= HISTORY_LIMIT);
        assert_eq!(p, 666, "a week of bake needs 11m6s between checks");
    }
}
