//! sluice's own health as CloudWatch metrics, written in the Embedded Metric Format: one JSON line
//! on standard output, which Lambda sends to the functions' log group and CloudWatch Logs turns
//! into metrics. No API call, nothing to wait for, nothing that can fail a phase. The stack's
//! dashboard (template.yaml, `SluiceDashboard`) draws these and AWS's own metrics; a contract
//! test holds the two to the same names.
//!
//! Every metric is in the `sluice` namespace with one dimension, `Stack` (the stack's name, from
//! `SLUICE_STACK_NAME`), so that two sluice stacks in one account keep their figures apart.

use sluice_core::deployment::Lifecycle;
use sluice_core::time::Timestamp;

pub const NAMESPACE: &str = "sluice";

/// A phase function failed because AWS or sluice did (`TransientAws`, `AwsFailure`,
/// `InternalError`; dimension `Phase` too): the state machine retried it or caught
/// it; either way worth a look when it climbs. A refusal or a verdict is not counted here.
pub const PHASE_FAILED: &str = "PhaseFailed";

/// How long the rollback phase took to put every alias back (its own tries of AWS included):
/// the last leg of a rollback (an alarm's event to this phase's start is the state machine's, a
/// second or two: docs/benchmarks.md, time to rollback).
pub const ROLLBACK_SECONDS: &str = "RollbackSeconds";

/// Every metric name sluice writes: one count per lifecycle event (docs/events.md: each is
/// counted whether or not events go to a bus), and the two above.
pub fn names() -> Vec<&'static str> {
    Lifecycle::ALL
        .iter()
        .map(|l| l.detail_type())
        .chain([PHASE_FAILED, ROLLBACK_SECONDS])
        .collect()
}

/// A unit CloudWatch knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// The stack's name, as the template gives every function (`-` when it does not: a test).
fn stack() -> String {
    std::env::var("SLUICE_STACK_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "-".to_string())
}

/// One metric as an Embedded Metric Format line, with `Stack` and the extra dimensions given.
pub fn line(
    name: &str,
    unit: Unit,
    value: f64,
    dimensions: &[(&str, &str)],
    stack: &str,
    at: Timestamp,
) -> String {
    let mut keys: Vec<&str> = vec!["Stack"];
    keys.extend(dimensions.iter().map(|(k, _)| *k));
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": at.unix_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        },
        "Stack": stack,
        // Lambda filters a JSON log line by its level (none reads as INFO): a metric is written
        // at the function's own level, so `LogLevel` WARN or ERROR does not drop it.
        "level": log_level(),
        name: value,
    });
    for (k, v) in dimensions {
        line[*k] = serde_json::json!(v);
    }
    line.to_string()
}

/// The function's application log level (`AWS_LAMBDA_LOG_LEVEL`), INFO when Lambda sets none.
fn log_level() -> String {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(|| "INFO".to_string())
        .to_ascii_uppercase()
}

/// Writes one metric (standard output: Lambda's log, where CloudWatch Logs extracts it). A
/// failed write is dropped: a metric never fails a phase.
pub fn emit(name: &str, unit: Unit, value: f64, dimensions: &[(&str, &str)]) {
    use std::io::Write;
    let text = line(
        name,
        unit,
        value,
        dimensions,
        &stack(),
        crate::clock::now_precise(),
    );
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Counts one lifecycle event.
pub fn count(kind: &str) {
    emit(kind, Unit::Count, 1.0, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The line as CloudWatch's Embedded Metric Format specification has it: the metric's value
    /// and every dimension at the root, named by the `_aws` directive.
    #[test]
    fn a_line_is_an_embedded_metric() {
        let at = Timestamp::parse("2026-12-07T10:00:00Z").unwrap();
        let v: Value = serde_json::from_str(&line(
            PHASE_FAILED,
            Unit::Count,
            1.0,
            &[("Phase", "shift")],
            "sluice",
            at,
        ))
        .unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], at.unix_millis());
        assert!(
            v["level"].is_string(),
            "Lambda filters a line without a level as INFO"
        );
        assert_eq!(directive["Namespace"], "sluice");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Stack", "Phase"]])
        );
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([{"Name": "PhaseFailed", "Unit": "Count"}])
        );
        assert_eq!(
            (&v["Stack"], &v["Phase"], &v["PhaseFailed"]),
            (
                &serde_json::json!("sluice"),
                &serde_json::json!("shift"),
                &serde_json::json!(1.0)
            )
        );
    }

    #[test]
    fn every_lifecycle_event_is_a_metric() {
        let names = names();
        assert_eq!(names.len(), Lifecycle::ALL.len() + 2);
        assert!(names.contains(&"DeploymentRolledBack") && names.contains(&"SafetyNetRepaired"));
    }
}
