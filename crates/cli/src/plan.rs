//! `sluice plan`: a strategy's timeline and cost, from the same sluice-core code validate runs.

use serde_json::Value;
use sluice_core::duration::{format_seconds, parse_seconds};
use sluice_core::request::{DEFAULT_CHECK_SECONDS, Hooks};
use sluice_core::{Strategy, budget};

/// Step Functions Standard workflows, us-east-1: $0.025 per 1,000 state transitions.
const DOLLARS_PER_TRANSITION: f64 = 0.025 / 1000.0;

/// The plan of `strategy` and its cost; `check_interval` as `--check-interval` gives it (None:
/// the default, stretched as validate stretches it when the plan would not fit).
pub fn run(strategy: &str, check_interval: Option<&str>, alarms: bool) -> Result<String, String> {
    // A preset name as it is, anything else as JSON.
    let value = if strategy.trim_start().starts_with('{') {
        serde_json::from_str(strategy).map_err(|e| {
            format!("--strategy is not valid JSON ({e}); give a preset name or a JSON strategy")
        })?
    } else {
        Value::String(strategy.to_string())
    };
    let (name, strategy) =
        Strategy::from_json(&value).map_err(|r| match r.field.strip_prefix("strategy.") {
            Some(at) => format!("--strategy, at {at}: {}", r.reason),
            None => format!("--strategy: {}", r.reason),
        })?;
    let plan = strategy.plan().map_err(|r| format!("--strategy: {r}"))?;
    let hooks = Hooks::default();
    let asked = match check_interval {
        Some(text) => {
            let s = parse_seconds(text).map_err(|r| format!("--check-interval: {r}"))?;
            if !(1..=budget::MAX_CHECK_SECONDS).contains(&s) {
                return Err(format!("--check-interval: \"{text}\" is outside 1s to 1h"));
            }
            Some(s)
        }
        None => None,
    };
    let fits = |s| budget::worst_case_events(&plan, s, alarms, &hooks) < budget::HISTORY_LIMIT;
    let shortest = budget::shortest_check_that_fits(&plan, alarms, &hooks);
    let (check, stretched) = match (asked, shortest) {
        (Some(s), _) => (s, false),
        (None, _) if fits(DEFAULT_CHECK_SECONDS) => (DEFAULT_CHECK_SECONDS, false),
        (None, Some(s)) => (s, true),
        (None, None) => (DEFAULT_CHECK_SECONDS, false),
    };
    let mut out = format!(
        "{name}: {} step{}, {} of bake\n{:>8}  {:>7}  bake\n",
        plan.step_count(),
        if plan.step_count() == 1 { "" } else { "s" },
        format_seconds(plan.total_bake_seconds()),
        "at",
        "weight"
    );
    for (at, step) in plan.timeline() {
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
    let cost = budget::success(&plan, check, alarms, &hooks);
    let checks = match (alarms, stretched) {
        (false, _) => "without alarms".to_string(),
        (true, false) => format!(
            "alarm events, backstop check every {}",
            format_seconds(check)
        ),
        (true, true) => format!(
            "alarm events, backstop check every {} (the default {}, stretched to fit)",
            format_seconds(check),
            format_seconds(DEFAULT_CHECK_SECONDS)
        ),
    };
    out.push_str(&format!(
        "Step Functions, {checks}: {} history events (an execution stops at {}), {} state transitions, ${:.4}",
        cost.events,
        budget::HISTORY_LIMIT,
        cost.transitions,
        cost.transitions as f64 * DOLLARS_PER_TRANSITION
    ));
    if cost.worst_case_events >= budget::HISTORY_LIMIT {
        out.push_str(&match shortest {
            Some(p) => format!(
                "\nToo long for one execution at this interval: use --check-interval {} or longer",
                format_seconds(p)
            ),
            None => "\nToo long for one execution at any interval".to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn linear_every_three_minutes_is_ten_increments_three_minutes_apart() {
        let out = run("Linear10PercentEvery3Minutes", None, false).unwrap();
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
        let out = run("Canary10Percent30Minutes", None, true).unwrap();
        assert!(
            out.ends_with(
                "Step Functions, alarm events, backstop check every 5m: 104 history events (an execution \
                 stops at 25000), 33 state transitions, $0.0008"
            ),
            "{out}"
        );
        let week = "{\"canary\": {\"percent\": 10, \"interval\": \"168h\"}}";
        let out = run(week, Some("10s"), true).unwrap();
        assert!(
            out.ends_with("use --check-interval 11m7s or longer"),
            "{out}"
        );
        let out = run(week, None, true).unwrap();
        assert!(
            out.contains("backstop check every 11m7s (the default 5m, stretched to fit)"),
            "{out}"
        );
    }

    #[test]
    fn a_bad_strategy_names_the_flag() {
        assert!(
            run("Blue", None, false)
                .unwrap_err()
                .starts_with("--strategy: unknown preset")
        );
        assert!(
            run(
                "{\"canary\": {\"percent\": 0, \"interval\": \"1m\"}}",
                None,
                false
            )
            .unwrap_err()
            .starts_with("--strategy, at canary.percent: 0% is outside 1% to 99%")
        );
        assert!(
            run("AllAtOnce", Some("0s"), false)
                .unwrap_err()
                .starts_with("--check-interval")
        );
    }
}
