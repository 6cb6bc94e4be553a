//! Fixtures shared by sluice's tests (feature `testing`, never in the functions): versions,
//! routings, and hand-built documents at each phase of a deployment.

use crate::alarms::{AlarmReading, AlarmState};
use crate::deployment::{
    AliasSnapshot, CheckedTarget, Deployment, Failure, ResolvedTarget, Routing, Status,
};
use crate::request::Request;
use crate::weight::{Version, Weight};
use serde_json::{Value, json};

/// A version from a literal the test knows is valid.
pub fn v(n: &str) -> Version {
    Version::parse(n).expect("a valid version literal")
}

/// Version 1 with 10 % on version 2.
pub fn ten() -> Routing {
    Routing {
        version: v("1"),
        additional: Some((v("2"), Weight::from_percent(10.0).expect("10%"))),
    }
}

/// orders:live to version 4 with this strategy and these alarms, polled every 10 s.
pub fn request(strategy: Value, alarms: &[&str]) -> Request {
    Request::parse(&json!({
        "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "4"}],
        "strategy": strategy,
        "alarms": alarms,
        "pollInterval": "10s"
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
        "t0",
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
        "strategy": strategy
    }))
    .expect("a valid request");
    let resolved = revisions
        .iter()
        .zip(["a", "b"])
        .map(|(rev, f)| resolved(f, "1", rev, "2"))
        .collect();
    Deployment::new(&request, "d-1", EXECUTION, "t0", resolved).expect("a valid document")
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
        "strategy": "Canary10Percent5Minutes"
    }))
    .expect("a valid request");
    let resolved = vec![
        resolved("a", "1", "old", "2"),
        resolved("b", "1", "old", "2"),
        resolved("c", "1", "c", "1"),
    ];
    let mut d =
        Deployment::new(&request, "d-1", EXECUTION, "t0", resolved).expect("a valid document");
    d.record_shift(0, revisions.map(String::from).into(), "t1")
        .expect("step 1 exists");
    d.status = Status::AlarmBreached;
    d.failure = Some(Failure {
        error: "AlarmBreached".into(),
        cause: "alarm errors is in ALARM".into(),
    });
    d
}

/// a:live baking 10 % of version 2 for 30 s, with these alarms polled every 10 s.
pub fn baking(alarms: &[&str]) -> Deployment {
    let request = Request::parse(&json!({
        "targets": [{"functionName": "a", "alias": "live", "targetVersion": "2"}],
        "strategy": {"canary": {"percent": 10, "interval": "30s"}},
        "alarms": alarms,
        "pollInterval": "10s"
    }))
    .expect("a valid request");
    let mut d = Deployment::new(
        &request,
        "d-1",
        EXECUTION,
        "t0",
        vec![resolved("a", "1", "r", "2")],
    )
    .expect("a valid document");
    d.record_shift(0, vec!["r1".into()], "t1")
        .expect("step 1 exists");
    d
}

/// An alarm as CloudWatch would report it.
pub fn reading(name: &str, state: AlarmState, reason: &str) -> AlarmReading {
    AlarmReading {
        name: name.into(),
        state,
        reason: reason.into(),
    }
}
