//! The AlarmReader adapter over aws-sdk-cloudwatch.

use crate::config::sdk_config;
use crate::errors::classify;
use crate::ports::{AlarmReader, AwsError};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use sluice_core::{AlarmReading, AlarmState};

pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    pub fn new(client: Client) -> Self {
        CloudWatchAlarms { client }
    }

    pub async fn from_env() -> Self {
        CloudWatchAlarms::new(Client::new(&sdk_config().await))
    }
}

fn state_of(value: Option<&StateValue>) -> AlarmState {
    match value {
        Some(StateValue::Alarm) => AlarmState::Alarm,
        Some(StateValue::Ok) => AlarmState::Ok,
        // Unknown or absent states are not healthy evidence: report them as no data.
        _ => AlarmState::InsufficientData,
    }
}

impl AlarmReader for CloudWatchAlarms {
    async fn read_alarms(&self, names: &[String]) -> Result<Vec<AlarmReading>, AwsError> {
        let mut readings = Vec::with_capacity(names.len());
        // DescribeAlarms takes at most 100 names a call.
        for chunk in names.chunks(100) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("DescribeAlarms", e))?;
                for a in out.metric_alarms() {
                    readings.push(AlarmReading {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        state: state_of(a.state_value()),
                        reason: a.state_reason().unwrap_or_default().to_string(),
                    });
                }
                for a in out.composite_alarms() {
                    readings.push(AlarmReading {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        state: state_of(a.state_value()),
                        reason: a.state_reason().unwrap_or_default().to_string(),
                    });
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(readings)
    }
}
