//! `sluice from-sam`: reads a SAM template and writes, for each function with a
//! `DeploymentPreference`, the sluice request that does what CodeDeploy did — Type, Alarms and
//! Hooks mapped; `AutoPublishAlias` becomes the alias sluice moves, deployed from the alias SAM
//! publishes new versions to; anything sluice does not map is named.

use crate::error::CliError;
use serde_json::{Value, json};
use sluice_core::{Request, Strategy};
use std::path::Path;
use yaml_serde::Value as Yaml;

pub fn run(path: &Path, candidate_alias: &str) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let template: Yaml = yaml_serde::from_str(&text)
        .map_err(|e| CliError::refused(format!("{} is not YAML or JSON: {e}", path.display())))?;
    let converted = convert(&template, candidate_alias)?;
    if converted.is_empty() {
        return Err(CliError::refused(format!(
            "{} has no AWS::Serverless::Function with a DeploymentPreference",
            path.display()
        )));
    }
    serde_json::to_string_pretty(&converted).map_err(|e| CliError::Other(e.to_string()))
}

/// One entry per function with a DeploymentPreference: its logical id, the request, and notes
/// on what needs a person's attention.
pub fn convert(template: &Yaml, candidate_alias: &str) -> Result<Vec<Value>, CliError> {
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| CliError::refused("the template has no Resources"))?;
    let mut out = Vec::new();
    for (logical, resource) in resources {
        let logical = logical.as_str().unwrap_or_default();
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &resource["Properties"];
        let preference = &props["DeploymentPreference"];
        if preference.is_null() {
            continue;
        }
        let mut notes = Vec::new();
        if preference["Enabled"].as_bool() == Some(false) {
            notes.push(
                "DeploymentPreference.Enabled is false: CodeDeploy did not run; left out"
                    .to_string(),
            );
            out.push(json!({"resource": logical, "request": null, "notes": notes}));
            continue;
        }
        let function = name_of(props, "FunctionName", logical, "function", &mut notes);
        let alias = match global_or(template, props, "AutoPublishAlias").as_str() {
            Some(a) => a.to_string(),
            None => {
                notes.push("no AutoPublishAlias: using \"live\" as the alias sluice moves".into());
                "live".into()
            }
        };
        let strategy = strategy_of(&preference["Type"], &mut notes);
        let alarms: Vec<String> = preference["Alarms"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|a| reference(template, a, "AlarmName", "alarm", &mut notes))
            .collect();
        let mut hooks = serde_json::Map::new();
        for (sam, ours) in [("PreTraffic", "preTraffic"), ("PostTraffic", "postTraffic")] {
            let hook = &preference["Hooks"][sam];
            if !hook.is_null() {
                let name = reference(template, hook, "FunctionName", "hook", &mut notes);
                hooks.insert(ours.into(), json!(name));
            }
        }
        for unsupported in ["TriggerConfigurations", "Role", "PassthroughCondition"] {
            if !preference[unsupported].is_null() {
                notes.push(format!(
                    "DeploymentPreference.{unsupported} has no sluice equivalent and was left out"
                ));
            }
        }
        notes.push(format!(
            "set AutoPublishAlias: {candidate_alias} in the template, so SAM publishes each new version \
             there and sluice moves {alias} to it"
        ));
        let mut request = json!({
            "targets": [{"functionName": function, "alias": alias, "targetVersion": format!("alias:{candidate_alias}")}],
            "strategy": strategy,
        });
        if !alarms.is_empty() {
            request["alarms"] = json!(alarms);
        }
        if !hooks.is_empty() {
            request["hooks"] = Value::Object(hooks);
        }
        Request::parse(&request).map_err(|e| {
            CliError::refused(format!(
                "{logical}: the converted request is refused: {}",
                e.message
            ))
        })?;
        out.push(json!({"resource": logical, "request": request, "notes": notes}));
    }
    Ok(out)
}

/// The property, or the Globals.Function one.
fn global_or<'a>(template: &'a Yaml, props: &'a Yaml, key: &str) -> &'a Yaml {
    if props[key].is_null() {
        &template["Globals"]["Function"][key]
    } else {
        &props[key]
    }
}

fn strategy_of(kind: &Yaml, notes: &mut Vec<String>) -> Value {
    let literal = match kind {
        Yaml::String(s) => Some(s.as_str()),
        _ => None,
    };
    match literal {
        Some(name) if Strategy::preset(name).is_some() => json!(name),
        Some(name) => {
            notes.push(format!(
                "Type {name} is a custom CodeDeploy configuration: write it as {{\"canary\": ...}}, \
                 {{\"linear\": ...}} or {{\"steps\": [...]}}; AllAtOnce used meanwhile"
            ));
            json!("AllAtOnce")
        }
        None => {
            notes.push(format!(
                "Type is {} (not a literal): put the configuration's name; AllAtOnce used meanwhile",
                describe(kind)
            ));
            json!("AllAtOnce")
        }
    }
}

