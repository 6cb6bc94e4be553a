//! Strategies (SAM/CodeDeploy presets, canary, linear, explicit steps) and the plan they make.

use crate::bounds::{clip_quoted, quote, quote_json};
use crate::duration::{HumanDuration, format_seconds};
use crate::error::{Error, Invalid};
use crate::fields::{Given, Object, optional, required};
use crate::weight::Weight;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Longest total bake of one deployment.
pub const MAX_TOTAL_BAKE_SECONDS: u64 = 7 * 24 * 3600;
/// Most steps in one plan.
pub const MAX_STEPS: usize = 100;

/// One traffic increment: set the new version's weight, then watch it for `bake_seconds`;
/// with `approval`, a person approves before the shift to it (a gate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub weight: Weight,
    pub bake_seconds: u64,
    /// A gate before this step: the deployment holds at the step before until approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Gate>,
}

/// Longest wait at one gate.
pub const MAX_GATE_SECONDS: u64 = 7 * 24 * 3600;
/// Default wait at a gate.
pub const DEFAULT_GATE_SECONDS: u64 = 4 * 3600;

/// How long a deployment may be paused in all, unless the request says (`pause.limit`).
pub const DEFAULT_PAUSE_SECONDS: u64 = 3600;
/// Longest pause limit a request may set.
pub const MAX_PAUSE_SECONDS: u64 = 24 * 3600;

/// `pause`: how long operators may hold the deployment in all, and what happens after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PausePolicy {
    pub limit_seconds: u64,
    /// `Promote` reads "resume" here.
    pub on_timeout: OnTimeout,
}

impl Default for PausePolicy {
    fn default() -> Self {
        PausePolicy {
            limit_seconds: DEFAULT_PAUSE_SECONDS,
            on_timeout: OnTimeout::Rollback,
        }
    }
}

impl PausePolicy {
    pub fn is_default(&self) -> bool {
        *self == PausePolicy::default()
    }
}

/// A gate: how long it waits for a person, and what happens when nobody came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    pub timeout_seconds: u64,
    pub on_timeout: OnTimeout,
}

/// What a gate (or a pause) does when its time runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnTimeout {
    /// Roll the deployment back.
    Rollback,
    /// Go on as if approved (a gate) or resumed (a pause).
    Promote,
}

impl OnTimeout {
    pub fn as_str(self) -> &'static str {
        match self {
            OnTimeout::Rollback => "rollback",
            OnTimeout::Promote => "promote",
        }
    }

    /// Reads "rollback" or "promote" (a pause also says "resume").
    pub fn parse(text: &str, resume: bool) -> Result<OnTimeout, Invalid> {
        match text {
            "rollback" => Ok(OnTimeout::Rollback),
            "promote" if !resume => Ok(OnTimeout::Promote),
            "resume" if resume => Ok(OnTimeout::Promote),
            other => Err(Invalid(format!(
                "{} is not \"rollback\" or \"{}\"",
                quote(other),
                if resume { "resume" } else { "promote" }
            ))),
        }
    }
}

/// An ordered list of steps whose weights rise strictly and end at 100 %.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Plan(Vec<Step>);

impl Plan {
    /// Checks the invariants every plan keeps; every constructor goes through here.
    pub fn new(steps: Vec<Step>) -> Result<Plan, Invalid> {
        Plan::check(steps).map_err(Invalid)
    }

