//! `sluice plan`: a strategy's timeline and cost, from the same sluice-core code validate runs.

use serde_json::Value;
use sluice_core::duration::{format_seconds, parse_seconds};
use sluice_core::request::Hooks;
use sluice_core::{Strategy, budget};

/// Step Functions Standard workflows, us-east-1: $0.025 per 1,000 state transitions.
const DOLLARS_PER_TRANSITION: f64 = 0.025 / 1000.0;

pub fn run(strategy: &str, poll_interval: &str, alarms: bool) -> Result<String, String> {
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
    let poll = parse_seconds(poll_interval).map_err(|r| format!("--poll-interval: {r}"))?;
    if !(1..=3600).contains(&poll) {
        return Err(format!(
            "--poll-interval: \"{poll_interval}\" is outside 1s to 1h"
        ));
    }
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
    let hooks = Hooks::default();
    let cost = budget::success(&plan, poll, alarms, &hooks);
    let checks = if alarms {
        format!("checking alarms every {}", format_seconds(poll))
    } else {
        "without alarms".to_string()
    };
    out.push_str(&format!(
        "Step Functions, {checks}: {} history events (an execution stops at {}), {} state transitions, ${:.4}",
        cost.events,
        budget::HISTORY_LIMIT,
        cost.transitions,
        cost.transitions as f64 * DOLLARS_PER_TRANSITION
    ));
    if cost.worst_case_events >= budget::HISTORY_LIMIT {
        out.push_str(&match budget::shortest_poll_that_fits(&plan, alarms, &hooks) {
            Some(p) => format!("\nToo long for one execution at this interval: use --poll-interval {} or longer", format_seconds(p)),
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
        let out = run("Linear10PercentEvery3Minutes", "10s", false).unwrap();
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
        let out = run("Canary10Percent30Minutes", "10s", true).unwrap();
        assert!(out.contains("550 state transitions, $0.0138"), "{out}");
        let out = run(
            "{\"canary\": {\"percent\": 10, \"interval\": \"168h\"}}",
            "10s",
            true,
        )
        .unwrap();
        assert!(
            out.ends_with("use --poll-interval 11m6s or longer"),
            "{out}"
        );
    }

    #[test]
    fn a_bad_strategy_names_the_flag() {
        assert!(
            run("Blue", "10s", false)
                .unwrap_err()
                .starts_with("--strategy: unknown preset")
        );
        assert!(
            run(
                "{\"canary\": {\"percent\": 0, \"interval\": \"1m\"}}",
                "10s",
                false
            )
            .unwrap_err()
            .starts_with("--strategy, at canary.percent: 0% is outside 1% to 99%")
        );
        assert!(
            run("AllAtOnce", "0s", false)
                .unwrap_err()
                .starts_with("--poll-interval")
        );
    }
}
