//! Running a traffic hook (PreTraffic before any traffic moves, PostTraffic once all of it has):
//! the hook function's `start_hook` says what the state machine's hook loop calls first, and
//! `judge_hook` reads each answer: passed, failed (roll back), or in progress (wait, call again
//! with the state the hook returned). The loop's states read `hookRun` only.

use super::{Deployment, Status, TargetState};
use crate::bounds::{MAX_CAUSE_CHARS, MAX_REASON_CHARS, clip};
use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use crate::failure::Failure;
use crate::hooks::{HookMode, MAX_HOOK_CALLS, TrafficHook, hook_call_gap};
use crate::names::FunctionRef;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How long sluice waits before calling an InProgress hook again when it does not say.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 30;

/// The most state a hook may hand itself between calls, as JSON: it rides in the document.
pub const MAX_HOOK_STATE_BYTES: usize = 8 * 1024;

/// How long one invocation of a hook may run (the state machine's TimeoutSeconds on it: Lambda
/// stops a function at 15 minutes anyway).
pub const HOOK_INVOCATION_SECONDS: u64 = 900;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookPhase {
    PreTraffic,
    PostTraffic,
}

impl HookPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::PreTraffic => "PreTraffic",
            HookPhase::PostTraffic => "PostTraffic",
        }
    }
}

/// What the state machine's hook loop does next (its HookNext Choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookNext {
    /// Invoke the hook with `payload` (CallHook).
    Invoke,
    /// Invoke it with a task token and wait for its report, up to `timeoutSeconds`
    /// (CallHookWithToken).
    Callback,
    /// Wait `waitSeconds`, then invoke it again (HookWait).
    Wait,
    /// It passed: on to the first shift (PreTraffic) or to Finish (PostTraffic).
    Passed,
    /// It failed: `failure` says why; roll back.
    Failed,
}

/// What one call returned, as the state machine wrote it: the invocation's payload (or the
/// callback's SendTaskSuccess output) as JSON text (`States.JsonToString`), so that an answer
/// sluice cannot read (too deep, too large) is the hook's failure, not the document's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAnswer {
    #[serde(default)]
    pub payload: String,
}

/// The most of an answer sluice reads: the state it may carry and room for a reason.
pub const MAX_HOOK_ANSWER_BYTES: usize = 16 * 1024;

/// A traffic hook being run: what the hook loop reads, and what its last call answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    pub phase: HookPhase,
    /// What CallHook invokes.
    pub function: FunctionRef,
    pub mode: HookMode,
    pub next: HookNext,
    /// Calls answered so far.
    pub calls: u64,
    pub started_at: Timestamp,
    /// When its timeout runs out: an answer still InProgress then fails the hook.
    pub deadline: Timestamp,
    /// The hook's timeout: a callback's TimeoutSecondsPath.
    pub timeout_seconds: u64,
    /// HookWait's SecondsPath.
    pub wait_seconds: u64,
    /// The waits asked so far, added up: the hook's time is at least this (as a bake counts the
    /// seconds its Waits asked), whatever the clock says.
    #[serde(default)]
    pub waited_seconds: u64,
    /// The next call's payload.
    pub payload: Value,
    /// The last call's answer, written by the state machine (CallHook's ResultPath).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<HookAnswer>,
    /// The last call's error, written by the state machine (CallHook's Catch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

impl HookRun {
    /// How long the hook has run: the clock's time since it started, or the waits asked if more
    /// (a Wait state may be shorter than asked where time is scaled, as on the local stack).
    fn elapsed(&self, now: Timestamp) -> u64 {
        now.seconds_since(self.started_at).max(self.waited_seconds)
    }
}

/// A hook's answer, read.
#[derive(Debug, Clone, PartialEq)]
enum Said {
    /// Passed; with a note when what it answered was not one of the answers.
    Passed(Option<String>),
    Failed(String),
    InProgress {
        retry_after: u64,
        state: Value,
        message: Option<String>,
    },
}

