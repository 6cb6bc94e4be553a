//! An in-memory Lambda, CloudWatch, ledger and Step Functions for handler unit tests (feature
//! `fake`). It keeps revisions the way Lambda does and conditions the ledger's writes on the
//! lock holder the way DynamoDB does, so conditional writes and conflicts are real here too;
//! and it can fail a chosen call, with or without the write landing first.

use crate::ports::{
    AlarmReader, AwsError, AwsErrorKind, Executions, FunctionStore, Ledger, MetricReader, Saved,
    Tasks, Watches,
};
use serde_json::Value;
use sluice_core::analysis::{Figures, Metric, MetricQuery, Series};
use sluice_core::ledger::{Command, MeetingPoint};
use sluice_core::testing::{alarm, t};
use sluice_core::{
    AlarmName, AlarmReading, AlarmState, AlarmTransition, AliasEntry, AliasName, AliasSnapshot,
    Deployment, ExecutionEnded, ExecutionState, ExecutionStatus, Failure, Freeze, FreezeScope,
    FunctionRef, LockHolder, OpenItem, Routing, Timestamp, Version, VersionInfo, VersionState,
    Watch,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// a:live and b:live at 10 % of version 2, c:live on version 1, and an alarm fired: the
/// deployment as a breach leaves it (sluice-core's `testing::breached`, on this fake's revisions),
/// each alias it moved locked by its execution, as Validate locked them. Where Rollback starts.
pub fn breached_and_locked() -> (FakeAws, Deployment) {
    use sluice_core::testing::{breached, ten, v};
    let aws = FakeAws::new()
        .function("a", 2)
        .alias("a", "live", ten())
        .function("b", 2)
        .alias("b", "live", ten())
        .function("c", 1)
        .alias("c", "live", Routing::only(v("1")));
    let rev = |f| aws.current(f, "live").unwrap().revision_id;
    let d = breached([&rev("a"), &rev("b")]);
    let aws = d
        .locks()
        .iter()
        .fold(aws, |aws, l| aws.lock(&l.key, d.holder(t(0))));
    (aws, d)
}

/// a:live at 10 % of version 2 mid-bake, recorded and locked by its execution: the deployment as
/// a stop, or its last shift, leaves it (sluice-core's `testing::baking`, on this fake's
/// revisions). Where the safety net and Finish start.
pub fn baking_and_locked() -> (FakeAws, Deployment) {
    use sluice_core::testing::{baking, ten};
    let aws = FakeAws::new()
        .function("a", 2)
        .alias("a", "live", ten())
        .function("c", 1);
    let mut d = baking(&[]);
    d.targets[0].revision_id = aws
        .current("a", "live")
        .unwrap_or_else(|| unreachable!())
        .revision_id;
    let aws = d
        .locks()
        .iter()
        .fold(aws, |aws, l| aws.lock(&l.key, d.holder(t(0))));
    aws.set_record(&d.deployment_id, d.to_json());
    (aws, d)
}

#[derive(Default)]
struct Function {
    published: u64,
    unpublished_changes: bool,
    /// What a version is other than Active with the function's one role and no dead-letter queue.
    versions: HashMap<u64, VersionInfo>,
}

/// A version as the fake describes it when the test did not say otherwise.
fn plain_version() -> VersionInfo {
    VersionInfo {
        state: VersionState::Active,
        role: "arn:aws:iam::123456789012:role/function".into(),
        dead_letter: None,
    }
}

/// A task waiting for its token, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Waiting,
    Succeeded,
    Failed { error: String, cause: String },
}