    fn check(steps: Vec<Step>) -> Result<Plan, String> {
        if steps.is_empty() {
            return Err("has no steps".into());
        }
        if steps.len() > MAX_STEPS {
            return Err(format!(
                "has {} steps; at most {MAX_STEPS} are allowed",
                steps.len()
            ));
        }
        for (i, pair) in steps.windows(2).enumerate() {
            if pair[1].weight <= pair[0].weight {
                return Err(format!(
                    "step {} ({}) does not rise above step {} ({}); weights must rise strictly",
                    i + 2,
                    pair[1].weight,
                    i + 1,
                    pair[0].weight
                ));
            }
        }
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            let h = step.weight.hundredths();
            if !last && !(100..=9900).contains(&h) {
                return Err(format!(
                    "step {} is {}; every step before the last must be between 1% and 99%",
                    i + 1,
                    step.weight
                ));
            }
            if last && !step.weight.is_full() {
                return Err(format!(
                    "the last step is {}; a plan must end at 100%",
                    step.weight
                ));
            }
        }
        if steps.first().is_some_and(|s| s.approval.is_some()) {
            return Err(
                "starts with an approval; a gate holds traffic already shifted, so it comes \
                 after a step (start the deployment when it is approved)"
                    .into(),
            );
        }
        for (i, step) in steps.iter().enumerate() {
            if let Some(g) = step.approval
                && !(1..=MAX_GATE_SECONDS).contains(&g.timeout_seconds)
            {
                return Err(format!(
                    "the approval before step {} waits {}; a gate waits 1s to 7 days",
                    i + 1,
                    format_seconds(g.timeout_seconds)
                ));
            }
        }
        let total: u64 = steps.iter().map(|s| s.bake_seconds).sum();
        if total > MAX_TOTAL_BAKE_SECONDS {
            return Err(format!(
                "bakes for {} in all; at most 7 days (168h) are allowed",
                format_seconds(total)
            ));
        }
        Ok(Plan(steps))
    }

    /// One step: 100 % at once.
    pub fn all_at_once() -> Plan {
        Plan(vec![Step {
            weight: Weight::FULL,
            bake_seconds: 0,
            approval: None,
        }])
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    pub fn step_count(&self) -> usize {
        self.0.len()
    }

    pub fn total_bake_seconds(&self) -> u64 {
        self.0.iter().map(|s| s.bake_seconds).sum()
    }

    /// The gates' longest waits, added up.
    pub fn total_gate_seconds(&self) -> u64 {
        self.0
            .iter()
            .filter_map(|s| s.approval)
            .map(|g| g.timeout_seconds)
            .sum()
    }

    /// The same plan with a gate before step `index` (0-based), replacing one there.
    pub fn with_gate(&self, index: usize, gate: Gate) -> Result<Plan, Invalid> {
        let mut steps = self.0.clone();
        let Some(step) = steps.get_mut(index) else {
            return Err(Invalid(format!(
                "there is no step {} in a plan of {}",
                index + 1,
                self.0.len()
            )));
        };
        step.approval = Some(gate);
        Plan::new(steps)
    }

    /// When each step starts, counted from the first shift, with its weight and bake.
    pub fn timeline(&self) -> Vec<(u64, Step)> {
        let mut at = 0;
        self.0
            .iter()
            .map(|s| {
                let start = at;
                at += s.bake_seconds;
                (start, s.clone())
            })
            .collect()
    }

    /// "10% for 5m, then 100%".
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|s| {
                let gate = match s.approval {
                    Some(g) => format!(
                        "approval (up to {}, then {}), then ",
                        format_seconds(g.timeout_seconds),
                        g.on_timeout.as_str()
                    ),
                    None => String::new(),
                };
                if s.bake_seconds > 0 {
                    format!("{gate}{} for {}", s.weight, format_seconds(s.bake_seconds))
                } else {
                    format!("{gate}{}", s.weight)
                }
            })
            .collect::<Vec<_>>()
            .join(", then ")
    }
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Plan, D::Error> {
        Plan::new(Vec::<Step>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// How traffic moves to the new version.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// `percent` for `interval_seconds`, then 100 %.
    Canary {
        percent: Weight,
        interval_seconds: u64,
    },
    /// +`percent` every `interval_seconds` until 100 %.
    Linear {
        percent: Weight,
        interval_seconds: u64,
    },
    /// Exactly these steps.
    Steps(Vec<Step>),
    /// 100 % at once.
    AllAtOnce,
}

/// The SAM / CodeDeploy predefined configurations: each moves 10 % at a time, canaries once
/// then the rest, linear ones every interval; plus AllAtOnce.
const TIMED_PRESETS: [(&str, PresetKind, u64); 8] = [
    ("Canary10Percent5Minutes", PresetKind::Canary, 5),
    ("Canary10Percent10Minutes", PresetKind::Canary, 10),
    ("Canary10Percent15Minutes", PresetKind::Canary, 15),
    ("Canary10Percent30Minutes", PresetKind::Canary, 30),
    ("Linear10PercentEvery1Minute", PresetKind::Linear, 1),
    ("Linear10PercentEvery2Minutes", PresetKind::Linear, 2),
    ("Linear10PercentEvery3Minutes", PresetKind::Linear, 3),
    ("Linear10PercentEvery10Minutes", PresetKind::Linear, 10),
];

#[derive(Clone, Copy)]
enum PresetKind {
    Canary,
    Linear,
}

const ALL_AT_ONCE: &str = "AllAtOnce";
const LONG_PREFIX: &str = "CodeDeployDefault.Lambda";

/// Every preset's short name.
pub fn preset_names() -> Vec<&'static str> {
    TIMED_PRESETS
        .iter()
        .map(|(name, _, _)| *name)
        .chain([ALL_AT_ONCE])
        .collect()
}

