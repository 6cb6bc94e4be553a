//! `sluice plan`: a strategy's timeline and cost, from the same sluice-core code validate runs:
//! the plan, the check interval's rule (`CheckInterval::choose`) and the history budget.

use crate::error::CliError;
use serde_json::{Value, json};
use sluice_core::analysis::Analysis;
use sluice_core::budget::{self, CheckInterval, Judges, NoCheckInterval};
use sluice_core::duration::{format_seconds, parse_seconds};
use sluice_core::{Hooks, Strategy};

/// Step Functions Standard workflows, us-east-1: $0.025 per 1,000 state transitions.
const DOLLARS_PER_TRANSITION: f64 = 0.025 / 1000.0;

/// CloudWatch GetMetricData, us-east-1: $0.01 per 1,000 metrics requested.
const DOLLARS_PER_METRIC: f64 = 0.01 / 1000.0;

/// The plan of `strategy` and its cost; `check_interval` as `--check-interval` gives it (None:
/// the default, stretched as validate stretches it when the plan would not fit); `analysis`
/// whether the request keeps the default canary analysis (on unless turned off).
pub fn run(
    strategy: &str,
    check_interval: Option<&str>,
    alarms: bool,
    analysis: bool,
) -> Result<String, CliError> {
    let analysis = analysis.then(Analysis::default);
    let judges = Judges {
        alarms,
        analysis: analysis.is_some(),
        keep_baking_seconds: 0,
        pause_seconds: sluice_core::strategy::DEFAULT_PAUSE_SECONDS,
    };
    // A preset name as it is, anything else as JSON.
    let value = if strategy.trim_start().starts_with('{') {
        serde_json::from_str(strategy).map_err(|e| {
            CliError::refused(format!(
                "--strategy is not valid JSON ({e}); give a preset name or a JSON strategy"
            ))
        })?
    } else {
        Value::String(strategy.to_string())
    };
    let (name, strategy) = Strategy::from_json(&value).map_err(|e| {
        CliError::refused(
            match e.field.as_deref().and_then(|f| f.strip_prefix("strategy.")) {
                Some(at) => format!("--strategy, at {at}: {}", e.reason()),
                None => format!("--strategy: {}", e.reason()),
            },
        )
    })?;
    let plan = strategy
        .plan()
        .map_err(|r| CliError::refused(format!("--strategy: {r}")))?;
    let hooks = Hooks::default();
    let asked = match check_interval {
        Some(text) => Some(
            parse_seconds(text).map_err(|r| CliError::refused(format!("--check-interval: {r}")))?,
        ),
        None => None,
    };
    // The interval validate would use; a plan that fits none is shown at the one asked for (or
    // the default), with what would make it fit.
    let (check, stretched, too_long) = match CheckInterval::choose(&plan, asked, judges, &hooks) {
        Ok(c) => (c.seconds, c.stretched, None),
        Err(NoCheckInterval::OutOfRange { .. }) => {
            return Err(CliError::refused(format!(
                "--check-interval: \"{}\" is outside 1s to 1h",
                check_interval.unwrap_or_default()
            )));
        }
        Err(NoCheckInterval::TooOften {
            asked, shortest, ..
        }) => (
            asked,
            false,
            Some(format!(
                "Too long for one execution at this interval: use --check-interval {} or longer",
                format_seconds(shortest)
            )),
        ),
        Err(NoCheckInterval::PlanTooLong) => (
            asked.unwrap_or(budget::default_check_seconds(judges)),
            false,
            Some("Too long for one execution at any interval".to_string()),
        ),
    };
    Ok(render(
        &name,
        &plan,
        &Shown {
            check,
            stretched,
            judges,
            alarms,
            check_hook: false,
            analysis: analysis.as_ref(),
            hooks: &hooks,
        },
    ) + &too_long.map_or(String::new(), |why| format!("\n{why}")))
}

/// What a plan's cost is shown for: the check interval and what the bakes judge.
struct Shown<'a> {
    check: u64,
    stretched: bool,
    judges: Judges,
    alarms: bool,
    /// A check hook asked at each check (`hooks.check`).
    check_hook: bool,
    analysis: Option<&'a Analysis>,
    hooks: &'a Hooks,
}

