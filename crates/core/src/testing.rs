//! Fixtures shared by sluice's tests (feature `testing`, never in the functions): names, times,
//! versions, routings, and hand-built documents at each phase of a deployment.

use crate::alarms::{AlarmReading, AlarmState};
use crate::deployment::{
    AliasSnapshot, CheckedTarget, Deployment, ResolvedTarget, Routing, Status,
};
use crate::error::ErrorName;
use crate::failure::Failure;
use crate::names::{AlarmName, AliasName, FunctionRef, Role};
use crate::request::Request;
use crate::time::Timestamp;
use crate::weight::{Version, Weight};
use serde_json::{Value, json};

/// A version from a literal the test knows is valid.
pub fn v(n: &str) -> Version {
    Version::parse(n).expect("a valid version literal")
}

/// The fixtures' clock: `n` seconds after 2026-11-27T10:00:00Z.
pub fn t(n: u32) -> Timestamp {
    Timestamp::from_unix_seconds(1_795_773_600 + i64::from(n))
}

/// A function reference from a literal the test knows is valid.
pub fn function(name: &str) -> FunctionRef {
    FunctionRef::parse(name, Role::Target).expect("a valid function literal")
}

/// An alias name from a literal the test knows is valid.
pub fn alias(name: &str) -> AliasName {
    AliasName::parse(name).expect("a valid alias literal")
}

/// An alarm name from a literal the test knows is valid.
pub fn alarm(name: &str) -> AlarmName {
    AlarmName::parse(name).expect("a valid alarm literal")
}

/// Alarm names from literals.
pub fn alarms(names: &[&str]) -> Vec<AlarmName> {
    names.iter().map(|n| alarm(n)).collect()
}

/// Version 1 with 10 % on version 2.
pub fn ten() -> Routing {
    Routing {
        version: v("1"),
        additional: Some((v("2"), Weight::from_percent(10.0).expect("10%"))),
    }
}

/// orders:live to version 4 with this strategy and these alarms, checked every 10 s, without
/// the canary analysis (its fixtures are `analysed`).
pub fn request(strategy: Value, alarms: &[&str]) -> Request {
    Request::parse(&json!({
        "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "4"}],
        "strategy": strategy,
        "alarms": alarms,
        "checkInterval": "10s",
        "analysis": false
    }))
    .expect("a valid request")
}

fn on(version: &str, revision_id: &str) -> AliasSnapshot {
    AliasSnapshot {
        routing: Routing::only(v(version)),
        revision_id: revision_id.into(),
    }
}

/// The execution the fixtures' deployments run in.
pub const EXECUTION: &str =
    "arn:aws:states:us-east-1:123456789012:execution:sluice-deployments:d-1";

/// The local ARN of a function named `name`.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// `function`'s alias, on `version` at `revision`, going to `target`.
pub fn resolved(function: &str, version: &str, revision: &str, target: &str) -> ResolvedTarget {
    let checked = CheckedTarget {
        function_arn: function_arn(function),
        alias: Some(on(version, revision)),
        version: None,
    };
    ResolvedTarget::of(checked, v(target))
}

/// A Ready document: orders:live from version 3 (revision r0) to version 4.
pub fn one_target(strategy: Value, alarms: &[&str]) -> Deployment {
    Deployment::new(
        &request(strategy, alarms),
        "d-1",
        EXECUTION,
        t(0),
        vec![resolved("orders", "3", "r0", "4")],
    )
    .expect("a valid document")
}

/// A Ready document: a:live and b:live from version 1 (at these revisions) to version 2.
pub fn two_targets(strategy: Value, revisions: [&str; 2]) -> Deployment {
    let request = Request::parse(&json!({
        "targets": [
            {"functionName": "a", "alias": "live", "targetVersion": "2"},
            {"functionName": "b", "alias": "live", "targetVersion": "2"}
        ],
        "strategy": strategy,
        "analysis": false
    }))
    .expect("a valid request");
    let resolved = revisions
        .iter()
        .zip(["a", "b"])
        .map(|(rev, f)| resolved(f, "1", rev, "2"))
        .collect();
    Deployment::new(&request, "d-1", EXECUTION, t(0), resolved).expect("a valid document")
}

/// a:live and b:live shifted to 10 % of version 2 (now at these revisions), c:live left
/// unchanged on version 1, then alarm `errors` fired.
pub fn breached(revisions: [&str; 2]) -> Deployment {
    let request = Request::parse(&json!({
        "targets": [
            {"functionName": "a", "alias": "live", "targetVersion": "2"},
            {"functionName": "b", "alias": "live", "targetVersion": "2"},
            {"functionName": "c", "alias": "live", "targetVersion": "1"}
        ],
        "strategy": "Canary10Percent5Minutes",
        "analysis": false
    }))
    .expect("a valid request");
    let resolved = vec![
        resolved("a", "1", "old", "2"),
        resolved("b", "1", "old", "2"),
        resolved("c", "1", "c", "1"),
    ];
    let mut d =
        Deployment::new(&request, "d-1", EXECUTION, t(0), resolved).expect("a valid document");
    d.record_shift(0, revisions.map(String::from).into(), t(1))
        .expect("step 1 exists");
    d.status = Status::AlarmBreached;
    d.failure = Some(Failure::new(
        ErrorName::AlarmBreached,
        "alarm errors is in ALARM",
    ));
    d
}

