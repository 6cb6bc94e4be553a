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
    use crate::deployment::{CheckedTarget, Deployment, Failure, ResolvedTarget, RollbackOutcome};
    use crate::request::Request;
    use crate::testing::{EXECUTION, v};
    use serde_json::json;

    const LIMIT: usize = 200 * 1024;

    fn size(d: &Deployment) -> usize {
        d.to_json().to_string().len()
    }

    /// The largest request validate accepts (100 steps, 10 targets, 50 alarms with 255-character
    /// names, hooks), breached by every alarm with a 1,023-character reason, then rolled back:
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
            "hooks": {"preTraffic": "h".repeat(140), "postTraffic": "p".repeat(140)},
            "pollInterval": "1h"
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
        let mut d =
            Deployment::new(&request, "d-1", EXECUTION, "2026-11-27T00:00:00Z", resolved).unwrap();
        let mut largest = size(&d);
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
            d.record_shift(step, vec!["1".repeat(36); 10], "2026-11-27T00:00:00Z")
                .unwrap();
            largest = largest.max(size(&d));
            d.record_check(&readings(AlarmState::Ok), &[], "2026-11-27T00:00:00Z")
                .unwrap();
            largest = largest.max(size(&d));
        }
        d.record_check(&[], &[], "t").ok();
        d.status = crate::Status::Baking;
        d.record_check(&readings(AlarmState::Alarm), &[], "2026-11-27T00:00:00Z")
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
        d.record_rollback(conflicts, "2026-11-27T00:00:00Z")
            .unwrap();
        largest = largest.max(size(&d));
        eprintln!("largest document: {largest} bytes");
        assert!(largest < LIMIT, "a document reached {largest} bytes");
        assert!(d.history.len() <= MAX_HISTORY_EVENTS);
        assert!(d.history_dropped > 0);
        assert!(d.failure.unwrap().cause.chars().count() <= MAX_CAUSE_CHARS);
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
