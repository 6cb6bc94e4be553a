//! CloudWatch alarms as sluice judges them: one classification and one wording, used before a
//! deployment starts and at every check during its bakes.

use crate::bounds::{MAX_REASON_CHARS, clip};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// One alarm as read from CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
    #[serde(default)]
    pub reason: String,
}

/// An alarm's move into ALARM, as its history tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmTransition {
    pub name: String,
    /// When CloudWatch changed the state (as CloudWatch wrote it).
    pub at: String,
    #[serde(default)]
    pub reason: String,
}

/// The deployment's alarms sorted by what they say about the new version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmSummary {
    /// In ALARM, with CloudWatch's reason.
    pub firing: Vec<AlarmReading>,
    /// Too little data to judge: counted healthy, but shown (never silently passed).
    pub insufficient_data: Vec<String>,
    /// Named by the deployment but unknown to CloudWatch: a missing alarm would never fire.
    pub missing: Vec<String>,
    /// Went to ALARM since the last check and out of it again: a breach all the same.
    pub fired: Vec<AlarmTransition>,
}

impl AlarmSummary {
    /// Sorts the readings of the `named` alarms; readings of other alarms are ignored.
    pub fn of(named: &[String], readings: &[AlarmReading]) -> AlarmSummary {
        let reading = |name: &String| readings.iter().find(|r| &r.name == name);
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

    /// Adds the named alarms' moves into ALARM since the last check, for alarms not in ALARM
    /// now (one that is, is named once, as firing); the first move of each alarm is kept.
    pub fn with_history(mut self, named: &[String], transitions: &[AlarmTransition]) -> Self {
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

    pub fn healthy(&self) -> bool {
        self.firing.is_empty() && self.missing.is_empty() && self.fired.is_empty()
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
                format!(
                    "alarm {} went to ALARM at {}{reason} and out of it again before this check",
                    t.name, t.at
                )
            }))
            .chain(
                self.missing
                    .iter()
                    .map(|m| format!("alarm {m} no longer exists")),
            )
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::reading;

    #[test]
    fn sorts_each_named_alarm_once_and_ignores_strangers() {
        let named: Vec<String> = ["ok", "firing", "quiet", "gone"].map(String::from).into();
        let readings = [
            reading("ok", AlarmState::Ok, ""),
            reading("firing", AlarmState::Alarm, "5 errors"),
            reading("quiet", AlarmState::InsufficientData, ""),
            reading("stranger", AlarmState::Alarm, "not ours"),
        ];
        let s = AlarmSummary::of(&named, &readings);
        assert_eq!(s.firing, vec![readings[1].clone()]);
        assert_eq!(s.insufficient_data, vec!["quiet".to_string()]);
        assert_eq!(s.missing, vec!["gone".to_string()]);
        assert!(!s.healthy());
        assert_eq!(
            s.breaches(),
            "alarm firing is in ALARM (5 errors); alarm gone no longer exists"
        );
    }

    #[test]
    fn insufficient_data_is_healthy_and_no_alarms_is_healthy() {
        let named = vec!["quiet".to_string()];
        let s = AlarmSummary::of(
            &named,
            &[reading("quiet", AlarmState::InsufficientData, "")],
        );
        assert!(s.healthy() && s.breaches().is_empty());
        assert!(AlarmSummary::of(&[], &[]).healthy());
    }

    #[test]
    fn an_alarm_that_fired_and_cleared_is_a_breach_told_once() {
        let named: Vec<String> = ["blip", "firing", "calm"].map(String::from).into();
        let readings = [
            reading("blip", AlarmState::Ok, ""),
            reading("firing", AlarmState::Alarm, "now"),
            reading("calm", AlarmState::Ok, ""),
        ];
        let went = |name: &str, at: &str| AlarmTransition {
            name: name.into(),
            at: at.into(),
            reason: "3 errors".into(),
        };
        let s = AlarmSummary::of(&named, &readings).with_history(
            &named,
            &[
                went("blip", "10:01"),
                went("blip", "10:00"),
                went("firing", "10:02"),
                went("stranger", "10:03"),
            ],
        );
        assert!(!s.healthy());
        assert_eq!(
            s.breaches(),
            "alarm firing is in ALARM (now); alarm blip went to ALARM at 10:01 (3 errors) and out of \
             it again before this check"
        );
        let quiet = AlarmSummary::of(&named, &readings[..1]).with_history(&named, &[]);
        assert_eq!(
            quiet.missing,
            vec!["firing".to_string(), "calm".to_string()]
        );
    }

    #[test]
    fn a_firing_alarm_without_a_reason_is_named_alone() {
        let named = vec!["e".to_string()];
        let s = AlarmSummary::of(&named, &[reading("e", AlarmState::Alarm, "")]);
        assert_eq!(s.breaches(), "alarm e is in ALARM");
    }
}