/// One target as every hook payload describes it: the function, the alias, the stable and the
/// new version, and the new version's qualified ARN (to invoke it directly).
pub(crate) fn hook_target(t: &TargetState) -> Value {
    json!({
        "functionName": t.function_name.name(),
        "functionArn": t.function_arn,
        "alias": t.alias.to_string(),
        "stableVersion": t.previous_version.as_ref().map(|v| v.to_string()),
        "newVersion": t.target_version.to_string(),
        "newVersionArn": t.function_arn.as_ref().map(|a| format!("{a}:{}", t.target_version)),
    })
}

/// A target as a traffic hook is handed it: every hook's fields, and the names traffic hooks
/// were handed before (`action`, `previousVersion`, `targetVersion`), which hooks written then
/// read.
fn traffic_hook_target(t: &TargetState) -> Value {
    let mut v = hook_target(t);
    v["action"] = json!(t.action);
    v["previousVersion"] = json!(t.previous_version);
    v["targetVersion"] = json!(t.target_version);
    v
}

impl Deployment {
    /// The hook the phase runs.
    fn traffic_hook(&self, phase: HookPhase) -> Option<&TrafficHook> {
        match phase {
            HookPhase::PreTraffic => self.hooks.pre_traffic.as_ref(),
            HookPhase::PostTraffic => self.hooks.post_traffic.as_ref(),
        }
    }

    /// The step a hook payload names: 0 before the first shift, the last step after it.
    fn hook_step(&self) -> u64 {
        self.step.map_or(0, |s| s as u64 + 1)
    }

    /// What a traffic hook is handed at a call: the deployment, the phase, how it answers and by
    /// when, the step and weight, the first target (the only one of most deployments) and every
    /// target, which call this is and the state it returned last time.
    fn hook_payload(&self, run: &HookRun, state: Value) -> Value {
        let targets: Vec<Value> = self.targets.iter().map(traffic_hook_target).collect();
        json!({
            "deploymentId": self.deployment_id,
            "phase": run.phase.as_str(),
            "mode": run.mode.as_str(),
            "dryRun": self.dry_run,
            "call": run.calls + 1,
            "state": state,
            "step": self.hook_step(),
            "steps": self.plan.step_count(),
            "weight": self.weight.percent(),
            "timeoutSeconds": run.timeout_seconds,
            "deadline": run.deadline,
            "target": targets.first().cloned().unwrap_or(Value::Null),
            "targets": targets,
        })
    }

    /// Starts the phase's hook: its first call.
    pub fn start_hook(&mut self, phase: HookPhase, now: Timestamp) -> Result<(), Error> {
        let hook = self.traffic_hook(phase).cloned().ok_or_else(|| {
            Error::internal(format!(
                "the state machine ran the {} hook, and the request has none",
                phase.as_str()
            ))
        })?;
        let ready = match phase {
            HookPhase::PreTraffic => self.status == Status::Ready && self.step.is_none(),
            HookPhase::PostTraffic => self.all_shifted(),
        };
        if !ready {
            return Err(Error::internal(format!(
                "the {} hook was started with status {:?} at step {:?}",
                phase.as_str(),
                self.status,
                self.step
            )));
        }
        let mut run = HookRun {
            phase,
            function: hook.function.clone(),
            mode: hook.mode,
            next: match hook.mode {
                HookMode::Invoke => HookNext::Invoke,
                HookMode::Callback => HookNext::Callback,
            },
            calls: 0,
            started_at: now,
            deadline: now.plus_seconds(hook.timeout_seconds),
            timeout_seconds: hook.timeout_seconds,
            wait_seconds: 0,
            waited_seconds: 0,
            payload: Value::Null,
            answer: None,
            error: None,
        };
        run.payload = self.hook_payload(&run, Value::Null);
        self.hook_run = Some(run);
        Ok(())
    }

