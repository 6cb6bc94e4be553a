//! How large a deployment document may grow. Step Functions fails an execution whose state
//! output passes 256 KiB, and no Catch sees that (`States.DataLimitExceeded`): every text that
//! comes from outside (alarm reasons, errors) is clipped, and the history is capped.

/// An alarm's reason as kept in a verdict.
pub const MAX_REASON_CHARS: usize = 256;
/// A failure's cause (Step Functions truncates causes at 32,768).
pub const MAX_CAUSE_CHARS: usize = 4_096;
/// One line of the deployment's history.
pub const MAX_EVENT_CHARS: usize = 1_024;
/// Lines of history kept: the first ones (what was planned) and the latest.
pub const MAX_HISTORY_EVENTS: usize = 60;
/// History lines always kept from the start: one per target and the plan.
pub const HISTORY_HEAD: usize = 12;

/// A request field as a refusal names it (an unknown field's name comes from the input).
pub const MAX_FIELD_CHARS: usize = 100;
/// A piece of the request a refusal quotes (a name, a duration, an unknown field).
pub const MAX_QUOTED_CHARS: usize = 80;
/// A whole refusal, "field: reason": with the request it refuses, it must stay far below Step
/// Functions' 256 KiB, whatever the request's size.
pub const MAX_REFUSAL_BYTES: usize = 1_000;

/// `text` as a refusal quotes it: in JSON quotes and escapes (so a newline cannot forge a line),
/// clipped to [`MAX_QUOTED_CHARS`].
pub fn quote(text: &str) -> String {
    let clipped = clip(text, MAX_QUOTED_CHARS);
    serde_json::to_string(&clipped).unwrap_or(clipped)
}

/// Any JSON value as a refusal quotes it, clipped like [`quote`].
pub fn quote_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => quote(s),
        other => clip(&other.to_string(), MAX_QUOTED_CHARS),
    }
}

/// A message whose quoted runs (`"..."`, `` `...` ``) are clipped like [`quote`]: serde's own
/// messages ("unknown field `...`", "invalid type: string \"...\"") echo the input whole.
pub fn clip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(2 * MAX_REFUSAL_BYTES));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = if rest.as_bytes()[open] == b'"' {
            '"'
        } else {
            '`'
        };
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        let mut escaped = false;
        let close = body.char_indices().find_map(|(i, c)| {
            let closes = c == quote && !escaped;
            escaped = quote == '"' && c == '\\' && !escaped;
            closes.then_some(i)
        });
        let Some(close) = close else {
            out.push_str(&clip(body, MAX_QUOTED_CHARS));
            return out;
        };
        out.push_str(&clip(&body[..close], MAX_QUOTED_CHARS));
        out.push(quote);
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `text` cut to at most `max` bytes on a character boundary, saying that it was cut.
pub fn clip_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    const NOTE: &str = "... (clipped)";
    let mut end = max.saturating_sub(NOTE.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{NOTE}", &text[..end])
}