#[derive(Default)]
struct State {
    functions: HashMap<String, Function>,
    aliases: HashMap<(String, String), AliasSnapshot>,
    /// Aliases someone pointed at $LATEST (Lambda allows it; sluice never does it).
    on_latest: HashSet<(String, String)>,
    alarms: Vec<AlarmReading>,
    locks: HashMap<String, LockHolder>,
    records: HashMap<String, Value>,
    running: HashSet<String>,
    redriven: HashSet<String>,
    history: Vec<AlarmTransition>,
    watches: HashMap<String, HashMap<String, Watch>>,
    /// Per (deployment, bake slot): the meeting point of a bake's watch, end and commands.
    bakes: HashMap<(String, String), MeetingPoint>,
    tasks: HashMap<String, Task>,
    writes: Vec<String>,
    failures: VecDeque<(String, AwsErrorKind, bool)>,
    revision: u64,
    /// Per (function name, version): the figures GetMetricData answers for it.
    figures: HashMap<(String, String), Figures>,
    /// The metric reads made: (queries, start, end, period).
    metric_reads: Vec<(usize, Timestamp, Timestamp, i64)>,
    freezes: HashMap<String, Freeze>,
    journal: Vec<AliasEntry>,
    /// What the next invocations answer, in turn (none left: it returns null); and each made.
    answers: VecDeque<Result<crate::ports::Invoked, AwsErrorKind>>,
    invocations: Vec<(String, serde_json::Value)>,
}

impl State {
    fn next_revision(&mut self) -> String {
        self.revision += 1;
        format!("rev-{}", self.revision)
    }

    /// Takes an injected failure for `op`: Some((kind, lands)).
    fn injected(&mut self, op: &str) -> Option<(AwsErrorKind, bool)> {
        let pos = self.failures.iter().position(|(o, _, _)| o == op)?;
        self.failures.remove(pos).map(|(_, k, l)| (k, l))
    }
}

/// Something another writer does just before sluice's next UpdateAlias lands.
type Interleave = Box<dyn FnOnce(&FakeAws) + Send>;

#[derive(Default)]
pub struct FakeAws {
    state: Mutex<State>,
    before_update: Mutex<VecDeque<Interleave>>,
    before_lock: Mutex<VecDeque<Interleave>>,
}

fn v(n: u64) -> Version {
    // Versions the fake makes are positive integers, which always parse.
    Version::parse(&n.to_string()).unwrap_or_else(|_| unreachable!("positive version"))
}

impl FakeAws {
    pub fn new() -> Self {
        FakeAws::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// A function with versions 1..=versions published and no unpublished changes.
    pub fn function(self, name: &str, versions: u64) -> Self {
        self.with(|s| {
            s.functions.insert(
                name.into(),
                Function {
                    published: versions,
                    unpublished_changes: false,
                    versions: HashMap::new(),
                },
            )
        });
        self
    }

    pub fn alias(self, function: &str, alias: &str, routing: Routing) -> Self {
        self.set_alias(function, alias, routing);
        self
    }

    pub fn alarm(self, name: &str, state: AlarmState) -> Self {
        self.set_alarm(name, state);
        self
    }

    /// Someone (not sluice) sets the alias.
    pub fn set_alias(&self, function: &str, alias: &str, routing: Routing) {
        self.with(|s| {
            let revision_id = s.next_revision();
            s.aliases.insert(
                (function.into(), alias.into()),
                AliasSnapshot {
                    routing,
                    revision_id,
                },
            );
        });
    }

    pub fn set_alarm(&self, name: &str, state: AlarmState) {
        self.with(|s| {
            s.alarms.retain(|a| a.name != name);
            s.alarms.push(AlarmReading {
                name: alarm(name),
                state,
                reason: format!("{name} set to {state:?} by the test"),
            });
        });
    }

    /// The alarm went to ALARM at `at` (its history says so), whatever its state now.
    pub fn alarm_fired_at(&self, name: &str, at: Timestamp) {
        self.with(|s| {
            s.history.push(AlarmTransition {
                name: alarm(name),
                at,
                reason: format!("{name} fired at {at}"),
            })
        });
    }

    /// A task now waiting for `token`.
    pub fn waiting_task(&self, token: &str) {
        self.with(|s| s.tasks.insert(token.into(), Task::Waiting));
    }

    /// How the task waiting on `token` ended, if it was ever waiting.
    pub fn task(&self, token: &str) -> Option<Task> {
        self.with(|s| s.tasks.get(token).cloned())
    }

    /// The watches registered against `alarm`, by deployment id.
    pub fn watches_of(&self, alarm: &str) -> HashMap<String, Watch> {
        self.with(|s| s.watches.get(alarm).cloned().unwrap_or_default())
    }

    /// Someone points the alias at $LATEST.
    pub fn point_at_latest(&self, function: &str, alias: &str) {
        self.with(|s| s.on_latest.insert((function.into(), alias.into())));
    }

    /// Version `n` of `function` is described as `info` (its state, role, dead-letter config).
    pub fn describe_version(&self, function: &str, n: u64, info: VersionInfo) {
        self.with(|s| {
            if let Some(f) = s.functions.get_mut(function) {
                f.versions.insert(n, info);
            }
        });
    }

    /// The function's code changes, so the next publish makes a new version.
    pub fn change_code(&self, function: &str) {
        self.with(|s| {
            if let Some(f) = s.functions.get_mut(function) {
                f.unpublished_changes = true;
            }
        });
    }

    /// The next call of `operation` fails with `kind`; with `lands`, its write happens first
    /// (a response lost on the way back).
    pub fn fail_next(&self, operation: &str, kind: AwsErrorKind, lands: bool) {
        self.with(|s| s.failures.push_back((operation.into(), kind, lands)));
    }

    /// Runs `f` right before the next UpdateAlias is applied: a writer racing sluice between
    /// its read and its conditional write.
    pub fn before_next_update(&self, f: impl FnOnce(&FakeAws) + Send + 'static) {
        self.before_update
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Box::new(f));
    }

