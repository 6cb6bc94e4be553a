//! `sluice from-sam`: reads a SAM template and writes, for each function with a
//! `DeploymentPreference`, the sluice request that does what CodeDeploy did — Type, Alarms and
//! Hooks mapped; `AutoPublishAlias` becomes the alias sluice moves, deployed from the alias SAM
//! publishes new versions to; anything sluice does not map is named. The template is read as SAM
//! reads it (`resolve`): Globals merged, intrinsics followed with the parameters' defaults, a
//! custom `AWS::CodeDeploy::DeploymentConfig` converted, properties written in the wrong place
//! named (and mapped where the intent is plain).

mod resolve;

use crate::error::CliError;
use resolve::{Resolved, Template, describe, merge_globals, to_json};
use serde_json::{Value, json};
use sluice_core::{Request, Strategy};
use std::collections::BTreeMap;
use std::path::Path;
use yaml_serde::Value as Yaml;
pub fn run(path: &Path, candidate_alias: &str, parameters: &[String]) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let template: Yaml = yaml_serde::from_str(&text)
        .map_err(|e| CliError::refused(format!("{} is not YAML or JSON: {e}", path.display())))?;
    let mut given = BTreeMap::new();
    for p in parameters {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| CliError::refused(format!("--parameter {p}: write it as NAME=VALUE")))?;
        given.insert(name.trim().to_string(), value.to_string());
    }
    let converted = convert_with(&template, candidate_alias, given)?;
    if converted.is_empty() {
        return Err(CliError::refused(format!(
            "{} has no AWS::Serverless::Function with a DeploymentPreference",
            path.display()
        )));
    }
    serde_json::to_string_pretty(&converted).map_err(|e| CliError::Other(e.to_string()))
}

/// How a note begins that keeps the request from being printed: a request without what it names
/// (the strategy, an alarm, a hook) would be less safe than what CodeDeploy ran.
const CANNOT: &str = "cannot map:";

/// The properties a SAM `DeploymentPreference` has.
const PREFERENCE_KEYS: [&str; 7] = [
    "Type",
    "Alarms",
    "Hooks",
    "Enabled",
    "Role",
    "TriggerConfigurations",
    "PassthroughCondition",
];

/// `convert_with`, every parameter at its default.
#[cfg(test)]
pub fn convert(template: &Yaml, candidate_alias: &str) -> Result<Vec<Value>, CliError> {
    convert_with(template, candidate_alias, BTreeMap::new())
}