/// `sluice plan --request FILE`: each request's plan and cost, as validate will run it (its
/// strategy, alarms, analysis, hooks and check interval). The file holds one request, a list of
/// them, or what `sluice from-sam` printed.
pub fn run_request(text: &str, path: &str) -> Result<String, CliError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CliError::refused(format!("{path} is not JSON: {e}")))?;
    // from-sam's output: {"resource", "request", "notes"} (one, or a list of them).
    let entry = |item: &Value, fallback: String| match item.get("request") {
        Some(request) if item.get("resource").is_some() => (
            item["resource"].as_str().unwrap_or("?").to_string(),
            request.clone(),
        ),
        _ => (fallback, item.clone()),
    };
    let entries: Vec<(String, Value)> = match &value {
        Value::Array(items) if items.is_empty() => {
            return Err(CliError::refused(format!(
                "{path} holds no request (an empty list)"
            )));
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| entry(item, format!("request {}", i + 1)))
            .collect(),
        other => vec![entry(other, path.to_string())],
    };
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for (label, request) in entries {
        if request.is_null() {
            out.push(format!("{label}: no request (see its notes)"));
            continue;
        }
        let parsed = match sluice_core::Request::parse(&request) {
            Ok(p) => p,
            Err(e) => {
                // Said in its place; the others are still shown.
                let why = format!("{label}: the request is refused: {}", e.message);
                out.push(why.clone());
                refused.push(why);
                continue;
            }
        };
        let targets: Vec<String> = parsed.targets.iter().map(|t| t.name()).collect();
        let shown = Shown {
            check: parsed.check_interval.seconds,
            stretched: parsed.check_interval.stretched,
            judges: parsed.judges(),
            alarms: !parsed.alarms.is_empty(),
            check_hook: parsed.hooks.check.is_some(),
            analysis: parsed.analysis.as_ref(),
            hooks: &parsed.hooks,
        };
        let traffic = [
            ("preTraffic", parsed.hooks.pre_traffic.as_ref()),
            ("postTraffic", parsed.hooks.post_traffic.as_ref()),
        ];
        let hooks: Vec<String> = traffic
            .into_iter()
            .filter_map(|(field, h)| h.map(|h| format!("{field} {}", h.describe())))
            .chain(parsed.hooks.check.iter().map(|f| format!("check {f}")))
            .collect();
        let mut lines = format!(
            "{label}: {}{}{}{}\n",
            targets.join(", "),
            if parsed.alarms.is_empty() {
                String::new()
            } else {
                format!(
                    "; alarms {}",
                    parsed
                        .alarms
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            if hooks.is_empty() {
                String::new()
            } else {
                format!("; hooks {}", hooks.join(", "))
            },
            if parsed.dry_run { "; a dry run" } else { "" }
        );
        lines.push_str(&render(&parsed.strategy_name, &parsed.plan, &shown));
        out.push(lines);
    }
    let shown = out.join("\n\n");
    if refused.is_empty() {
        Ok(shown)
    } else {
        println!("{shown}\n");
        Err(CliError::refused(format!(
            "{} of the requests in {path} refused: {}",
            refused.len(),
            refused.join("; ")
        )))
    }
}

/// A plan's timeline, then what it costs.
fn render(name: &str, plan: &sluice_core::Plan, shown: &Shown<'_>) -> String {
    let Shown {
        check,
        stretched,
        judges,
        alarms,
        check_hook,
        analysis,
        hooks,
    } = *shown;
    let mut out = format!(
        "{name}: {} step{}, {} of bake\n{:>8}  {:>7}  bake\n",
        plan.step_count(),
        if plan.step_count() == 1 { "" } else { "s" },
        format_seconds(plan.total_bake_seconds()),
        "at",
        "weight"
    );
    for (at, step) in plan.timeline() {
        if let Some(g) = step.approval {
            out.push_str(&format!(
                "{:>8}  approval  a person approves the next step (up to {}, then {}; the times after it move by the wait)\n",
                format_seconds(at),
                format_seconds(g.timeout_seconds),
                g.on_timeout.as_str()
            ));
        }
        let bake = if step.bake_seconds > 0 {
            format_seconds(step.bake_seconds)
        } else {
            "-".into()
        };
        out.push_str(&format!(
            "{:>8}  {:>7}  {bake}\n",
            format_seconds(at),
            step.weight.to_string()
        ));
    }
    let cost = budget::success(plan, check, judges, hooks);
    let every = if stretched {
        format!(
            "every {} (the default {}, stretched to fit)",
            format_seconds(check),
            format_seconds(budget::default_check_seconds(judges))
        )
    } else {
        format!("every {}", format_seconds(check))
    };
    let checks = match (alarms, analysis.is_some()) {
        (false, false) if check_hook => format!("check hook {every}"),
        (false, false) => "without alarms or analysis".to_string(),
        (true, false) => format!("alarm events, backstop check {every}"),
        (false, true) => format!("canary analysis {every}"),
        (true, true) => format!("alarm events, canary analysis and backstop check {every}"),
    };
    out.push_str(&format!(
        "Step Functions, {checks}: {} history events (an execution stops at {}), {} state transitions, ${:.4}",
        cost.events,
        budget::HISTORY_LIMIT,
        cost.transitions,
        cost.transitions as f64 * DOLLARS_PER_TRANSITION
    ));
    if let Some(a) = analysis {
        let metrics = cost.checks * a.metrics_per_target();
        out.push_str(&format!(
            "\nCanary analysis: {}\nCloudWatch, per target: {} checks, one GetMetricData call each ({} metrics), {metrics} metrics, ${:.4}",
            sluice_core::analysis::describe(a),
            cost.checks,
            a.metrics_per_target(),
            metrics as f64 * DOLLARS_PER_METRIC
        ));
    }
    out
}

/// The strategy as explicit steps, with an approval (`gate`, as a request writes it) before each
/// step of `before` (1-based, from the second) and, with `full`, before the step to 100%.
pub fn with_gates(
    strategy: &Value,
    before: &[usize],
    full: bool,
    gate: &Value,
) -> Result<Value, CliError> {
    let (_, parsed) = sluice_core::Strategy::from_json(strategy)
        .map_err(|e| CliError::refused(format!("--strategy is refused: {}", e.message)))?;
    let plan = parsed
        .plan()
        .map_err(|e| CliError::refused(format!("--strategy is refused: {}", e.0)))?;
    let n = plan.step_count();
    let mut gated: Vec<usize> = before.to_vec();
    if full {
        gated.push(n);
    }
    for &step in &gated {
        if !(2..=n).contains(&step) {
            return Err(CliError::refused(format!(
                "--approve-before-step {step}: the plan has steps 1 to {n}, and a gate comes after a step (2 to {n})"
            )));
        }
    }
    let mut steps = Vec::new();
    for (i, s) in plan.steps().iter().enumerate() {
        if let Some(g) = s.approval {
            steps.push(json!({"approval": {"timeout": format!("{}s", g.timeout_seconds), "onTimeout": g.on_timeout.as_str()}}));
        } else if gated.contains(&(i + 1)) {
            steps.push(json!({"approval": gate}));
        }
        let mut step = json!({"weight": f64::from(s.weight.hundredths()) / 100.0});
        if s.bake_seconds > 0 {
            step["bake"] = json!(format!("{}s", s.bake_seconds));
        }
        steps.push(step);
    }
    Ok(json!({"steps": steps}))
}

#[cfg(test)]
mod tests {
    use super::{Strategy, run, run_request, with_gates};
    use serde_json::json;

    /// A request is shown as validate runs it: the same timeline and cost `--strategy` shows for
    /// its strategy, alarms and analysis, with its targets, alarms and hooks; from-sam's output
    /// too, one request per resource (none for one it left out).
    #[test]
    fn a_request_file_is_previewed_as_validate_will_run_it() {
        let request = json!({
            "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "7"}],
            "strategy": "Canary10Percent30Minutes",
            "alarms": ["orders-errors"],
            "hooks": {"preTraffic": "orders-pre"},
            "analysis": false
        });
        let out = run_request(&request.to_string(), "r.json").unwrap();
        let (head, rest) = out.split_once('\n').unwrap();
        assert_eq!(
            head,
            "r.json: orders:live; alarms orders-errors; hooks preTraffic orders-pre (invoke, timeout 1h)"
        );
        let by_flags = run("Canary10Percent30Minutes", None, true, false).unwrap();
        assert!(rest.starts_with(by_flags.lines().next().unwrap()), "{rest}");
        assert!(
            rest.ends_with(
                "123 history events (an execution stops at 25000), 38 state transitions, $0.0009"
            ),
            "the hook's events are counted: {rest}"
        );
        let sam = json!([
            {"resource": "Orders", "request": request, "notes": []},
            {"resource": "Off", "request": null, "notes": ["Enabled is false"]}
        ]);
        let out = run_request(&sam.to_string(), "requests.json").unwrap();
        assert!(out.starts_with("Orders: orders:live"), "{out}");
        assert!(out.ends_with("Off: no request (see its notes)"), "{out}");
        let bad = json!({"targets": [], "strategy": "AllAtOnce"});
        let err = run_request(&bad.to_string(), "bad.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json: the request is refused: targets"),
            "{err}"
        );
        let some = json!([request, bad]);
        let err = run_request(&some.to_string(), "some.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("1 of the requests in some.json refused: request 2"),
            "{err}"
        );
        let one = json!({"resource": "Orders", "request": request, "notes": []});
        assert!(
            run_request(&one.to_string(), "one.json")
                .unwrap()
                .starts_with("Orders: orders:live")
        );
        assert!(
            run_request("[]", "e.json")
                .unwrap_err()
                .to_string()
                .contains("no request")
        );
        assert!(
            run_request("{", "x.json")
                .unwrap_err()
                .to_string()
                .starts_with("x.json is not JSON")
        );
    }

    #[test]
    fn linear_every_three_minutes_is_ten_increments_three_minutes_apart() {
        let out = run("Linear10PercentEvery3Minutes", None, false, true).unwrap();
        let rows: Vec<&str> = out.lines().skip(2).take(10).collect();
        let expected: Vec<(String, String)> = (0..10)
            .map(|i| {
                let at = if i == 0 {
                    "0s".to_string()
                } else {
                    format!("{}m", 3 * i)
                };
                (at, format!("{}%", 10 * (i + 1)))
            })
            .collect();
        for (row, (at, weight)) in rows.iter().zip(expected) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            assert_eq!((cols[0], cols[1]), (at.as_str(), weight.as_str()), "{row}");
        }
        assert!(
            out.starts_with("Linear10PercentEvery3Minutes: 10 steps, 27m of bake"),
            "{out}"
        );
    }

    #[test]
    fn costs_and_limits_are_told() {
        let out = run("Canary10Percent30Minutes", None, true, false).unwrap();
        assert!(
            out.ends_with(
                "Step Functions, alarm events, backstop check every 5m: 102 history events (an execution \
                 stops at 25000), 32 state transitions, $0.0008"
            ),
            "{out}"
        );
        let week = "{\"canary\": {\"percent\": 10, \"interval\": \"168h\"}}";
        let out = run(week, Some("10s"), true, false).unwrap();
        assert!(
            out.ends_with("use --check-interval 16m16s or longer"),
            "{out}"
        );
        let out = run(week, None, true, false).unwrap();
        assert!(
            out.contains("backstop check every 16m16s (the default 5m, stretched to fit)"),
            "{out}"
        );
        let out = run(week, None, true, true).unwrap();
        assert!(
            out.contains(
                "canary analysis and backstop check every 16m16s (the default 1m, stretched to fit)"
            ),
            "{out}"
        );
    }

    #[test]
    fn the_analysis_checks_and_their_cost_are_told() {
        let out = run("Canary10Percent30Minutes", None, false, true).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let n = lines.len();
        assert!(
            lines[n - 3]
                .starts_with("Step Functions, canary analysis every 1m: 318 history events"),
            "{out}"
        );
        assert!(
            lines[n - 2]
                .starts_with("Canary analysis: errors (Fisher exact test at 99% confidence"),
            "{out}"
        );
        assert_eq!(
            lines[n - 1],
            "CloudWatch, per target: 30 checks, one GetMetricData call each (8 metrics), 240 metrics, $0.0024"
        );
    }

    #[test]
    fn a_bad_strategy_names_the_flag() {
        assert!(
            run("Blue", None, false, true)
                .unwrap_err()
                .to_string()
                .starts_with("--strategy: unknown preset")
        );
        assert!(
            run(
                "{\"canary\": {\"percent\": 0, \"interval\": \"1m\"}}",
                None,
                false,
                true
            )
            .unwrap_err()
            .to_string()
            .starts_with("--strategy, at canary.percent: 0% is outside 1% to 99%")
        );
        assert!(
            run("AllAtOnce", Some("0s"), false, true)
                .unwrap_err()
                .to_string()
                .starts_with("--check-interval")
        );
    }

    #[test]
    fn gates_from_the_flags_go_before_the_steps_named() {
        let gate = json!({"timeout": "2h", "onTimeout": "promote"});
        let steps = with_gates(&json!("Linear10PercentEvery3Minutes"), &[3], true, &gate).unwrap();
        let list = steps["steps"].as_array().unwrap();
        assert_eq!(list.len(), 12);
        assert_eq!(list[2], json!({"approval": gate}));
        assert_eq!(list[10], json!({"approval": gate}));
        assert_eq!(list[11], json!({"weight": 100.0}));
        let (_, strategy) = Strategy::from_json(&steps).unwrap();
        let plan = strategy.plan().unwrap();
        assert_eq!(
            plan.steps().iter().filter(|s| s.approval.is_some()).count(),
            2
        );
        assert!(
            with_gates(&json!("AllAtOnce"), &[], true, &gate).is_err(),
            "no step before 100%"
        );
        assert!(with_gates(&json!("Canary10Percent5Minutes"), &[1], false, &gate).is_err());
    }
}