    /// Runs `f` right before the next lock is taken: a writer moving an alias between validate's
    /// read of it and its lock.
    pub fn before_next_lock(&self, f: impl FnOnce(&FakeAws) + Send + 'static) {
        self.before_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Box::new(f));
    }

    /// The execution is RUNNING (any other is not).
    pub fn running(&self, execution_arn: &str) {
        self.with(|s| s.running.insert(execution_arn.into()));
    }

    /// The execution was redriven, and is RUNNING again.
    pub fn redriven(&self, execution_arn: &str) {
        self.with(|s| {
            s.running.insert(execution_arn.into());
            s.redriven.insert(execution_arn.into())
        });
    }

    /// The execution has ended.
    pub fn ended(&self, execution_arn: &str) {
        self.with(|s| s.running.remove(execution_arn));
    }

    /// Who holds the lock at `key` now.
    pub fn lock_holder(&self, key: &str) -> Option<LockHolder> {
        self.with(|s| s.locks.get(key).cloned())
    }

    /// Every lock held now, by key.
    pub fn locks(&self) -> HashMap<String, LockHolder> {
        self.with(|s| s.locks.clone())
    }

    /// A lock someone holds already.
    pub fn lock(self, key: &str, holder: LockHolder) -> Self {
        self.with(|s| s.locks.insert(key.into(), holder));
        self
    }

    /// Someone takes (Some) or releases (None) the lock at `key`, as another execution would.
    pub fn set_lock(&self, key: &str, holder: Option<LockHolder>) {
        self.with(|s| match holder {
            Some(h) => s.locks.insert(key.into(), h),
            None => s.locks.remove(key),
        });
    }

    /// The deployment's record, as last saved.
    pub fn record(&self, deployment_id: &str) -> Option<Value> {
        self.with(|s| s.records.get(deployment_id).cloned())
    }

    /// A record saved earlier (by another version of sluice, say).
    pub fn set_record(&self, deployment_id: &str, document: Value) {
        self.with(|s| s.records.insert(deployment_id.into(), document));
    }

    /// `d`'s record as the safety net settles it after a stop (rolled back), for a phase that
    /// outlived the stop or runs again in a redriven execution.
    pub fn settle(&self, d: &Deployment) {
        let mut settled = d.clone();
        settled.status = sluice_core::Status::RolledBack;
        settled.failure = Some(sluice_core::Failure::new(
            sluice_core::ErrorName::ExecutionAborted,
            "the execution was stopped (ABORTED) at step 1/2; sluice's safety net rolled it back",
        ));
        self.set_record(&d.deployment_id, settled.to_json());
    }

    pub fn current(&self, function: &str, alias: &str) -> Option<AliasSnapshot> {
        self.with(|s| s.aliases.get(&(function.into(), alias.into())).cloned())
    }

    /// Every write that landed, in order ("UpdateAlias f:live -> version 3 with 10% on version 4").
    pub fn writes(&self) -> Vec<String> {
        self.with(|s| s.writes.clone())
    }
}

