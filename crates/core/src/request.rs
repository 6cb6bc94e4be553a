//! The deployment request (the execution input), parsed at the edge into values that
//! cannot be invalid. Every refusal names the field and the reason.

use crate::bounds::{clip, clip_quoted, quote};
use crate::budget;
use crate::duration::{HumanDuration, format_seconds};
use crate::error::{Error, Refusal};
use crate::fields::{Object, optional, required};
use crate::function::{FunctionRef, Home, Role};
use crate::strategy::{Plan, RawStrategy};
use crate::weight::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub const MAX_TARGETS: usize = 10;
pub const MAX_ALARMS: usize = 50;
/// How often the backstop reads the alarms during a bake when the request does not say: alarm
/// events stop a bake at once, so the backstop only catches what an event missed.
pub const DEFAULT_CHECK_SECONDS: u64 = 300;

// Objects are read by name only and null is never read as absent: see `fields`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRequest {
    #[serde(deserialize_with = "required")]
    targets: Vec<Object<RawTarget>>,
    #[serde(deserialize_with = "required")]
    strategy: RawStrategy,
    #[serde(default, deserialize_with = "optional")]
    alarms: Vec<String>,
    #[serde(default, deserialize_with = "optional")]
    hooks: Option<Object<RawHooks>>,
    #[serde(default, deserialize_with = "optional")]
    check_interval: Option<HumanDuration>,
    /// checkInterval's first name, still accepted.
    #[serde(default, deserialize_with = "optional")]
    poll_interval: Option<HumanDuration>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHooks {
    #[serde(default, deserialize_with = "optional")]
    pre_traffic: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    post_traffic: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTarget {
    #[serde(deserialize_with = "required")]
    function_name: String,
    #[serde(deserialize_with = "required")]
    alias: String,
    #[serde(default, deserialize_with = "optional")]
    target_version: Option<String>,
}

/// Where the version to deploy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetVersion {
    /// Publish the function's current code as a new version.
    Publish,
    /// This published version.
    Version(Version),
    /// Whatever version another alias of the same function points at.
    FromAlias(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub function_name: String,
    pub alias: String,
    pub version: TargetVersion,
}

impl Target {
    /// "function:alias", as messages name it.
    pub fn name(&self) -> String {
        format!("{}:{}", self.function_name, self.alias)
    }
}

/// The PreTraffic and PostTraffic hook functions, as the request names them and the document
/// keeps them: an absent hook stays absent, so the state machine can test `IsPresent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_traffic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_traffic: Option<String>,
}

impl Hooks {
    /// Each hook that is set, with its request field.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("hooks.preTraffic", &self.pre_traffic),
            ("hooks.postTraffic", &self.post_traffic),
        ]
        .into_iter()
        .filter_map(|(field, hook)| hook.as_deref().map(|h| (field, h)))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub targets: Vec<Target>,
    /// A short name of the strategy ("Canary10Percent5Minutes", "canary 5% 30s").
    pub strategy_name: String,
    pub plan: Plan,
    pub alarms: Vec<String>,
    pub hooks: Hooks,
    /// How often the backstop reads the alarms' state and history during a bake.
    pub check_interval_seconds: u64,
    /// Why the check interval is not the one asked for (validate stretched the default so the
    /// plan fits one execution's history).
    pub check_interval_note: Option<String>,
}

/// What the state machine hands validate: the execution input and the execution's name.
#[derive(Debug, Clone, PartialEq)]
pub struct StartInput {
    pub deployment_id: String,
    pub execution_arn: String,
    pub request: Request,
}

impl StartInput {
    /// Reads `{"request": ..., "deploymentId": ..., "executionArn": ...}`; the request is
    /// refused field by field, and so is a function outside the region and account of the
    /// execution (sluice's own).
    pub fn parse(input: &Value) -> Result<StartInput, Error> {
        let text = |key: &str| {
            input.get(key).and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                Error::internal(format!(
                    "validate needs {{\"request\", \"deploymentId\", \"executionArn\"}} (the state machine \
                     passes them); {key} is missing"
                ))
            })
        };
        let deployment_id = text("deploymentId")?;
        let execution_arn = text("executionArn")?;
        let home = Home::of_execution(&execution_arn).ok_or_else(|| {
            Error::internal(format!(
                "executionArn {} is not a Step Functions execution ARN",
                quote(&execution_arn)
            ))
        })?;
        let request = Request::parse_in(input.get("request").unwrap_or(&Value::Null), &home)?;
        Ok(StartInput {
            deployment_id,
            execution_arn,
            request,
        })
    }

    /// A payload validate cannot read at all (JSON nested deeper than serde_json reads):
    /// refused as the request, which is the only part of it that comes from outside sluice.
    pub fn unreadable(why: &str) -> Error {
        Error::invalid("request", format!("cannot be read: {why}"))
    }
}

