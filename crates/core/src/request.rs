//! The deployment request (the execution input), parsed at the edge into values that
//! cannot be invalid. Every refusal names the field and the reason.

use crate::analysis::Analysis;
use crate::bounds::{clip, clip_quoted, quote};
use crate::budget::{CheckInterval, Judges};
use crate::duration::HumanDuration;
use crate::error::{Error, Invalid};
use crate::fields::{Object, optional, required};
use crate::hooks::{Hooks, TrafficHook};
use crate::names::{AlarmName, AliasName, FunctionRef, Home, Role};
use crate::strategy::{
    DEFAULT_PAUSE_SECONDS, MAX_PAUSE_SECONDS, OnTimeout, PausePolicy, Plan, RawStrategy,
};
use crate::time::Timestamp;
use crate::weight::Version;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub const MAX_TARGETS: usize = 10;
pub const MAX_ALARMS: usize = 50;

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
    /// Read by `Analysis::read` (true, false or an object).
    #[serde(default, deserialize_with = "optional")]
    analysis: Option<Value>,
    #[serde(default, deserialize_with = "optional")]
    allow_firing_alarms: Vec<String>,
    #[serde(default, deserialize_with = "optional")]
    insufficient_data: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    requested_by: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    override_freeze: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    rollback_of: Option<String>,
    #[serde(default, deserialize_with = "optional")]
    pause: Option<Object<RawPause>>,
    #[serde(default, deserialize_with = "optional")]
    dry_run: Option<bool>,
}

/// `pause`: `{"limit": "1h", "onTimeout": "rollback" | "resume"}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPause {
    #[serde(default, deserialize_with = "optional")]
    limit: Option<HumanDuration>,
    #[serde(default, deserialize_with = "optional")]
    on_timeout: Option<String>,
}