impl FakeAws {
    /// The next invocation answers `answer` (after the ones queued before it).
    pub fn answer_next(&self, answer: Result<crate::ports::Invoked, AwsErrorKind>) {
        self.state.lock().unwrap().answers.push_back(answer);
    }

    /// Every invocation made: (function, payload).
    pub fn invocations(&self) -> Vec<(String, serde_json::Value)> {
        self.state.lock().unwrap().invocations.clone()
    }
}

impl crate::ports::Invoker for FakeAws {
    async fn invoke(
        &self,
        function: &FunctionRef,
        payload: &serde_json::Value,
    ) -> Result<crate::ports::Invoked, AwsError> {
        let mut s = self.state.lock().unwrap();
        s.invocations.push((function.to_string(), payload.clone()));
        match s.answers.pop_front() {
            Some(Ok(invoked)) => Ok(invoked),
            Some(Err(kind)) => Err(AwsError::new(kind, "Invoke", "injected")),
            None => Ok(crate::ports::Invoked {
                payload: serde_json::Value::Null,
                function_error: None,
            }),
        }
    }
}

impl FunctionStore for FakeAws {
    async fn get_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
    ) -> Result<Option<AliasSnapshot>, AwsError> {
        let (function, alias) = (function.as_str(), alias.as_str());
        self.with(|s| {
            if let Some((kind, _)) = s.injected("GetAlias") {
                return Err(AwsError::new(kind, "GetAlias", "injected"));
            }
            if !s.functions.contains_key(function) {
                return Err(AwsError::new(
                    AwsErrorKind::NotFound,
                    "GetAlias",
                    format!("no function {function}"),
                ));
            }
            if s.on_latest.contains(&(function.into(), alias.into())) {
                return Err(AwsError::new(
                    AwsErrorKind::Conflict,
                    "GetAlias",
                    format!("{function}:{alias} was pointed at $LATEST by someone else"),
                ));
            }
            Ok(s.aliases.get(&(function.into(), alias.into())).cloned())
        })
    }

    async fn update_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
        routing: &Routing,
        expected_revision: &str,
    ) -> Result<String, AwsError> {
        let (function, alias) = (function.as_str(), alias.as_str());
        let racing = self
            .before_update
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some(f) = racing {
            f(self);
        }
        self.with(|s| {
            let injected = s.injected("UpdateAlias");
            if let Some((kind, false)) = injected {
                return Err(AwsError::new(kind, "UpdateAlias", "injected"));
            }
            let key = (function.to_string(), alias.to_string());
            let current = s.aliases.get(&key).cloned().ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::NotFound,
                    "UpdateAlias",
                    format!("no alias {function}:{alias}"),
                )
            })?;
            if current.revision_id != expected_revision {
                return Err(AwsError::new(
                    AwsErrorKind::Conflict,
                    "UpdateAlias",
                    "PreconditionFailedException",
                ));
            }
            let published = s.functions.get(function).map_or(0, |f| f.published);
            let exists = |ver: &Version| ver.as_str().parse::<u64>().is_ok_and(|n| n <= published);
            if !exists(&routing.version)
                || routing
                    .additional
                    .as_ref()
                    .is_some_and(|(ver, _)| !exists(ver))
            {
                return Err(AwsError::new(
                    AwsErrorKind::Refused,
                    "UpdateAlias",
                    "version does not exist",
                ));
            }
            let revision_id = s.next_revision();
            s.aliases.insert(
                key,
                AliasSnapshot {
                    routing: routing.clone(),
                    revision_id: revision_id.clone(),
                },
            );
            s.writes.push(format!(
                "UpdateAlias {function}:{alias} -> {}",
                routing.describe()
            ));
            match injected {
                Some((kind, true)) => Err(AwsError::new(
                    kind,
                    "UpdateAlias",
                    "injected after the write landed",
                )),
                _ => Ok(revision_id),
            }
        })
    }

    async fn create_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
        version: &Version,
    ) -> Result<String, AwsError> {
        let (function, alias) = (function.as_str(), alias.as_str());
        self.with(|s| {
            if let Some((kind, _)) = s.injected("CreateAlias") {
                return Err(AwsError::new(kind, "CreateAlias", "injected"));
            }
            if s.aliases.contains_key(&(function.into(), alias.into())) {
                return Err(AwsError::new(
                    AwsErrorKind::Conflict,
                    "CreateAlias",
                    "ResourceConflictException: the alias exists",
                ));
            }
            let revision_id = s.next_revision();
            s.aliases.insert(
                (function.into(), alias.into()),
                AliasSnapshot {
                    routing: Routing::only(version.clone()),
                    revision_id: revision_id.clone(),
                },
            );
            s.writes.push(format!(
                "CreateAlias {function}:{alias} -> version {version}"
            ));
            Ok(revision_id)
        })
    }

    async fn function_arn(&self, function: &FunctionRef) -> Result<Option<String>, AwsError> {
        let function = function.as_str();
        self.with(|s| {
            if let Some((kind, _)) = s.injected("GetFunctionConfiguration") {
                return Err(AwsError::new(kind, "GetFunctionConfiguration", "injected"));
            }
            Ok(s.functions
                .contains_key(function)
                .then(|| format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")))
        })
    }

    async fn version(
        &self,
        function: &FunctionRef,
        version: &Version,
    ) -> Result<Option<VersionInfo>, AwsError> {
        let function = function.as_str();
        self.with(|s| {
            if let Some((kind, _)) = s.injected("GetFunctionConfiguration") {
                return Err(AwsError::new(kind, "GetFunctionConfiguration", "injected"));
            }
            let n = version.as_str().parse::<u64>().unwrap_or(u64::MAX);
            Ok(s.functions.get(function).and_then(|f| {
                (n <= f.published)
                    .then(|| f.versions.get(&n).cloned().unwrap_or_else(plain_version))
            }))
        })
    }

    async fn publish_version(&self, function: &FunctionRef) -> Result<Version, AwsError> {
        let function = function.as_str();
        self.with(|s| {
            let f = s.functions.get_mut(function).ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::NotFound,
                    "PublishVersion",
                    format!("no function {function}"),
                )
            })?;
            if f.unpublished_changes || f.published == 0 {
                f.published += 1;
                f.unpublished_changes = false;
                let n = f.published;
                s.writes.push(format!("PublishVersion {function} -> {n}"));
            }
            Ok(v(s.functions.get(function).map_or(1, |f| f.published)))
        })
    }
}