/// One entry per function with a DeploymentPreference (and per state machine with one, named as
/// out of scope): its logical id, the request (null when there is none to run), and notes on
/// what needs a person's attention; the template read with these parameters' values
/// (`--parameter NAME=VALUE`), the others at their defaults.
pub fn convert_with(
    template: &Yaml,
    candidate_alias: &str,
    parameters: BTreeMap<String, String>,
) -> Result<Vec<Value>, CliError> {
    let t = Template::with_parameters(to_json(template), parameters);
    if let Some(name) = t.unknown_parameters().first() {
        return Err(CliError::refused(format!(
            "--parameter {name}: the template has no parameter {name}"
        )));
    }
    let resources = t
        .resources()
        .ok_or_else(|| CliError::refused("the template has no Resources"))?;
    let mut out = Vec::new();
    for (logical, resource) in resources {
        match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                if let Some(entry) = function(&t, logical, resource, candidate_alias) {
                    out.push(entry);
                }
            }
            Some("AWS::Serverless::StateMachine")
                if !merge_globals(
                    &t.globals("StateMachine")["DeploymentPreference"],
                    &resource["Properties"]["DeploymentPreference"],
                )
                .is_null() =>
            {
                out.push(json!({"resource": logical, "request": null, "notes": [
                    "AWS::Serverless::StateMachine: its DeploymentPreference shifts traffic between \
                     state machine versions, which is out of sluice's scope (sluice moves Lambda \
                     aliases); left out"
                ]}));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The entry of one AWS::Serverless::Function, or None when it has no DeploymentPreference (nor
/// anything that looks like one).
fn function(t: &Template, logical: &str, resource: &Value, candidate_alias: &str) -> Option<Value> {
    t.take_defaults();
    let mut notes = Vec::new();
    let props = merge_globals(t.globals("Function"), &resource["Properties"]);
    let mut preference = props["DeploymentPreference"].clone();
    if preference.is_null() && !resource["DeploymentPreference"].is_null() {
        notes.push(format!(
            "{logical}: DeploymentPreference is beside Properties; it belongs under Properties \
             (SAM does not read it there); mapped"
        ));
        preference = resource["DeploymentPreference"].clone();
    }
    let stray: Vec<&str> = ["Alarms", "Hooks"]
        .into_iter()
        .filter(|k| !props[*k].is_null())
        .collect();
    if preference.is_null() {
        if stray.is_empty() {
            return None;
        }
        notes.push(format!(
            "{} written under Properties without a DeploymentPreference: SAM runs no CodeDeploy \
             deployment for it; add DeploymentPreference (with Type) and put {} inside it",
            stray.join(" and "),
            if stray.len() == 1 { "it" } else { "them" }
        ));
        return Some(json!({"resource": logical, "request": null, "notes": notes}));
    }
    let preference = match t.resolve(&preference) {
        Resolved::Known(Value::Object(p)) => p,
        Resolved::Known(Value::Null) => {
            notes.push(format!(
                "DeploymentPreference {} is AWS::NoValue with these parameters: SAM runs no \
                 CodeDeploy deployment for it; no request",
                describe(&preference)
            ));
            return Some(entry(logical, None, notes, t));
        }
        other => {
            notes.push(format!(
                "DeploymentPreference {} cannot be read: {}",
                describe(&preference),
                why(&other)
            ));
            return Some(json!({"resource": logical, "request": null, "notes": notes}));
        }
    };
    let field = |key: &str| preference.get(key).cloned().unwrap_or(Value::Null);

    match t.resolve(&field("Enabled")) {
        Resolved::Known(Value::Bool(false)) => {
            notes.push(
                "DeploymentPreference.Enabled is false: CodeDeploy did not run; left out".into(),
            );
            return Some(entry(logical, None, notes, t));
        }
        Resolved::Known(Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            notes.push(
                "DeploymentPreference.Enabled is false: CodeDeploy did not run; left out".into(),
            );
            return Some(entry(logical, None, notes, t));
        }
        Resolved::Known(_) => {}
        other => notes.push(format!(
            "DeploymentPreference.Enabled cannot be decided ({}): converted as enabled",
            why(&other)
        )),
    }
    if let Some(condition) = resource.get("Condition") {
        match t.condition(condition) {
            Ok(true) => {}
            Ok(false) => notes.push(format!(
                "the function's Condition {} is false with the parameters' defaults: SAM would not \
                 create it; converted all the same",
                describe(condition)
            )),
            Err(why) => notes.push(format!(
                "the function's Condition {} cannot be decided ({why}); converted all the same",
                describe(condition)
            )),
        }
    }

    let function = name_of(
        t,
        &resource["Properties"],
        "FunctionName",
        logical,
        "function",
        &mut notes,
    );
    let alias = match t.resolve(&props["AutoPublishAlias"]) {
        Resolved::Known(Value::String(a)) => a,
        Resolved::Known(Value::Null) => {
            notes.push("no AutoPublishAlias: using \"live\" as the alias sluice moves".into());
            "live".into()
        }
        other => {
            notes.push(format!(
                "AutoPublishAlias cannot be read ({}): using \"live\" as the alias sluice moves",
                why(&other)
            ));
            "live".into()
        }
    };
    if alias == candidate_alias {
        notes.push(format!(
            "{CANNOT} AutoPublishAlias is {alias}, the alias sluice deploys from \
             (--candidate-alias): convert the template as it was (AutoPublishAlias naming the \
             alias traffic moves on), or give another --candidate-alias"
        ));
    }
    let strategy = strategy_of(t, &field("Type"), &mut notes);

    // Alarms and Hooks: inside the preference, or (as the seed guide's template writes them)
    // beside it, where SAM and CodeDeploy never read them.
    let mut alarms_value = field("Alarms");
    let mut hooks_value = field("Hooks");
    for (key, value) in [("Alarms", &mut alarms_value), ("Hooks", &mut hooks_value)] {
        if props[key].is_null() {
            continue;
        }
        if value.is_null() {
            notes.push(format!(
                "{key} is under Properties, beside DeploymentPreference: SAM passes it to nothing \
                 there (CodeDeploy never saw it); it belongs inside DeploymentPreference. Mapped"
            ));
            *value = props[key].clone();
        } else {
            notes.push(format!(
                "{key} is both inside DeploymentPreference and beside it, under Properties: the \
                 one inside is used, the other ({}) left out",
                describe(&props[key])
            ));
        }
    }
    // Hooks written straight into the preference.
    for key in ["PreTraffic", "PostTraffic"] {
        if let Some(hook) = preference.get(key)
            && hooks_value.get(key).is_none()
        {
            notes.push(format!(
                "DeploymentPreference.{key} belongs under DeploymentPreference.Hooks; mapped"
            ));
            if !hooks_value.is_object() {
                hooks_value = json!({});
            }
            hooks_value[key] = hook.clone();
        }
    }
    for key in preference.keys() {
        if !PREFERENCE_KEYS.contains(&key.as_str())
            && !["PreTraffic", "PostTraffic"].contains(&key.as_str())
        {
            notes.push(format!(
                "DeploymentPreference.{key} is not a SAM property (it has {}); left out",
                PREFERENCE_KEYS.join(", ")
            ));
        }
    }
    let mut alarms = Vec::new();
    for alarm in alarms_of(t, &alarms_value, &mut notes) {
        if alarms.contains(&alarm) {
            // Globals' alarms and the function's own add up, as SAM adds them.
            notes.push(format!(
                "alarm {alarm} is named twice (Globals and the function's own): once"
            ));
        } else {
            alarms.push(alarm);
        }
    }
    let hooks = hooks_of(t, &hooks_value, &mut notes);
    for unsupported in ["TriggerConfigurations", "Role", "PassthroughCondition"] {
        if !field(unsupported).is_null() {
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
    Some(entry(logical, Some(request), notes, t))
}

/// An entry, its request checked by sluice-core's parser (refused: no request, the reason noted),
/// with the parameters' defaults it was read with.
fn entry(logical: &str, request: Option<Value>, mut notes: Vec<String>, t: &Template) -> Value {
    let defaults = t.take_defaults();
    if !defaults.is_empty() {
        notes.push(format!(
            "read with the parameters' defaults ({}): a stack deployed with other values may need \
             another request",
            defaults.join(", ")
        ));
    }
    let blocked = notes.iter().any(|n| n.starts_with(CANNOT));
    if blocked && request.is_some() {
        notes.push(format!(
            "no request printed: without what the \"{CANNOT}\" notes name it would be less safe \
             than what CodeDeploy ran; fix the template, give --parameter values, or write the \
             request by hand"
        ));
    }
    let request = request.filter(|_| !blocked).filter(|r| match Request::parse(r) {
        Ok(_) => true,
        Err(e) => {
            notes.push(format!("the converted request is refused: {}; fix the template or write the request by hand", e.message));
            false
        }
    });
    json!({"resource": logical, "request": request, "notes": notes})
}

/// Why a value could not be read as wanted.
fn why(r: &Resolved) -> String {
    match r {
        Resolved::Known(v) => format!("it is {}", describe(v)),
        Resolved::Resource { logical, attribute } => match attribute {
            Some(a) => format!("{logical}.{a} is known only once the stack exists"),
            None => format!("a reference to resource {logical}"),
        },
        Resolved::Unknown(why) => why.clone(),
    }
}

/// The strategy of `DeploymentPreference.Type`: a preset, a CodeDeployDefault name, or a custom
/// `AWS::CodeDeploy::DeploymentConfig` of the template (by `!Ref`, or by its name).
fn strategy_of(t: &Template, kind: &Value, notes: &mut Vec<String>) -> Value {
    let config = match t.resolve(kind) {
        Resolved::Known(Value::String(name)) => {
            if Strategy::preset(&name).is_some() {
                return json!(name);
            }
            // A custom configuration, named: the template's own, if it defines it.
            let own = t.resources().and_then(|rs| {
                rs.iter().find(|(_, r)| {
                    r["Type"] == "AWS::CodeDeploy::DeploymentConfig"
                        && t.string(&r["Properties"]["DeploymentConfigName"])
                            .ok()
                            .as_deref()
                            == Some(&name)
                })
            });
            match own {
                Some((logical, _)) => logical.clone(),
                None => {
                    notes.push(format!(
                        "{CANNOT} Type {name}, a custom CodeDeploy configuration the template does \
                         not define: write the strategy as {{\"canary\": ...}}, {{\"linear\": ...}} \
                         or {{\"steps\": [...]}}"
                    ));
                    return json!("AllAtOnce");
                }
            }
        }
        Resolved::Resource { logical, .. } => logical,
        Resolved::Known(Value::Null) => {
            notes.push(format!(
                "{CANNOT} DeploymentPreference has no Type (SAM requires one)"
            ));
            return json!("AllAtOnce");
        }
        other => {
            notes.push(format!(
                "{CANNOT} Type {}: {} (give the parameters' values with --parameter, or put the configuration's name)",
                describe(kind),
                why(&other)
            ));
            return json!("AllAtOnce");
        }
    };
    match t.resource(&config) {
        Some(r) if r["Type"] == "AWS::CodeDeploy::DeploymentConfig" => {
            deployment_config(t, &config, &r["Properties"], notes)
        }
        _ => {
            notes.push(format!(
                "{CANNOT} Type refers to {config}, which is not an AWS::CodeDeploy::DeploymentConfig"
            ));
            json!("AllAtOnce")
        }
    }
}

/// A custom `AWS::CodeDeploy::DeploymentConfig`'s `TrafficRoutingConfig` as a sluice strategy
/// (CodeDeploy's intervals are minutes).
fn deployment_config(t: &Template, logical: &str, props: &Value, notes: &mut Vec<String>) -> Value {
    let unreadable = |notes: &mut Vec<String>, why: String| {
        notes.push(format!("{CANNOT} the DeploymentConfig {logical} ({why})"));
        json!("AllAtOnce")
    };
    if let Ok(platform) = t.string(&props["ComputePlatform"])
        && platform != "Lambda"
    {
        return unreadable(
            notes,
            format!("its ComputePlatform is {platform}, not Lambda"),
        );
    }
    let routing = &props["TrafficRoutingConfig"];
    let number = |v: &Value| t.string(v).ok().and_then(|s| s.parse::<f64>().ok());
    let kind = t.string(&routing["Type"]).unwrap_or_default();
    let (shape, percent, interval) = match kind.as_str() {
        "AllAtOnce" => {
            notes.push(format!(
                "Type is the template's DeploymentConfig {logical}: all at once"
            ));
            return json!("AllAtOnce");
        }
        "TimeBasedCanary" => (
            "canary",
            number(&routing["TimeBasedCanary"]["CanaryPercentage"]),
            number(&routing["TimeBasedCanary"]["CanaryInterval"]),
        ),
        "TimeBasedLinear" => (
            "linear",
            number(&routing["TimeBasedLinear"]["LinearPercentage"]),
            number(&routing["TimeBasedLinear"]["LinearInterval"]),
        ),
        other => {
            return unreadable(
                notes,
                format!("TrafficRoutingConfig.Type {}", describe(&json!(other))),
            );
        }
    };
    let (Some(percent), Some(minutes)) = (percent, interval) else {
        return unreadable(
            notes,
            format!("its {shape} percentage or interval is not a number"),
        );
    };
    notes.push(format!(
        "Type is the template's DeploymentConfig {logical}: {shape} {percent}% every {minutes} minutes"
    ));
    json!({shape: {"percent": percent, "interval": format!("{minutes}m")}})
}

/// The alarms' names: literal, a parameter's, or a `!Ref`/`!GetAtt` to an alarm of the template
/// (its `AlarmName`). One that cannot be read is named in a note, never silently dropped.
fn alarms_of(t: &Template, value: &Value, notes: &mut Vec<String>) -> Vec<String> {
    let items = match t.resolve(value) {
        Resolved::Known(Value::Null) => return Vec::new(),
        Resolved::Known(Value::Array(items)) => items,
        other => {
            notes.push(format!(
                "{CANNOT} Alarms {}: {} (give the parameters' values with --parameter, or name them by hand)",
                describe(value),
                why(&other)
            ));
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for item in &items {
        match t.resolve(item) {
            Resolved::Known(Value::String(name)) => names.push(name),
            Resolved::Known(Value::Null) => notes.push(format!(
                "alarm {} is AWS::NoValue: left out, as SAM does",
                describe(item)
            )),
            Resolved::Resource { logical, .. } => {
                let props = t
                    .resource(&logical)
                    .map_or(&Value::Null, |r| &r["Properties"]);
                names.push(name_of(t, props, "AlarmName", &logical, "alarm", notes));
            }
            other => match undefined_ref(t, item) {
                Some(name) => {
                    notes.push(format!(
                        "alarm !Ref {name}: the template does not define {name}; using {name} as \
                         the alarm's name (validate refuses it if no such alarm exists)"
                    ));
                    names.push(name);
                }
                None => notes.push(format!(
                    "{CANNOT} alarm {}: {} (give the parameters' values with --parameter, or name it by hand)",
                    describe(item),
                    why(&other)
                )),
            },
        }
    }
    names
}

/// The PreTraffic and PostTraffic hooks' function names.
fn hooks_of(
    t: &Template,
    value: &Value,
    notes: &mut Vec<String>,
) -> serde_json::Map<String, Value> {
    let mut hooks = serde_json::Map::new();
    let object = match t.resolve(value) {
        Resolved::Known(Value::Null) => return hooks,
        Resolved::Known(Value::Object(o)) => o,
        other => {
            notes.push(format!(
                "{CANNOT} Hooks {}: {} (name them by hand)",
                describe(value),
                why(&other)
            ));
            return hooks;
        }
    };
    for (key, hook) in &object {
        let ours = match key.as_str() {
            "PreTraffic" => "preTraffic",
            "PostTraffic" => "postTraffic",
            other => {
                notes.push(format!(
                    "Hooks.{other} is not a hook SAM knows (PreTraffic, PostTraffic); left out"
                ));
                continue;
            }
        };
        match t.resolve(hook) {
            Resolved::Known(Value::String(name)) => {
                hooks.insert(ours.into(), json!(name));
            }
            Resolved::Resource { logical, .. } => {
                let props = t
                    .resource(&logical)
                    .map_or(&Value::Null, |r| &r["Properties"]);
                let name = name_of(t, props, "FunctionName", &logical, "hook", notes);
                hooks.insert(ours.into(), json!(name));
            }
            other => match undefined_ref(t, hook) {
                Some(name) => {
                    notes.push(format!(
                        "hook {key} !Ref {name}: the template does not define {name}; using \
                         {name} as the function's name (validate refuses it if no such function \
                         exists)"
                    ));
                    hooks.insert(ours.into(), json!(name));
                }
                None => notes.push(format!(
                    "{CANNOT} hook {key} {}: {} (give the parameters' values with --parameter, or name it by hand)",
                    describe(hook),
                    why(&other)
                )),
            },
        }
    }
    hooks
}

/// The name a `!Ref` gives when the template defines nothing of that name (a template cut down
/// to a snippet, as guides print them): the intent is plain, the name is the best guess.
fn undefined_ref(t: &Template, v: &Value) -> Option<String> {
    let name = v.as_object()?.get("Ref")?.as_str()?;
    let defined = t.resource(name).is_some()
        || t.root.get("Parameters").and_then(|p| p.get(name)).is_some()
        || name.starts_with("AWS::");
    (!defined).then(|| name.to_string())
}

/// A resource's own name (its `key`, read as far as it can be), else its logical id, noted.
fn name_of(
    t: &Template,
    props: &Value,
    key: &str,
    logical: &str,
    what: &str,
    notes: &mut Vec<String>,
) -> String {
    match t.resolve(&props[key]) {
        Resolved::Known(Value::String(name)) => name,
        Resolved::Known(Value::Null) => {
            notes.push(format!(
                "{what} {logical} has no literal {key}: CloudFormation names it; use the deployed name"
            ));
            logical.to_string()
        }
        other => {
            notes.push(format!(
                "{what} {logical}'s {key} cannot be read before the stack exists ({}): using \
                 {logical}; put the deployed name",
                why(&other)
            ));
            logical.to_string()
        }
    }
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

    fn converted(yaml: &str) -> Vec<Value> {
        let template: Yaml = yaml_serde::from_str(yaml).unwrap();
        let out = convert(&template, "candidate").unwrap();
        for e in &out {
            if !e["request"].is_null() {
                Request::parse(&e["request"]).expect("every request it prints is accepted");
            }
        }
        out
    }

    fn notes(e: &Value) -> String {
        e["notes"].to_string()
    }

    /// The seed guide's template: Alarms and Hooks beside DeploymentPreference, where SAM and
    /// CodeDeploy never read them. Mapped, saying where they belong.
    #[test]
    fn alarms_and_hooks_beside_the_preference_are_mapped_saying_where_they_belong() {
        let out = converted(
            r#"
Resources:
  MyLambdaFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent10Minutes
      Alarms:
        - !Ref AliasErrorMetricGreaterThanZeroAlarm
        - !Ref LatestVersionErrorMetricGreaterThanZeroAlarm
      Hooks:
        PreTraffic: !Ref PreTrafficLambdaFunction
        PostTraffic: !GetAtt PostTrafficLambdaFunction.Arn
  AliasErrorMetricGreaterThanZeroAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmName: orders-alias-errors}
  LatestVersionErrorMetricGreaterThanZeroAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmName: !Sub "${AWS::StackName}-latest-errors"}
  PreTrafficLambdaFunction:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: CodeDeployHook_orders-pre}
  PostTrafficLambdaFunction:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: CodeDeployHook_orders-post}
"#,
        );
        assert_eq!(out.len(), 1, "the hooks have no preference of their own");
        let e = &out[0];
        assert_eq!(e["request"]["strategy"], "Canary10Percent10Minutes");
        assert_eq!(
            e["request"]["alarms"],
            json!([
                "orders-alias-errors",
                "LatestVersionErrorMetricGreaterThanZeroAlarm"
            ])
        );
        assert_eq!(
            e["request"]["hooks"],
            json!({"preTraffic": "CodeDeployHook_orders-pre", "postTraffic": "CodeDeployHook_orders-post"})
        );
        let n = notes(e);
        for said in [
            "Alarms is under Properties, beside DeploymentPreference",
            "Hooks is under Properties, beside DeploymentPreference",
            "AWS::StackName is known only once the stack is deployed",
        ] {
            assert!(n.contains(said), "{said:?} not in {n}");
        }
    }

    /// The seed guide's template as it prints it: a snippet whose alarms and hooks are `!Ref`s
    /// to resources it does not show. Mapped by those names, each said.
    #[test]
    fn the_seed_guides_template_as_printed() {
        let out = converted(
            r#"
Resources:
  MyLambdaFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      Runtime: nodejs12.x
      CodeUri: s3://bucket/code.zip
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent10Minutes
      Alarms:
        - !Ref AliasErrorMetricGreaterThanZeroAlarm
        - !Ref LatestVersionErrorMetricGreaterThanZeroAlarm
      Hooks:
        PreTraffic: !Ref PreTrafficLambdaFunction
        PostTraffic: !Ref PostTrafficLambdaFunction
"#,
        );
        let e = &out[0];
        assert_eq!(
            e["request"],
            json!({"targets": [{"functionName": "MyLambdaFunction", "alias": "live", "targetVersion": "alias:candidate"}],
                   "strategy": "Canary10Percent10Minutes",
                   "alarms": ["AliasErrorMetricGreaterThanZeroAlarm", "LatestVersionErrorMetricGreaterThanZeroAlarm"],
                   "hooks": {"preTraffic": "PreTrafficLambdaFunction", "postTraffic": "PostTrafficLambdaFunction"}})
        );
        let n = notes(e);
        assert!(
            n.contains("the template does not define AliasErrorMetricGreaterThanZeroAlarm"),
            "{n}"
        );
        assert!(
            n.contains("Alarms is under Properties, beside DeploymentPreference"),
            "{n}"
        );
    }

    /// A DeploymentPreference in Globals.Function applies to every function, merged as SAM
    /// merges it: the function's own keys win, alarm lists add up, hooks merge by phase.
    #[test]
    fn a_preference_in_globals_applies_to_every_function() {
        let out = converted(
            r#"
Globals:
  Function:
    AutoPublishAlias: live
    DeploymentPreference:
      Type: Linear10PercentEvery1Minute
      Alarms: [shared-errors]
      Hooks: {PreTraffic: shared-pre}
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: orders}
  Billing:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: billing
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Alarms: [billing-errors]
        Hooks: {PostTraffic: billing-post}
  Off:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: off
      DeploymentPreference: {Enabled: false}
"#,
        );
        let by = |r: &str| out.iter().find(|e| e["resource"] == r).unwrap().clone();
        assert_eq!(
            by("Orders")["request"]["strategy"],
            "Linear10PercentEvery1Minute"
        );
        assert_eq!(by("Orders")["request"]["alarms"], json!(["shared-errors"]));
        let billing = by("Billing")["request"].clone();
        assert_eq!(billing["strategy"], "Canary10Percent5Minutes");
        assert_eq!(
            billing["alarms"],
            json!(["shared-errors", "billing-errors"])
        );
        assert_eq!(
            billing["hooks"],
            json!({"preTraffic": "shared-pre", "postTraffic": "billing-post"})
        );
        assert!(by("Off")["request"].is_null());
        assert!(notes(&by("Off")).contains("Enabled is false"));
    }

    /// Intrinsics where SAM allows them, read with the parameters' defaults (and said so).
    #[test]
    fn intrinsics_are_read_with_the_parameters_defaults() {
        let out = converted(
            r#"
Parameters:
  Stage: {Type: String, Default: prod}
  Deploy: {Type: String, Default: "true"}
  ErrorsAlarm: {Type: String, Default: orders-errors}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "orders-${Stage}"
      AutoPublishAlias: !Ref Stage
      DeploymentPreference:
        Enabled: !Ref Deploy
        Type: !If [IsProd, Canary10Percent30Minutes, AllAtOnce]
        Alarms:
          - !Ref ErrorsAlarm
          - !If [IsProd, !Ref Latency, !Ref AWS::NoValue]
        Hooks:
          PreTraffic: !GetAtt Pre.Arn
        PassthroughCondition: !If [IsProd, true, false]
  Latency:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmName: !Join ["-", [orders, !Ref Stage, latency]]}
  Pre:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: !Sub "${Stage}-pre"}
"#,
        );
        assert_eq!(out.len(), 1, "its hook Pre has no preference: not listed");
        let e = out.iter().find(|e| e["resource"] == "Orders").unwrap();
        assert_eq!(
            e["request"],
            json!({"targets": [{"functionName": "orders-prod", "alias": "prod", "targetVersion": "alias:candidate"}],
                   "strategy": "Canary10Percent30Minutes",
                   "alarms": ["orders-errors", "orders-prod-latency"],
                   "hooks": {"preTraffic": "prod-pre"}})
        );
        let n = notes(e);
        assert!(n.contains("read with the parameters' defaults (Deploy=true, ErrorsAlarm=orders-errors, Stage=prod)"), "{n}");
        assert!(
            n.contains("PassthroughCondition has no sluice equivalent"),
            "{n}"
        );
    }

    /// A custom AWS::CodeDeploy::DeploymentConfig of the template, by !Ref or by its name.
    #[test]
    fn a_custom_deployment_config_of_the_template_is_converted() {
        let out = converted(
            r#"
Resources:
  Canary:
    Type: AWS::CodeDeploy::DeploymentConfig
    Properties:
      ComputePlatform: Lambda
      TrafficRoutingConfig:
        Type: TimeBasedCanary
        TimeBasedCanary: {CanaryPercentage: 5, CanaryInterval: 15}
  Linear:
    Type: AWS::CodeDeploy::DeploymentConfig
    Properties:
      DeploymentConfigName: slow-linear
      ComputePlatform: Lambda
      TrafficRoutingConfig:
        Type: TimeBasedLinear
        TimeBasedLinear: {LinearPercentage: 20, LinearInterval: 3}
  A:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: a, AutoPublishAlias: live, DeploymentPreference: {Type: !Ref Canary}}
  B:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: b, AutoPublishAlias: live, DeploymentPreference: {Type: slow-linear}}
  C:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: c, AutoPublishAlias: live, DeploymentPreference: {Type: NotHere}}
