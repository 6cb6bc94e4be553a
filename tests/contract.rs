//! Contract tests: the state machine, the template and the Rust code agree with each other.
//! Linters do not look inside the ASL of an AWS::Serverless::StateMachine, so these do.

use serde_json::Value;
use sluice_core::{ErrorName, Status};
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use yaml_serde::Value as Yaml;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn asl_text() -> String {
    std::fs::read_to_string(root().join("statemachine/deployment.asl.json")).expect("read the ASL")
}

fn asl() -> Value {
    serde_json::from_str(&asl_text()).expect("the ASL is valid JSON")
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("read template.yaml");
    yaml_serde::from_str(&text).expect("template.yaml is valid YAML")
}

/// Every state of the machine, those inside a Parallel's branches too (names are unique
/// across the whole machine, which this checks).
fn states(asl: &Value) -> serde_json::Map<String, Value> {
    let mut all = serde_json::Map::new();
    for (name, state) in asl["States"].as_object().expect("States is an object") {
        for branch in state["Branches"].as_array().into_iter().flatten() {
            for (inner, s) in states(branch) {
                assert!(
                    all.insert(inner.clone(), s).is_none(),
                    "{inner} is named twice"
                );
            }
        }
        assert!(
            all.insert(name.clone(), state.clone()).is_none(),
            "{name} is named twice"
        );
    }
    all
}

/// Every `${Name}` placeholder in the ASL text.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("an unclosed ${ in the ASL");
        out.insert(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

fn resources(t: &Yaml) -> &yaml_serde::Mapping {
    t["Resources"].as_mapping().expect("Resources")
}

fn state_machine(t: &Yaml) -> &Yaml {
    resources(t)
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::Serverless::StateMachine"))
        .expect("a state machine resource")
}

#[test]
fn every_placeholder_has_a_substitution_and_every_substitution_is_used() {
    let t = template();
    let sm = state_machine(&t);
    assert_eq!(
        sm["Properties"]["DefinitionUri"].as_str(),
        Some("statemachine/deployment.asl.json")
    );
    let subs: BTreeSet<String> = sm["Properties"]["DefinitionSubstitutions"]
        .as_mapping()
        .expect("DefinitionSubstitutions")
        .keys()
        .map(|k| k.as_str().expect("string key").to_string())
        .collect();
    let used = placeholders(&asl_text());
    assert!(!used.is_empty());
    let missing: Vec<_> = used.difference(&subs).collect();
    assert!(
        missing.is_empty(),
        "placeholders without a DefinitionSubstitutions entry: {missing:?}"
    );
    let unused: Vec<_> = subs.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "substitutions the ASL never uses: {unused:?}"
    );
}

