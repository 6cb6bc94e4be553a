//! The corpus of bad requests (tests/corpus/bad-requests.json): each one is fed to validate as
//! the Lambda runtime hands it over (raw text, read by `sluice_aws::runtime::read_body`) and
//! must be refused as InvalidRequest naming its field, quickly, shortly, and before any write.
//!
//! An entry is `{"name", "class", "request" | "raw", "field", "reason"}`: `request` is any JSON,
//! `raw` is the request's text (for what JSON values cannot hold: 10,000 levels of nesting).
//! In every string, key and raw text `<<TEXT*N>>` stands for TEXT repeated N times.

use super::{Aws, validate};
use serde_json::{Map, Value};
use sluice_aws::fake::FakeAws;
use sluice_aws::runtime::{read_body, read_input};
use sluice_core::testing::{EXECUTION, t, v};
use sluice_core::{AlarmState, ErrorName, Routing, StartInput};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MAX_MESSAGE_BYTES: usize = 1024;
const MAX_ELAPSED: Duration = Duration::from_millis(100);
/// Every class of bad request the corpus must cover, each at least once.
const CLASSES: [&str; 16] = [
    "not-an-object",
    "missing",
    "unknown",
    "type",
    "range",
    "duration",
    "latest",
    "positional",
    "null",
    "duplicate",
    "qualifier",
    "foreign",
    "deep",
    "echo",
    "missing-in-aws",
    "provenance",
];

fn corpus() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/corpus/bad-requests.json"
    );
    let text = std::fs::read_to_string(path).expect("read the corpus");
    serde_json::from_str(&text).expect("the corpus is a JSON list")
}

/// `<<TEXT*N>>` replaced by TEXT repeated N times.
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find(">>").expect("an unclosed <<");
        let (unit, count) = after[..end].rsplit_once('*').expect("<<TEXT*N>>");
        out.push_str(&unit.repeat(count.parse().expect("a count")));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn expand_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(expand(s)),
        Value::Array(items) => Value::Array(items.iter().map(expand_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (expand(k), expand_value(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Where validate runs: orders (versions 1-3, live on 2), billing, the hook, an alarm.
fn aws() -> FakeAws {
    FakeAws::new()
        .function("orders", 3)
        .alias("orders", "live", Routing::only(v("2")))
        .function("billing", 1)
        .function("orders-pre", 1)
        .alarm("orders-errors", AlarmState::Ok)
}

/// What the state machine sends validate, as text: the execution input is `request`.
fn body(request: &str) -> String {
    format!(r#"{{"request": {request}, "deploymentId": "d-1", "executionArn": "{EXECUTION}"}}"#)
}

async fn run(aws: &FakeAws, body: &str) -> Result<sluice_core::Deployment, sluice_core::Error> {
    let ports = Aws {
        functions: aws,
        alarms: aws,
        ledger: aws,
        executions: aws,
    };
    let input = read_body(body.as_bytes(), StartInput::unreadable)?;
    validate(&ports, read_input("validate", input)?, t(0)).await
}

#[tokio::test]
async fn the_harness_accepts_a_good_request() {
    let good = r#"{"targets": [{"functionName": "orders", "alias": "live", "targetVersion": "3"},
                               {"functionName": "billing", "alias": "live"}],
                   "strategy": {"steps": [{"weight": 10, "bake": "5m"}, {"weight": 100}]},
                   "alarms": ["orders-errors"], "hooks": {"preTraffic": "orders-pre"},
                   "checkInterval": "1m"}"#;
    run(&aws(), &body(good)).await.expect("a good request");
}

#[tokio::test]
async fn every_bad_request_is_refused_naming_its_field_quickly_shortly_and_before_any_write() {
    let corpus = corpus();
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut longest, mut slowest) = ((0, String::new()), (Duration::ZERO, String::new()));
    for entry in &corpus {
        let text = |key: &str| entry[key].as_str().map(expand);
        let name = text("name").expect("a name");
        let class = text("class").expect("a class");
        let field = text("field").expect("a field");
        let reason = text("reason").expect("a reason");
        *classes.entry(class).or_default() += 1;
        let request = match (&entry.get("raw"), &entry.get("request")) {
            (Some(raw), None) => expand(raw.as_str().expect("raw is text")),
            (None, Some(request)) => expand_value(request).to_string(),
            _ => panic!("{name}: give request or raw"),
        };
        let aws = aws();
        aws.change_code("orders"); // so a target without a version would publish: a write
        let body = body(&request);
        let started = Instant::now();
        let result = run(&aws, &body).await;
        let elapsed = started.elapsed();
        let mut wrong = Vec::new();
        match &result {
            Ok(_) => wrong.push("accepted".to_string()),
            Err(e) => {
                if e.name != ErrorName::InvalidRequest {
                    wrong.push(format!("is {}", e.name));
                }
                if !e.message.starts_with(&format!("{field}: ")) {
                    wrong.push(format!("does not name {field:?}"));
                }
                if !e.message.contains(&reason) {
                    wrong.push(format!("does not say {reason:?}"));
                }
                if e.message.len() >= MAX_MESSAGE_BYTES {
                    wrong.push(format!("is {} bytes long", e.message.len()));
                }
                if e.message.len() > longest.0 {
                    longest = (e.message.len(), name.clone());
                }
            }
        }
        if elapsed >= MAX_ELAPSED {
            wrong.push(format!("took {elapsed:?}"));
        }
        if elapsed > slowest.0 {
            slowest = (elapsed, name.clone());
        }
        if !aws.writes().is_empty() {
            wrong.push(format!("wrote {:?}", aws.writes()));
        }
        if !wrong.is_empty() {
            let message = result.map_or_else(|e| e.to_string(), |_| "Ok".into());
            failures.push(format!(
                "{name}: {} — {}",
                wrong.join(", "),
                sluice_core::bounds::clip(&message, 300)
            ));
        }
    }
    eprintln!(
        "{} bad requests; longest refusal {} bytes ({}); slowest {:?} ({}); per class {classes:?}",
        corpus.len(),
        longest.0,
        longest.1,
        slowest.0,
        slowest.1
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad requests were not refused as they should be:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    assert!(corpus.len() >= 80, "only {} bad requests", corpus.len());
    for class in CLASSES {
        assert!(
            classes.contains_key(class),
            "no bad request of class {class}"
        );
    }
    let unknown: Vec<_> = classes
        .keys()
        .filter(|c| !CLASSES.contains(&c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "classes not listed in CLASSES: {unknown:?}"
    );
}
