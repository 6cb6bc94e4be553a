//! A SAM template's CloudFormation, read as far as it can be without deploying it: YAML's short
//! forms (`!Ref`, `!Sub`, `!If`, ...) in their long forms; parameters by their defaults;
//! conditions on them; `Fn::If`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::FindInMap`, and
//! `Ref`/`Fn::GetAtt` to a resource named as such; and SAM's Globals merged into a resource as
//! SAM merges them. What cannot be known before the stack exists (a pseudo parameter, an
//! attribute of a resource, a parameter without a default) is `Unknown`, saying why.

use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use yaml_serde::Value as Yaml;

/// How deep intrinsics may nest before the reading gives up (a condition naming itself).
const MAX_DEPTH: usize = 32;

/// A YAML template as JSON, every short-form tag in its long form (`!Ref X` is `{"Ref": "X"}`,
/// `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` is `{"Fn::Sub": s}`).
pub fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => describe(&to_json(other)),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(&t.value);
            let mut long = Map::new();
            match name {
                "Ref" | "Condition" => {
                    long.insert(name.to_string(), inner);
                }
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((resource, attribute)) => {
                                Value::Array(vec![resource.into(), attribute.into()])
                            }
                            None => Value::String(s),
                        },
                        other => other,
                    };
                    long.insert("Fn::GetAtt".into(), inner);
                }
                other => {
                    long.insert(format!("Fn::{other}"), inner);
                }
            }
            Value::Object(long)
        }
    }
}

/// A value as read before the stack exists.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// Its value (lists and objects as written: their items are resolved one by one).
    Known(Value),
    /// A `Ref` or `Fn::GetAtt` to a resource of the template: its logical id, and the attribute.
    Resource {
        logical: String,
        attribute: Option<String>,
    },
    /// Not known before the stack exists, and why.
    Unknown(String),
}

/// An intrinsic function: an object of one key, `Ref`, `Condition` or `Fn::...`.
pub fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (k, arg) = m.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), arg))
}

/// SAM's merge of a Globals section into a resource's properties: objects merge key by key (the
/// resource's own value wins), lists are the globals' then the resource's, anything else is the
/// resource's; an intrinsic on either side is not merged into: the resource's wins.
pub fn merge_globals(global: &Value, local: &Value) -> Value {
    if local.is_null() {
        return global.clone();
    }
    if intrinsic(global).is_some() || intrinsic(local).is_some() {
        return local.clone();
    }
    match (global, local) {
        (Value::Object(g), Value::Object(l)) => {
            let mut merged = g.clone();
            for (k, lv) in l {
                let v = match g.get(k) {
                    // Written without a value: SAM keeps the resource's none, not the global.
                    Some(_) if lv.is_null() => Value::Null,
                    Some(gv) => merge_globals(gv, lv),
                    None => lv.clone(),
                };
                merged.insert(k.clone(), v);
            }
            Value::Object(merged)
        }
        (Value::Array(g), Value::Array(l)) => Value::Array(g.iter().chain(l).cloned().collect()),
        _ => local.clone(),
    }
}

/// A value as people read it in a note: compact JSON, short.
pub fn describe(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}

/// A template, for reading its values.
pub struct Template {
    pub root: Value,
    /// The parameters' values given (`--parameter NAME=VALUE`): they win over the defaults.
    given: BTreeMap<String, String>,
    /// The parameters whose defaults a reading used since `take_defaults` ("Stage=beta").
    defaults: RefCell<BTreeSet<String>>,
}

impl Template {
    #[cfg(test)]
    pub fn new(root: Value) -> Template {
        Template::with_parameters(root, BTreeMap::new())
    }

    /// A template read with these parameters' values, as a stack would be deployed with them.
    pub fn with_parameters(root: Value, given: BTreeMap<String, String>) -> Template {
        Template {
            root,
            given,
            defaults: RefCell::new(BTreeSet::new()),
        }
    }

    /// The parameters given that the template does not declare.
    pub fn unknown_parameters(&self) -> Vec<String> {
        self.given
            .keys()
            .filter(|k| !k.starts_with("AWS::"))
            .filter(|k| {
                self.root
                    .get("Parameters")
                    .and_then(|p| p.get(k.as_str()))
                    .is_none()
            })
            .cloned()
            .collect()
    }