/// Every substitution is `!Ref <Function>.Version`: a published version of a function of the
/// template, so an upgrade of sluice leaves running executions on the code they started with.
#[test]
fn substitutions_are_published_versions_of_functions_of_the_template() {
    let t = template();
    let sm = state_machine(&t);
    for (key, value) in sm["Properties"]["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap()
    {
        let yaml = yaml_serde::to_string(value).unwrap();
        let reference = yaml.trim().strip_prefix("!Ref").map(str::trim);
        let function = reference
            .and_then(|r| r.strip_suffix(".Version"))
            .unwrap_or_else(|| panic!("{key:?} -> {yaml}: not !Ref <Function>.Version"));
        let res = &resources(&t)[function];
        assert_eq!(
            res["Type"].as_str(),
            Some("AWS::Serverless::Function"),
            "{key:?} -> {yaml}"
        );
    }
    let globals = &t["Globals"]["Function"];
    assert!(
        globals["AutoPublishAlias"].as_str().is_some(),
        "functions publish versions on every deploy"
    );
}

#[test]
fn every_retry_and_catch_names_a_known_error() {
    let asl = asl();
    let mut checked = 0;
    for (name, state) in states(&asl) {
        for clause in ["Retry", "Catch"] {
            for entry in state[clause].as_array().into_iter().flatten() {
                for e in entry["ErrorEquals"].as_array().expect("ErrorEquals") {
                    let e = e.as_str().expect("error name is a string");
                    assert!(
                        ErrorName::is_known_state_machine_error(e),
                        "{name}.{clause} names {e:?}, which is neither in sluice's catalog nor Lambda.*/States.*"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10, "only {checked} names checked");
}

#[test]
fn errors_the_state_machine_sets_itself_are_in_the_catalog() {
    let asl = asl();
    for (name, state) in states(&asl) {
        if let Some(e) = state["Parameters"]["Error"].as_str() {
            assert!(
                ErrorName::ALL.iter().any(|n| n.as_str() == e),
                "{name} sets Error {e:?}"
            );
        }
    }
}

#[test]
fn every_next_exists_and_every_state_is_reachable() {
    let asl = asl();
    let states = states(&asl);
    let start = asl["StartAt"].as_str().unwrap();
    assert!(states.contains_key(start));
    let mut seen = HashSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let state = states
            .get(&name)
            .unwrap_or_else(|| panic!("a Next points at missing state {name}"));
        let ty = state["Type"].as_str().unwrap();
        let terminal = matches!(ty, "Succeed" | "Fail") || state["End"] == Value::Bool(true);
        let goes_on = ["Next", "Default", "Choices"]
            .iter()
            .any(|k| !state[*k].is_null());
        assert_eq!(
            terminal, !goes_on,
            "{name} ({ty}) ends iff it has nowhere to go"
        );
        todo.extend(successors(state));
    }
    let unreachable: Vec<_> = states.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        unreachable.is_empty(),
        "unreachable states: {unreachable:?}"
    );
}

fn status_name(s: Status) -> String {
    serde_json::to_value(s)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Where a state can go next: Next, Default, every Choice and every Catch, and a Parallel's
/// branches.
fn successors(s: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for b in s["Branches"].as_array().into_iter().flatten() {
        out.push(b["StartAt"].as_str().expect("a StartAt").to_string());
    }
    for key in ["Next", "Default"] {
        if let Some(n) = s[key].as_str() {
            out.push(n.to_string());
        }
    }
    for list in ["Choices", "Catch"] {
        for c in s[list].as_array().into_iter().flatten() {
            out.push(c["Next"].as_str().expect("a Next").to_string());
        }
    }
    out
}

#[test]
fn choices_on_status_are_exactly_the_statuses_the_functions_set() {
    let asl = asl();
    let mut branched = BTreeSet::new();
    for (_, state) in states(&asl) {
        for c in state["Choices"].as_array().into_iter().flatten() {
            if c["Variable"] == "$.status" {
                branched.insert(c["StringEquals"].as_str().unwrap().to_string());
            }
        }
    }
    // Deployed is the ledger record's last word, written after the last Choice.
    let all: BTreeSet<String> = Status::ALL
        .iter()
        .filter(|s| **s != Status::Deployed)
        .map(|s| status_name(*s))
        .collect();
    assert_eq!(
        branched, all,
        "the state machine's Choices must branch on every status, and only on those"
    );
    // What shift and check-alarms can leave must each have its own branch after them.
    let progress = &states(&asl)["Progress"];
    for s in [
        Status::Baking,
        Status::ShiftNext,
        Status::AllShifted,
        Status::AlarmBreached,
    ] {
        let name = status_name(s);
        assert!(
            progress["Choices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["StringEquals"] == name.as_str()),
            "Progress has no branch for {name}"
        );
    }
    // Shift and the bake both lead to Progress, and every way out of Rollback ends in a Fail state.
    assert_eq!(states(&asl)["Shift"]["Next"], "Progress");
    assert_eq!(states(&asl)["Bake"]["Next"], "Progress");
    assert_eq!(states(&asl)["CheckAlarms"]["Next"], "BakeProgress");
    let mut todo = successors(&states(&asl)["Rollback"]);
    let mut seen = HashSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let state = &states(&asl)[name.as_str()];
        match state["Type"].as_str() {
            Some("Fail") => {}
            Some("Succeed") => panic!("a way out of Rollback reaches Succeed state {name}"),
            _ => todo.extend(successors(state)),
        }
        assert_ne!(name, "Rollback", "Rollback must not loop back to itself");
    }
}

#[test]
fn a_catch_that_names_catalog_errors_names_all_of_them() {
    let asl = asl();
    // What the phases raise; the rest of the catalog names endings the safety net records.
    let catalog: BTreeSet<&str> = ErrorName::RAISED.iter().map(|n| n.as_str()).collect();
    let mut catches = 0;
    for (name, state) in states(&asl) {
        for entry in state["Catch"].as_array().into_iter().flatten() {
            let names: BTreeSet<&str> = entry["ErrorEquals"]
                .as_array()
                .expect("ErrorEquals")
                .iter()
                .map(|e| e.as_str().expect("a string"))
                .collect();
            if names.is_disjoint(&catalog) {
                continue;
            }
            // Catching one error only to raise it again from a Fail (out of a Parallel branch, or
            // once the explain function put its cause in plain words) loses nothing.
            let all = states(&asl);
            let mut next = &all[entry["Next"].as_str().expect("a Next")];
            let result = entry["ResultPath"].as_str().unwrap_or("$");
            if next["Parameters"]["FunctionName"] == "${ExplainFunctionArn}" && result == "$" {
                next = &all[next["Next"].as_str().expect("a Next")];
            }
            if names.len() == 1
                && next["Type"] == "Fail"
                && next["ErrorPath"] == format!("{result}.Error").as_str()
            {
                continue;
            }
            assert_eq!(
                names, catalog,
                "{name}: a Catch of sluice's own errors must name every catalog entry"
            );
            catches += 1;
        }
    }
    assert!(
        catches >= 1,
        "Validate's refusals are caught by catalog name"
    );
}

#[test]
fn failures_are_put_in_plain_words_by_rust_only() {
    let text = asl_text();
    assert!(
        !text.contains("StringToJson"),
        "the state machine must not parse Lambda error JSON itself: sluice-core does (explain)"
    );
    let asl = asl();
    for (name, state) in states(&asl) {
        if state["Type"] != "Fail" {
            continue;
        }
        let cause = state["CausePath"]
            .as_str()
            .expect("every Fail has a CausePath");
        assert!(
            cause.ends_with(".Cause"),
            "{name} reads its cause from {cause}, not from a Failure sluice wrote"
        );
    }
    // Every state that asks the explain function for plain words passes it a failure and
    // keeps its answer's Error and Cause for the Fail state after it.
    let mut explained = 0;
    for (name, state) in states(&asl) {
        if state["Parameters"]["FunctionName"] == "${ExplainFunctionArn}" {
            assert!(
                state["Parameters"]["Payload"]["failure.$"].is_string(),
                "{name} passes no failure"
            );
            assert_eq!(
                state["ResultSelector"]["Cause.$"], "$.Payload.Cause",
                "{name}"
            );
            explained += 1;
        }
    }
    assert_eq!(
        explained, 3,
        "ExplainRefusal, ExplainRollbackFailure and ExplainSettled"
    );
}

/// The execution input may be any JSON (`[]`, `"x"`, `42`): Validate refuses it, and its Catch
/// must not write into it by path (`$.failure` on an array is States.Runtime, which no Catch
/// sees). So Validate's failure replaces the whole state, and every state after it reads the
/// failure from the root, until the request ends in a Fail state as InvalidRequest.
#[test]
fn a_refusal_of_any_input_ends_in_a_fail_state_reading_the_failure_from_the_root() {
    let asl = asl();
    let states = states(&asl);
    let validate = &states[asl["StartAt"].as_str().expect("StartAt")];
    let mut todo = Vec::new();
    for catch in validate["Catch"].as_array().expect("Validate catches") {
        assert_eq!(
            catch["ResultPath"], "$",
            "Validate's Catch must replace the whole state"
        );
        todo.push(catch["Next"].as_str().expect("a Next").to_string());
    }
    let mut fails = 0;
    let mut seen = HashSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let state = &states[name.as_str()];
        if let Some(explain) = state["Parameters"]["Payload"]["failure.$"].as_str() {
            assert_eq!(
                explain, "$",
                "{name} explains the failure Validate's Catch left"
            );
            assert_eq!(state["ResultPath"], "$", "{name}");
        }
        if state["Type"] == "Fail" {
            assert_eq!(state["ErrorPath"], "$.Error", "{name}");
            assert_eq!(state["CausePath"], "$.Cause", "{name}");
            fails += 1;
        }
        todo.extend(successors(state));
    }
    assert!(fails >= 1, "a refused request ends in a Fail state");
}

#[test]
fn every_task_that_can_shift_traffic_is_caught_into_rollback() {
    let asl = asl();
    // CheckAlarms and Watch run inside the bake's Parallel: its Catch is theirs. Only a
    // deployment settled already (a redrive) is not rolled back: the safety net did it; and an
    // operator's command, which ends a bake on purpose, goes to ApplyCommand, caught the same way.
    assert_eq!(
        states(&asl)["Bake"]["Catch"][0],
        serde_json::json!({"ErrorEquals": ["OperatorCommand"], "ResultPath": "$.interrupt", "Next": "ApplyCommand"})
    );
    for name in ["Shift", "Bake", "ApplyCommand"] {
        let catches = states(&asl)[name]["Catch"].as_array().unwrap().clone();
        let (last, before) = catches.split_last().unwrap();
        assert_eq!(
            last["ErrorEquals"],
            serde_json::json!(["States.ALL"]),
            "{name}"
        );
        assert_eq!(last["Next"], "Rollback", "{name}");
        assert_eq!(last["ResultPath"], "$.failure", "{name}");
        for catch in before.iter().filter(|c| c["Next"] != "ApplyCommand") {
            assert_eq!(
                catch["ErrorEquals"],
                serde_json::json!(["AlreadySettled"]),
                "{name}"
            );
            assert_eq!(catch["Next"], "ExplainSettled", "{name}");
        }
    }
    // After all traffic moved, the PostTraffic hook's loop: the states starting and judging it
    // roll back on any error, a call's error is judged (HookFailed), and a failed hook rolls back.
    for name in ["PostTrafficHook", "JudgeHook"] {
        let catch = &states(&asl)[name]["Catch"];
        assert_eq!(
            catch,
            &serde_json::json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Rollback"}]),
            "{name}"
        );
    }
    for name in ["CallHook", "CallHookWithToken"] {
        assert_eq!(
            states(&asl)[name]["Catch"],
            serde_json::json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.hookRun.error", "Next": "JudgeHook"}]),
            "{name}"
        );
    }
    let failed: Vec<_> = states(&asl)["HookNext"]["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["StringEquals"] == "Failed")
        .map(|c| c["Next"].clone())
        .collect();
    assert_eq!(failed, [serde_json::json!("Rollback")]);
    assert_eq!(states(&asl)["UnexpectedHookStep"]["Next"], "Rollback");
}

#[test]
fn every_function_of_the_template_is_a_binary_of_the_workspace() {
    let t = template();
    let mut binaries = Vec::new();
    for (name, res) in resources(&t) {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        assert_eq!(
            res["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name:?}"
        );
        let bin = res["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_string();
        let manifest = root().join("functions").join(&bin).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|_| panic!("{name:?}: no {}", manifest.display()));
        assert!(
            text.contains(&format!("name = \"{bin}\"")),
            "{} names another package",
            manifest.display()
        );
        binaries.push(bin);
    }
    binaries.sort();
    assert_eq!(
        binaries,
        [
            "alarm-event",
            "check-alarms",
            "explain",
            "finish",
            "hook",
            "reconcile",
            "rollback",
            "shift",
            "sweeper",
            "validate",
            "watch"
        ]
    );
}

/// The history budget counts each task's retries as the state machine allows them: every Task
/// state's retriers, MaxAttempts added up (3 where it is not written), match sluice-core's table.
#[test]
fn the_history_budget_counts_the_retries_the_state_machine_allows() {
    let asl = asl();
    let table: std::collections::BTreeMap<&str, u64> =
        sluice_core::budget::RETRIES.into_iter().collect();
    for (name, state) in states(&asl) {
        if state["Type"] != "Task" {
            continue;
        }
        let allowed: u64 = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["MaxAttempts"].as_u64().unwrap_or(3))
            .sum();
        // A refused start is one Validate and one explanation: far from any limit.
        if name == "ExplainRefusal" {
            continue;
        }
        assert_eq!(
            table.get(name.as_str()),
            Some(&allowed),
            "{name} may retry {allowed} times; sluice-core's budget must count that"
        );
    }
}

/// Actions AWS authorizes only on `*`: the one place a `*` resource is allowed.
const ONLY_ON_ANY_RESOURCE: [&str; 11] = [
    // Task tokens of service integrations (`.waitForTaskToken`) are scoped by no resource.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    // The Service Authorization Reference lists no resource type for GetMetricData.
    "cloudwatch:GetMetricData",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

/// Least privilege: no `*` in an action, and a `*` resource only for actions that take no
/// narrower one, in every policy statement the template gives sluice's functions and state
/// machine.
#[test]
fn no_wildcard_permissions_where_aws_allows_narrower_ones() {
    let t = template();
    let mut statements = 0;
    for (name, res) in resources(&t) {
        for policy in res["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                statements += 1;
                let list = |v: &Yaml| -> Vec<String> {
                    match v {
                        Yaml::Sequence(items) => items
                            .iter()
                            .map(|i| yaml_serde::to_string(i).unwrap().trim().to_string())
                            .collect(),
                        other => vec![yaml_serde::to_string(other).unwrap().trim().to_string()],
                    }
                };
                let actions = list(&statement["Action"]);
                for action in &actions {
                    assert!(
                        !action.contains('*'),
                        "{name:?}: the action {action} has a wildcard"
                    );
                }
                for resource in list(&statement["Resource"]) {
                    if resource.trim_matches(|c| c == '\'' || c == '"') == "*" {
                        for action in &actions {
                            assert!(
                                ONLY_ON_ANY_RESOURCE.contains(&action.as_str()),
                                "{name:?}: {action} on \"*\", where AWS supports a narrower resource"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(statements >= 10, "only {statements} statements read");
}

/// Logs are kept for a while, not forever, and the state machine logs its errors.
#[test]
fn logs_have_a_retention_and_the_state_machine_logs_errors() {
    let t = template();
    let groups: Vec<_> = resources(&t)
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::LogGroup"))
        .collect();
    assert!(groups.len() >= 2);
    for g in groups {
        assert!(
            !g["Properties"]["RetentionInDays"].is_null(),
            "a log group without retention"
        );
    }
    assert_eq!(
        state_machine(&t)["Properties"]["Logging"]["Level"].as_str(),
        Some("ERROR")
    );
    assert!(
        !t["Globals"]["Function"]["LoggingConfig"]["LogGroup"].is_null(),
        "functions log to a kept group"
    );
}

/// A reader of the state machine finds the code each task runs: every Task invokes either one
/// of sluice's functions by a substitution named for it (`${FinishFunctionArn}` is the template's
/// `FinishFunction`, built from the workspace binary `finish`), or a hook the document names.
#[test]
fn every_task_names_the_function_it_runs() {
    let asl = asl();
    let t = template();
    let subs = &state_machine(&t)["Properties"]["DefinitionSubstitutions"];
    let mut tasks = 0;
    for (name, state) in states(&asl) {
        if state["Type"] != "Task" {
            continue;
        }
        tasks += 1;
        let params = &state["Parameters"];
        if let Some(hook) = params["FunctionName.$"].as_str() {
            assert_eq!(
                hook, "$.hookRun.function",
                "{name} invokes {hook}, which is not the hook the hook function started"
            );
            continue;
        }
        let placeholder = params["FunctionName"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no function"));
        let sub = placeholder
            .strip_prefix("${")
            .and_then(|p| p.strip_suffix("FunctionArn}"))
            .unwrap_or_else(|| panic!("{name} runs {placeholder}, not ${{<Name>FunctionArn}}"));
        let reference = yaml_serde::to_string(&subs[format!("{sub}FunctionArn").as_str()]).unwrap();
        assert_eq!(
            reference.trim(),
            format!("!Ref {sub}Function.Version"),
            "{name}: ${{{sub}FunctionArn}} is not the {sub}Function of the template"
        );
        let binary = resources(&t)[format!("{sub}Function").as_str()]["Metadata"]["BuildProperties"]
            ["Binary"]
            .as_str()
            .expect("a Binary")
            .to_string();
        assert_eq!(binary, kebab(sub), "{name}: {sub}Function builds {binary}");
    }
    assert!(tasks >= 8, "only {tasks} tasks read");
}

/// "CheckAlarms" -> "check-alarms".
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The fields the state machine reads from the document (Choices, Waits, payloads, timeouts,
/// Fail states) are fields a document has: renaming one in sluice-core fails here, not in an
/// execution. The only other fields it reads are the ones its own Catches write.
#[test]
fn every_field_the_state_machine_reads_is_one_the_document_has() {
    let asl = asl();
    let mut written: BTreeSet<String> = states(&asl)
        .values()
        .flat_map(|s| {
            s["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["ResultPath"].as_str())
                .chain(s["ResultPath"].as_str())
                .filter_map(|p| p.strip_prefix("$."))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    // A Catch or result that replaces the whole state leaves {Error, Cause} at its root.
    let replaces = states(&asl).values().any(|s| {
        s["ResultPath"] == "$"
            || s["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["ResultPath"] == "$")
    });
    if replaces {
        written.extend(["Error".to_string(), "Cause".to_string()]);
    }
    let document = sluice_core::testing::every_field().to_json();
    let mut read = BTreeSet::new();
    for (name, state) in states(&asl) {
        collect_paths(&state, &mut read);
        let _ = name;
    }
    let mut checked = 0;
    for path in &read {
        let Some(field) = path.strip_prefix("$.") else {
            continue;
        };
        let top = field.split(['.', '[']).next().unwrap_or(field);
        if written.contains(top) {
            continue;
        }
        // $.alarms[0] reads a list's first element: the list is the field.
        let pointer = format!("/{}", field.split('[').next().unwrap().replace('.', "/"));
        assert!(
            document.pointer(&pointer).is_some(),
            "the state machine reads {path}, which no document has"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} paths checked: {read:?}");
}

/// Every JSONPath the state may read: `*Path` fields, `Variable`, and `.$` parameters.
fn collect_paths(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                // A ResultSelector reads the task's result, not the document.
                if k == "ResultSelector" {
                    continue;
                }
                let reads = k.ends_with(".$")
                    || k == "Variable"
                    || (k.ends_with("Path") && k != "ResultPath" && k != "OutputPath");
                match v.as_str() {
                    Some(p) if reads && p.starts_with("$.") => {
                        out.insert(p.to_string());
                    }
                    _ => collect_paths(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_paths(i, out)),
        _ => {}
    }
}

/// Every failure name sluice writes is in the catalog: the state machine's own (its Pass states
/// set them), and the functions', which name failures through `ErrorName` only. The one place a
/// name from outside the catalog is kept is the safety net's, which records the error Step
/// Functions gave an execution that failed where no Catch runs.
#[test]
fn no_failure_name_sluice_writes_is_outside_the_catalog() {
    let mut checked = 0;
    for dir in ["crates", "functions"] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            // Tests may write any name; production code is what runs.
            let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
            let relative = file.strip_prefix(root()).unwrap().display().to_string();
            let allowed = [
                "crates/core/src/error.rs",
                "crates/core/src/deployment/ending.rs",
                // Test fixtures, compiled for tests only.
                "crates/core/src/testing.rs",
                "crates/aws/src/fake.rs",
            ];
            for pattern in ["FailureName::Caught(", "FailureName::from(", "error: \""] {
                if code.contains(pattern) {
                    assert!(
                        allowed.contains(&relative.as_str()),
                        "{relative} names a failure with {pattern:?}: use an ErrorName"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} files read");
}

fn rust_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// sluice-core's modules, from the leaves up: each may import only modules before it, so the
/// crate has no import circle (lib.rs lists the same order).
const CORE_LAYERS: [&str; 18] = [
    "bounds",
    "error",
    "fields",
    "duration",
    "time",
    "names",
    "weight",
    "alarms",
    "hooks",
    "failure",
    "strategy",
    "budget",
    "stats",
    "analysis",
    "request",
    "events",
    "ledger",
    "deployment",
];

#[test]
fn sluice_core_imports_run_one_way() {
    let src = root().join("crates/core/src");
    let mut read = 0;
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "testing" {
            continue;
        }
        let layer = CORE_LAYERS
            .iter()
            .position(|m| *m == module)
            .unwrap_or_else(|| panic!("{module} is not in CORE_LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (i, _) in code.match_indices("crate::") {
            let used: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if used == module {
                continue;
            }
            let at = CORE_LAYERS.iter().position(|m| *m == used);
            assert!(
                at.is_some_and(|at| at < layer),
                "{} imports crate::{used}, which is not below {module}",
                relative.display()
            );
        }
        read += 1;
    }
    assert!(read > 15, "only {read} files read");
}

/// The ledger holds every deployment's record and every lock: deleting or replacing the stack
/// must not drop it with them.
#[test]
fn the_ledger_outlives_its_stack() {
    let t = template();
    let tables: Vec<_> = resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect();
    assert_eq!(tables.len(), 1);
    for (name, table) in tables {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(table[policy].as_str(), Some("Retain"), "{name:?}: {policy}");
        }
    }
}

/// Under load, a throttled phase waits rather than rolls back a healthy deployment: every
/// Retry spreads its attempts with full jitter and a ceiling on the delay, and the phases on a
/// deployment's path (Validate, Shift, CheckAlarms) keep trying for about three minutes on
/// average before they give up.
#[test]
fn every_retry_is_jittered_and_throttled_phases_wait() {
    let asl = asl();
    let mut retries = 0;
    for (name, state) in states(&asl) {
        let mut expected_wait = 0.0;
        for r in state["Retry"].as_array().into_iter().flatten() {
            let attempts = r["MaxAttempts"].as_u64().unwrap_or(3);
            if attempts == 0 {
                continue;
            }
            retries += 1;
            assert_eq!(r["JitterStrategy"], "FULL", "{name}: {r}");
            let ceiling = r["MaxDelaySeconds"]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: a Retry without MaxDelaySeconds: {r}"));
            let (first, rate) = (
                r["IntervalSeconds"].as_f64().unwrap_or(1.0),
                r["BackoffRate"].as_f64().unwrap_or(2.0),
            );
            // Full jitter waits a random time up to each delay: half of it on average.
            expected_wait += (0..attempts)
                .map(|k| (first * rate.powi(k as i32)).min(ceiling) / 2.0)
                .sum::<f64>();
        }
        // Throttled, these wait rather than roll back a healthy deployment (the hooks: their
        // Lambda's throttling, not their verdict) or lose a bake's watch.
        let waits = [
            "Validate",
            "Shift",
            "CheckAlarms",
            "Watch",
            "PreTrafficHook",
            "PostTrafficHook",
            "CallHook",
            "CallHookWithToken",
            "JudgeHook",
        ];
        if waits.contains(&name.as_str()) {
            assert!(
                expected_wait >= 170.0,
                "{name} gives up after {expected_wait:.0} s on average"
            );
        }
    }
    assert!(retries >= 10, "only {retries} retriers read");
}

/// Every function on the way to a rollback has concurrency of its own (a bad version eating the
/// account's concurrency must not throttle what removes it), alarm-event — the trigger of every
/// fast rollback — included, and the default serves tens of concurrent deployments.
#[test]
fn the_rollback_path_has_reserved_concurrency() {
    let t = template();
    let reserved = |name: &str| {
        let r = &resources(&t)[name]["Properties"]["ReservedConcurrentExecutions"];
        yaml_serde::to_string(r)
            .unwrap()
            .contains("ReservedConcurrency")
    };
    for f in [
        "ShiftFunction",
        "CheckAlarmsFunction",
        "WatchFunction",
        "AlarmEventFunction",
        "RollbackFunction",
        "ReconcileFunction",
    ] {
        assert!(reserved(f), "{f} has no reserved concurrency");
    }
    let default = t["Parameters"]["ReservedConcurrency"]["Default"]
        .as_u64()
        .expect("a default");
    assert!(
        default >= 10,
        "a default of {default} throttles a busy account's rollbacks"
    );
}

/// Composite alarms work: AWS returns them (from DescribeAlarms and DescribeAlarmHistory) only to
/// a `cloudwatch:DescribeAlarms` permission scoped to `*`, so the alarms sluice may read default to
/// `*` (a user with metric alarms only may narrow it), and every read of them takes that scope.
#[test]
fn composite_alarms_can_be_read() {
    let t = template();
    let pattern = &t["Parameters"]["AlarmArnPattern"];
    assert_eq!(pattern["Default"].as_str(), Some("*"), "{pattern:?}");
    let mut reads = 0;
    for (name, res) in resources(&t) {
        for policy in res["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                let text = yaml_serde::to_string(&statement["Action"]).unwrap();
                if text.contains("cloudwatch:DescribeAlarm") {
                    reads += 1;
                    let resource = yaml_serde::to_string(&statement["Resource"]).unwrap();
                    assert_eq!(resource.trim(), "!Ref AlarmArnPattern", "{name:?}");
                }
            }
        }
    }
    assert!(reads >= 3, "validate, check-alarms and watch read alarms");
}

/// The actions one row of docs/deploying.md's permission table grants: backquoted names, each
/// `service:Action` or an `Action` of the service named last (`lambda:GetAlias`, `UpdateAlias`).
fn table_actions(cell: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut service = String::new();
    for (i, part) in cell.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let action = match part.split_once(':') {
            Some((s, a)) => {
                service = s.to_string();
                a.to_string()
            }
            None => part.to_string(),
        };
        assert!(!service.is_empty(), "{part:?} names no service");
        out.insert(format!("{service}:{action}"));
    }
    out
}

/// The README's permission table (docs/deploying.md, "What sluice may do, and why") says what
/// each function's role may do: the actions it lists for a function are exactly those of the
/// function's Policies in template.yaml, so a permission added or dropped on one side fails here.
#[test]
fn the_permission_table_matches_the_template() {
    let doc = std::fs::read_to_string(root().join("docs/deploying.md")).expect("docs/deploying.md");
    let table: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| who | may |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() >= 10, "the table has {} rows", table.len());
    let mut documented: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for row in table {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (who, may) = (cells[1], cells[2]);
        if who == "state machine" {
            continue;
        }
        for name in who.split(", ") {
            documented
                .entry(name.to_string())
                .or_default()
                .extend(table_actions(may));
        }
    }
    let t = template();
    let mut granted: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for res in resources(&t).values() {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = res["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("a function names its binary")
            .to_string();
        let actions = granted.entry(binary).or_default();
        for policy in res["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                match &statement["Action"] {
                    Yaml::Sequence(items) => {
                        actions.extend(items.iter().map(|a| a.as_str().unwrap().to_string()))
                    }
                    one => {
                        actions.insert(one.as_str().unwrap().to_string());
                    }
                }
            }
        }
    }
    assert_eq!(documented, granted);
}

/// The stack's dashboard draws what the functions write: every metric it names in sluice's
/// namespace is one `sluice_aws::metrics` emits (and every one emitted is drawn), each on the
/// stack's own `Stack` dimension; failed phases are drawn for every function (a function's phase
/// is its binary's name); every `${...}` of the body is a resource of the template or a pseudo
/// parameter.
#[test]
fn the_dashboard_draws_the_metrics_the_functions_write() {
    let t = template();
    let dashboard = &resources(&t)["SluiceDashboard"];
    assert_eq!(
        dashboard["Type"].as_str(),
        Some("AWS::CloudWatch::Dashboard")
    );
    let Yaml::Tagged(sub) = &dashboard["Properties"]["DashboardBody"] else {
        panic!("the body is a !Sub");
    };
    let text = sub.value.as_str().expect("a !Sub of a string");
    for name in placeholders(text) {
        let logical = name.split('.').next().unwrap();
        assert!(
            name.starts_with("AWS::") || resources(&t).contains_key(logical),
            "the dashboard names ${{{name}}}, which the template does not have"
        );
    }
    let mut resolved = text.to_string();
    for name in placeholders(text) {
        resolved = resolved.replace(&format!("${{{name}}}"), "x");
    }
    let body: Value = serde_json::from_str(&resolved).expect("the body is JSON");
    let mut drawn = BTreeSet::new();
    let mut phases = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parts = metric.as_array().expect("a metric is a list");
            if parts[0] != "sluice" {
                continue;
            }
            let name = parts[1].as_str().unwrap().to_string();
            assert_eq!(
                &parts[2..4],
                &[serde_json::json!("Stack"), serde_json::json!("x")],
                "{name}"
            );
            // The dimensions drawn are exactly those written (a metric drawn with another set
            // of dimensions is another metric, and draws nothing).
            let dims = if name == sluice_aws::metrics::PHASE_FAILED {
                assert_eq!(parts[4], "Phase");
                phases.insert(parts[5].as_str().unwrap().to_string());
                6
            } else {
                4
            };
            assert!(
                parts[dims..].iter().all(Value::is_object),
                "{name} is drawn with other dimensions: {metric}"
            );
            drawn.insert(name);
        }
    }
    let written: BTreeSet<String> = sluice_aws::metrics::names()
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(drawn, written);
    let binaries: BTreeSet<String> = resources(&t)
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        phases, binaries,
        "a failed phase of every function is drawn"
    );
}
