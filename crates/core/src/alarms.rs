//! CloudWatch alarms as sluice judges them: one classification and one wording, used before a
//! deployment starts and at every check during its bakes.

use crate::bounds::{MAX_REASON_CHARS, clip};
use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use crate::names::AlarmName;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// As CloudWatch names the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm as read from CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmReading {
    pub name: AlarmName,
    pub state: AlarmState,
    #[serde(default)]
    pub reason: String,
}

/// An alarm's move into ALARM, as its history tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmTransition {
    pub name: AlarmName,
    /// When CloudWatch changed the state.
    pub at: Timestamp,
    #[serde(default)]
    pub reason: String,
}

/// The deployment's alarms sorted by what they say about the new version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmSummary {
    /// In ALARM, with CloudWatch's reason.
    pub firing: Vec<AlarmReading>,
    /// Too little data to judge: counted healthy, but shown (never silently passed).
    pub insufficient_data: Vec<AlarmName>,
    /// Named by the deployment but unknown to CloudWatch: a missing alarm would never fire.
    pub missing: Vec<AlarmName>,
    /// Went to ALARM since the last check and out of it again: a breach all the same.
    pub fired: Vec<AlarmTransition>,
    /// In ALARM, but allowed to be (`allowFiringAlarms`: it was firing as the deployment started
    /// and has not left ALARM since): shown, not a breach.
    pub excused: Vec<AlarmReading>,
    /// An alarm without data is a breach (`insufficientData: "breach"`), not a pass.
    pub no_data_breaches: bool,
}

impl AlarmSummary {
    /// Sorts the readings of the `named` alarms; readings of other alarms are ignored.
    pub fn of(named: &[AlarmName], readings: &[AlarmReading]) -> AlarmSummary {
        let reading = |name: &AlarmName| readings.iter().find(|r| &r.name == name);
        let mut summary = AlarmSummary::default();
        for name in named {
            match reading(name) {
                None => summary.missing.push(name.clone()),
                Some(r) if r.state == AlarmState::Alarm => summary.firing.push(AlarmReading {
                    reason: clip(&r.reason, MAX_REASON_CHARS),
                    ..r.clone()
                }),
                Some(r) if r.state == AlarmState::InsufficientData => {
                    summary.insufficient_data.push(name.clone())
                }
                Some(_) => {}
            }
        }
        summary
    }

    /// Sets the firing alarms among `excused` aside: they were firing as the deployment started,
    /// were allowed to (`allowFiringAlarms`), and have not left ALARM since. A move of one into
    /// ALARM in the alarms' history (`with_history`, after this) means it left and fired again:
    /// that is a breach.
    pub fn excusing(mut self, excused: &[AlarmName]) -> Self {
        let (set_aside, firing) = self
            .firing
            .into_iter()
            .partition(|r| excused.contains(&r.name));
        self.firing = firing;
        self.excused = set_aside;
        self
    }

    /// An alarm without data counts as a breach when `breach` (`insufficientData: "breach"`).
    pub fn no_data_is_breach(mut self, breach: bool) -> Self {
        self.no_data_breaches = breach;
        self
    }

    /// Adds the named alarms' moves into ALARM since the last check, for alarms not in ALARM
    /// now (one that is, is named once, as firing); the first move of each alarm is kept.
    pub fn with_history(mut self, named: &[AlarmName], transitions: &[AlarmTransition]) -> Self {
        for t in transitions {
            let ours = named.contains(&t.name);
            let told = self.firing.iter().any(|f| f.name == t.name)
                || self.missing.contains(&t.name)
                || self.fired.iter().any(|f| f.name == t.name);
            if ours && !told {
                self.fired.push(AlarmTransition {
                    reason: clip(&t.reason, MAX_REASON_CHARS),
                    ..t.clone()
                });
            }
        }
        self
    }