impl AlarmReader for FakeAws {
    async fn read_alarms(&self, names: &[AlarmName]) -> Result<Vec<AlarmReading>, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("DescribeAlarms") {
                return Err(AwsError::new(kind, "DescribeAlarms", "injected"));
            }
            Ok(s.alarms
                .iter()
                .filter(|a| names.contains(&a.name))
                .cloned()
                .collect())
        })
    }

    async fn alarm_history(
        &self,
        names: &[AlarmName],
        since: Timestamp,
    ) -> Result<Vec<AlarmTransition>, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("DescribeAlarmHistory") {
                return Err(AwsError::new(kind, "DescribeAlarmHistory", "injected"));
            }
            Ok(s.history
                .iter()
                .filter(|t| names.contains(&t.name) && t.at >= since)
                .cloned()
                .collect())
        })
    }
}

impl FakeAws {
    /// What the version's metrics say through any alias from now on.
    pub fn version_figures(&self, function: &str, version: &str, figures: Figures) {
        self.with(|s| {
            s.figures
                .insert((function.to_string(), version.to_string()), figures)
        });
    }

    /// The metric reads made so far: (queries, start, end, period).
    pub fn metric_reads(&self) -> Vec<(usize, Timestamp, Timestamp, i64)> {
        self.with(|s| s.metric_reads.clone())
    }
}