fn read_pause(raw: Option<Object<RawPause>>) -> Result<PausePolicy, Error> {
    let Some(Object(raw)) = raw else {
        return Ok(PausePolicy::default());
    };
    let limit_seconds = raw.limit.map_or(DEFAULT_PAUSE_SECONDS, |l| l.0);
    if !(1..=MAX_PAUSE_SECONDS).contains(&limit_seconds) {
        return Err(Error::invalid("pause.limit", "must be 1s to 24h"));
    }
    let on_timeout = match raw.on_timeout.as_deref() {
        None => OnTimeout::Rollback,
        Some(t) => OnTimeout::parse(t, true).map_err(|r| r.at("pause.onTimeout"))?,
    };
    Ok(PausePolicy {
        limit_seconds,
        on_timeout,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHooks {
    /// A function, or `{"function", "mode", "timeout"}`: read by `TrafficHook::read`.
    #[serde(default, deserialize_with = "optional")]
    pre_traffic: Option<Value>,
    #[serde(default, deserialize_with = "optional")]
    post_traffic: Option<Value>,
    #[serde(default, deserialize_with = "optional")]
    check: Option<String>,
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
    FromAlias(AliasName),
}

/// One function and alias a deployment moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub function_name: FunctionRef,
    pub alias: AliasName,
    pub version: TargetVersion,
}

impl Target {
    /// "function:alias", as messages name it.
    pub fn name(&self) -> String {
        format!("{}:{}", self.function_name, self.alias)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub targets: Vec<Target>,
    /// A short name of the strategy ("Canary10Percent5Minutes", "canary 5% 30s").
    pub strategy_name: String,
    pub plan: Plan,
    pub alarms: Vec<AlarmName>,
    pub hooks: Hooks,
    /// The canary analysis of each version's own metrics; None when the request turned it off.
    pub analysis: Option<Analysis>,
    /// Alarms that may be in ALARM as the deployment starts (the fix for what they report): each
    /// is ignored until it leaves ALARM, then guards as usual.
    pub allow_firing: Vec<AlarmName>,
    /// An alarm without data (INSUFFICIENT_DATA) is a breach, not a pass.
    pub insufficient_data_breaches: bool,
    /// How often a bake is checked: the alarms' state and history, and the analysis.
    pub check_interval: CheckInterval,
    /// Who asked, why, and what for: recorded, never judged (see `Provenance`).
    pub provenance: Provenance,
    /// How long operators may pause it in all, and what then.
    pub pause: PausePolicy,
    /// A dry run (`dryRun`): every check, hook and bake as the real deployment would run them,
    /// but no alias written and no lock taken.
    pub dry_run: bool,
}

/// Who started a deployment and why, as the request says it (the CLI fills `requestedBy` with
/// the caller's STS identity): recorded in the document and the ledger's alias journal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// Why the deployment is made (`reason`).
    pub reason: Option<String>,
    /// Who asked (`requestedBy`): an IAM ARN, as the CLI writes it, or any name.
    pub requested_by: Option<String>,
    /// Why a freeze in scope does not stop this deployment (`overrideFreeze`).
    pub override_freeze: Option<String>,
    /// The deployment this one undoes (`rollbackOf`: `sluice rollback` writes it).
    pub rollback_of: Option<String>,
}

/// Longest `reason`, `requestedBy` or `overrideFreeze`.
pub const MAX_NOTE_CHARS: usize = 512;

impl Provenance {
    fn read(raw: &mut RawRequest) -> Result<Provenance, Error> {
        let note = |field: &str, value: Option<String>| -> Result<Option<String>, Error> {
            let Some(text) = value else { return Ok(None) };
            let text = text.trim().to_string();
            if text.is_empty() {
                return Err(Error::invalid(
                    field,
                    "is empty; say it, or leave the field out",
                ));
            }
            if text.chars().count() > MAX_NOTE_CHARS {
                return Err(Error::invalid(
                    field,
                    format!(
                        "is {} characters; at most {MAX_NOTE_CHARS} are kept",
                        text.chars().count()
                    ),
                ));
            }
            if text.chars().any(char::is_control) {
                return Err(Error::invalid(field, "holds control characters"));
            }
            Ok(Some(text))
        };
        let rollback_of = note("rollbackOf", raw.rollback_of.take())?;
        if let Some(id) = &rollback_of
            && (id.len() > 80
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)))
        {
            return Err(Error::invalid(
                "rollbackOf",
                format!(
                    "{} is not a deployment id (an execution name: up to 80 letters, digits, - and _)",
                    quote(id)
                ),
            ));
        }
        Ok(Provenance {
            reason: note("reason", raw.reason.take())?,
            requested_by: note("requestedBy", raw.requested_by.take())?,
            override_freeze: note("overrideFreeze", raw.override_freeze.take())?,
            rollback_of,
        })
    }
}

/// What the state machine hands validate: the execution input and the execution's name.
#[derive(Debug, Clone, PartialEq)]
pub struct StartInput {
    pub deployment_id: String,
    pub execution_arn: String,
    pub execution_start_time: Option<Timestamp>,
    pub request: Request,
}

/// validate's payload as the state machine writes it: the execution input, whatever it is, and
/// the execution's name and ARN.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartCall {
    #[serde(default)]
    pub request: Value,
    pub deployment_id: String,
    pub execution_arn: String,
    /// When the execution started (`$$.Execution.StartTime`).
    #[serde(default)]
    pub execution_start_time: Option<Timestamp>,
}

