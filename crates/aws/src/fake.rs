//! An in-memory Lambda and CloudWatch for handler unit tests (feature `fake`). It keeps
//! revisions the way Lambda does, so conditional writes and conflicts are real here too,
//! and it can fail a chosen call, with or without the write landing first.

use crate::ports::{AlarmReader, AwsError, AwsErrorKind, FunctionStore};
use sluice_core::{AlarmReading, AlarmState, AliasSnapshot, Routing, Version};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Default)]
struct Function {
    published: u64,
    unpublished_changes: bool,
}

#[derive(Default)]
struct State {
    functions: HashMap<String, Function>,
    aliases: HashMap<(String, String), AliasSnapshot>,
    alarms: Vec<AlarmReading>,
    writes: Vec<String>,
    failures: VecDeque<(String, AwsErrorKind, bool)>,
    revision: u64,
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
                name: name.into(),
                state,
                reason: format!("{name} set to {state:?} by the test"),
            });
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

    pub fn current(&self, function: &str, alias: &str) -> Option<AliasSnapshot> {
        self.with(|s| s.aliases.get(&(function.into(), alias.into())).cloned())
    }

    /// Every write that landed, in order ("UpdateAlias f:live -> version 3 with 10% on version 4").
    pub fn writes(&self) -> Vec<String> {
        self.with(|s| s.writes.clone())
    }
}

impl FunctionStore for FakeAws {
    async fn get_alias(
        &self,
        function: &str,
        alias: &str,
    ) -> Result<Option<AliasSnapshot>, AwsError> {
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
            Ok(s.aliases.get(&(function.into(), alias.into())).cloned())
        })
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        routing: &Routing,
        expected_revision: &str,
    ) -> Result<String, AwsError> {
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
        function: &str,
        alias: &str,
        version: &Version,
    ) -> Result<String, AwsError> {
        self.with(|s| {
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

    async fn function_exists(
        &self,
        function: &str,
        version: Option<&Version>,
    ) -> Result<bool, AwsError> {
        self.with(|s| {
            if let Some((kind, _)) = s.injected("GetFunctionConfiguration") {
                return Err(AwsError::new(kind, "GetFunctionConfiguration", "injected"));
            }
            Ok(match (s.functions.get(function), version) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(f), Some(ver)) => ver.as_str().parse::<u64>().is_ok_and(|n| n <= f.published),
            })
        })
    }

    async fn publish_version(&self, function: &str) -> Result<Version, AwsError> {
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
    async fn read_alarms(&self, names: &[String]) -> Result<Vec<AlarmReading>, AwsError> {
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
}