    pub fn resources(&self) -> Option<&Map<String, Value>> {
        self.root.get("Resources")?.as_object()
    }

    pub fn resource(&self, logical: &str) -> Option<&Value> {
        self.resources()?.get(logical)
    }

    /// `Globals.<kind>` (Null when absent).
    pub fn globals(&self, kind: &str) -> &Value {
        self.root
            .get("Globals")
            .and_then(|g| g.get(kind))
            .unwrap_or(&Value::Null)
    }

    /// The parameters' defaults the readings used since the last call, and forgets them.
    pub fn take_defaults(&self) -> Vec<String> {
        std::mem::take(&mut *self.defaults.borrow_mut())
            .into_iter()
            .collect()
    }

    /// `v` as far as it can be read.
    pub fn resolve(&self, v: &Value) -> Resolved {
        self.resolve_at(v, 0)
    }

    /// `v` read to a string (a number or a boolean as CloudFormation writes it), or why not.
    pub fn string(&self, v: &Value) -> Result<String, String> {
        self.string_at(v, 0)
    }

    fn string_at(&self, v: &Value, depth: usize) -> Result<String, String> {
        match self.resolve_at(v, depth) {
            Resolved::Known(Value::String(s)) => Ok(s),
            Resolved::Known(Value::Number(n)) => Ok(n.to_string()),
            Resolved::Known(Value::Bool(b)) => Ok(b.to_string()),
            Resolved::Known(other) => Err(format!("{} is not a string", describe(&other))),
            Resolved::Resource { logical, attribute } => Err(match attribute {
                Some(a) => format!("{logical}.{a} is known only once the stack exists"),
                None => format!(
                    "a reference to resource {logical}, whose name is known only once the stack exists"
                ),
            }),
            Resolved::Unknown(why) => Err(why),
        }
    }