impl MetricReader for FakeAws {
    /// Each version's figures as one datapoint, in the window's first minute (its latency from
    /// the minute after, as after a warm-up).
    async fn read_metrics(
        &self,
        queries: &[MetricQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<HashMap<String, Series>, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("GetMetricData") {
                return Err(AwsError::new(kind, "GetMetricData", "injected"));
            }
            s.metric_reads.push((queries.len(), start, end, 60));
            let mut out = HashMap::new();
            let first = start.unix_seconds();
            for q in queries {
                let key = (q.function_name.clone(), q.version.as_str().to_string());
                let Some(f) = s.figures.get(&key) else {
                    continue;
                };
                let points = match q.metric {
                    Metric::Invocations => vec![(first, f.invocations as f64)],
                    Metric::Errors => vec![(first, f.errors as f64)],
                    Metric::Throttles => vec![(first, f.throttles as f64)],
                    Metric::Duration => f
                        .latency_ms
                        .map(|ms| (first + 60, ms))
                        .into_iter()
                        .collect(),
                };
                out.insert(q.id.clone(), points);
            }
            Ok(out)
        })
    }
}

impl Watches for FakeAws {
    async fn watch(&self, alarm: &AlarmName, watch: &Watch) -> Result<(), AwsError> {
        let alarm = alarm.as_str();
        self.with(|s| {
            if let Some((kind, _)) = s.injected("Watch") {
                return Err(AwsError::new(kind, "UpdateItem", "injected"));
            }
            s.watches
                .entry(alarm.into())
                .or_default()
                .insert(watch.deployment_id.clone(), watch.clone());
            s.writes
                .push(format!("Watch {alarm} for {}", watch.deployment_id));
            Ok(())
        })
    }

    async fn watches(&self, alarm: &AlarmName) -> Result<Vec<Watch>, AwsError> {
        let alarm = alarm.as_str();
        self.with(|s| {
            if let Some((kind, _)) = s.injected("Watches") {
                return Err(AwsError::new(kind, "GetItem", "injected"));
            }
            let mut all: Vec<Watch> = s
                .watches
                .get(alarm)
                .map(|w| w.values().cloned().collect())
                .unwrap_or_default();
            all.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
            Ok(all)
        })
    }

    async fn unwatch(
        &self,
        alarm: &AlarmName,
        deployment_id: &str,
        token: Option<&str>,
    ) -> Result<(), AwsError> {
        let alarm = alarm.as_str();
        self.with(|s| {
            if let Some((kind, _)) = s.injected("Unwatch") {
                return Err(AwsError::new(kind, "UpdateItem", "injected"));
            }
            if let Some(watches) = s.watches.get_mut(alarm) {
                let matches = watches
                    .get(deployment_id)
                    .is_some_and(|w| token.is_none_or(|t| w.token == t));
                if matches {
                    watches.remove(deployment_id);
                    s.writes
                        .push(format!("Unwatch {alarm} for {deployment_id}"));
                }
            }
            Ok(())
        })
    }

    async fn watch_began(
        &self,
        deployment_id: &str,
        slot: &str,
        token: &str,
    ) -> Result<MeetingPoint, AwsError> {
        self.with(|s| {
            let point = s
                .bakes
                .entry((deployment_id.into(), slot.into()))
                .or_default();
            let before = point.clone();
            point.token = Some(token.into());
            Ok(before)
        })
    }