impl Strategy {
    /// A preset by its SAM short name or its CodeDeploy long name.
    pub fn preset(name: &str) -> Option<Strategy> {
        let short = name.strip_prefix(LONG_PREFIX).unwrap_or(name);
        if short == ALL_AT_ONCE {
            return Some(Strategy::AllAtOnce);
        }
        let (_, kind, minutes) = TIMED_PRESETS.iter().find(|(n, _, _)| *n == short)?;
        let percent = Weight::from_hundredths(1000)?;
        let interval_seconds = minutes * 60;
        Some(match kind {
            PresetKind::Canary => Strategy::Canary {
                percent,
                interval_seconds,
            },
            PresetKind::Linear => Strategy::Linear {
                percent,
                interval_seconds,
            },
        })
    }

    /// The steps this strategy takes. Errors are the reason only (the caller names the field).
    pub fn plan(&self) -> Result<Plan, Invalid> {
        let full = Weight::FULL;
        let steps = match self {
            Strategy::AllAtOnce => vec![Step {
                weight: full,
                bake_seconds: 0,
                approval: None,
            }],
            Strategy::Canary {
                percent,
                interval_seconds,
            } => vec![
                Step {
                    weight: *percent,
                    bake_seconds: *interval_seconds,
                    approval: None,
                },
                Step {
                    weight: full,
                    bake_seconds: 0,
                    approval: None,
                },
            ],
            Strategy::Linear {
                percent,
                interval_seconds,
            } => {
                let inc = percent.hundredths();
                if inc == 0 {
                    return Err(Invalid::new("a linear increment of 0% never reaches 100%"));
                }
                let mut steps = Vec::new();
                let mut h = inc;
                while h < full.hundredths() {
                    if steps.len() >= MAX_STEPS {
                        return Err(Invalid(format!(
                            "+{percent} per step takes more than {MAX_STEPS} steps"
                        )));
                    }
                    steps.push(Step {
                        weight: Weight::from_hundredths(h)
                            .ok_or(Invalid::new("weight out of range"))?,
                        bake_seconds: *interval_seconds,
                        approval: None,
                    });
                    h = h.saturating_add(inc);
                }
                steps.push(Step {
                    weight: full,
                    bake_seconds: 0,
                    approval: None,
                });
                steps
            }
            Strategy::Steps(steps) => steps.clone(),
        };
        Plan::new(steps)
    }

    /// Reads a `strategy` value on its own (as the CLI and tests do); refusals name the field
    /// path under `strategy`, as in a whole request.
    pub fn from_json(value: &Value) -> Result<(String, Strategy), Error> {
        let raw: RawStrategy = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "strategy".to_string()
            } else {
                format!("strategy.{path}")
            };
            Error::invalid(&field, clip_quoted(&e.inner().to_string()))
        })?;
        raw.parse()
    }
}

/// The request's `strategy` as written: a preset name, `{"canary": ...}`, `{"linear": ...}` or
/// `{"steps": [...]}`. serde reads the shapes (so a refusal names the field path); `parse` then
/// checks what serde cannot say, naming the field too.
#[derive(Debug, Clone, PartialEq)]
pub enum RawStrategy {
    Preset { name: String, strategy: Strategy },
    Canary(RawInterval),
    Linear(RawInterval),
    Steps(Vec<RawStep>),
}

// Read through `fields::Object`: by name only, and null is never read as absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterval {
    #[serde(default, deserialize_with = "required")]
    percent: Option<StepPercent>,
    #[serde(default, deserialize_with = "required")]
    interval: Option<HumanDuration>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    #[serde(default, deserialize_with = "required")]
    weight: Option<Percent>,
    #[serde(default, deserialize_with = "optional")]
    bake: Option<HumanDuration>,
    #[serde(default, deserialize_with = "optional")]
    approval: Option<Object<RawGate>>,
}