    /// As CodeDeploy does: a missing alarm refuses the request, and an alarm already firing
    /// refuses the deployment before any traffic moves.
    pub fn refuse_start(&self) -> Result<(), Error> {
        if !self.missing.is_empty() {
            // Up to 50 names of up to 255 characters: name a few, count the rest.
            const NAMED: usize = 3;
            let mut names = self
                .missing
                .iter()
                .take(NAMED)
                .map(|m| clip(m.as_str(), 64))
                .collect::<Vec<_>>()
                .join(", ");
            if self.missing.len() > NAMED {
                names.push_str(&format!(" and {} more", self.missing.len() - NAMED));
            }
            return Err(Error::invalid(
                "alarms",
                format!(
                    "no CloudWatch alarm named {names} (a missing alarm would never fire; a composite \
                     alarm is found only when sluice may read alarms on *, its AlarmArnPattern)"
                ),
            ));
        }
        if !self.firing.is_empty() || (self.no_data_breaches && !self.insufficient_data.is_empty())
        {
            return Err(Error::new(
                ErrorName::AlarmBreached,
                format!(
                    "{} already, before any traffic moved; nothing was shifted",
                    self.breaches()
                ),
            ));
        }
        Ok(())
    }

    pub fn healthy(&self) -> bool {
        self.firing.is_empty()
            && self.missing.is_empty()
            && self.fired.is_empty()
            && (!self.no_data_breaches || self.insufficient_data.is_empty())
    }