"#,
        );
        let by = |r: &str| out.iter().find(|e| e["resource"] == r).unwrap().clone();
        assert_eq!(
            by("A")["request"]["strategy"],
            json!({"canary": {"percent": 5.0, "interval": "15m"}})
        );
        assert_eq!(
            by("B")["request"]["strategy"],
            json!({"linear": {"percent": 20.0, "interval": "3m"}})
        );
        assert!(
            by("C")["request"].is_null(),
            "no weaker request than CodeDeploy ran"
        );
        assert!(notes(&by("C")).contains(
            "cannot map: Type NotHere, a custom CodeDeploy configuration the template does not define"
        ));
    }

    /// Nothing is dropped without a word: hooks written straight into the preference are mapped,
    /// unknown properties and hooks named, a state machine's preference named as out of scope.
    #[test]
    fn what_is_not_mapped_is_named() {
        let out = converted(
            r#"
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: a
      AutoPublishAlias: live
      DeploymentPreference:
        Type: AllAtOnce
        PreTraffic: a-pre
        Alarm: a-errors
        Hooks: {PostTraffic: a-post, Midway: a-mid}
  Misplaced:
    Type: AWS::Serverless::Function
    DeploymentPreference: {Type: Canary10Percent5Minutes}
    Properties: {FunctionName: misplaced, AutoPublishAlias: live}
  Lonely:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: lonely, Alarms: [x]}
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      AutoPublishAlias: live
      DeploymentPreference: {Type: LINEAR, Percentage: 10, Interval: 1}
"#,
        );
        let by = |r: &str| out.iter().find(|e| e["resource"] == r).unwrap().clone();
        let a = by("A");
        assert_eq!(
            a["request"]["hooks"],
            json!({"preTraffic": "a-pre", "postTraffic": "a-post"})
        );
        let n = notes(&a);
        assert!(
            n.contains(
                "DeploymentPreference.PreTraffic belongs under DeploymentPreference.Hooks; mapped"
            ),
            "{n}"
        );
        assert!(
            n.contains("DeploymentPreference.Alarm is not a SAM property"),
            "{n}"
        );
        assert!(n.contains("Hooks.Midway is not a hook SAM knows"), "{n}");
        assert_eq!(
            by("Misplaced")["request"]["strategy"],
            "Canary10Percent5Minutes"
        );
        assert!(notes(&by("Misplaced")).contains("DeploymentPreference is beside Properties"));
        assert!(by("Lonely")["request"].is_null());
        assert!(notes(&by("Lonely")).contains("without a DeploymentPreference"));
        assert!(by("Flow")["request"].is_null());
        assert!(notes(&by("Flow")).contains("out of sluice's scope"));
    }

    #[test]
    fn a_template_without_preferences_is_an_error() {
        let dir = std::env::temp_dir().join(format!("sluice-from-sam-{}", std::process::id()));
        std::fs::write(
            &dir,
            "Resources: {X: {Type: AWS::Serverless::Function, Properties: {}}}",
        )
        .unwrap();
        let err = run(&dir, "candidate", &[]).unwrap_err().to_string();
        assert!(
            err.ends_with("has no AWS::Serverless::Function with a DeploymentPreference"),
            "{err}"
        );
        let _ = std::fs::remove_file(&dir);
        assert!(
            run(Path::new("/nonexistent/t.yaml"), "c", &[])
                .unwrap_err()
                .to_string()
                .starts_with("cannot read")
        );
    }
}