    fn resolve_at(&self, v: &Value, depth: usize) -> Resolved {
        if depth > MAX_DEPTH {
            return Resolved::Unknown("the intrinsics nest too deep to read".into());
        }
        let Some((function, arg)) = intrinsic(v) else {
            return Resolved::Known(v.clone());
        };
        let next = depth + 1;
        match function {
            "Ref" => match arg.as_str() {
                Some(name) => self.reference(name),
                None => Resolved::Unknown(format!("Ref to {}", describe(arg))),
            },
            "Fn::GetAtt" => {
                let parts: Vec<String> = match arg {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| self.string_at(i, next).unwrap_or_default())
                        .collect(),
                    Value::String(s) => s.splitn(2, '.').map(str::to_string).collect(),
                    _ => Vec::new(),
                };
                match parts.as_slice() {
                    [logical, attribute] if self.resource(logical).is_some() => {
                        Resolved::Resource {
                            logical: logical.clone(),
                            attribute: Some(attribute.clone()),
                        }
                    }
                    _ => Resolved::Unknown(format!(
                        "Fn::GetAtt {} names no resource of the template",
                        describe(arg)
                    )),
                }
            }
            "Fn::If" => match arg.as_array().map(Vec::as_slice) {
                Some([condition, yes, no]) => match self.condition_at(condition, next) {
                    Ok(true) => self.resolve_at(yes, next),
                    Ok(false) => self.resolve_at(no, next),
                    Err(why) => Resolved::Unknown(format!(
                        "Fn::If on {} cannot be decided: {why}",
                        describe(condition)
                    )),
                },
                _ => Resolved::Unknown(format!(
                    "Fn::If {} is not [condition, then, else]",
                    describe(arg)
                )),
            },
            "Fn::Sub" => match self.sub(arg, next) {
                Ok(s) => Resolved::Known(Value::String(s)),
                Err(why) => Resolved::Unknown(why),
            },
            "Fn::Join" => match arg.as_array().map(Vec::as_slice) {
                Some([delimiter, items]) => {
                    let joined = self.string_at(delimiter, next).and_then(|d| {
                        let items = match self.resolve_at(items, next) {
                            Resolved::Known(Value::Array(items)) => items,
                            _ => return Err(format!("Fn::Join of {}", describe(items))),
                        };
                        items
                            .iter()
                            // AWS::NoValue leaves an item out.
                            .filter(|i| self.resolve_at(i, next) != Resolved::Known(Value::Null))
                            .map(|i| self.string_at(i, next))
                            .collect::<Result<Vec<_>, _>>()
                            .map(|parts| parts.join(&d))
                    });
                    match joined {
                        Ok(s) => Resolved::Known(Value::String(s)),
                        Err(why) => Resolved::Unknown(why),
                    }
                }
                _ => Resolved::Unknown(format!(
                    "Fn::Join {} is not [delimiter, list]",
                    describe(arg)
                )),
            },
            "Fn::Split" => match arg.as_array().map(Vec::as_slice) {
                Some([delimiter, text]) => {
                    match (self.string_at(delimiter, next), self.string_at(text, next)) {
                        (Ok(d), Ok(t)) if !d.is_empty() => Resolved::Known(Value::Array(
                            t.split(d.as_str())
                                .map(|p| Value::String(p.to_string()))
                                .collect(),
                        )),
                        (Err(why), _) | (_, Err(why)) => {
                            Resolved::Unknown(format!("Fn::Split: {why}"))
                        }
                        _ => Resolved::Unknown("Fn::Split with an empty delimiter".into()),
                    }
                }
                _ => Resolved::Unknown(format!(
                    "Fn::Split {} is not [delimiter, string]",
                    describe(arg)
                )),
            },
            "Fn::Select" => match arg.as_array().map(Vec::as_slice) {
                Some([index, list]) => {
                    let index = self
                        .string_at(index, next)
                        .ok()
                        .and_then(|i| i.parse::<usize>().ok());
                    match (index, self.resolve_at(list, next)) {
                        (Some(i), Resolved::Known(Value::Array(items))) if i < items.len() => {
                            self.resolve_at(&items[i], next)
                        }
                        _ => Resolved::Unknown(format!(
                            "Fn::Select {} cannot be read",
                            describe(arg)
                        )),
                    }
                }
                _ => {
                    Resolved::Unknown(format!("Fn::Select {} is not [index, list]", describe(arg)))
                }
            },
            "Fn::FindInMap" => match arg.as_array().map(Vec::as_slice) {
                Some([map, top, second]) => {
                    let keys = [map, top, second]
                        .iter()
                        .map(|k| self.string_at(k, next))
                        .collect::<Result<Vec<_>, _>>();
                    match keys {
                        Ok(keys) => match self
                            .root
                            .get("Mappings")
                            .and_then(|m| m.get(&keys[0]))
                            .and_then(|m| m.get(&keys[1]))
                            .and_then(|m| m.get(&keys[2]))
                        {
                            Some(found) => self.resolve_at(found, next),
                            None => Resolved::Unknown(format!(
                                "Mappings has no {}.{}.{}",
                                keys[0], keys[1], keys[2]
                            )),
                        },
                        Err(why) => Resolved::Unknown(format!("Fn::FindInMap: {why}")),
                    }
                }
                _ => Resolved::Unknown(format!(
                    "Fn::FindInMap {} is not [map, key, key]",
                    describe(arg)
                )),
            },
            other => Resolved::Unknown(format!("{other} is not read before the stack exists")),
        }
    }

    /// `Ref name`: a parameter (by its default), a pseudo parameter, or a resource.
    fn reference(&self, name: &str) -> Resolved {
        if name == "AWS::NoValue" {
            return Resolved::Known(Value::Null);
        }
        if name.starts_with("AWS::")
            && let Some(value) = self.given.get(name)
        {
            return Resolved::Known(Value::String(value.clone()));
        }
        if name.starts_with("AWS::") {
            return Resolved::Unknown(format!("{name} is known only once the stack is deployed"));
        }
        if let Some(parameter) = self.root.get("Parameters").and_then(|p| p.get(name)) {
            // A list parameter's value is its items, comma-separated.
            let kind = parameter
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("String");
            let listed = kind == "CommaDelimitedList" || kind.starts_with("List<");
            let value = |text: String| {
                if listed {
                    Value::Array(
                        text.split(',')
                            .map(|i| Value::String(i.trim().to_string()))
                            .collect(),
                    )
                } else {
                    Value::String(text)
                }
            };
            if let Some(given) = self.given.get(name) {
                return Resolved::Known(value(given.clone()));
            }
            return match parameter.get("Default") {
                Some(default) => {
                    self.defaults
                        .borrow_mut()
                        .insert(format!("{name}={}", describe(default)));
                    Resolved::Known(match default {
                        Value::Number(n) => value(n.to_string()),
                        Value::String(s) => value(s.clone()),
                        other => other.clone(),
                    })
                }
                None => Resolved::Unknown(format!(
                    "parameter {name} has no Default: give its value (--parameter {name}=...)"
                )),
            };
        }
        if self.resource(name).is_some() {
            return Resolved::Resource {
                logical: name.to_string(),
                attribute: None,
            };
        }
        // SAM's `!Ref Function.Alias` / `!Ref Function.Version`: the function's alias or version.
        if let Some((logical, attribute)) = name.split_once('.')
            && self.resource(logical).is_some()
        {
            return Resolved::Resource {
                logical: logical.to_string(),
                attribute: Some(attribute.to_string()),
            };
        }
        Resolved::Unknown(format!("Ref to {name}, which the template does not define"))
    }

    /// `Fn::Sub`: a string with `${Name}` (a parameter, a variable of its map), `${!Literal}`.
    fn sub(&self, arg: &Value, depth: usize) -> Result<String, String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(items) => match items.as_slice() {
                [Value::String(s), Value::Object(vars)] => (s.as_str(), Some(vars)),
                _ => {
                    return Err(format!(
                        "Fn::Sub {} is not [string, variables]",
                        describe(arg)
                    ));
                }
            },
            _ => return Err(format!("Fn::Sub {} is not a string", describe(arg))),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = vars.and_then(|v| v.get(name)) {
                out.push_str(&self.string_at(value, depth)?);
            } else if name.contains('.') {
                return Err(format!(
                    "Fn::Sub needs ${{{name}}}, known only once the stack exists"
                ));
            } else {
                let value = self
                    .string_at(&serde_json::json!({"Ref": name}), depth)
                    .map_err(|why| format!("Fn::Sub needs ${{{name}}}: {why}"))?;
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Whether a condition holds with the parameters' defaults: a condition's name, an inline
    /// `Fn::Equals` / `Fn::Not` / `Fn::And` / `Fn::Or` / `Condition`, or a boolean.
    pub fn condition(&self, c: &Value) -> Result<bool, String> {
        self.condition_at(c, 0)
    }

    fn condition_at(&self, c: &Value, depth: usize) -> Result<bool, String> {
        if depth > MAX_DEPTH {
            return Err("the conditions nest too deep to read (one names itself?)".into());
        }
        let next = depth + 1;
        match c {
            Value::Bool(b) => return Ok(*b),
            Value::String(s) if s == "true" || s == "false" => return Ok(s == "true"),
            Value::String(name) => {
                let expr = self
                    .root
                    .get("Conditions")
                    .and_then(|cs| cs.get(name))
                    .ok_or_else(|| format!("the template has no condition {name}"))?;
                return self
                    .condition_at(expr, next)
                    .map_err(|why| format!("condition {name}: {why}"));
            }
            _ => {}
        }
        let Some((function, arg)) = intrinsic(c) else {
            return Err(format!("{} is not a condition", describe(c)));
        };
        let items = arg.as_array().map(Vec::as_slice).unwrap_or_default();
        match function {
            "Condition" => self.condition_at(arg, next),
            "Fn::Equals" => match items {
                [a, b] => Ok(self.scalar(a, next)? == self.scalar(b, next)?),
                _ => Err(format!("Fn::Equals {} is not [a, b]", describe(arg))),
            },
            "Fn::Not" => match items {
                [inner] => self.condition_at(inner, next).map(|b| !b),
                _ => Err(format!("Fn::Not {} is not [condition]", describe(arg))),
            },
            // Decided as soon as one arm decides it, whatever the others are.
            "Fn::And" | "Fn::Or" => {
                let decisive = function == "Fn::Or";
                let mut unknown = None;
                for i in items {
                    match self.condition_at(i, next) {
                        Ok(b) if b == decisive => return Ok(decisive),
                        Ok(_) => {}
                        Err(why) => unknown = unknown.or(Some(why)),
                    }
                }
                unknown.map_or(Ok(!decisive), Err)
            }
            other => Err(format!("{other} is not a condition function")),
        }
    }

    /// A value compared by `Fn::Equals`, as CloudFormation compares them (as strings).
    fn scalar(&self, v: &Value, depth: usize) -> Result<String, String> {
        self.string_at(v, depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(yaml: &str) -> Template {
        Template::new(to_json(&yaml_serde::from_str(yaml).unwrap()))
    }

    const T: &str = r#"
Parameters:
  Stage: {Type: String, Default: prod}
  Percent: {Type: Number, Default: 10}
  Secret: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [IsProd, !Equals ["a", "a"]]
  Unknowable: !Equals [!Ref Secret, x]
Mappings:
  Types: {prod: {Type: Canary10Percent5Minutes}}
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {FunctionName: !Sub "orders-${Stage}"}}
"#;

    #[test]
    fn short_forms_become_long_forms() {
        let y: Yaml =
            yaml_serde::from_str("[!Ref A, !GetAtt B.Arn, !Sub x, !If [C, 1, 2], !Condition D]")
                .unwrap();
        assert_eq!(
            to_json(&y),
            json!([{"Ref": "A"}, {"Fn::GetAtt": ["B", "Arn"]}, {"Fn::Sub": "x"},
                   {"Fn::If": ["C", 1, 2]}, {"Condition": "D"}])
        );
    }

    #[test]
    fn parameters_by_their_defaults_conditions_subs_and_maps() {
        let t = template(T);
        let r = |v: Value| t.resolve(&v);
        assert_eq!(r(json!({"Ref": "Stage"})), Resolved::Known(json!("prod")));
        assert_eq!(r(json!({"Ref": "Percent"})), Resolved::Known(json!("10")));
        assert_eq!(t.take_defaults(), vec!["Percent=10", "Stage=prod"]);
        assert!(
            matches!(r(json!({"Ref": "Secret"})), Resolved::Unknown(w) if w.contains("no Default"))
        );
        assert!(matches!(
            r(json!({"Ref": "AWS::Region"})),
            Resolved::Unknown(_)
        ));
        assert_eq!(
            r(json!({"Ref": "AWS::NoValue"})),
            Resolved::Known(Value::Null)
        );
        assert_eq!(
            r(json!({"Ref": "Fn"})),
            Resolved::Resource {
                logical: "Fn".into(),
                attribute: None
            }
        );
        assert_eq!(
            r(json!({"Fn::GetAtt": "Fn.Arn"})),
            Resolved::Resource {
                logical: "Fn".into(),
                attribute: Some("Arn".into())
            }
        );
        assert_eq!(
            r(json!({"Fn::If": ["IsProd", "a", "b"]})),
            Resolved::Known(json!("a"))
        );
        assert_eq!(
            r(json!({"Fn::If": ["NotProd", "a", "b"]})),
            Resolved::Known(json!("b"))
        );
        assert_eq!(
            r(json!({"Fn::If": ["Both", "a", "b"]})),
            Resolved::Known(json!("a"))
        );
        assert!(
            matches!(r(json!({"Fn::If": ["Unknowable", "a", "b"]})), Resolved::Unknown(w) if w.contains("Secret"))
        );
        assert_eq!(
            t.string(&json!({"Fn::Sub": "a-${Stage}-${!Literal}-${X}", }))
                .unwrap_err(),
            "Fn::Sub needs ${X}: Ref to X, which the template does not define"
        );
        assert_eq!(
            t.string(&json!({"Fn::Sub": ["${A}-${Stage}", {"A": "x"}]}))
                .unwrap(),
            "x-prod"
        );
        assert_eq!(
            t.string(&json!({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}))
                .unwrap(),
            "a-prod"
        );
        assert_eq!(
            t.string(&json!({"Fn::FindInMap": ["Types", {"Ref": "Stage"}, "Type"]}))
                .unwrap(),
            "Canary10Percent5Minutes"
        );
        assert_eq!(
            t.string(&json!({"Fn::Select": [1, ["a", "b"]]})).unwrap(),
            "b"
        );
        assert!(
            t.string(&json!({"Fn::Sub": "${AWS::StackName}-x"}))
                .is_err()
        );
    }

    #[test]
    fn lists_splits_pseudo_parameters_and_conditions_one_arm_decides() {
        let t = Template::with_parameters(
            to_json(
                &yaml_serde::from_str(
                    r#"
Parameters:
  Alarms: {Type: CommaDelimitedList, Default: "a, b"}
  Secret: {Type: String}
Conditions:
  Prod: !Equals [x, x]
  Either: !Or [Prod, !Equals [!Ref Secret, y]]
  Both: !And [!Not [Prod], !Equals [!Ref Secret, y]]
  InUs: !Equals [!Ref "AWS::Region", us-east-1]
Resources:
  Fn: {Type: AWS::Serverless::Function}
"#,
                )
                .unwrap(),
            ),
            BTreeMap::from([("AWS::Region".into(), "us-east-1".into())]),
        );
        assert_eq!(
            t.resolve(&json!({"Ref": "Alarms"})),
            Resolved::Known(json!(["a", "b"]))
        );
        assert_eq!(
            t.resolve(&json!({"Fn::Split": [",", "x,y"]})),
            Resolved::Known(json!(["x", "y"]))
        );
        assert_eq!(
            t.string(&json!({"Fn::Join": ["-", ["a", {"Ref": "AWS::NoValue"}, "b"]]}))
                .unwrap(),
            "a-b"
        );
        assert_eq!(
            t.condition(&json!("Either")),
            Ok(true),
            "one arm decides an Or"
        );
        assert_eq!(
            t.condition(&json!("Both")),
            Ok(false),
            "one arm decides an And"
        );
        assert_eq!(
            t.condition(&json!("InUs")),
            Ok(true),
            "a pseudo parameter given"
        );
        assert!(t.unknown_parameters().is_empty());
        assert_eq!(
            t.resolve(&json!({"Ref": "Fn.Alias"})),
            Resolved::Resource {
                logical: "Fn".into(),
                attribute: Some("Alias".into())
            }
        );
        assert_eq!(
            merge_globals(
                &json!({"DeploymentPreference": {"Type": "AllAtOnce"}}),
                &json!({"DeploymentPreference": null})
            ),
            json!({"DeploymentPreference": null}),
            "written without a value: none, as SAM keeps it"
        );
    }

    #[test]
    fn a_condition_naming_itself_is_refused_not_followed_forever() {
        let t = template("Conditions: {Loop: !Not [!Condition Loop]}\nResources: {}");
        assert!(
            t.condition(&json!("Loop"))
                .unwrap_err()
                .contains("too deep")
        );
    }

    #[test]
    fn globals_merge_as_sam_merges_them() {
        let global = json!({"AutoPublishAlias": "live", "DeploymentPreference": {"Type": "AllAtOnce",
            "Alarms": ["a"], "Hooks": {"PreTraffic": "pre"}}, "Tags": {"x": "1"}});
        let local = json!({"DeploymentPreference": {"Type": "Canary10Percent5Minutes", "Alarms": ["b"],
            "Hooks": {"PostTraffic": "post"}}, "Tags": {"Ref": "T"}});
        assert_eq!(
            merge_globals(&global, &local),
            json!({"AutoPublishAlias": "live", "DeploymentPreference": {"Type": "Canary10Percent5Minutes",
                   "Alarms": ["a", "b"], "Hooks": {"PreTraffic": "pre", "PostTraffic": "post"}},
                   "Tags": {"Ref": "T"}})
        );
        assert_eq!(merge_globals(&global, &Value::Null), global);
    }
}