impl StartInput {
    /// Reads validate's payload; the request is refused field by field, and so is a function
    /// outside the region and account of the execution (sluice's own).
    pub fn parse(call: StartCall) -> Result<StartInput, Error> {
        let home = Home::of_execution(&call.execution_arn).ok_or_else(|| {
            Error::internal(format!(
                "executionArn {} is not a Step Functions execution ARN",
                quote(&call.execution_arn)
            ))
        })?;
        let request = Request::parse_in(&call.request, &home)?;
        Ok(StartInput {
            deployment_id: call.deployment_id,
            execution_arn: call.execution_arn,
            execution_start_time: call.execution_start_time,
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
        Request::read(value, None)
    }

    /// The request of an execution running at `home`: every function named must be there.
    pub fn parse_in(value: &Value, home: &Home) -> Result<Request, Error> {
        Request::read(value, Some(home))
    }

    fn read(value: &Value, home: Option<&Home>) -> Result<Request, Error> {
        if !value.is_object() {
            return Err(Error::invalid(
                "request",
                "must be a JSON object with \"targets\" and \"strategy\"",
            ));
        }
        let mut raw: RawRequest = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "request" } else { &path };
            // serde's messages quote the input whole ("unknown field `...`").
            Error::invalid(field, clip_quoted(&e.inner().to_string()))
        })?;
        let provenance = Provenance::read(&mut raw)?;
        let pause = read_pause(raw.pause.take())?;
        let targets = read_targets(raw.targets, home)?;
        let (strategy_name, strategy) = raw.strategy.parse()?;
        let plan = strategy.plan().map_err(|r| r.at("strategy"))?;
        let alarms = read_alarms(raw.alarms)?;
        let raw_hooks = raw.hooks.map(|Object(h)| h).unwrap_or_default();
        let hooks = Hooks {
            pre_traffic: raw_hooks
                .pre_traffic
                .map(|h| traffic_hook("hooks.preTraffic", &h, home))
                .transpose()?,
            post_traffic: raw_hooks
                .post_traffic
                .map(|h| traffic_hook("hooks.postTraffic", &h, home))
                .transpose()?,
            check: raw_hooks
                .check
                .map(|h| function_ref("hooks.check", &h, Role::Hook, home))
                .transpose()?,
        };
        if hooks.check.is_some() && plan.total_bake_seconds() == 0 {
            return Err(Error::invalid(
                "hooks.check",
                "no step of the strategy bakes, so the check hook would never be asked: give a step a bake",
            ));
        }
        let (field, asked) = match (raw.check_interval, raw.poll_interval) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "pollInterval",
                    "is checkInterval's old name; give only checkInterval",
                ));
            }
            (None, Some(HumanDuration(s))) => ("pollInterval", Some(s)),
            (check, None) => ("checkInterval", check.map(|HumanDuration(s)| s)),
        };
        let analysis = Analysis::read(raw.analysis.as_ref())?;
        let allow_firing = read_allowed_firing(raw.allow_firing_alarms, &alarms)?;
        let insufficient_data_breaches = match raw.insufficient_data.as_deref() {
            None | Some("healthy") => false,
            Some("breach") => true,
            Some(other) => {
                return Err(Error::invalid(
                    "insufficientData",
                    format!("{} is not \"healthy\" or \"breach\"", quote(other)),
                ));
            }
        };
        let judges = judges(&alarms, analysis.as_ref(), &pause, &hooks);
        let check_interval =
            CheckInterval::choose(&plan, asked, judges, &hooks).map_err(|no| no.refusal(field))?;
        Ok(Request {
            targets,
            strategy_name,
            plan,
            alarms,
            hooks,
            analysis,
            allow_firing,
            insufficient_data_breaches,
            check_interval,
            provenance,
            pause,
            dry_run: raw.dry_run.unwrap_or(false),
        })
    }
}

/// What a request's bakes judge, for the history budget.
fn judges(
    alarms: &[AlarmName],
    analysis: Option<&Analysis>,
    pause: &PausePolicy,
    hooks: &Hooks,
) -> Judges {
    Judges {
        // A check hook is asked at each backstop check, as the alarms are read.
        alarms: !alarms.is_empty() || hooks.check.is_some(),
        analysis: analysis.is_some(),
        keep_baking_seconds: analysis.map_or(0, |a| a.inconclusive.keep_baking_seconds),
        pause_seconds: pause.limit_seconds,
    }
}

impl Request {
    /// What this request's bakes judge, for the history budget.
    pub fn judges(&self) -> Judges {
        judges(
            &self.alarms,
            self.analysis.as_ref(),
            &self.pause,
            &self.hooks,
        )
    }
}

