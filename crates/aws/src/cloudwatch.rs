//! The AlarmReader and MetricReader adapters over aws-sdk-cloudwatch.

use crate::config::on_first_use;
use crate::errors::classify;
use crate::ports::{AlarmReader, AwsError, AwsErrorKind, MetricReader};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, HistoryItemType, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
    StatusCode,
};
use sluice_core::analysis::{MetricQuery, PERIOD_SECONDS, Series};
use sluice_core::{AlarmName, AlarmReading, AlarmState, AlarmTransition, Timestamp};
use std::collections::HashMap;
use tokio::sync::OnceCell;

pub struct CloudWatchAlarms {
    client: OnceCell<Client>,
}

impl CloudWatchAlarms {
    pub fn new(client: Client) -> Self {
        CloudWatchAlarms {
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The standard credential and region chain; the client is made on the first call.
    pub fn from_env() -> Self {
        CloudWatchAlarms {
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &Client {
        on_first_use(&self.client, Client::new).await
    }
}

/// One move of an alarm's state, from its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmChange {
    pub name: AlarmName,
    pub at: Timestamp,
    /// "OK", "ALARM", "INSUFFICIENT_DATA", as CloudWatch writes them.
    pub from: String,
    pub to: String,
    pub reason: String,
}

impl CloudWatchAlarms {
    /// Every state move of the named alarms in `[since, until]`, oldest first (one call per
    /// alarm and page: the history of every alarm in the account could be long).
    pub async fn state_changes(
        &self,
        names: &[AlarmName],
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<Vec<AlarmChange>, AwsError> {
        let mut changes = Vec::new();
        for name in names {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client()
                    .await
                    .describe_alarm_history()
                    .alarm_name(name.as_str())
                    // Without AlarmTypes, CloudWatch returns metric alarms' history only.
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .history_item_type(HistoryItemType::StateUpdate)
                    .start_date(DateTime::from_millis(since.unix_millis()))
                    .set_end_date(until.map(|u| DateTime::from_millis(u.unix_millis())))
                    .max_records(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("DescribeAlarmHistory", e))?;
                for item in out.alarm_history_items() {
                    if let Some((from, to, reason)) =
                        state_move(item.history_data().unwrap_or_default())
                    {
                        // An item without a time still counts: it is within the window.
                        let at = item.timestamp().and_then(|t| t.to_millis().ok());
                        changes.push(AlarmChange {
                            name: name.clone(),
                            at: at.map_or(since, Timestamp::from_unix_millis),
                            from,
                            to,
                            reason,
                        });
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        changes.sort_by_key(|c| c.at);
        Ok(changes)
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
    async fn read_alarms(&self, names: &[AlarmName]) -> Result<Vec<AlarmReading>, AwsError> {
        let mut readings = Vec::with_capacity(names.len());
        // DescribeAlarms takes at most 100 names a call.
        for chunk in names.chunks(100) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client()
                    .await
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.iter().map(|n| n.as_str().to_string()).collect()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("DescribeAlarms", e))?;
                let metric = out
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                let composite = out
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                for (name, state, reason) in metric.chain(composite) {
                    // CloudWatch names every alarm it returns; one it could not name is not ours.
                    let Some(name) = name.and_then(|n| AlarmName::parse(n).ok()) else {
                        continue;
                    };
                    readings.push(AlarmReading {
                        name,
                        state: state_of(state),
                        reason: reason.unwrap_or_default().to_string(),
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

    async fn alarm_history(
        &self,
        names: &[AlarmName],
        since: Timestamp,
    ) -> Result<Vec<AlarmTransition>, AwsError> {
        let mut moves = Vec::new();
        for change in self.state_changes(names, since, None).await? {
            if change.to == "ALARM" {
                moves.push(AlarmTransition {
                    name: change.name,
                    at: change.at,
                    reason: change.reason,
                });
            }
        }
        // Oldest first, as they happened.
        moves.sort_by_key(|m| m.at);
        Ok(moves)
    }
}

/// GetMetricData takes at most 500 queries a call.
const QUERIES_PER_CALL: usize = 500;

impl MetricReader for CloudWatchAlarms {
    async fn read_metrics(
        &self,
        queries: &[MetricQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<HashMap<String, Series>, AwsError> {
        self.read_metrics_every(queries, start, end, PERIOD_SECONDS)
            .await
    }
}

impl CloudWatchAlarms {
    /// As [`MetricReader::read_metrics`], one point per `period` seconds (CloudWatch keeps
    /// 1-minute points 15 days, 5-minute points 63 days, 1-hour points 455 days).
    pub async fn read_metrics_every(
        &self,
        queries: &[MetricQuery],
        start: Timestamp,
        end: Timestamp,
        period: i64,
    ) -> Result<HashMap<String, Series>, AwsError> {
        let mut values: HashMap<String, Series> = HashMap::new();
        for chunk in queries.chunks(QUERIES_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client()
                    .await
                    .get_metric_data()
                    .set_metric_data_queries(Some(chunk.iter().map(|q| query(q, period)).collect()))
                    .start_time(DateTime::from_secs(start.unix_seconds()))
                    .end_time(DateTime::from_secs(end.unix_seconds()))
                    .scan_by(ScanBy::TimestampAscending)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("GetMetricData", e))?;
                for result in out.metric_data_results() {
                    let Some(id) = result.id() else { continue };
                    match result.status_code() {
                        Some(StatusCode::Complete) | None => {}
                        // More pages follow for this result; the next page carries the rest.
                        Some(StatusCode::PartialData) if out.next_token().is_some() => {}
                        Some(other) => {
                            return Err(AwsError::new(
                                AwsErrorKind::Transient,
                                "GetMetricData",
                                format!("the result {id} is {}, not Complete", other.as_str()),
                            ));
                        }
                    }
                    let points = values.entry(id.to_string()).or_default();
                    for (at, v) in result.timestamps().iter().zip(result.values()) {
                        points.push((at.secs(), *v));
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        for points in values.values_mut() {
            points.sort_by_key(|(at, _)| *at);
        }
        values.retain(|_, points| !points.is_empty());
        Ok(values)
    }
}

/// One query as GetMetricData takes it: AWS/Lambda's metric of one version through one alias,
/// per `period` seconds.
fn query(q: &MetricQuery, period: i64) -> MetricDataQuery {
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name(q.metric.name())
        .dimensions(dimension("FunctionName", &q.function_name))
        .dimensions(dimension("Resource", &q.resource))
        .dimensions(dimension("ExecutedVersion", q.version.as_str()))
        .build();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period as i32)
                .stat(&q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// A StateUpdate history item's move (its HistoryData JSON: `{"oldState": {"stateValue": ...},
/// "newState": {"stateValue": ..., "stateReason": ...}}`): from, to and the reason.
fn state_move(history_data: &str) -> Option<(String, String, String)> {
    let data: serde_json::Value = serde_json::from_str(history_data).ok()?;
    let value = |state: &str| {
        data.get(state)
            .and_then(|s| s.get("stateValue"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let reason = data
        .get("newState")
        .and_then(|n| n.get("stateReason"))
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_string();
    Some((
        value("oldState").unwrap_or_default(),
        value("newState")?,
        reason,
    ))
}

#[cfg(test)]
mod tests {
    use super::state_move;

    fn into_alarm(data: &str) -> Option<String> {
        state_move(data).and_then(|(_, to, reason)| (to == "ALARM").then_some(reason))
    }

    #[test]
    fn only_moves_into_alarm_count() {
        let data = |to: &str| {
            format!(
                r#"{{"version":"1.0","oldState":{{"stateValue":"OK"}},"newState":{{"stateValue":"{to}","stateReason":"3 errors"}}}}"#
            )
        };
        assert_eq!(into_alarm(&data("ALARM")).as_deref(), Some("3 errors"));
        assert_eq!(into_alarm(&data("OK")), None);
        assert_eq!(into_alarm("not json"), None);
    }
}