    /// Reads what the hook's last call answered (or the error it ended in) and decides: passed,
    /// failed (the failure says why, the state machine rolls back), or call again after a wait.
    pub fn judge_hook(&mut self, now: Timestamp) -> Result<(), Error> {
        let mut run = self
            .hook_run
            .take()
            .ok_or_else(|| Error::internal("the hook's answer came without a hook run"))?;
        if !matches!(
            run.next,
            HookNext::Invoke | HookNext::Callback | HookNext::Wait
        ) {
            return Err(Error::internal(format!(
                "the hook's answer came after it was judged {:?}",
                run.next
            )));
        }
        run.calls += 1;
        let said = match (run.error.take(), run.answer.take()) {
            (Some(error), _) => Said::Failed(why_it_failed(&run, &error)),
            (None, Some(answer)) => match parse_answer(&answer.payload) {
                Ok(payload) => read_answer(run.mode, &payload),
                Err(why) => Said::Failed(why),
            },
            (None, None) => {
                self.hook_run = Some(run);
                return Err(Error::internal(
                    "the hook's call left neither answer nor error",
                ));
            }
        };
        let hook = format!("{} hook {}", run.phase.as_str(), run.function);
        let elapsed = run.elapsed(now);
        let took = if run.calls > 1 {
            format!(
                " after {} calls over {}",
                run.calls,
                format_seconds(elapsed)
            )
        } else {
            String::new()
        };
        match said {
            Said::Passed(note) => {
                run.next = HookNext::Passed;
                let note = note.map_or(String::new(), |n| format!(" ({n})"));
                self.record(now, format!("{hook} passed{took}{note}"));
            }
            Said::Failed(why) => self.fail_hook(&mut run, &why),
            Said::InProgress { .. }
                if elapsed >= run.timeout_seconds || run.calls >= MAX_HOOK_CALLS =>
            {
                let why = format!(
                    "it was still in progress after {} ({} calls; its timeout is {})",
                    format_seconds(elapsed),
                    run.calls,
                    format_seconds(run.timeout_seconds)
                );
                self.fail_hook(&mut run, &why);
            }
            Said::InProgress {
                retry_after,
                state,
                message,
            } => {
                let left = run.timeout_seconds - elapsed;
                run.wait_seconds = retry_after
                    .max(hook_call_gap(run.timeout_seconds))
                    .min(left);
                run.waited_seconds += run.wait_seconds;
                run.next = HookNext::Wait;
                let message = message.map_or(String::new(), |m| {
                    format!(": {}", clip(&m, MAX_REASON_CHARS))
                });
                self.record(
                    now,
                    format!(
                        "{hook} in progress (call {}){message}; called again in {}",
                        run.calls,
                        format_seconds(run.wait_seconds)
                    ),
                );
                run.payload = self.hook_payload(&run, state);
            }
        }
        self.hook_run = Some(run);
        Ok(())
    }

    fn fail_hook(&mut self, run: &mut HookRun, why: &str) {
        let hook = format!("{} hook {}", run.phase.as_str(), run.function);
        let cause = match run.phase {
            HookPhase::PreTraffic => format!("{hook} failed, so no traffic was shifted: {why}"),
            HookPhase::PostTraffic => format!("{hook} failed: {why}"),
        };
        run.next = HookNext::Failed;
        self.failure = Some(Failure::new(
            ErrorName::HookFailed,
            clip(&cause, MAX_CAUSE_CHARS),
        ));
    }
}

/// Why a call ended in an error: it timed out, reported a failure (SendTaskFailure), raised one,
/// or Lambda could not invoke it.
fn why_it_failed(run: &HookRun, error: &Failure) -> String {
    let name = error.error.as_str();
    if name == "States.Timeout" {
        return match run.mode {
            HookMode::Callback => format!(
                "it did not report within its timeout of {} (SendTaskSuccess or SendTaskFailure with \
                 the taskToken it was handed)",
                format_seconds(run.timeout_seconds)
            ),
            HookMode::Invoke => format!(
                "its invocation did not return within {}",
                format_seconds(HOOK_INVOCATION_SECONDS)
            ),
        };
    }
    let plain = error.plain_cause();
    // A Rust panic's error type is a type's path ("&alloc::boxed::Box<dyn ...>"): its message
    // says it all.
    let named = !name.contains("::") && !name.contains('<');
    let what = if plain.trim().is_empty() && name.trim().is_empty() {
        "a failure without an error or a cause".to_string()
    } else if plain.trim().is_empty() {
        name.to_string()
    } else if !named || plain.starts_with(name) {
        plain
    } else {
        format!("{name}: {plain}")
    };
    // The function's own error comes as Lambda's error JSON; a report (SendTaskFailure) as the
    // reporter wrote it.
    let lambda_error =
        serde_json::from_str::<Value>(&error.cause).is_ok_and(|v| v.get("errorMessage").is_some());
    let how = match run.mode {
        HookMode::Callback
            if !lambda_error && !name.starts_with("Lambda.") && !name.starts_with("States.") =>
        {
            "it reported"
        }
        _ => "it raised",
    };
    format!("{how} {}", clip(&what, MAX_CAUSE_CHARS - 300))
}