fn read_targets(raw: Vec<Object<RawTarget>>, home: Option<&Home>) -> Result<Vec<Target>, Error> {
    if raw.is_empty() {
        return Err(Error::invalid("targets", "must name at least one target"));
    }
    if raw.len() > MAX_TARGETS {
        return Err(Error::invalid(
            "targets",
            format!(
                "names {} targets; at most {MAX_TARGETS} can move together",
                raw.len()
            ),
        ));
    }
    // Each function and alias, by the function's name however it is spelled: the spelling that
    // named it first.
    let mut seen: HashMap<(String, AliasName), (usize, String)> = HashMap::new();
    let mut targets = Vec::with_capacity(raw.len());
    for (i, Object(t)) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("targets[{i}].{name}");
        let function = function_ref(&field("functionName"), &t.function_name, Role::Target, home)?;
        let alias = AliasName::parse(&t.alias).map_err(|r| r.at(&field("alias")))?;
        let key = (function.name().to_string(), alias.clone());
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
            return Err(Error::invalid(
                &format!("targets[{i}]"),
                format!(
                    "{}:{} is named twice{again}",
                    clip(&key.0, 64),
                    clip(key.1.as_str(), 64)
                ),
            ));
        }
        seen.insert(key, (i, t.function_name.clone()));
        let version = match t.target_version.as_deref() {
            None => TargetVersion::Publish,
            Some(text) => {
                target_version(text, &alias).map_err(|r| r.at(&field("targetVersion")))?
            }
        };
        targets.push(Target {
            function_name: function,
            alias,
            version,
        });
    }
    Ok(targets)
}

/// `targetVersion`: a published version, or `alias:NAME` (another alias of the function).
fn target_version(text: &str, deployed: &AliasName) -> Result<TargetVersion, Invalid> {
    let Some(other) = text.strip_prefix("alias:") else {
        return Version::parse(text).map(TargetVersion::Version);
    };
    let other = AliasName::parse(other)?;
    if &other == deployed {
        return Err(Invalid(format!(
            "{} is the alias being deployed; name another alias",
            quote(text)
        )));
    }
    Ok(TargetVersion::FromAlias(other))
}