    /// Why the alarms are not healthy, one clause per alarm: "alarm errors is in ALARM (5
    /// errors in 1 minute); alarm latency no longer exists". Empty when healthy.
    pub fn breaches(&self) -> String {
        self.firing
            .iter()
            .map(|a| {
                if a.reason.is_empty() {
                    format!("alarm {} is in ALARM", a.name)
                } else {
                    format!("alarm {} is in ALARM ({})", a.name, a.reason)
                }
            })
            .chain(self.fired.iter().map(|t| {
                let reason = if t.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", t.reason)
                };
                if self.excused.iter().any(|e| e.name == t.name) {
                    format!(
                        "alarm {}, allowed to fire as the deployment started, left ALARM and went to \
                         ALARM again at {}{reason}",
                        t.name, t.at
                    )
                } else {
                    format!(
                        "alarm {} went to ALARM at {}{reason} and out of it again before this check",
                        t.name, t.at
                    )
                }
            }))
            .chain(
                self.insufficient_data
                    .iter()
                    .filter(|_| self.no_data_breaches)
                    .map(|a| {
                        format!(
                            "alarm {a} has no data (INSUFFICIENT_DATA), a breach as insufficientData says"
                        )
                    }),
            )
            .chain(
                self.missing
                    .iter()
                    .map(|m| format!("alarm {m} no longer exists")),
            )
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Where in a bake a breach was found, as its cause names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakePoint {
    /// "step 1/2 (10% on the new version": the step and its weight.
    pub label: String,
    pub baked_seconds: u64,
    pub bake_seconds: u64,
}

impl BakePoint {
    /// The one wording of a breach: "{what} at step 1/3 (10% on the new version, 1m30s of 5m
    /// baked){how}", for the backstop's check, the watch and an alarm event alike.
    pub fn breach(&self, what: &str, how: &str) -> String {
        format!(
            "{what} at {}, {} of {} baked){how}",
            self.label,
            format_seconds(self.baked_seconds),
            format_seconds(self.bake_seconds)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{alarm, alarms, reading, t};

    #[test]
    fn sorts_each_named_alarm_once_and_ignores_strangers() {
        let named = alarms(&["ok", "firing", "quiet", "gone"]);
        let readings = [
            reading("ok", AlarmState::Ok, ""),
            reading("firing", AlarmState::Alarm, "5 errors"),
            reading("quiet", AlarmState::InsufficientData, ""),
            reading("stranger", AlarmState::Alarm, "not ours"),
        ];
        let s = AlarmSummary::of(&named, &readings);
        assert_eq!(s.firing, vec![readings[1].clone()]);
        assert_eq!(s.insufficient_data, alarms(&["quiet"]));
        assert_eq!(s.missing, alarms(&["gone"]));
        assert!(!s.healthy());
        assert_eq!(
            s.breaches(),
            "alarm firing is in ALARM (5 errors); alarm gone no longer exists"
        );
    }

    #[test]
    fn insufficient_data_is_healthy_and_no_alarms_is_healthy() {
        let named = alarms(&["quiet"]);
        let s = AlarmSummary::of(
            &named,
            &[reading("quiet", AlarmState::InsufficientData, "")],
        );
        assert!(s.healthy() && s.breaches().is_empty());
        assert!(AlarmSummary::of(&[], &[]).healthy());
    }

    #[test]
    fn an_alarm_that_fired_and_cleared_is_a_breach_told_once() {
        let named = alarms(&["blip", "firing", "calm"]);
        let readings = [
            reading("blip", AlarmState::Ok, ""),
            reading("firing", AlarmState::Alarm, "now"),
            reading("calm", AlarmState::Ok, ""),
        ];
        let went = |name: &str, at: u32| AlarmTransition {
            name: alarm(name),
            at: t(at),
            reason: "3 errors".into(),
        };
        let s = AlarmSummary::of(&named, &readings).with_history(
            &named,
            &[
                went("blip", 61),
                went("blip", 60),
                went("firing", 62),
                went("stranger", 63),
            ],
        );
        assert!(!s.healthy());
        assert_eq!(
            s.breaches(),
            format!(
                "alarm firing is in ALARM (now); alarm blip went to ALARM at {} (3 errors) and out of \
                 it again before this check",
                t(61)
            )
        );
        let quiet = AlarmSummary::of(&named, &readings[..1]).with_history(&named, &[]);
        assert_eq!(quiet.missing, alarms(&["firing", "calm"]));
    }

    #[test]
    fn a_firing_alarm_without_a_reason_is_named_alone() {
        let named = alarms(&["e"]);
        let s = AlarmSummary::of(&named, &[reading("e", AlarmState::Alarm, "")]);
        assert_eq!(s.breaches(), "alarm e is in ALARM");
    }
    #[test]
    fn alarms_refuse_a_start_when_missing_or_firing() {
        let named = alarms(&["errors", "latency"]);
        let reading = |name: &str, state| reading(name, state, "why");
        let ok = [
            reading("errors", AlarmState::Ok),
            reading("latency", AlarmState::InsufficientData),
        ];
        assert!(AlarmSummary::of(&named, &ok).refuse_start().is_ok());
        let err = AlarmSummary::of(&named, &ok[..1])
            .refuse_start()
            .unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidRequest);
        assert!(
            err.message
                .starts_with("alarms: no CloudWatch alarm named latency")
        );
        let firing = [
            reading("errors", AlarmState::Ok),
            reading("latency", AlarmState::Alarm),
        ];
        let err = AlarmSummary::of(&named, &firing)
            .refuse_start()
            .unwrap_err();
        assert_eq!(err.name, ErrorName::AlarmBreached);
        assert_eq!(
            err.message,
            "alarm latency is in ALARM (why) already, before any traffic moved; nothing was shifted"
        );
    }

    #[test]
    fn an_alarm_allowed_to_fire_is_set_aside_until_it_fires_again() {
        let named = alarms(&["errors", "quiet"]);
        let readings = [
            reading("errors", AlarmState::Alarm, "the bug being fixed"),
            reading("quiet", AlarmState::InsufficientData, ""),
        ];
        let s = AlarmSummary::of(&named, &readings).excusing(&alarms(&["errors"]));
        assert!(s.healthy(), "{}", s.breaches());
        assert!(s.refuse_start().is_ok());
        assert_eq!(s.excused.len(), 1);
        let again = AlarmTransition {
            name: alarm("errors"),
            at: t(5),
            reason: "errors again".into(),
        };
        let s = s.with_history(&named, &[again]);
        assert!(!s.healthy());
        assert!(
            s.breaches().starts_with(
                "alarm errors, allowed to fire as the deployment started, left ALARM and went to ALARM again at"
            ),
            "{}",
            s.breaches()
        );
        let strict = AlarmSummary::of(&named, &readings)
            .excusing(&alarms(&["errors"]))
            .no_data_is_breach(true);
        assert!(!strict.healthy());
        assert_eq!(
            strict.breaches(),
            "alarm quiet has no data (INSUFFICIENT_DATA), a breach as insufficientData says"
        );
    }
}