impl Request {
    /// The request on its own, where sluice does not know its region and account (the CLI).
    pub fn parse(value: &Value) -> Result<Request, Error> {
        Ok(Request::refuse(value, None)?)
    }

    /// The request of an execution running at `home`: every function named must be there.
    pub fn parse_in(value: &Value, home: &Home) -> Result<Request, Error> {
        Ok(Request::refuse(value, Some(home))?)
    }

    fn refuse(value: &Value, home: Option<&Home>) -> Result<Request, Refusal> {
        if !value.is_object() {
            return Err(Refusal::new(
                "request",
                "must be a JSON object with \"targets\" and \"strategy\"",
            ));
        }
        let raw: RawRequest = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "request".to_string()
            } else {
                path
            };
            // serde's messages quote the input whole ("unknown field `...`").
            Refusal::new(field, clip_quoted(&e.inner().to_string()))
        })?;

        if raw.targets.is_empty() {
            return Err(Refusal::new("targets", "must name at least one target"));
        }
        if raw.targets.len() > MAX_TARGETS {
            return Err(Refusal::new(
                "targets",
                format!(
                    "names {} targets; at most {MAX_TARGETS} can move together",
                    raw.targets.len()
                ),
            ));
        }
        // Each function and alias, by the function's name however it is spelled: the spelling
        // that named it first.
        let mut seen: HashMap<(String, String), (usize, String)> = HashMap::new();
        let mut targets = Vec::with_capacity(raw.targets.len());
        for (i, Object(t)) in raw.targets.into_iter().enumerate() {
            let field = |name: &str| format!("targets[{i}].{name}");
            let function =
                function_ref(&field("functionName"), &t.function_name, Role::Target, home)?;
            check_alias_name(&t.alias).map_err(|r| Refusal::new(field("alias"), r))?;
            let key = (function.name.to_string(), t.alias.clone());
            if let Some((first, spelled)) = seen.get(&key) {
                let again = if *spelled == t.function_name {
                    String::new()
                } else {
                    format!(
                        " ({} is targets[{first}]'s {})",
                        quote(&t.function_name),
                        quote(spelled)
                    )
                };
                return Err(Refusal::new(
                    format!("targets[{i}]"),
                    format!(
                        "{}:{} is named twice{again}",
                        clip(&key.0, 64),
                        clip(&key.1, 64)
                    ),
                ));
            }
            seen.insert(key, (i, t.function_name.clone()));
            let version = match t.target_version.as_deref() {
                None => TargetVersion::Publish,
                Some(text) => match text.strip_prefix("alias:") {
                    Some(other) => {
                        check_alias_name(other)
                            .map_err(|r| Refusal::new(field("targetVersion"), r))?;
                        if other == t.alias {
                            return Err(Refusal::new(
                                field("targetVersion"),
                                format!(
                                    "{} is the alias being deployed; name another alias",
                                    quote(text)
                                ),
                            ));
                        }
                        TargetVersion::FromAlias(other.to_string())
                    }
                    None => TargetVersion::Version(
                        Version::parse(text)
                            .map_err(|r| Refusal::new(field("targetVersion"), r))?,
                    ),
                },
            };
            targets.push(Target {
                function_name: t.function_name,
                alias: t.alias,
                version,
            });
        }

        let (strategy_name, strategy) = raw.strategy.parse()?;
        let plan = strategy.plan().map_err(|r| Refusal::new("strategy", r))?;

        if raw.alarms.len() > MAX_ALARMS {
            return Err(Refusal::new(
                "alarms",
                format!(
                    "names {} alarms; at most {MAX_ALARMS} are allowed",
                    raw.alarms.len()
                ),
            ));
        }
        let mut names = HashSet::new();
        for (i, a) in raw.alarms.iter().enumerate() {
            if a.trim().is_empty() || a.len() > 255 {
                return Err(Refusal::new(
                    format!("alarms[{i}]"),
                    "an alarm name is 1 to 255 characters",
                ));
            }
            if !names.insert(a) {
                return Err(Refusal::new(
                    format!("alarms[{i}]"),
                    format!("{} is named twice", quote(a)),
                ));
            }
        }

        let raw_hooks = raw.hooks.map(|Object(h)| h).unwrap_or_default();
        let hooks = Hooks {
            pre_traffic: raw_hooks.pre_traffic,
            post_traffic: raw_hooks.post_traffic,
        };
        for (field, hook) in hooks.named() {
            function_ref(field, hook, Role::Hook, home)?;
        }

        let (field, asked) = match (raw.check_interval, raw.poll_interval) {
            (Some(_), Some(_)) => {
                return Err(Refusal::new(
                    "pollInterval",
                    "is checkInterval's old name; give only checkInterval",
                ));
            }
            (None, Some(HumanDuration(s))) => ("pollInterval", Some(s)),
            (check, None) => ("checkInterval", check.map(|HumanDuration(s)| s)),
        };
        let has_alarms = !raw.alarms.is_empty();
        let fits = |interval| {
            budget::worst_case_events(&plan, interval, has_alarms, &hooks) < budget::HISTORY_LIMIT
        };
        let too_long = || {
            Refusal::new(
                "strategy",
                format!(
                    "has more steps and bake than one execution's {} history events allow, even checking \
                     the alarms hourly; split it into several deployments",
                    budget::HISTORY_LIMIT
                ),
            )
        };
        let (check_interval_seconds, check_interval_note) = match asked {
            Some(s) if !(1..=budget::MAX_CHECK_SECONDS).contains(&s) => {
                return Err(Refusal::new(
                    field,
                    format!("\"{}\" is outside 1s to 1h", format_seconds(s)),
                ));
            }
            Some(s) if fits(s) => (s, None),
            Some(s) => {
                let worst = budget::worst_case_events(&plan, s, has_alarms, &hooks);
                let fits = budget::shortest_check_that_fits(&plan, has_alarms, &hooks)
                    .ok_or_else(too_long)?;
                return Err(Refusal::new(
                    field,
                    format!(
                        "checking the alarms every {} would take up to {worst} Step Functions history events, and an \
                         execution stops at {} (only the safety net could then roll it back). Use \"{}\" or longer",
                        format_seconds(s),
                        budget::HISTORY_LIMIT,
                        format_seconds(fits)
                    ),
                ));
            }
            None if fits(DEFAULT_CHECK_SECONDS) => (DEFAULT_CHECK_SECONDS, None),
            None => {
                let stretched = budget::shortest_check_that_fits(&plan, has_alarms, &hooks)
                    .ok_or_else(too_long)?;
                let note = format!(
                    "the backstop checks the alarms every {} instead of the default {}, so that the whole \
                     plan fits one execution's {} history events (alarm events still stop a bake at once)",
                    format_seconds(stretched),
                    format_seconds(DEFAULT_CHECK_SECONDS),
                    budget::HISTORY_LIMIT
                );
                (stretched, Some(note))
            }
        };

        Ok(Request {
            targets,
            strategy_name,
            plan,
            alarms: raw.alarms,
            hooks,
            check_interval_seconds,
            check_interval_note,
        })
    }
}