/// The answer's text as JSON, within sluice's bounds.
fn parse_answer(text: &str) -> Result<Value, String> {
    if text.len() > MAX_HOOK_ANSWER_BYTES {
        return Err(format!(
            "it answered {} bytes, more than the {MAX_HOOK_ANSWER_BYTES} sluice reads; keep the answer \
             small (a status, a reason, a state of an id or a cursor)",
            text.len()
        ));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| {
        format!(
            "it answered what sluice cannot read as JSON ({})",
            clip(&e.to_string(), 120)
        )
    })
}

/// Reads an answer: anything but an object, or an object without a status or with "Succeeded",
/// passes; "Failed" fails with its reason; "InProgress" (an invoked hook only) asks to be called
/// again. Any other status is not understood, and fails.
fn read_answer(mode: HookMode, payload: &Value) -> Said {
    let not_understood = |what: String| {
        let shape = match mode {
            HookMode::Invoke => {
                "a hook returns nothing, or {\"status\": \"Succeeded\" | \"Failed\" | \"InProgress\", \
                 \"reason\": ..., \"retryAfterSeconds\": N, \"state\": ...}"
            }
            HookMode::Callback => {
                "a callback hook reports SendTaskSuccess with nothing or {\"status\": \"Succeeded\" | \
                 \"Failed\", \"reason\": ...}, or SendTaskFailure"
            }
        };
        Said::Failed(format!("it answered {what}; {shape}"))
    };
    let object = match payload {
        Value::Object(o) => o,
        // A hook that returns something else (a string, a number, a list) passes, as returning
        // always did: only an object speaks the answers' language.
        _ => return Said::Passed(None),
    };
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_string);
    // The statuses are read whatever their case; "fail", "failure" and "error" fail too. Another
    // status passes, noted: a hook that returns what the function it tested answered
    // (`{"status": "accepted"}`) passed before hooks had answers, and still does.
    let status = match object.get("status") {
        None => return Said::Passed(None),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(other) => return not_understood(format!("status {}", clip(&other.to_string(), 80))),
    };
    match status.as_str() {
        "succeeded" => Said::Passed(None),
        "failed" | "fail" | "failure" | "error" => Said::Failed(format!(
            "it answered {}: {}",
            clip(object["status"].as_str().unwrap_or("Failed"), 40),
            clip(
                &text("reason").unwrap_or_else(|| "no reason given".into()),
                MAX_REASON_CHARS
            )
        )),
        "inprogress" if mode == HookMode::Invoke => {
            let retry_after = match object.get("retryAfterSeconds") {
                None => DEFAULT_RETRY_AFTER_SECONDS,
                Some(n) => match n.as_f64() {
                    // 30.0, as Python's arithmetic writes it, is 30; 2.5 waits 3.
                    Some(f) if (1.0..=1e9).contains(&f) => f.ceil() as u64,
                    _ => {
                        return not_understood(format!(
                            "retryAfterSeconds {}, not a whole number of seconds from 1",
                            clip(&n.to_string(), 40)
                        ));
                    }
                },
            };
            let state = object.get("state").cloned().unwrap_or(Value::Null);
            let size = state.to_string().len();
            if size > MAX_HOOK_STATE_BYTES {
                return Said::Failed(format!(
                    "it answered InProgress with a state of {size} bytes, more than the {MAX_HOOK_STATE_BYTES} \
                     sluice carries between calls; keep the state small (an id, a cursor) and the rest elsewhere"
                ));
            }
            Said::InProgress {
                retry_after,
                state,
                message: text("message").or_else(|| text("reason")),
            }
        }
        "inprogress" => not_understood("InProgress".to_string()),
        _ => Said::Passed(Some(format!(
            "it answered status {}, which is not Succeeded, Failed or InProgress: read as passed",
            clip(&object["status"].to_string(), 40)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_target, t};

    fn with_hooks(pre: TrafficHook, post: Option<TrafficHook>) -> Deployment {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.hooks.pre_traffic = Some(pre);
        d.hooks.post_traffic = post;
        d
    }

    fn invoked(timeout: u64) -> TrafficHook {
        TrafficHook {
            timeout_seconds: timeout,
            ..TrafficHook::invoked(crate::testing::function("smoke"))
        }
    }

    fn answer(d: &mut Deployment, payload: Value, now: Timestamp) {
        d.hook_run.as_mut().unwrap().answer = Some(HookAnswer {
            payload: payload.to_string(),
        });
        d.judge_hook(now).unwrap();
    }

    fn run(d: &Deployment) -> &HookRun {
        d.hook_run.as_ref().unwrap()
    }

    #[test]
    fn the_payload_says_what_is_tested() {
        let mut d = with_hooks(invoked(3600), None);
        d.targets[0].function_arn = Some("arn:aws:lambda:us-east-1:1:function:orders".into());
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        let p = &run(&d).payload;
        assert_eq!(run(&d).next, HookNext::Invoke);
        assert_eq!(p["phase"], "PreTraffic");
        assert_eq!(p["mode"], "invoke");
        assert_eq!(p["call"], 1);
        assert_eq!(p["step"], 0);
        assert_eq!(p["weight"], 0.0);
        assert_eq!(p["deploymentId"], d.deployment_id);
        assert_eq!(p["target"]["functionName"], "orders");
        assert_eq!(p["target"]["alias"], "live");
        assert_eq!(p["target"]["stableVersion"], "3");
        assert_eq!(p["target"]["newVersion"], "4");
        assert_eq!(
            p["target"]["newVersionArn"],
            "arn:aws:lambda:us-east-1:1:function:orders:4"
        );
        assert_eq!(p["targets"][0]["newVersion"], p["target"]["newVersion"]);
        // What traffic hooks were handed before, for the hooks written then.
        assert_eq!(p["targets"][0]["targetVersion"], "4");
        assert_eq!(p["targets"][0]["previousVersion"], "3");
        assert_eq!(p["targets"][0]["action"], "Shift");
        assert_eq!(p["timeoutSeconds"], 3600);
        assert!(p["state"].is_null());
    }

    #[test]
    fn in_progress_calls_again_with_its_state_then_passes() {
        let mut d = with_hooks(invoked(3600), None);
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        for (i, at) in [(1u64, 1u32), (2, 122), (3, 243)] {
            answer(
                &mut d,
                json!({"status": "InProgress", "retryAfterSeconds": 5, "state": {"n": i}, "message": "warming"}),
                t(at),
            );
            let r = run(&d);
            assert_eq!(r.next, HookNext::Wait);
            assert_eq!(
                r.wait_seconds, 120,
                "an hour's hook is called at most every 2 minutes"
            );
            assert_eq!(r.payload["state"], json!({"n": i}));
            assert_eq!(r.payload["call"], i + 1);
        }
        assert!(
            d.history.iter().any(|e| e
                .message
                .contains("in progress (call 2): warming; called again in 2m")),
            "{:?}",
            d.history
        );
        answer(&mut d, json!({"status": "Succeeded"}), t(364));
        assert_eq!(run(&d).next, HookNext::Passed);
        assert!(d.failure.is_none());
        assert!(
            d.history
                .last()
                .unwrap()
                .message
                .ends_with("passed after 4 calls over 6m4s")
        );
    }

    #[test]
    fn a_short_timeout_keeps_the_asked_retry_and_never_waits_past_its_deadline() {
        let mut d = with_hooks(invoked(20), None);
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        answer(
            &mut d,
            json!({"status": "InProgress", "retryAfterSeconds": 2}),
            t(1),
        );
        assert_eq!(run(&d).wait_seconds, 2);
        answer(
            &mut d,
            json!({"status": "InProgress", "retryAfterSeconds": 60}),
            t(5),
        );
        assert_eq!(run(&d).wait_seconds, 15, "clipped to the deadline");
        answer(&mut d, json!({"status": "InProgress"}), t(20));
        assert_eq!(run(&d).next, HookNext::Failed);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "HookFailed");
        assert!(
            f.cause.starts_with("PreTraffic hook smoke failed, so no traffic was shifted: it was still in progress after 20s (3 calls; its timeout is 20s)"),
            "{}",
            f.cause
        );
    }

    #[test]
    fn failed_errors_and_strange_answers_fail_with_their_reason() {
        let cases = [
            (
                json!({"status": "Failed", "reason": "p99 900 ms"}),
                "it answered Failed: p99 900 ms",
            ),
            (
                json!({"status": "Failed"}),
                "it answered Failed: no reason given",
            ),
            (
                json!({"status": "failed", "reason": "x"}),
                "it answered failed: x",
            ),
            (
                json!({"status": "ERROR"}),
                "it answered ERROR: no reason given",
            ),
            (json!({"status": 3}), "it answered status 3"),
            (
                json!({"status": "InProgress", "retryAfterSeconds": 0}),
                "retryAfterSeconds 0",
            ),
            (
                json!({"status": "InProgress", "retryAfterSeconds": "5"}),
                "retryAfterSeconds \"5\"",
            ),
            (
                json!({"status": "InProgress", "state": "x".repeat(9000)}),
                "a state of 9002 bytes",
            ),
        ];
        for (payload, says) in cases {
            let mut d = with_hooks(invoked(3600), None);
            d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
            answer(&mut d, payload.clone(), t(1));
            assert_eq!(run(&d).next, HookNext::Failed, "{payload}");
            let cause = d.failure.unwrap().cause;
            assert!(cause.contains(says), "{payload}: {cause}");
        }
        for (payload, passes) in [
            (Value::Null, true),
            (json!({}), true),
            (json!({"ok": 1}), true),
        ] {
            let mut d = with_hooks(invoked(3600), None);
            d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
            answer(&mut d, payload.clone(), t(1));
            assert_eq!(run(&d).next == HookNext::Passed, passes, "{payload}");
            if payload == json!({"status": "accepted"}) {
                let said = &d.history.last().unwrap().message;
                assert!(said.ends_with("(it answered status \"accepted\", which is not Succeeded, Failed or InProgress: read as passed)"), "{said}");
            }
        }
    }

    /// An answer sluice cannot read fails the hook, never the document (rollback reads it next).
    #[test]
    fn answers_too_deep_or_too_large_fail_the_hook_not_the_document() {
        for (text, says) in [
            ("[".repeat(200) + &"]".repeat(200), "cannot read as JSON"),
            (
                format!(
                    "{{\"status\": \"Succeeded\", \"x\": \"{}\"}}",
                    "y".repeat(20_000)
                ),
                "more than the 16384",
            ),
            ("{\"status\": ".to_string(), "cannot read as JSON"),
        ] {
            let mut d = with_hooks(invoked(3600), None);
            d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
            d.hook_run.as_mut().unwrap().answer = Some(HookAnswer { payload: text });
            d.judge_hook(t(1)).unwrap();
            assert_eq!(run(&d).next, HookNext::Failed);
            let cause = d.failure.clone().unwrap().cause;
            assert!(cause.contains(says), "{cause}");
            assert!(Deployment::from_json(d.to_json()).is_ok());
        }
        let mut d = with_hooks(invoked(3600), None);
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        d.hook_run.as_mut().unwrap().answer = Some(HookAnswer {
            payload: String::new(),
        });
        d.judge_hook(t(1)).unwrap();
        assert_eq!(run(&d).next, HookNext::Passed, "an empty result is nothing");
    }

    #[test]
    fn a_callback_hooks_endings_are_told_apart() {
        let callback = TrafficHook {
            mode: HookMode::Callback,
            timeout_seconds: 7200,
            ..TrafficHook::invoked(crate::testing::function("qa"))
        };
        let error = |name: &str, cause: &str| Failure {
            error: name.to_string().into(),
            cause: cause.into(),
        };
        for (ended, says) in [
            (
                error("States.Timeout", ""),
                "qa failed: it did not report within its timeout of 2h",
            ),
            (
                error("QaRejected", "checkout button missing"),
                "qa failed: it reported QaRejected: checkout button missing",
            ),
            (
                error(
                    "Panic",
                    r#"{"errorType":"Panic","errorMessage":"index out of bounds"}"#,
                ),
                "it raised Panic: index out of bounds",
            ),
            (
                error(
                    "&alloc::boxed::Box<dyn core::any::Any + core::marker::Send>",
                    r#"{"errorType":"&alloc::boxed::Box<dyn core::any::Any + core::marker::Send>","errorMessage":"Lambda panicked: oops"}"#,
                ),
                "qa failed: it raised Lambda panicked: oops",
            ),
            (
                error("Lambda.ResourceNotFoundException", "Function not found"),
                "it raised Lambda.ResourceNotFoundException: Function not found",
            ),
        ] {
            let mut d = with_hooks(invoked(60), Some(callback.clone()));
            d.step = Some(1);
            d.weight = crate::Weight::FULL;
            d.status = Status::AllShifted;
            d.start_hook(HookPhase::PostTraffic, t(0)).unwrap();
            assert_eq!(run(&d).next, HookNext::Callback);
            assert_eq!(run(&d).payload["step"], 2);
            assert_eq!(run(&d).payload["weight"], 100.0);
            d.hook_run.as_mut().unwrap().error = Some(ended);
            d.judge_hook(t(9)).unwrap();
            assert_eq!(run(&d).next, HookNext::Failed);
            let cause = d.failure.clone().unwrap().cause;
            assert!(cause.contains(says), "{cause}");
            assert!(cause.starts_with("PostTraffic hook qa failed: "), "{cause}");
        }
        let mut d = with_hooks(invoked(60), Some(callback));
        d.step = Some(1);
        d.weight = crate::Weight::FULL;
        d.status = Status::AllShifted;
        d.start_hook(HookPhase::PostTraffic, t(0)).unwrap();
        answer(&mut d, json!({"status": "InProgress"}), t(1));
        assert_eq!(run(&d).next, HookNext::Failed, "a callback reports once");
    }

    #[test]
    fn a_hook_runs_only_where_the_plan_has_it() {
        let mut d = with_hooks(invoked(60), None);
        assert!(
            d.start_hook(HookPhase::PostTraffic, t(0)).is_err(),
            "no PostTraffic hook"
        );
        d.step = Some(0);
        assert!(
            d.start_hook(HookPhase::PreTraffic, t(0)).is_err(),
            "traffic moved already"
        );
        assert!(d.judge_hook(t(1)).is_err(), "nothing to judge");
    }

    /// Where Waits are shorter than asked (the local stack scales them), the time asked counts.
    #[test]
    fn the_waits_asked_count_when_the_clock_says_less() {
        let mut d = with_hooks(invoked(10), None);
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        let mut calls = 0;
        while run(&d).next != HookNext::Failed {
            answer(
                &mut d,
                json!({"status": "InProgress", "retryAfterSeconds": 1}),
                t(1),
            );
            calls += 1;
            assert!(calls <= 11, "{calls} calls");
        }
        let cause = d.failure.unwrap().cause;
        assert!(
            cause.contains("still in progress after 10s (11 calls"),
            "{cause}"
        );
    }

    #[test]
    fn the_calls_are_bounded_whatever_the_hook_asks() {
        let mut d = with_hooks(invoked(3600), None);
        d.start_hook(HookPhase::PreTraffic, t(0)).unwrap();
        let mut now = 0u32;
        let mut calls = 0;
        while run(&d).next == HookNext::Invoke || run(&d).next == HookNext::Wait {
            now += run(&d).wait_seconds as u32;
            answer(
                &mut d,
                json!({"status": "InProgress", "retryAfterSeconds": 1}),
                t(now),
            );
            calls += 1;
        }
        assert!(calls as u64 <= MAX_HOOK_CALLS, "{calls} calls");
        assert_eq!(run(&d).next, HookNext::Failed);
    }
}
