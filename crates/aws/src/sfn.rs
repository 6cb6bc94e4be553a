//! The Executions adapter over aws-sdk-sfn.

use crate::config::on_first_use;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind, Executions, Tasks};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use aws_sdk_sfn::types::HistoryEventType;
use sluice_core::deployment::WatchLost;
use sluice_core::{
    Deployment, ExecutionEnded, ExecutionState, ExecutionStatus, Failure, Timestamp,
};
use tokio::sync::OnceCell;

pub struct StepFunctions {
    client: OnceCell<Client>,
}

impl StepFunctions {
    pub fn new(client: Client) -> Self {
        StepFunctions {
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The standard credential and region chain; the client is made on the first call.
    pub fn from_env() -> Self {
        StepFunctions {
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &Client {
        on_first_use(&self.client, Client::new).await
    }
}

impl Executions for StepFunctions {
    async fn state(&self, execution_arn: &str) -> Result<ExecutionState, AwsError> {
        match self
            .client()
            .await
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
        {
            Ok(out) => {
                let status = ExecutionStatus::of(out.status().as_str());
                if !status.has_ended() {
                    // Running, or about to run again (a redrive was asked for).
                    return Ok(ExecutionState::Running);
                }
                Ok(ExecutionState::Ended(ExecutionEnded {
                    execution_arn: out.execution_arn().to_string(),
                    deployment_id: out.name().unwrap_or_default().to_string(),
                    status,
                    error: out.error().map(str::to_string),
                    cause: out.cause().map(str::to_string),
                }))
            }
            Err(e) => {
                let e = classify("DescribeExecution", e);
                // Unknown (or past the 90 days Step Functions keeps it).
                if e.kind == AwsErrorKind::NotFound {
                    Ok(ExecutionState::Unknown)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn runs_again(&self, execution_arn: &str) -> Result<bool, AwsError> {
        let out = self
            .client()
            .await
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| classify("DescribeExecution", e))?;
        let status = ExecutionStatus::of(out.status().as_str());
        Ok(!status.has_ended() && out.redrive_count().unwrap_or(0) > 0)
    }

    async fn is_running(&self, execution_arn: &str) -> Result<bool, AwsError> {
        match self
            .client()
            .await
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.status() == &SfnStatus::Running),
            Err(e) => {
                let e = classify("DescribeExecution", e);
                // Unknown (or past the 90 days Step Functions keeps it): not running.
                if e.kind == AwsErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// SendTask* answers for a token whose task has ended (or never was): nothing to do.
fn task_ended(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist")
    )
}

impl Tasks for StepFunctions {
    async fn succeed_task(&self, token: &str) -> Result<bool, AwsError> {
        match self
            .client()
            .await
            .send_task_success()
            .task_token(token)
            .output("{}")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if task_ended(e.code()) => Ok(false),
            Err(e) => Err(classify("SendTaskSuccess", e)),
        }
    }

    async fn fail_task(&self, token: &str, failure: &Failure) -> Result<bool, AwsError> {
        match self
            .client()
            .await
            .send_task_failure()
            .task_token(token)
            .error(failure.error.as_str())
            .cause(&failure.cause)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if task_ended(e.code()) => Ok(false),
            Err(e) => Err(classify("SendTaskFailure", e)),
        }
    }
}

/// An execution as the CLI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub output: Option<String>,
    /// The execution's input: the request as it was started.
    pub input: Option<String>,
    pub started: Timestamp,
    /// When it ended (absent while it runs).
    pub stopped: Option<Timestamp>,
}

/// One run of one state of an execution, from its history: when it began and ended (or the
/// execution's end cut it off), and the deployment document it output, its history lines left out
/// (absent for a state that outputs none, or has not ended).
#[derive(Debug, Clone)]
pub struct StateRun {
    pub name: String,
    pub entered: Timestamp,
    pub exited: Option<Timestamp>,
    pub document: Option<Deployment>,
}

fn started(date: &aws_sdk_sfn::primitives::DateTime) -> Timestamp {
    Timestamp::from_unix_millis(date.to_millis().unwrap_or(0))
}

/// What the CLI does with executions: start, look, list, stop.
impl StepFunctions {
    /// Starts a deployment; its name is the deployment id.
    pub async fn start(
        &self,
        state_machine: &str,
        name: &str,
        input: &str,
    ) -> Result<String, AwsError> {
        let out = self
            .client()
            .await
            .start_execution()
            .state_machine_arn(state_machine)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| classify("StartExecution", e))?;
        Ok(out.execution_arn().to_string())
    }

    pub async fn describe(&self, execution_arn: &str) -> Result<ExecutionInfo, AwsError> {
        let out = self
            .client()
            .await
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| classify("DescribeExecution", e))?;
        Ok(ExecutionInfo {
            execution_arn: out.execution_arn().to_string(),
            name: out.name().unwrap_or_default().to_string(),
            status: ExecutionStatus::of(out.status().as_str()),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
            output: out.output().map(str::to_string),
            input: out.input().map(str::to_string),
            started: started(out.start_date()),
            stopped: out.stop_date().map(started),
        })
    }

    /// Stops a running execution; the safety net then rolls its deployment back.
    pub async fn stop(&self, execution_arn: &str, cause: &str) -> Result<(), AwsError> {
        self.client()
            .await
            .stop_execution()
            .execution_arn(execution_arn)
            .error("Aborted")
            .cause(cause)
            .send()
            .await
            .map_err(|e| classify("StopExecution", e))?;
        Ok(())
    }

    /// The newest deployment document a state of the execution has output, if any state has
    /// finished yet. Asks for the history newest first; a server that answers oldest first (the
    /// local stack does) is read to its end.
    pub async fn latest_document(
        &self,
        execution_arn: &str,
    ) -> Result<Option<Deployment>, AwsError> {
        let mut scan = HistoryScan::default();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client()
                .await
                .get_execution_history()
                .execution_arn(execution_arn)
                .reverse_order(true)
                .max_results(200)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("GetExecutionHistory", e))?;
            let events = out.events();
            for event in events {
                scan.see(
                    event.id(),
                    event.r#type() == &HistoryEventType::ParallelStateEntered,
                    event.state_exited_event_details().and_then(|d| d.output()),
                );
            }
            let newest_first = match (events.first(), events.last()) {
                (Some(first), Some(last)) => first.id() >= last.id(),
                _ => true,
            };
            match out.next_token() {
                Some(t) if !(newest_first && scan.found_all()) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(scan.document())
    }

    /// Every state the execution ran, in the order they began, each with the document it output:
    /// what `sluice report` draws. Reads the whole history, oldest first.
    pub async fn state_runs(&self, execution_arn: &str) -> Result<Vec<StateRun>, AwsError> {
        let mut log = RunLog::default();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client()
                .await
                .get_execution_history()
                .execution_arn(execution_arn)
                .reverse_order(false)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("GetExecutionHistory", e))?;
            for event in out.events() {
                let at = Timestamp::from_unix_millis(event.timestamp().to_millis().unwrap_or(0));
                let ended = matches!(
                    event.r#type(),
                    HistoryEventType::ExecutionAborted
                        | HistoryEventType::ExecutionFailed
                        | HistoryEventType::ExecutionTimedOut
                        | HistoryEventType::ExecutionRedriven
                );
                if ended {
                    log.ended(at);
                } else if let Some(d) = event.state_entered_event_details() {
                    log.entered(d.name(), at);
                } else if let Some(d) = event.state_exited_event_details() {
                    log.exited(d.name(), at, d.output());
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(log.runs)
    }

    /// The state machine's executions, newest first (at most `limit`).
    pub async fn list(
        &self,
        state_machine: &str,
        running_only: bool,
        limit: usize,
    ) -> Result<Vec<ExecutionInfo>, AwsError> {
        let mut request = self
            .client()
            .await
            .list_executions()
            .state_machine_arn(state_machine)
            .max_results(limit.min(1000) as i32);
        if running_only {
            request = request.status_filter(SfnStatus::Running);
        }
        let out = request
            .send()
            .await
            .map_err(|e| classify("ListExecutions", e))?;
        Ok(out
            .executions()
            .iter()
            .map(|e| ExecutionInfo {
                execution_arn: e.execution_arn().to_string(),
                name: e.name().to_string(),
                status: ExecutionStatus::of(e.status().as_str()),
                error: None,
                cause: None,
                output: None,
                input: None,
                started: started(e.start_date()),
                stopped: e.stop_date().map(started),
            })
            .collect())
    }
}

/// The states of an execution as its history events come, oldest first.
#[derive(Default)]
struct RunLog {
    runs: Vec<StateRun>,
}

impl RunLog {
    fn entered(&mut self, name: &str, at: Timestamp) {
        self.runs.push(StateRun {
            name: name.to_string(),
            entered: at,
            exited: None,
            document: None,
        });
    }

    /// A state's exit closes its latest run still open (a loop enters it again).
    fn exited(&mut self, name: &str, at: Timestamp, output: Option<&str>) {
        if let Some(run) = self
            .runs
            .iter_mut()
            .rev()
            .find(|r| r.name == name && r.exited.is_none())
        {
            run.exited = Some(at);
            // Without its history lines: the record has them, and a long bake's thousands of
            // documents would otherwise each carry them all.
            run.document = output
                .and_then(|o| serde_json::from_str(o).ok())
                .and_then(|v| Deployment::from_json(v).ok())
                .map(|mut doc| {
                    doc.history = Vec::new();
                    doc
                });
        }
    }

    /// The execution ended (or was redriven): what it cut off never exits, it ended here.
    fn ended(&mut self, at: Timestamp) {
        for run in self.runs.iter_mut().filter(|r| r.exited.is_none()) {
            run.exited = Some(at);
        }
    }
}

/// What `latest_document` keeps while it reads an execution's history, page by page: the newest
/// document a state output, and the newest lost watch (a bake's watch branch outputs it; the
/// document has it only once the bake's Parallel ends).
#[derive(Default)]
struct HistoryScan {
    newest: Option<(i64, Deployment)>,
    lost: Option<(i64, WatchLost)>,
    /// A Parallel (a bake) was entered before the newest document: its lost watch, if any, is
    /// in the events read already.
    bake_entered_before_newest: bool,
}

impl HistoryScan {
    fn see(&mut self, id: i64, parallel_entered: bool, output: Option<&str>) {
        if parallel_entered && self.newest.as_ref().is_some_and(|(n, _)| *n > id) {
            self.bake_entered_before_newest = true;
        }
        let Some(value) = output.and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        else {
            return;
        };
        if let Some(l) = value
            .get("watchLost")
            .filter(|_| value.as_object().is_some_and(|o| o.len() == 1))
            .and_then(|l| serde_json::from_value::<WatchLost>(l.clone()).ok())
        {
            if self.lost.as_ref().is_none_or(|(n, _)| *n < id) {
                self.lost = Some((id, l));
            }
            return;
        }
        if self.newest.as_ref().is_some_and(|(n, _)| *n > id) {
            return;
        }
        // Every state passes the document on but Validate's refusal, and the explanations.
        if let Ok(doc) = Deployment::from_json(value) {
            self.newest = Some((id, doc));
        }
    }

    /// Read newest first, whether the events still unread can change the answer: not once the
    /// newest document is known and so is the current bake's lost watch (found, or its bake's
    /// entry passed). Newest first, a long bake's checks push its lost watch back many pages.
    fn found_all(&self) -> bool {
        self.newest.is_some() && (self.lost.is_some() || self.bake_entered_before_newest)
    }

    fn document(self) -> Option<Deployment> {
        let lost = self.lost;
        self.newest.map(|(_, mut doc)| {
            if let Some((_, l)) = lost.filter(|(_, l)| Some(l.step) == doc.step)
                && doc.watch_lost.is_none()
            {
                doc.watch_lost = Some(l);
            }
            doc
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{HistoryScan, RunLog};
    use serde_json::json;
    use sluice_core::testing::baking;

    /// A bake of many checks, read newest first in pages of 200 as AWS answers: its watch was
    /// lost early (event 60, after the bake's entry at 50), and 940 events of checks came after.
    /// The first page holds the newest document but not the lost watch: reading must go on.
    #[test]
    fn a_watch_lost_early_in_a_long_bake_is_found_pages_back() {
        let doc = baking(&["errors"]).to_json().to_string();
        let lost = json!({"watchLost": {"step": 0, "at": "2026-11-27T10:00:01Z",
                          "failure": {"Error": "States.Timeout", "Cause": ""}}})
        .to_string();
        let mut scan = HistoryScan::default();
        let mut pages = 0;
        for page in (1..=1000i64).rev().collect::<Vec<_>>().chunks(200) {
            pages += 1;
            for &id in page {
                let output = match id {
                    60 => Some(lost.as_str()),
                    id if id > 100 && id % 9 == 0 => Some(doc.as_str()),
                    _ => None,
                };
                scan.see(id, id == 50, output);
            }
            if scan.found_all() {
                break;
            }
        }
        assert_eq!(pages, 5, "read back to the bake's lost watch");
        let found = scan.document().unwrap();
        assert_eq!(found.watch_lost.unwrap().step, 0);
    }

    /// Without a lost watch, reading stops at the current bake's entry.
    #[test]
    fn reading_stops_at_the_current_bakes_entry() {
        let doc = baking(&["errors"]).to_json().to_string();
        let mut scan = HistoryScan::default();
        scan.see(900, false, Some(&doc));
        assert!(!scan.found_all());
        scan.see(500, true, None);
        assert!(scan.found_all());
        assert!(scan.document().unwrap().watch_lost.is_none());
    }

    /// A loop's runs pair with their own exits, outputs are read as documents (without their
    /// history lines), and what an abort cut off ends at the abort.
    #[test]
    fn state_runs_pair_exits_and_end_at_the_execution_s_end() {
        use sluice_core::testing::t;
        let doc = baking(&["errors"]).to_json().to_string();
        let mut log = RunLog::default();
        log.entered("Bake", t(1));
        log.entered("CheckAlarms", t(2));
        log.exited("CheckAlarms", t(3), Some(&doc));
        log.entered("CheckAlarms", t(4));
        log.exited("CheckAlarms", t(5), Some("{\"not\": \"a document\"}"));
        log.entered("Watch", t(2));
        log.ended(t(9));
        let runs = log.runs;
        assert_eq!(runs.len(), 4);
        assert_eq!((runs[1].entered, runs[1].exited), (t(2), Some(t(3))));
        let first = runs[1].document.as_ref().expect("a document");
        assert!(first.history.is_empty(), "kept without its lines");
        assert!(runs[2].document.is_none());
        assert_eq!(
            runs[0].exited,
            Some(t(9)),
            "the bake ended with the execution"
        );
        assert_eq!(runs[3].exited, Some(t(9)));
    }
}