/// A target's or hook's function, refused naming `field` when malformed, qualified, or (when
/// sluice knows where it runs) elsewhere.
fn function_ref<'t>(
    field: &str,
    text: &'t str,
    role: Role,
    home: Option<&Home>,
) -> Result<FunctionRef<'t>, Refusal> {
    let f = FunctionRef::parse(text, role).map_err(|r| Refusal::new(field, r))?;
    if let Some(home) = home {
        f.check_home(text, home)
            .map_err(|r| Refusal::new(field, r))?;
    }
    Ok(f)
}

/// Lambda alias names: 1-128 of [A-Za-z0-9_-], not all digits (that would be a version).
fn check_alias_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("an alias name is 1 to 128 characters".into());
    }
    if name == "$LATEST" {
        return Err("$LATEST is not an alias; name an alias, like live".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(format!(
            "{} has {c:?}; alias names use letters, digits, - and _",
            quote(name)
        ));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{} is all digits, which names a version, not an alias",
            quote(name)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorName;
    use serde_json::json;

    fn ok() -> Value {
        json!({
            "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "7"}],
            "strategy": "Canary10Percent5Minutes",
            "alarms": ["orders-errors"],
            "hooks": {"preTraffic": "orders-pre", "postTraffic": "arn:aws:lambda:us-east-1:123456789012:function:orders-post"},
            "pollInterval": "30s"
        })
    }

    #[test]
    fn a_full_request_parses() {
        let r = Request::parse(&ok()).unwrap();
        assert_eq!(
            r.targets[0].version,
            TargetVersion::Version(Version::parse("7").unwrap())
        );
        assert_eq!(r.plan.step_count(), 2);
        assert_eq!(r.check_interval_seconds, 30);
        assert_eq!(r.hooks.pre_traffic.as_deref(), Some("orders-pre"));
        assert_eq!(r.strategy_name, "Canary10Percent5Minutes");
    }

    #[test]
    fn defaults_and_target_version_forms() {
        let r = Request::parse(&json!({
            "targets": [
                {"functionName": "a", "alias": "live"},
                {"functionName": "b", "alias": "live", "targetVersion": "alias:candidate"}
            ],
            "strategy": "AllAtOnce"
        }))
        .unwrap();
        assert_eq!(r.targets[0].version, TargetVersion::Publish);
        assert_eq!(
            r.targets[1].version,
            TargetVersion::FromAlias("candidate".into())
        );
        assert_eq!(r.check_interval_seconds, DEFAULT_CHECK_SECONDS);
        assert_eq!(r.check_interval_note, None);
        assert!(r.alarms.is_empty() && r.hooks == Hooks::default());
    }

    #[test]
    fn a_week_of_bake_at_the_defaults_is_accepted_with_a_longer_check_interval() {
        let r = Request::parse(&json!({
            "targets": [{"functionName": "a", "alias": "live"}],
            "strategy": {"canary": {"percent": 10, "interval": "168h"}},
            "alarms": ["errors"]
        }))
        .unwrap();
        assert_eq!(r.check_interval_seconds, 667);
        let note = r.check_interval_note.unwrap();
        assert!(
            note.starts_with(
                "the backstop checks the alarms every 11m7s instead of the default 5m"
            ),
            "{note}"
        );
        let r = Request::parse(&json!({
            "targets": [{"functionName": "a", "alias": "live"}],
            "strategy": "Canary10Percent30Minutes",
            "alarms": ["errors"],
            "checkInterval": "1m"
        }))
        .unwrap();
        assert_eq!(
            (r.check_interval_seconds, r.check_interval_note),
            (60, None)
        );
    }

    /// Each bad input is refused as InvalidRequest, naming the field and the reason.
    #[test]
    fn bad_requests_name_the_field() {
        let with = |patch: Value| {
            let mut v = ok();
            for (k, val) in patch.as_object().unwrap() {
                if val.is_null() {
                    v.as_object_mut().unwrap().remove(k);
                } else {
                    v[k] = val.clone();
                }
            }
            v
        };
        let t = |fields: Value| json!([fields]);
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!([1]), "request", "JSON object"),
            (
                with(json!({"targets": null})),
                "request",
                "missing field `targets`",
            ),
            (
                with(json!({"strategy": null})),
                "request",
                "missing field `strategy`",
            ),
            (
                with(json!({"colour": "blue"})),
                "colour",
                "unknown field `colour`",
            ),
            (with(json!({"targets": []})), "targets", "at least one"),
            (
                with(json!({"targets": t(json!({"alias": "live"}))})),
                "targets[0]",
                "missing field `functionName`",
            ),
            (
                with(json!({"targets": t(json!({"functionName": "f", "alias": "live", "x": 1}))})),
                "targets[0].x",
                "unknown field",
            ),
            (
                with(json!({"targets": t(json!({"functionName": "f", "alias": "123"}))})),
                "targets[0].alias",
                "all digits",
            ),
            (
                with(json!({"targets": t(json!({"functionName": "f g", "alias": "live"}))})),
                "targets[0].functionName",
                "' '",
            ),
            (
                with(
                    json!({"targets": t(json!({"functionName": "arn:aws:lambda:us-east-1:1:function:f:live", "alias": "live"}))}),
                ),
                "targets[0].functionName",
                "qualifier",
            ),
            (
                with(
                    json!({"targets": t(json!({"functionName": "f", "alias": "live", "targetVersion": "$LATEST"}))}),
                ),
                "targets[0].targetVersion",
                "$LATEST",
            ),
            (
                with(
                    json!({"targets": t(json!({"functionName": "f", "alias": "live", "targetVersion": "v2"}))}),
                ),
                "targets[0].targetVersion",
                "not a published version",
            ),
            (
                with(
                    json!({"targets": t(json!({"functionName": "f", "alias": "live", "targetVersion": "alias:live"}))}),
                ),
                "targets[0].targetVersion",
                "alias being deployed",
            ),
            (
                with(
                    json!({"targets": [{"functionName": "f", "alias": "live"}, {"functionName": "f", "alias": "live"}]}),
                ),
                "targets[1]",
                "named twice",
            ),
            (
                with(
                    json!({"targets": (0..11).map(|i| json!({"functionName": format!("f{i}"), "alias": "live"})).collect::<Vec<_>>()}),
                ),
                "targets",
                "at most 10",
            ),
            (
                with(json!({"strategy": "Blue"})),
                "strategy",
                "unknown preset",
            ),
            (
                with(
                    json!({"strategy": {"steps": [{"weight": 50}, {"weight": 20}, {"weight": 100}]}}),
                ),
                "strategy",
                "rise strictly",
            ),
            (
                with(
                    json!({"strategy": {"steps": [{"weight": 10, "bake": "800h"}, {"weight": 100}]}}),
                ),
                "strategy.steps[0].bake",
                "30 days",
            ),
            (
                with(
                    json!({"strategy": {"steps": [{"weight": 10, "bake": "100h"}, {"weight": 20, "bake": "100h"}, {"weight": 100}]}}),
                ),
                "strategy",
                "7 days",
            ),
            (
                with(json!({"alarms": ["a", "a"]})),
                "alarms[1]",
                "named twice",
            ),
            (with(json!({"alarms": [""]})), "alarms[0]", "1 to 255"),
            (
                with(json!({"alarms": (0..51).map(|i| format!("a{i}")).collect::<Vec<_>>()})),
                "alarms",
                "at most 50",
            ),
            (with(json!({"alarms": "a"})), "alarms", "invalid type"),
            (
                with(json!({"hooks": {"preTraffic": "bad name"}})),
                "hooks.preTraffic",
                "' '",
            ),
            (
                with(json!({"hooks": {"onError": "x"}})),
                "hooks.onError",
                "unknown field",
            ),
            (
                with(json!({"pollInterval": "0s"})),
                "pollInterval",
                "outside 1s to 1h",
            ),
            (
                with(json!({"pollInterval": "2h"})),
                "pollInterval",
                "outside 1s to 1h",
            ),
            (
                with(json!({"pollInterval": 10})),
                "pollInterval",
                "invalid type",
            ),
            (
                with(json!({"strategy": "Linear10PercentEvery10Minutes", "pollInterval": "1s"})),
                "pollInterval",
                "Use \"7s\" or longer",
            ),
            (
                with(
                    json!({"strategy": {"canary": {"percent": 10, "interval": "168h"}}, "pollInterval": "5m"}),
                ),
                "pollInterval",
                "Use \"11m7s\" or longer",
            ),
            (
                with(json!({"checkInterval": "5m"})),
                "pollInterval",
                "checkInterval's old name",
            ),
            (
                with(json!({"checkInterval": "61m", "pollInterval": null})),
                "checkInterval",
                "outside 1s to 1h",
            ),
        ];
        for (value, field, reason) in cases {
            let err = Request::parse(&value).expect_err(&value.to_string());
            assert_eq!(err.name, ErrorName::InvalidRequest);
            assert!(
                err.message.starts_with(&format!("{field}: ")),
                "expected field {field} in {:?}",
                err.message
            );
            assert!(
                err.message.contains(reason),
                "expected {reason:?} in {:?}",
                err.message
            );
        }
    }
}