/// A function's own name: FunctionName when literal, else the logical id, noted.
fn name_of(props: &Yaml, key: &str, logical: &str, what: &str, notes: &mut Vec<String>) -> String {
    match &props[key] {
        Yaml::String(name) => name.clone(),
        _ => {
            notes.push(format!(
                "{what} {logical} has no literal {key}: CloudFormation names it; use the deployed name"
            ));
            logical.to_string()
        }
    }
}

/// A literal name, or a `!Ref` to a resource of the template, resolved to its literal name
/// property where it has one.
fn reference(
    template: &Yaml,
    value: &Yaml,
    key: &str,
    what: &str,
    notes: &mut Vec<String>,
) -> String {
    // Tagged first: yaml_serde's as_str() would read through the !Ref tag.
    let target = match value {
        Yaml::Tagged(t) if t.tag == "!Ref" => t.value.as_str(),
        Yaml::Mapping(m) => m.get("Ref").and_then(Yaml::as_str),
        Yaml::String(name) => return name.clone(),
        _ => None,
    };
    match target {
        Some(logical) => name_of(
            &template["Resources"][logical]["Properties"],
            key,
            logical,
            what,
            notes,
        ),
        None => {
            notes.push(format!(
                "{what} {} is not a name or a !Ref; fill it in",
                describe(value)
            ));
            describe(value)
        }
    }
}

fn describe(value: &Yaml) -> String {
    yaml_serde::to_string(value)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    AutoPublishAlias: live
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders
      DeploymentPreference:
        Type: Canary10Percent5Minutes
  Billing:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: billing
      AutoPublishAlias: prod
      DeploymentPreference:
        Type: CodeDeployDefault.LambdaLinear10PercentEvery2Minutes
        Alarms:
          - !Ref BillingErrors
          - billing-latency
        Hooks:
          PreTraffic: !Ref BillingPreTraffic
          PostTraffic: billing-post
        TriggerConfigurations: []
  Reports:
    Type: AWS::Serverless::Function
    Properties:
      DeploymentPreference:
        Type: AllAtOnce
  BillingPreTraffic:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: CodeDeployHook_billing-pre
  BillingErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: billing-errors
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: plain
"#;

    #[test]
    fn a_canary_a_linear_with_hooks_and_alarms_and_an_all_at_once() {
        let template: Yaml = yaml_serde::from_str(TEMPLATE).unwrap();
        let out = convert(&template, "candidate").unwrap();
        assert_eq!(out.len(), 3, "Plain has no DeploymentPreference");
        let by = |r: &str| out.iter().find(|e| e["resource"] == r).unwrap().clone();
        let orders = by("Orders");
        assert_eq!(
            orders["request"],
            json!({"targets": [{"functionName": "orders", "alias": "live", "targetVersion": "alias:candidate"}],
                   "strategy": "Canary10Percent5Minutes"})
        );
        let billing = by("Billing");
        assert_eq!(billing["request"]["targets"][0]["alias"], "prod");
        assert_eq!(
            billing["request"]["strategy"],
            "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"
        );
        assert_eq!(
            billing["request"]["alarms"],
            json!(["billing-errors", "billing-latency"])
        );
        assert_eq!(
            billing["request"]["hooks"],
            json!({"preTraffic": "CodeDeployHook_billing-pre", "postTraffic": "billing-post"})
        );
        let notes = billing["notes"].to_string();
        assert!(
            notes.contains("TriggerConfigurations has no sluice equivalent"),
            "{notes}"
        );
        let reports = by("Reports");
        assert_eq!(reports["request"]["strategy"], "AllAtOnce");
        assert_eq!(reports["request"]["targets"][0]["functionName"], "Reports");
        assert!(
            reports["notes"]
                .to_string()
                .contains("no literal FunctionName")
        );
        for e in &out {
            Request::parse(&e["request"]).expect("validate accepts every converted request");
        }
    }

    #[test]
    fn a_template_without_preferences_is_an_error() {
        let dir = std::env::temp_dir().join(format!("sluice-from-sam-{}", std::process::id()));
        std::fs::write(
            &dir,
            "Resources: {X: {Type: AWS::Serverless::Function, Properties: {}}}",
        )
        .unwrap();
        let err = run(&dir, "candidate").unwrap_err().to_string();
        assert!(
            err.ends_with("has no AWS::Serverless::Function with a DeploymentPreference"),
            "{err}"
        );
        let _ = std::fs::remove_file(&dir);
        assert!(
            run(Path::new("/nonexistent/t.yaml"), "c")
                .unwrap_err()
                .to_string()
                .starts_with("cannot read")
        );
    }
}