fn read_alarms(raw: Vec<String>) -> Result<Vec<AlarmName>, Error> {
    if raw.len() > MAX_ALARMS {
        return Err(Error::invalid(
            "alarms",
            format!(
                "names {} alarms; at most {MAX_ALARMS} are allowed",
                raw.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    let mut alarms = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let field = format!("alarms[{i}]");
        let alarm = AlarmName::parse(a).map_err(|r| r.at(&field))?;
        if !names.insert(a) {
            return Err(Error::invalid(
                &field,
                format!("{} is named twice", quote(a)),
            ));
        }
        alarms.push(alarm);
    }
    Ok(alarms)
}

/// `allowFiringAlarms`: alarms of the request's `alarms`, each named once.
fn read_allowed_firing(raw: Vec<String>, alarms: &[AlarmName]) -> Result<Vec<AlarmName>, Error> {
    let mut allowed: Vec<AlarmName> = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let field = format!("allowFiringAlarms[{i}]");
        let name = AlarmName::parse(a).map_err(|r| r.at(&field))?;
        if !alarms.contains(&name) {
            return Err(Error::invalid(
                &field,
                format!(
                    "{} is not one of the request's alarms; name it in alarms too",
                    quote(a)
                ),
            ));
        }
        if allowed.contains(&name) {
            return Err(Error::invalid(
                &field,
                format!("{} is named twice", quote(a)),
            ));
        }
        allowed.push(name);
    }
    Ok(allowed)
}

/// A target's or hook's function, refused naming `field` when malformed, qualified, or (when
/// sluice knows where it runs) elsewhere.
fn traffic_hook(field: &str, raw: &Value, home: Option<&Home>) -> Result<TrafficHook, Error> {
    TrafficHook::read(field, raw, |field, text| {
        function_ref(field, text, Role::Hook, home)
    })
}

fn function_ref(
    field: &str,
    text: &str,
    role: Role,
    home: Option<&Home>,
) -> Result<FunctionRef, Error> {
    let f = FunctionRef::parse(text, role).map_err(|r| r.at(field))?;
    if let Some(home) = home {
        f.check_home(home).map_err(|r| r.at(field))?;
    }
    Ok(f)
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
        assert_eq!(r.check_interval.seconds, 30);
        assert_eq!(
            r.hooks.pre_traffic.as_ref().map(|h| h.function.as_str()),
            Some("orders-pre")
        );
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
            TargetVersion::FromAlias(AliasName::parse("candidate").unwrap())
        );
        assert_eq!(
            r.check_interval.seconds,
            crate::budget::DEFAULT_ANALYSIS_CHECK_SECONDS,
            "the analysis is on by default, and checks each minute"
        );
        assert_eq!(r.analysis, Some(Analysis::default()));
        assert_eq!(r.check_interval.note(), None);
        assert!(r.alarms.is_empty() && r.hooks == Hooks::default());
        let off = Request::parse(&json!({
            "targets": [{"functionName": "a", "alias": "live"}],
            "strategy": "AllAtOnce",
            "analysis": false
        }))
        .unwrap();
        assert_eq!(off.analysis, None);
        assert_eq!(
            off.check_interval.seconds,
            crate::budget::DEFAULT_CHECK_SECONDS
        );
    }

    #[test]
    fn alarm_policies_are_read_and_refused_by_field() {
        let r = Request::parse(&json!({
            "targets": [{"functionName": "a", "alias": "live"}],
            "strategy": "AllAtOnce",
            "alarms": ["orders-errors", "orders-p99"],
            "allowFiringAlarms": ["orders-errors"],
            "insufficientData": "breach"
        }))
        .unwrap();
        assert_eq!(
            r.allow_firing,
            vec![AlarmName::parse("orders-errors").unwrap()]
        );
        assert!(r.insufficient_data_breaches);
        for (extra, field, says) in [
            (
                json!({"allowFiringAlarms": ["other"]}),
                "allowFiringAlarms[0]",
                "not one of the request's alarms",
            ),
            (
                json!({"allowFiringAlarms": ["e", "e"]}),
                "allowFiringAlarms[1]",
                "named twice",
            ),
            (
                json!({"insufficientData": "ignore"}),
                "insufficientData",
                "not \"healthy\" or \"breach\"",
            ),
        ] {
            let mut req = json!({
                "targets": [{"functionName": "a", "alias": "live"}],
                "strategy": "AllAtOnce",
                "alarms": ["e"]
            });
            for (k, v) in extra.as_object().unwrap() {
                req[k] = v.clone();
            }
            let err = Request::parse(&req).unwrap_err();
            assert!(err.message.starts_with(field), "{}", err.message);
            assert!(err.message.contains(says), "{}", err.message);
        }
    }

    #[test]
    fn a_week_of_bake_at_the_defaults_is_accepted_with_a_longer_check_interval() {
        let r = Request::parse(&json!({
            "targets": [{"functionName": "a", "alias": "live"}],
            "strategy": {"canary": {"percent": 10, "interval": "168h"}},
            "alarms": ["errors"],
            "analysis": false
        }))
        .unwrap();
        assert_eq!(r.check_interval.seconds, 976);
        let note = r.check_interval.note().unwrap();
        assert!(
            note.starts_with(
                "the backstop checks the alarms every 16m16s instead of the default 5m"
            ),
            "{note}"
        );
        let r = Request::parse(&json!({
            "targets": [{"functionName": "a", "alias": "live"}],
            "strategy": {"canary": {"percent": 10, "interval": "168h"}},
            "alarms": ["errors"]
        }))
        .unwrap();
        assert_eq!(
            r.check_interval.seconds, 976,
            "the analysis checks as often"
        );
        let note = r.check_interval.note().unwrap();
        assert!(
            note.starts_with("the bake is checked every 16m16s instead of the default 1m"),
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
            (r.check_interval.seconds, r.check_interval.note()),
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
                "Use \"12s\" or longer", // the hooks' calls take their share
            ),
            (
                with(
                    json!({"strategy": {"canary": {"percent": 10, "interval": "168h"}}, "pollInterval": "5m"}),
                ),
                "pollInterval",
                "Use \"18m49s\" or longer",
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