    async fn bake_ended(&self, deployment_id: &str, slot: &str) -> Result<MeetingPoint, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("BakeEnded") {
                return Err(AwsError::new(kind, "UpdateItem", "injected"));
            }
            let point = s
                .bakes
                .entry((deployment_id.into(), slot.into()))
                .or_default();
            if point.command.is_some() {
                return Ok(point.clone());
            }
            let before = point.clone();
            point.ended = true;
            Ok(before)
        })
    }

    async fn command(
        &self,
        deployment_id: &str,
        slot: &str,
        command: &Command,
    ) -> Result<Result<Option<String>, MeetingPoint>, AwsError> {
        self.with(|s| {
            let point = s
                .bakes
                .entry((deployment_id.into(), slot.into()))
                .or_default();
            if point.ended || point.command.is_some() {
                return Ok(Err(point.clone()));
            }
            point.command = Some(command.clone());
            s.writes.push(format!(
                "Command {} at {deployment_id}#{slot}",
                command.kind.as_str()
            ));
            Ok(Ok(point.token.clone()))
        })
    }

    async fn meeting_point(
        &self,
        deployment_id: &str,
        slot: &str,
    ) -> Result<MeetingPoint, AwsError> {
        self.with(|s| {
            Ok(s.bakes
                .get(&(deployment_id.to_string(), slot.to_string()))
                .cloned()
                .unwrap_or_default())
        })
    }
}

impl Tasks for FakeAws {
    async fn succeed_task(&self, token: &str) -> Result<bool, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("SendTaskSuccess") {
                return Err(AwsError::new(kind, "SendTaskSuccess", "injected"));
            }
            match s.tasks.get(token) {
                Some(Task::Waiting) => {
                    s.tasks.insert(token.into(), Task::Succeeded);
                    s.writes.push(format!("SendTaskSuccess {token}"));
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    async fn fail_task(&self, token: &str, failure: &Failure) -> Result<bool, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("SendTaskFailure") {
                return Err(AwsError::new(kind, "SendTaskFailure", "injected"));
            }
            match s.tasks.get(token) {
                Some(Task::Waiting) => {
                    s.tasks.insert(
                        token.into(),
                        Task::Failed {
                            error: failure.error.to_string(),
                            cause: failure.cause.clone(),
                        },
                    );
                    s.writes.push(format!("SendTaskFailure {token}"));
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }
}

impl Ledger for FakeAws {
    async fn lock(&self, key: &str, holder: &LockHolder) -> Result<Option<LockHolder>, AwsError> {
        let racing = self
            .before_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some(f) = racing {
            f(self);
        }
        self.with(|s| {
            if let Some((kind, _)) = s.injected("PutItem") {
                return Err(AwsError::new(kind, "PutItem", "injected"));
            }
            match s.locks.get(key) {
                Some(held) if held.execution_arn != holder.execution_arn => Ok(Some(held.clone())),
                _ => {
                    s.locks.insert(key.into(), holder.clone());
                    s.writes
                        .push(format!("Lock {key} for {}", holder.deployment_id));
                    Ok(None)
                }
            }
        })
    }

    async fn take_over(
        &self,
        key: &str,
        stale: &LockHolder,
        holder: &LockHolder,
    ) -> Result<bool, AwsError> {
        self.with(|s| {
            if s.locks.get(key).map(|h| &h.execution_arn) != Some(&stale.execution_arn) {
                return Ok(false);
            }
            s.locks.insert(key.into(), holder.clone());
            s.writes.push(format!(
                "Lock {key} for {} (taken over from {})",
                holder.deployment_id, stale.deployment_id
            ));
            Ok(true)
        })
    }

    async fn unlock(&self, key: &str, execution_arn: &str) -> Result<(), AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("DeleteItem") {
                return Err(AwsError::new(kind, "DeleteItem", "injected"));
            }
            if s.locks.get(key).map(|h| h.execution_arn.as_str()) == Some(execution_arn) {
                s.locks.remove(key);
                s.writes.push(format!("Unlock {key}"));
            }
            Ok(())
        })
    }

    async fn holder(&self, key: &str) -> Result<Option<LockHolder>, AwsError> {
        Ok(self.lock_holder(key))
    }

