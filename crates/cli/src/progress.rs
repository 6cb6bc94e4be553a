//! What `sluice watch` and `sluice status` say about a deployment document, as plain text.

use serde_json::Value;
use sluice_core::duration::format_seconds;

/// One line per target, and one for the bake and the alarms: where the deployment is now.
pub fn describe(doc: &Value) -> Vec<String> {
    let steps = doc["plan"].as_array().map_or(0, Vec::len);
    let step = doc["step"].as_u64().map(|s| s + 1);
    let weight = doc["weight"].as_f64().unwrap_or(0.0);
    let mut lines = Vec::new();
    for t in doc["targets"].as_array().into_iter().flatten() {
        let name = format!("{}:{}", text(&t["functionName"]), text(&t["alias"]));
        let (from, to) = (text(&t["previousVersion"]), text(&t["targetVersion"]));
        let line = match (text(&t["action"]).as_str(), step) {
            ("Unchanged", _) => format!("{name} already on v{to}"),
            ("Created", None) => format!("{name} new alias, created on v{to} at the first shift"),
            ("Created", Some(_)) => format!("{name} created on v{to}"),
            (_, None) => format!("{name} v{from} -> v{to}, nothing shifted yet"),
            (_, Some(s)) if weight >= 100.0 => format!("{name} all on v{to} (step {s}/{steps})"),
            (_, Some(s)) => {
                format!("{name} {weight}% on v{to} (step {s}/{steps}), v{from} serves the rest")
            }
        };
        lines.push(line);
    }
    let bake = &doc["bake"];
    let required = bake["requiredSeconds"].as_u64().unwrap_or(0);
    if doc["status"] == "Baking" && required > 0 {
        let elapsed = bake["elapsedSeconds"].as_u64().unwrap_or(0);
        lines.push(format!(
            "baking: {} of {} ({} left)",
            format_seconds(elapsed),
            format_seconds(required),
            format_seconds(required.saturating_sub(elapsed))
        ));
    }
    if let Some(check) = doc.get("lastCheck").filter(|c| c.is_object()) {
        let firing: Vec<String> = check["firing"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| text(&a["name"]))
            .collect();
        let quiet: Vec<String> = check["insufficientData"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let mut verdict = if firing.is_empty() {
            "alarms healthy".to_string()
        } else {
            format!("alarms FIRING: {}", firing.join(", "))
        };
        if !quiet.is_empty() {
            verdict.push_str(&format!(" (no data yet: {})", quiet.join(", ")));
        }
        lines.push(format!("{verdict}, checked {}", text(&check["checkedAt"])));
    }
    lines
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;
    use serde_json::json;

    #[test]
    fn the_last_step_leaves_nothing_on_the_old_version() {
        let doc = json!({
            "status": "AllShifted", "step": 1, "weight": 100,
            "plan": [{"weight": 10, "bakeSeconds": 60}, {"weight": 100, "bakeSeconds": 0}],
            "targets": [{"functionName": "orders", "alias": "live", "action": "Shift",
                         "previousVersion": "6", "targetVersion": "7"}]
        });
        assert_eq!(describe(&doc), vec!["orders:live all on v7 (step 2/2)"]);
    }

    #[test]
    fn a_baking_canary_with_its_alarms() {
        let doc = json!({
            "status": "Baking", "step": 0, "weight": 10,
            "plan": [{"weight": 10, "bakeSeconds": 300}, {"weight": 100, "bakeSeconds": 0}],
            "bake": {"requiredSeconds": 300, "elapsedSeconds": 120},
            "targets": [{"functionName": "orders", "alias": "live", "action": "Shift",
                         "previousVersion": "6", "targetVersion": "7"}],
            "lastCheck": {"checkedAt": "2026-11-27T10:00:00Z", "healthy": true, "firing": [],
                          "insufficientData": ["orders-p99"], "missing": []}
        });
        assert_eq!(
            describe(&doc),
            vec![
                "orders:live 10% on v7 (step 1/2), v6 serves the rest",
                "baking: 2m of 5m (3m left)",
                "alarms healthy (no data yet: orders-p99), checked 2026-11-27T10:00:00Z",
            ]
        );
    }
}