/// `text` cut to at most `max` characters, saying how much was cut.
pub fn clip(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let note = format!("... ({} more characters)", count - max);
    let keep = max.saturating_sub(note.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(&note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::{AlarmReading, AlarmState};
    use crate::deployment::{CheckedTarget, Deployment, ResolvedTarget, RollbackOutcome};
    use crate::failure::Failure;
    use crate::request::Request;
    use crate::testing::{EXECUTION, v};
    use crate::time::Timestamp;
    use serde_json::json;

    const LIMIT: usize = 200 * 1024;

    fn size(d: &Deployment) -> usize {
        d.to_json().to_string().len()
    }

    /// The largest request validate accepts (100 steps, 10 targets, 50 alarms with 255-character
    /// names, callback hooks), breached by every alarm with a 1,023-character reason, then rolled back:
    /// every document on the way stays under 200 KiB (Step Functions' limit is 256).
    #[test]
    fn the_largest_legal_deployment_stays_small_through_a_breach_and_a_rollback() {
        let name = |i: usize| format!("{i:03}{}", "n".repeat(252));
        // Function names up to Lambda's 64 characters, aliases up to 128.
        let alarms: Vec<String> = (0..50).map(name).collect();
        let long_fn = |i: usize| format!("f{i}-{}", "x".repeat(60));
        let targets: Vec<_> = (0..10)
            .map(|i| json!({"functionName": long_fn(i), "alias": format!("{i}{}", "a".repeat(127)), "targetVersion": "2"}))
            .collect();
        let steps: Vec<_> = (1..=99)
            .map(|w| json!({"weight": w, "bake": "1h"}))
            .chain([json!({"weight": 100})])
            .collect();
        let request = Request::parse(&json!({
            "targets": targets,
            "strategy": {"steps": steps},
            "alarms": alarms,
            // Callback hooks: an invoked hook's calls take history a plan this long has not left.
            "hooks": {
                "preTraffic": {"function": "h".repeat(140), "mode": "callback"},
                "postTraffic": {"function": "p".repeat(140), "mode": "callback"}
            },
            "checkInterval": "1h"
        }))
        .expect("the largest legal request");
        let resolved = (0..10)
            .map(|i| {
                let checked = CheckedTarget {
                    function_arn: format!(
                        "arn:aws:lambda:us-east-1:123456789012:function:{}",
                        long_fn(i)
                    ),
                    alias: Some(crate::AliasSnapshot {
                        routing: crate::Routing::only(v("1")),
                        revision_id: "0".repeat(36),
                    }),
                    version: None,
                };
                ResolvedTarget::of(checked, v("2"))
            })
            .collect();
        let at = Timestamp::parse("2026-11-27T00:00:00Z").unwrap();
        let mut d = Deployment::new(&request, "d-1", EXECUTION, at, resolved).unwrap();
        // The PreTraffic hook's run stays in the document from here on: its payload (every
        // target, the first twice) with the most state a hook may carry, and, between a call
        // and its judging, the largest answer sluice reads and a caught error's 32,768 characters.
        d.start_hook(crate::deployment::HookPhase::PreTraffic, at)
            .unwrap();
        let hook_run = d.hook_run.as_mut().unwrap();
        hook_run.payload["state"] = json!("s".repeat(crate::deployment::MAX_HOOK_STATE_BYTES));
        hook_run.answer = Some(crate::deployment::HookAnswer {
            payload: "a".repeat(crate::deployment::MAX_HOOK_ANSWER_BYTES),
        });
        hook_run.error = Some(Failure {
            error: "HookCrashed".into(),
            cause: "x".repeat(32_768),
        });
        let mut largest = size(&d);
        let hook_run = d.hook_run.as_mut().unwrap();
        (hook_run.answer, hook_run.error) = (None, None);
        let readings = |state| -> Vec<AlarmReading> {
            request
                .alarms
                .iter()
                .map(|a| AlarmReading {
                    name: a.clone(),
                    state,
                    reason: "r".repeat(1023),
                })
                .collect()
        };
        for step in 0..99 {
            d.record_shift(step, vec!["1".repeat(36); 10], at).unwrap();
            largest = largest.max(size(&d));
            d.record_check(&readings(AlarmState::Ok), &[], at).unwrap();
            largest = largest.max(size(&d));
        }
        d.record_check(&[], &[], at).ok();
        d.status = crate::Status::Baking;
        d.record_check(&readings(AlarmState::Alarm), &[], at)
            .unwrap();
        assert_eq!(d.status, crate::Status::AlarmBreached);
        largest = largest.max(size(&d));
        assert!(d.failure.clone().unwrap().cause.chars().count() <= MAX_CAUSE_CHARS);
        // The biggest failure a Catch can write beside the document: a cause of 32,768
        // characters (Step Functions' own limit), as a failed hook's may be.
        let mut caught = d.to_json();
        caught["failure"] = serde_json::to_value(Failure {
            error: "HookFailed".into(),
            cause: "x".repeat(32_768),
        })
        .unwrap();
        largest = largest.max(caught.to_string().len());
        let conflicts = (0..10)
            .map(|_| RollbackOutcome::Conflict("c".repeat(2_000)))
            .collect();
        d.record_rollback(conflicts, at).unwrap();
        largest = largest.max(size(&d));
        eprintln!("largest document: {largest} bytes");
        assert!(largest < LIMIT, "a document reached {largest} bytes");
        assert!(d.history.len() <= MAX_HISTORY_EVENTS);
        assert!(d.history_dropped > 0);
        assert!(d.failure.unwrap().cause.chars().count() <= MAX_CAUSE_CHARS);
    }

    #[test]
    fn quotes_are_short_and_escaped_whatever_the_input() {
        assert_eq!(quote("orders"), "\"orders\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let q = quote(&"x".repeat(200_000));
        assert!(
            q.len() < 100 && q.ends_with("... (199920 more characters)\""),
            "{q}"
        );
        assert_eq!(quote_json(&json!([1, 2])), "[1,2]");
        assert!(quote_json(&json!(vec![1; 100_000])).len() < 100);
    }

    #[test]
    fn serde_messages_keep_their_words_and_lose_the_echo() {
        let key = "k".repeat(10_000);
        let m = clip_quoted(&format!(
            "unknown field `{key}`, expected one of `targets`, `strategy`"
        ));
        assert!(m.len() < 200, "{m}");
        assert!(
            m.ends_with("more characters)`, expected one of `targets`, `strategy`"),
            "{m}"
        );
        let m = clip_quoted(&format!(
            "invalid type: string \"a\\\"{}\", expected a sequence",
            "v".repeat(10_000)
        ));
        assert!(
            m.ends_with("more characters)\", expected a sequence"),
            "{m}"
        );
        assert_eq!(clip_quoted("no quotes"), "no quotes");
        assert!(
            clip_quoted(&format!("open `{}", "é".repeat(500)))
                .chars()
                .count()
                < 100
        );
    }

    #[test]
    fn clips_bytes_on_character_boundaries() {
        assert_eq!(clip_bytes("short", 10), "short");
        let c = clip_bytes(&"é".repeat(1_000), 1_000);
        assert!(c.len() <= 1_000 && c.ends_with("... (clipped)"), "{c}");
    }

    #[test]
    fn clips_on_character_boundaries_and_says_so() {
        assert_eq!(clip("short", 10), "short");
        let long = "é".repeat(100);
        let c = clip(&long, 40);
        assert_eq!(c.chars().count(), 40);
        assert!(c.ends_with("... (60 more characters)"), "{c}");
    }
}