    async fn save(&self, deployment: &Deployment) -> Result<Saved, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("SaveRecord") {
                return Err(AwsError::new(kind, "PutItem", "injected"));
            }
            let settled = s
                .records
                .get(&deployment.deployment_id)
                .and_then(|r| Deployment::from_json(r.clone()).ok())
                .is_some_and(|d| d.status.is_settled());
            if settled {
                return Ok(Saved::AlreadySettled);
            }
            s.records
                .insert(deployment.deployment_id.clone(), deployment.to_json());
            Ok(Saved::Written)
        })
    }

    async fn open(&self) -> Result<Vec<OpenItem>, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("Query") {
                return Err(AwsError::new(kind, "Query", "injected"));
            }
            let mut open: Vec<OpenItem> = s
                .records
                .values()
                .filter_map(|r| Deployment::from_json(r.clone()).ok())
                .filter(|d| !d.status.is_settled())
                .map(|d| OpenItem::Deployment {
                    deployment_id: d.deployment_id,
                    execution_arn: d.execution_arn,
                })
                .collect();
            open.extend(s.locks.iter().map(|(key, holder)| OpenItem::Lock {
                key: key.clone(),
                holder: holder.clone(),
            }));
            Ok(open)
        })
    }

    async fn load(&self, deployment_id: &str) -> Result<Option<Deployment>, AwsError> {
        self.record(deployment_id)
            .map(|r| {
                Deployment::from_json(r)
                    .map_err(|e| AwsError::new(AwsErrorKind::Unreadable, "GetItem", e.message))
            })
            .transpose()
    }

    async fn freezes(&self, scopes: &[FreezeScope]) -> Result<Vec<Freeze>, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("GetFreeze") {
                return Err(AwsError::new(kind, "GetItem", "injected"));
            }
            Ok(scopes
                .iter()
                .filter_map(|scope| s.freezes.get(&scope.key()).cloned())
                .collect())
        })
    }

    async fn journal(&self, entries: &[AliasEntry]) -> Result<(), AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("Journal") {
                return Err(AwsError::new(kind, "PutItem", "injected"));
            }
            for e in entries {
                s.journal.retain(|j| j.key() != e.key());
                s.journal.push(e.clone());
                s.writes.push(format!("Journal {}", e.key()));
            }
            Ok(())
        })
    }
}

impl FakeAws {
    /// A freeze in the ledger.
    pub fn set_freeze(&self, freeze: Freeze) {
        self.with(|s| s.freezes.insert(freeze.scope.key(), freeze));
    }

    /// The alias journal's entries, in the order written.
    pub fn journal_entries(&self) -> Vec<AliasEntry> {
        self.with(|s| s.journal.clone())
    }
}

impl Executions for FakeAws {
    async fn state(&self, execution_arn: &str) -> Result<ExecutionState, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("DescribeExecution") {
                return Err(AwsError::new(kind, "DescribeExecution", "injected"));
            }
            if s.running.contains(execution_arn) {
                return Ok(ExecutionState::Running);
            }
            // An execution the fake was not told is running was stopped (its name: the last
            // part of its ARN).
            Ok(ExecutionState::Ended(ExecutionEnded {
                execution_arn: execution_arn.to_string(),
                deployment_id: execution_arn.rsplit(':').next().unwrap_or_default().into(),
                status: ExecutionStatus::Aborted,
                error: None,
                cause: None,
            }))
        })
    }

    async fn is_running(&self, execution_arn: &str) -> Result<bool, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("DescribeExecution") {
                return Err(AwsError::new(kind, "DescribeExecution", "injected"));
            }
            Ok(s.running.contains(execution_arn))
        })
    }

    async fn runs_again(&self, execution_arn: &str) -> Result<bool, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("DescribeExecution") {
                return Err(AwsError::new(kind, "DescribeExecution", "injected"));
            }
            Ok(s.running.contains(execution_arn) && s.redriven.contains(execution_arn))
        })
    }
}