/// a:live baking 10 % of version 2 for 30 s, with these alarms checked every 10 s.
pub fn baking(alarms: &[&str]) -> Deployment {
    analysed(alarms, json!(false))
}

/// a:live (from version 1) baking 10 % of version 2 for 30 s, with these alarms and this
/// `analysis` block, checked every 10 s.
pub fn analysed(alarms: &[&str], analysis: Value) -> Deployment {
    let request = Request::parse(&json!({
        "targets": [{"functionName": "a", "alias": "live", "targetVersion": "2"}],
        "strategy": {"canary": {"percent": 10, "interval": "30s"}},
        "alarms": alarms,
        "checkInterval": "10s",
        "analysis": analysis
    }))
    .expect("a valid request");
    let mut d = Deployment::new(
        &request,
        "d-1",
        EXECUTION,
        t(0),
        vec![resolved("a", "1", "r", "2")],
    )
    .expect("a valid document");
    d.record_shift(0, vec!["r1".into()], t(1))
        .expect("step 1 exists");
    d
}

/// orders:live baking the first step of `strategy`, started at `started` and shifted at
/// `shifted` (RFC 3339 literals).
pub fn baking_at(strategy: &str, alarms: &[&str], started: &str, shifted: &str) -> Deployment {
    let mut d = one_target(json!(strategy), alarms);
    d.started_at = Timestamp::parse(started).expect("a valid time literal");
    d.record_shift(
        0,
        vec!["r1".into()],
        Timestamp::parse(shifted).expect("a valid time literal"),
    )
    .expect("step 1 exists");
    d
}

/// An alarm as CloudWatch would report it.
pub fn reading(name: &str, state: AlarmState, reason: &str) -> AlarmReading {
    AlarmReading {
        name: alarm(name),
        state,
        reason: reason.into(),
    }
}

/// A document with every field set that any shape of document may carry: a breached two-target
/// bake with hooks, alarms, a check, a stretched interval note and a dropped history line.
pub fn every_field() -> Deployment {
    let request = Request::parse(&json!({
        "targets": [
            {"functionName": "orders", "alias": "live", "targetVersion": "4"},
            {"functionName": "billing", "alias": "live", "targetVersion": "2"}
        ],
        "strategy": {"canary": {"percent": 10, "interval": "168h"}},
        "alarms": ["orders-errors", "orders-p99"],
        "hooks": {"preTraffic": "orders-pre", "postTraffic": "orders-post"}
    }))
    .expect("a valid request");
    let mut d = Deployment::new(
        &request,
        "d-1",
        EXECUTION,
        t(0),
        vec![
            resolved("orders", "3", "r0", "4"),
            resolved("billing", "1", "b0", "2"),
        ],
    )
    .expect("a valid document");
    d.start_hook(crate::deployment::HookPhase::PreTraffic, t(0))
        .expect("a PreTraffic hook");
    if let Some(run) = d.hook_run.as_mut() {
        run.answer = Some(crate::deployment::HookAnswer {
            payload: json!({"status": "Succeeded"}).to_string(),
        });
    }
    d.judge_hook(t(1)).expect("an answer");
    d.record_shift(0, vec!["r1".into(), "b1".into()], t(1))
        .expect("step 1 exists");
    d.record_check(
        &[
            reading("orders-errors", AlarmState::Alarm, "5 errors"),
            reading("orders-p99", AlarmState::InsufficientData, ""),
        ],
        &[],
        t(2),
    )
    .expect("a check while baking");
    d.history_dropped = 1;
    d.watch_lost = Some(crate::deployment::WatchLost {
        step: 0,
        at: t(1),
        failure: Failure {
            error: "States.Timeout".into(),
            cause: String::new(),
        },
    });
    d.safety_net_failed("orders:live could not be rolled back: Rate exceeded", t(3));
    d
}

/// CloudWatch's "CloudWatch Alarm State Change" event for alarm `errors` going to `state` at
/// `at` (as CloudWatch writes its timestamps), with `reason`.
pub fn alarm_event(state: &str, reason: &str, at: &str) -> Value {
    json!({
        "version": "0",
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "time": "2026-11-27T10:00:09Z",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors"],
        "detail": {
            "alarmName": "errors",
            "state": {"value": state, "reason": reason, "timestamp": at},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-27T09:00:00.000+0000"},
            "configuration": {"metrics": []}
        }
    })
}