/// `{"approval": {"timeout": "4h", "onTimeout": "rollback" | "promote"}}`, a step of its own.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawGate {
    #[serde(default, deserialize_with = "optional")]
    timeout: Option<HumanDuration>,
    #[serde(default, deserialize_with = "optional")]
    on_timeout: Option<String>,
}

impl RawGate {
    /// The gate, refused naming `field`'s part.
    pub fn parse(self, field: &str) -> Result<Gate, Error> {
        let timeout_seconds = self.timeout.map_or(DEFAULT_GATE_SECONDS, |t| t.0);
        if !(1..=MAX_GATE_SECONDS).contains(&timeout_seconds) {
            return Err(Error::invalid(
                &format!("{field}.timeout"),
                "must be 1s to 168h (7 days)",
            ));
        }
        let on_timeout = match self.on_timeout.as_deref() {
            None => OnTimeout::Rollback,
            Some(t) => {
                OnTimeout::parse(t, false).map_err(|r| r.at(&format!("{field}.onTimeout")))?
            }
        };
        Ok(Gate {
            timeout_seconds,
            on_timeout,
        })
    }
}

/// A percent as a request writes it (a JSON number), within 0..=100.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Percent(Weight);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        let v = Value::deserialize(d)?;
        let p = v.as_f64().ok_or_else(|| {
            de::Error::custom(format!(
                "{} is not a number (a percent, like 10)",
                quote_json(&v)
            ))
        })?;
        Weight::from_percent(p)
            .map(Percent)
            .map_err(de::Error::custom)
    }
}

/// A canary or linear increment: 1 % to 99 %.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StepPercent(Weight);

impl<'de> Deserialize<'de> for StepPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StepPercent, D::Error> {
        let Percent(w) = Percent::deserialize(d)?;
        if !(100..=9900).contains(&w.hundredths()) {
            return Err(de::Error::custom(format!("{w} is outside 1% to 99%")));
        }
        Ok(StepPercent(w))
    }
}

const KINDS: &str = "\"canary\", \"linear\" or \"steps\"";

impl<'de> Deserialize<'de> for RawStrategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawStrategy, D::Error> {
        d.deserialize_any(RawStrategyVisitor)
    }
}

struct RawStrategyVisitor;

impl<'de> Visitor<'de> for RawStrategyVisitor {
    type Value = RawStrategy;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a preset name (like \"Canary10Percent5Minutes\") or an object")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<RawStrategy, E> {
        let strategy = Strategy::preset(name).ok_or_else(|| {
            E::custom(format!(
                "unknown preset {}; use one of {} (or the CodeDeployDefault.Lambda... long name), \
                 or {{\"canary\": ...}}, {{\"linear\": ...}}, {{\"steps\": [...]}}",
                quote(name),
                preset_names().join(", ")
            ))
        })?;
        Ok(RawStrategy::Preset {
            name: name.to_string(),
            strategy,
        })
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawStrategy, M::Error> {
        let exactly_one = || de::Error::custom(format!("must have exactly one of {KINDS}"));
        let Some(kind) = map.next_key::<String>()? else {
            return Err(exactly_one());
        };
        let raw = match kind.as_str() {
            "canary" => RawStrategy::Canary(map.next_value::<Given<Object<_>>>()?.0.0),
            "linear" => RawStrategy::Linear(map.next_value::<Given<Object<_>>>()?.0.0),
            "steps" => RawStrategy::Steps(
                map.next_value::<Given<Vec<Object<_>>>>()?
                    .0
                    .into_iter()
                    .map(|Object(step)| step)
                    .collect(),
            ),
            // Refused inside the value, so the error's path names the kind.
            _ => match map.next_value_seed(RefuseKind)? {},
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(exactly_one());
        }
        Ok(raw)
    }
}

/// Refuses whatever value follows an unknown strategy kind.
struct RefuseKind;

impl<'de> DeserializeSeed<'de> for RefuseKind {
    type Value = std::convert::Infallible;

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(format!(
            "unknown strategy kind; use {KINDS}"
        )))
    }
}

impl RawStrategy {
    /// The strategy and a short name for it ("Canary10Percent5Minutes", "canary 5% 30s").
    /// Refusals name their field under `strategy`.
    pub fn parse(self) -> Result<(String, Strategy), Error> {
        match self {
            RawStrategy::Preset { name, strategy } => Ok((name, strategy)),
            RawStrategy::Canary(raw) => {
                let (percent, interval_seconds) = raw.parse("canary")?;
                let name = format!("canary {percent} {}", format_seconds(interval_seconds));
                Ok((
                    name,
                    Strategy::Canary {
                        percent,
                        interval_seconds,
                    },
                ))
            }
            RawStrategy::Linear(raw) => {
                let (percent, interval_seconds) = raw.parse("linear")?;
                let name = format!(
                    "linear {percent} every {}",
                    format_seconds(interval_seconds)
                );
                Ok((
                    name,
                    Strategy::Linear {
                        percent,
                        interval_seconds,
                    },
                ))
            }
            RawStrategy::Steps(raw) => {
                let mut steps: Vec<Step> = Vec::with_capacity(raw.len());
                let mut gate: Option<(usize, Gate)> = None;
                for (i, step) in raw.into_iter().enumerate() {
                    if let Some(Object(g)) = step.approval {
                        let field = format!("strategy.steps[{i}]");
                        if step.weight.is_some() || step.bake.is_some() {
                            return Err(Error::invalid(
                                &field,
                                "an approval is a step of its own: {\"approval\": {...}} with no weight or bake",
                            ));
                        }
                        if steps.is_empty() {
                            return Err(Error::invalid(
                                &field,
                                "an approval comes after a step: a gate holds traffic already shifted",
                            ));
                        }
                        if gate.is_some() {
                            return Err(Error::invalid(&field, "follows another approval"));
                        }
                        gate = Some((i, g.parse(&format!("{field}.approval"))?));
                        continue;
                    }
                    let weight = step
                        .weight
                        .ok_or_else(|| {
                            Error::invalid(&format!("strategy.steps[{i}].weight"), "is missing")
                        })?
                        .0;
                    let bake_seconds = step.bake.map_or(0, |b| b.0);
                    steps.push(Step {
                        weight,
                        bake_seconds,
                        approval: gate.take().map(|(_, g)| g),
                    });
                }
                if let Some((i, _)) = gate {
                    return Err(Error::invalid(
                        &format!("strategy.steps[{i}]"),
                        "an approval must come before a step (nothing follows it)",
                    ));
                }
                let name = format!(
                    "steps {}",
                    steps
                        .iter()
                        .map(|s| s.weight.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Ok((name, Strategy::Steps(steps)))
            }
        }
    }
}

impl RawInterval {
    fn parse(self, kind: &str) -> Result<(Weight, u64), Error> {
        let field = |name: &str| format!("strategy.{kind}.{name}");
        let percent = self
            .percent
            .ok_or_else(|| Error::invalid(&field("percent"), "is missing"))?
            .0;
        let interval = self
            .interval
            .ok_or_else(|| Error::invalid(&field("interval"), "is missing"))?
            .0;
        if interval == 0 {
            return Err(Error::invalid(&field("interval"), "must be at least 1s"));
        }
        Ok((percent, interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert_eq, proptest};
    use serde_json::json;

    fn weights(plan: &Plan) -> Vec<u16> {
        plan.steps()
            .iter()
            .map(|s| s.weight.hundredths() / 100)
            .collect()
    }

    fn bakes(plan: &Plan) -> Vec<u64> {
        plan.steps().iter().map(|s| s.bake_seconds).collect()
    }

    /// CodeDeploy's table of predefined Lambda configurations, written out by hand.
    #[test]
    fn every_preset_matches_the_codedeploy_table() {
        let canary = |minutes: u64| (vec![10, 100], vec![minutes * 60, 0]);
        let linear = |minutes: u64| {
            (
                vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
                vec![
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    minutes * 60,
                    0,
                ],
            )
        };
        type Expected = (Vec<u16>, Vec<u64>);
        let table: Vec<(&str, Expected)> = vec![
            ("Canary10Percent5Minutes", canary(5)),
            ("Canary10Percent10Minutes", canary(10)),
            ("Canary10Percent15Minutes", canary(15)),
            ("Canary10Percent30Minutes", canary(30)),
            ("Linear10PercentEvery1Minute", linear(1)),
            ("Linear10PercentEvery2Minutes", linear(2)),
            ("Linear10PercentEvery3Minutes", linear(3)),
            ("Linear10PercentEvery10Minutes", linear(10)),
            ("AllAtOnce", (vec![100], vec![0])),
        ];
        assert_eq!(table.len(), preset_names().len());
        for (name, (w, b)) in table {
            for spelled in [name.to_string(), format!("CodeDeployDefault.Lambda{name}")] {
                let plan = Strategy::from_json(&json!(spelled))
                    .unwrap()
                    .1
                    .plan()
                    .unwrap();
                assert_eq!(weights(&plan), w, "{spelled}");
                assert_eq!(bakes(&plan), b, "{spelled}");
            }
        }
    }

    #[test]
    fn linear_10_every_minute_is_ten_shifts_a_minute_apart() {
        let plan = Strategy::preset("Linear10PercentEvery1Minute")
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(plan.step_count(), 10);
        assert_eq!(plan.total_bake_seconds(), 9 * 60);
    }

    #[test]
    fn custom_canary_linear_and_steps_parse() {
        let c = Strategy::from_json(&json!({"canary": {"percent": 5, "interval": "30s"}}))
            .unwrap()
            .1
            .plan()
            .unwrap();
        assert_eq!((weights(&c), bakes(&c)), (vec![5, 100], vec![30, 0]));
        let l = Strategy::from_json(&json!({"linear": {"percent": 33, "interval": "1m"}}))
            .unwrap()
            .1
            .plan()
            .unwrap();
        assert_eq!(weights(&l), vec![33, 66, 99, 100]);
        let s = Strategy::from_json(&json!({"steps": [
            {"weight": 1, "bake": "2m"}, {"weight": 25, "bake": "5m"}, {"weight": 100}
        ]}))
        .unwrap()
        .1
        .plan()
        .unwrap();
        assert_eq!(
            (weights(&s), bakes(&s)),
            (vec![1, 25, 100], vec![120, 300, 0])
        );
        assert_eq!(s.describe(), "1% for 2m, then 25% for 5m, then 100%");
    }

    #[test]
    fn bad_strategies_name_the_field_and_reason() {
        let cases = [
            (json!("Canary99"), "strategy", "unknown preset"),
            (json!(42), "strategy", "preset name"),
            (json!({}), "strategy", "exactly one"),
            (
                json!({"blue": {}}),
                "strategy.blue",
                "unknown strategy kind",
            ),
            (
                json!({"canary": {"percent": 0, "interval": "1m"}}),
                "strategy.canary.percent",
                "outside 1% to 99%",
            ),
            (
                json!({"canary": {"percent": 100, "interval": "1m"}}),
                "strategy.canary.percent",
                "outside",
            ),
            (
                json!({"canary": {"percent": 10}}),
                "strategy.canary.interval",
                "missing",
            ),
            (
                json!({"linear": {"percent": 10, "interval": "0s"}}),
                "strategy.linear.interval",
                "at least 1s",
            ),
            (
                json!({"linear": {"percent": 10, "interval": "1x"}}),
                "strategy.linear.interval",
                "'x'",
            ),
            (
                json!({"linear": {"percent": 10, "interval": "1m", "x": 1}}),
                "strategy.linear.x",
                "unknown field",
            ),
            (json!({"steps": [{"weight": 50}]}), "strategy.steps[0]", ""),
            (
                json!({"steps": [{"bake": "1m"}]}),
                "strategy.steps[0].weight",
                "missing",
            ),
            (
                json!({"steps": [{"weight": "ten"}]}),
                "strategy.steps[0].weight",
                "not a number",
            ),
        ];
        for (value, field, reason) in cases {
            match Strategy::from_json(&value) {
                Err(e) => {
                    let (f, r) = (e.field.clone().unwrap_or_default(), e.reason().to_string());
                    assert_eq!(f, field, "{value}");
                    assert!(r.contains(reason), "{value}: {r}");
                }
                Ok((_, s)) => {
                    // Some shapes are only wrong as a plan.
                    assert!(s.plan().is_err(), "{value} should be refused");
                }
            }
        }
    }

    #[test]
    fn the_timeline_adds_the_bakes_up() {
        let plan = Strategy::preset("Linear10PercentEvery3Minutes")
            .unwrap()
            .plan()
            .unwrap();
        let t = plan.timeline();
        assert_eq!(t.len(), 10);
        assert_eq!(t[0].0, 0);
        assert_eq!(t[9].0, 27 * 60);
        assert!(t[9].1.weight.is_full());
    }

    #[test]
    fn custom_strategies_get_short_names() {
        let name = |v: Value| Strategy::from_json(&v).unwrap().0;
        assert_eq!(
            name(json!("Canary10Percent5Minutes")),
            "Canary10Percent5Minutes"
        );
        assert_eq!(
            name(json!({"canary": {"percent": 5, "interval": "30s"}})),
            "canary 5% 30s"
        );
        assert_eq!(
            name(json!({"linear": {"percent": 10, "interval": "1m"}})),
            "linear 10% every 1m"
        );
        assert_eq!(
            name(json!({"steps": [{"weight": 1, "bake": "1m"}, {"weight": 100}]})),
            "steps 1%, 100%"
        );
    }

    #[test]
    fn plans_that_break_the_rules_are_refused() {
        let step = |w: f64, b: u64| Step {
            weight: Weight::from_percent(w).unwrap(),
            bake_seconds: b,
            approval: None,
        };
        assert!(Plan::new(vec![]).unwrap_err().contains("no steps"));
        assert!(
            Plan::new(vec![step(50.0, 0)])
                .unwrap_err()
                .contains("end at 100%")
        );
        assert!(
            Plan::new(vec![step(20.0, 0), step(10.0, 0), step(100.0, 0)])
                .unwrap_err()
                .contains("rise strictly")
        );
        assert!(
            Plan::new(vec![step(0.5, 0), step(100.0, 0)])
                .unwrap_err()
                .contains("between 1% and 99%")
        );
        assert!(
            Plan::new(vec![step(10.0, 8 * 24 * 3600), step(100.0, 0)])
                .unwrap_err()
                .contains("7 days")
        );
        let many: Vec<Step> = (1..=100).map(|p| step(p as f64, 0)).collect();
        assert!(Plan::new(many.clone()).is_ok());
        let mut too_many = vec![step(0.5, 0)];
        too_many.extend(many);
        assert!(Plan::new(too_many).unwrap_err().contains("at most 100"));
    }

    proptest! {
        #[test]
        fn linear_plans_rise_strictly_and_end_at_full(percent in 1u16..=99, interval in 1u64..=3600) {
            let s = Strategy::Linear { percent: Weight::from_hundredths(percent * 100).unwrap(), interval_seconds: interval };
            let plan = s.plan().unwrap();
            assert_plan_invariants(&plan);
        }

        #[test]
        fn canary_plans_rise_strictly_and_end_at_full(h in 100u16..=9900, interval in 1u64..=86400) {
            let s = Strategy::Canary { percent: Weight::from_hundredths(h).unwrap(), interval_seconds: interval };
            let plan = s.plan().unwrap();
            prop_assert_eq!(plan.step_count(), 2);
            assert_plan_invariants(&plan);
        }

        #[test]
        fn any_accepted_step_list_keeps_the_invariants(raw in proptest::collection::vec((0u16..=10_000, 0u64..=7200), 0..12)) {
            let steps: Vec<Step> = raw.into_iter().map(|(h, b)| Step { weight: Weight::from_hundredths(h).unwrap(), bake_seconds: b, approval: None }).collect();
            if let Ok(plan) = Plan::new(steps) {
                assert_plan_invariants(&plan);
            }
        }
    }

    fn assert_plan_invariants(plan: &Plan) {
        let steps = plan.steps();
        assert!(!steps.is_empty() && steps.len() <= MAX_STEPS);
        assert!(steps.windows(2).all(|p| p[0].weight < p[1].weight));
        assert!(
            steps
                .iter()
                .all(|s| (0.0..=1.0).contains(&s.weight.fraction()))
        );
        assert_eq!(steps.last().map(|s| s.weight.fraction()), Some(1.0));
        assert!(plan.total_bake_seconds() <= MAX_TOTAL_BAKE_SECONDS);
    }
}
