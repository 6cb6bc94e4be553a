//! validate: Request -> Deployment. Reads every named function, alias, version, hook and alarm
//! and lets sluice-core check them before anything is written; then publishes, locks, confirms
//! under the locks that no alias moved since it was read, and records. An alias whose lock is
//! held by a deployment that ended unsettled gets that deployment settled first, so every
//! previous version this one records was fully live, and no late write of the ended one can land.
//! A dry run takes no lock and settles nobody (it looks at the locks: one a running deployment
//! holds refuses it), goes through a freeze saying so, publishes as a deployment would, and is
//! not in the alias journal.

use sluice_aws::locks::{LockPorts, clear_lock, lock_aliases, peek_lock, unlock_aliases};
use sluice_aws::{AlarmReader, Executions, FunctionStore, Ledger, Watches};
use sluice_core::ledger::judge_freezes;
use sluice_core::{
    Action, AlarmSummary, AliasLock, AliasSnapshot, CheckedTarget, Deployment, Error, ErrorName,
    FreezeScope, ResolvedTarget, StartCall, StartInput, Status, TargetVersion, Timestamp,
    VersionSource, require_function,
};

/// The AWS validate reads and writes.
pub struct Aws<'a, F, A, L, X> {
    pub functions: &'a F,
    pub alarms: &'a A,
    pub ledger: &'a L,
    pub executions: &'a X,
}

impl<F, A, L, X> Aws<'_, F, A, L, X> {
    fn lock_ports(&self) -> LockPorts<'_, F, L, X> {
        LockPorts {
            functions: self.functions,
            ledger: self.ledger,
            executions: self.executions,
        }
    }
}

/// Reads, locks and confirms this often before it gives up to the state machine's retry: an
/// alias that moves between its read and its lock is read again.
const TRIES: usize = 3;

/// What the state machine passes: the execution input, the execution's name and ARN.
pub async fn validate<F: FunctionStore, A: AlarmReader, L: Ledger + Watches, X: Executions>(
    aws: &Aws<'_, F, A, L, X>,
    call: StartCall,
    now: Timestamp,
) -> Result<Deployment, Error> {
    let start = StartInput::parse(call)?;
    let earlier = aws.ledger.load(&start.deployment_id).await?;
    // A retry of a validate that recorded its deployment already: the freezes were judged then.
    let mut recorded = earlier
        .as_ref()
        .is_some_and(|r| r.execution_arn == start.execution_arn);
    if let Some(record) = earlier {
        if let Some(started) = start.execution_start_time {
            record.refuse_reused_name(started)?;
        }
        // This execution's deployment, settled already (rolled back by the safety net after a
        // stop): a redrive, which must not start it again. NothingToDeploy ends in success, and
        // a success is not redriven: that is a retry of this validate, answered again below.
        if record.execution_arn == start.execution_arn
            && record.status.is_settled()
            && record.status != Status::NothingToDeploy
        {
            return Err(Deployment::settled_before(&record));
        }
    }
    let mut locks = Vec::new();
    let result = start_deployment(aws, &start, now, &mut locks, &mut recorded).await;
    if result.is_err() && !recorded {
        // Refused or failed without a record (an earlier try's locks included: a retry may be
        // refused where its first try had locked): nothing else would release these. Best
        // effort, and only what this execution holds. Once recorded, the locks stay: the retry
        // finds them its own, and the safety net releases them should the execution end.
        for lock in &locks {
            let _ = aws.ledger.unlock(&lock.key, &start.execution_arn).await;
        }
    }
    result
}

async fn start_deployment<F: FunctionStore, A: AlarmReader, L: Ledger + Watches, X: Executions>(
    aws: &Aws<'_, F, A, L, X>,
    start: &StartInput,
    now: Timestamp,
    locks: &mut Vec<AliasLock>,
    recorded: &mut bool,
) -> Result<Deployment, Error> {
    let StartInput {
        deployment_id,
        execution_arn,
        request,
        ..
    } = start;
    let (deployment_id, execution_arn) = (deployment_id.as_str(), execution_arn.as_str());
    let functions = aws.functions;
    // 0. A freeze in scope refuses the request before anything is read further or written.
    let mut scopes = vec![FreezeScope::All];
    for (i, t) in request.targets.iter().enumerate() {
        let field = format!("targets[{i}].functionName");
        let arn = require_function(
            &field,
            &t.function_name,
            functions.function_arn(&t.function_name).await?,
        )?;
        scopes.push(FreezeScope::Function(arn));
    }
    let freezes = if *recorded {
        Vec::new()
    } else {
        aws.ledger.freezes(&scopes).await?
    };
    let (overridden, would_refuse) =
        match judge_freezes(&freezes, now, request.provenance.override_freeze.as_deref()) {
            // A dry run deploys nothing, so a freeze does not stop it: it goes on, and ends
            // saying that a real deployment would have been refused.
            Err(e) if request.dry_run && e.name == ErrorName::Frozen => (
                Vec::new(),
                freezes
                    .iter()
                    .filter(|f| f.in_force(now))
                    .map(|f| f.describe())
                    .collect(),
            ),
            judged => (judged?, Vec::new()),
        };
    let mut doc = None;
    for _ in 0..TRIES {
        // 1. Read and check; nothing of this deployment's is written (a deployment that ended
        // holding an alias is settled, as its safety net would).
        let mut notes = Vec::new();
        let mut checked = Vec::with_capacity(request.targets.len());
        for (i, t) in request.targets.iter().enumerate() {
            let function = &t.function_name;
            let field = format!("targets[{i}].functionName");
            let arn = require_function(&field, function, functions.function_arn(function).await?)?;
            let lock = AliasLock::of(&arn, t.alias.as_str(), t.name());
            if request.dry_run {
                // A dry run takes no lock and settles no one: it only looks.
                notes.extend(peek_lock(aws.ledger, aws.executions, &lock, execution_arn).await?);
            } else {
                if !locks.contains(&lock) {
                    locks.push(lock.clone());
                }
                notes.extend(
                    clear_lock(&aws.lock_ports(), &lock, execution_arn, deployment_id, now).await?,
                );
            }
            let alias = functions.get_alias(function, &t.alias).await?;
            let source = match &t.version {
                TargetVersion::Publish => VersionSource::Publish,
                TargetVersion::Version(version) => VersionSource::Version {
                    exists: functions.version(function, version).await?.is_some(),
                    version: version.clone(),
                },
                TargetVersion::FromAlias(name) => VersionSource::Alias {
                    alias: functions.get_alias(function, name).await?,
                    name: name.clone(),
                },
            };
            checked.push(CheckedTarget::of(t, i, arn, alias, source)?);
        }
        for (field, hook) in request.hooks.named() {
            require_function(field, hook, functions.function_arn(hook).await?)?;
        }
        let readings = aws.alarms.read_alarms(&request.alarms).await?;
        let alarms = AlarmSummary::of(&request.alarms, &readings)
            .excusing(&request.allow_firing)
            .no_data_is_breach(request.insufficient_data_breaches);
        alarms.refuse_start()?;

        // 2. Everything named exists: publish what must be published.
        let read: Vec<Option<AliasSnapshot>> = checked.iter().map(|c| c.alias.clone()).collect();
        let mut resolved = Vec::with_capacity(checked.len());
        for (t, c) in request.targets.iter().zip(checked) {
            let published = match &c.version {
                Some(v) => v.clone(),
                None => functions.publish_version(&t.function_name).await?,
            };
            resolved.push(ResolvedTarget::of(c, published));
        }
        // What Lambda enforces before an alias routes to a version, checked now rather than at
        // the first shift: every version it moves to is Active, and shares role and dead-letter
        // config with the one it shifts from.
        for (i, (t, r)) in request.targets.iter().zip(&resolved).enumerate() {
            if r.action == Action::Unchanged {
                continue;
            }
            let new = functions
                .version(&t.function_name, &r.target_version)
                .await?;
            let previous = match (&r.action, &r.previous_version) {
                (Action::Shift, Some(v)) => functions.version(&t.function_name, v).await?,
                _ => None,
            };
            r.check_versions(t, i, new.as_ref(), previous.as_ref())?;
        }
        let mut next = Deployment::new(request, deployment_id, execution_arn, now, resolved)?;
        next.excuse_alarms(&alarms.excused, now);
        next.record_overridden_freezes(overridden.clone(), now);
        next.record_would_refuse(would_refuse.clone(), now);
        for note in notes {
            next.record_takeover(now, note);
        }

        // 3. Lock what it moves (all or none: a busy alias refuses it with nothing recorded, like
        // any refusal), then read each locked alias again: under the lock nothing of sluice's can
        // move it, so what it routes to now is what this deployment starts from.
        lock_aliases(&aws.lock_ports(), &mut next, now).await?;
        // A dry run locked nothing (it has no locks): nothing holds the aliases still for it.
        if next.dry_run || unmoved(functions, &next, &read).await? {
            doc = Some(next);
            break;
        }
        unlock_aliases(aws.ledger, &next).await?;
    }
    let Some(mut doc) = doc else {
        return Err(Error::new(
            ErrorName::TransientAws,
            format!(
                "the aliases kept changing between validate's reads and its locks ({TRIES} tries)"
            ),
        ));
    };

    // 4. Record it, so the safety net knows it.
    if let Err(e) = aws.ledger.save(&doc).await {
        // Unrecorded, the locks would outlive the execution: give them back (best effort).
        let _ = unlock_aliases(aws.ledger, &doc).await;
        return Err(e.into());
    }
    *recorded = true;
    // The alias journal: what `sluice history` lists and `sluice rollback` goes back from.
    aws.ledger.journal(&doc.journal_entries()).await?;
    // 5. A stop that came while validate ran found no record, so the safety net had nothing to
    // release: now that the record exists, look again, and release what was taken.
    if !aws.executions.is_running(execution_arn).await? {
        doc.stopped_while_validating(now);
        aws.ledger.save(&doc).await?;
        unlock_aliases(aws.ledger, &doc).await?;
    }
    Ok(doc)
}

/// Whether every alias the deployment locked is as validate read it before locking.
async fn unmoved<F: FunctionStore>(
    functions: &F,
    doc: &Deployment,
    read: &[Option<AliasSnapshot>],
) -> Result<bool, Error> {
    for (t, before) in doc.targets.iter().zip(read) {
        if t.lock().is_some() && functions.get_alias(&t.function_name, &t.alias).await? != *before {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_aws::AwsErrorKind;
    use sluice_aws::Ledger;
    use sluice_aws::fake::FakeAws;
    use sluice_aws::runtime::read_input;
    use sluice_core::testing::{EXECUTION, function_arn, t, v};
    use sluice_core::{Action, AlarmState, ErrorName, LockHolder, Routing, Status, Weight};

    fn ports(aws: &FakeAws) -> Aws<'_, FakeAws, FakeAws, FakeAws, FakeAws> {
        Aws {
            functions: aws,
            alarms: aws,
            ledger: aws,
            executions: aws,
        }
    }

    /// validate's payload read as the runtime reads it, then validate.
    async fn run(aws: &FakeAws, input: Value) -> Result<Deployment, Error> {
        aws.running(EXECUTION);
        validate(&ports(aws), read_input("validate", input)?, t(0)).await
    }

    fn lock_of(function: &str) -> String {
        format!("LOCK#{}#live", function_arn(function))
    }

    fn other(execution: &str) -> LockHolder {
        LockHolder {
            deployment_id: "d-0".into(),
            execution_arn: execution.into(),
            since: t(0),
        }
    }

    fn aws() -> FakeAws {
        FakeAws::new()
            .function("orders", 3)
            .alias("orders", "live", Routing::only(v("2")))
            .alias("orders", "candidate", Routing::only(v("3")))
            .function("orders-pre", 1)
            .alarm("orders-errors", AlarmState::Ok)
            .alarm("orders-firing", AlarmState::Alarm)
    }

    fn input(request: Value) -> Value {
        json!({"request": request, "deploymentId": "d-1", "executionArn": EXECUTION})
    }

    fn good() -> Value {
        json!({
            "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "3"}],
            "strategy": "Canary10Percent5Minutes",
            "alarms": ["orders-errors"],
            "hooks": {"preTraffic": "orders-pre"}
        })
    }

    /// A redrive of an execution stopped after validate recorded it, once the safety net settled
    /// it: validate runs again with the same input and must not start the deployment again.
    #[tokio::test]
    async fn a_redriven_validate_of_a_settled_deployment_moves_nothing() {
        let aws = aws();
        let d = run(&aws, input(good())).await.unwrap();
        for lock in d.locks() {
            aws.set_lock(&lock.key, None);
        }
        aws.settle(&d);
        let writes = aws.writes().len();
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlreadySettled);
        assert!(
            err.message.contains("settled as RolledBack"),
            "{}",
            err.message
        );
        assert!(aws.locks().is_empty(), "{:?}", aws.locks());
        assert_eq!(aws.writes().len(), writes);
    }

    /// Recorded, then the look at its own execution is throttled: the locks stay with the record
    /// (the retry finds them its own). Given back, another deployment could take them in the
    /// retry's delay, and this one, refused, would be rolled back under that one's lock.
    #[tokio::test]
    async fn a_failure_after_the_record_keeps_the_locks() {
        let aws = aws();
        aws.fail_next("DescribeExecution", AwsErrorKind::Transient, false);
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert_eq!(record.status, Status::Ready);
        assert_eq!(aws.locks().len(), 1, "{:?}", aws.locks());
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(d.status, Status::Ready);
    }

    #[tokio::test]
    async fn a_good_request_becomes_a_ready_document() {
        let aws = aws();
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(d.status, Status::Ready);
        let t = &d.targets[0];
        assert_eq!(
            (
                t.action,
                t.previous_version.clone(),
                t.target_version.clone()
            ),
            (Action::Shift, Some(v("2")), v("3"))
        );
        assert_eq!(
            t.revision_id,
            aws.current("orders", "live").unwrap().revision_id
        );
        assert_eq!(
            aws.writes(),
            vec![
                format!("Lock {} for d-1", lock_of("orders")),
                format!("Journal ALIAS#{}#live#d-1", function_arn("orders"))
            ],
            "validate moved no alias; it locked the one it will move, and journaled it"
        );
        assert_eq!(aws.record("d-1").unwrap(), d.to_json(), "and recorded it");
    }

    /// Every refusal names what is wrong and happens before any write.
    #[tokio::test]
    async fn bad_requests_are_refused_before_anything_is_touched() {
        let patch = |f: &dyn Fn(&mut Value)| {
            let mut r = good();
            f(&mut r);
            r
        };
        let cases: Vec<(Value, ErrorName, &str)> = vec![
            (
                patch(&|r| r["targets"] = json!([])),
                ErrorName::InvalidRequest,
                "targets: must name at least one",
            ),
            (
                patch(&|r| r["strategy"] = json!("Canary5")),
                ErrorName::InvalidRequest,
                "strategy: unknown preset",
            ),
            (
                patch(&|r| r["targets"][0]["functionName"] = json!("nope")),
                ErrorName::InvalidRequest,
                "targets[0].functionName: function nope does not exist",
            ),
            (
                patch(&|r| r["targets"][0]["targetVersion"] = json!("9")),
                ErrorName::InvalidRequest,
                "targets[0].targetVersion: version 9 of orders does not exist",
            ),
            (
                patch(&|r| r["targets"][0]["targetVersion"] = json!("alias:beta")),
                ErrorName::InvalidRequest,
                "targets[0].targetVersion: alias orders:beta does not exist",
            ),
            (
                patch(&|r| r["hooks"]["postTraffic"] = json!("ghost")),
                ErrorName::InvalidRequest,
                "hooks.postTraffic: function ghost does not exist",
            ),
            (
                patch(&|r| r["alarms"] = json!(["orders-errors", "typo"])),
                ErrorName::InvalidRequest,
                "alarms: no CloudWatch alarm named typo",
            ),
            (
                patch(&|r| r["alarms"] = json!(["orders-errors", "orders-firing"])),
                ErrorName::AlarmBreached,
                "alarm orders-firing is in ALARM (orders-firing set to Alarm by the test) already, before any traffic moved",
            ),
            // A second target that fails must not let the first one publish.
            (
                patch(
                    &|r| r["targets"] = json!([{"functionName": "orders", "alias": "live"}, {"functionName": "nope", "alias": "live"}]),
                ),
                ErrorName::InvalidRequest,
                "targets[1].functionName",
            ),
        ];
        for (request, name, text) in cases {
            let aws = aws();
            aws.change_code("orders");
            let err = run(&aws, input(request.clone()))
                .await
                .expect_err(&request.to_string());
            assert_eq!(err.name, name, "{request}");
            assert!(err.message.contains(text), "{request}: {}", err.message);
            assert!(
                aws.writes().is_empty(),
                "{request}: wrote {:?}",
                aws.writes()
            );
        }
    }

    #[tokio::test]
    async fn an_alias_with_weights_is_busy() {
        let w = Weight::from_percent(10.0).unwrap();
        let aws = aws().alias(
            "orders",
            "live",
            Routing {
                version: v("1"),
                additional: Some((v("2"), w)),
            },
        );
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy);
        assert!(
            err.message
                .contains("orders:live already routes 10% to version 2 besides version 1"),
            "{}",
            err.message
        );
        assert!(aws.writes().is_empty());
    }

    #[tokio::test]
    async fn a_stop_while_validating_releases_the_locks_and_settles_the_record() {
        let aws = aws();
        // Not running: stopped while validate ran (before its record existed).
        let call = read_input("validate", input(good())).unwrap();
        let d = validate(&ports(&aws), call, t(0)).await.unwrap();
        assert_eq!(d.status, Status::RolledBack);
        assert!(aws.locks().is_empty(), "{:?}", aws.locks());
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert_eq!(record.status, Status::RolledBack);
        assert!(
            record
                .failure
                .unwrap()
                .cause
                .starts_with("the execution stopped while validate ran, before any traffic moved"),
        );
    }

    #[tokio::test]
    async fn the_loser_of_a_race_for_an_alias_records_nothing() {
        let aws = aws().lock(&lock_of("orders"), other("arn:running"));
        aws.running("arn:running");
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy);
        assert_eq!(
            aws.record("d-1"),
            None,
            "refused before anything was recorded"
        );
    }

    #[tokio::test]
    async fn publishes_when_no_version_is_named_and_stops_when_nothing_changed() {
        let aws = aws();
        let mut req = good();
        req["targets"][0] = json!({"functionName": "orders", "alias": "live"});
        aws.change_code("orders");
        let d = run(&aws, input(req.clone())).await.unwrap();
        assert_eq!(d.targets[0].target_version, v("4"));
        assert_eq!(
            aws.writes(),
            vec![
                "PublishVersion orders -> 4".to_string(),
                format!("Lock {} for d-1", lock_of("orders")),
                format!("Journal ALIAS#{}#live#d-1", function_arn("orders"))
            ],
            "every check, then every publish, then every lock, then the journal"
        );

        // Publishing unchanged code returns the version the alias already serves.
        let aws = FakeAws::new()
            .function("orders", 3)
            .alias("orders", "live", Routing::only(v("3")))
            .alarm("orders-errors", AlarmState::Ok)
            .function("orders-pre", 1);
        let d = run(&aws, input(req)).await.unwrap();
        assert_eq!(d.status, Status::NothingToDeploy);
        assert_eq!(d.targets[0].action, Action::Unchanged);
    }

    #[tokio::test]
    async fn takes_the_version_of_another_alias_and_leaves_a_missing_alias_to_the_first_shift() {
        let aws = aws().function("billing", 2);
        let req = json!({
            "targets": [
                {"functionName": "orders", "alias": "live", "targetVersion": "alias:candidate"},
                {"functionName": "billing", "alias": "live", "targetVersion": "2"}
            ],
            "strategy": "AllAtOnce"
        });
        let d = run(&aws, input(req)).await.unwrap();
        assert_eq!(d.targets[0].target_version, v("3"));
        assert_eq!(d.targets[1].action, Action::Created);
        assert_eq!(d.targets[1].previous_version, None);
        assert_eq!(
            aws.current("billing", "live"),
            None,
            "created only once the PreTraffic hook passed"
        );
        assert_eq!(d.status, Status::Ready, "orders still shifts");
        assert!(
            aws.lock_holder(&lock_of("billing")).is_some(),
            "a new alias is locked too"
        );
    }

    #[tokio::test]
    async fn a_first_deployment_runs_its_hooks() {
        let aws = FakeAws::new()
            .function("orders", 1)
            .function("orders-pre", 1);
        let req = json!({
            "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "1"}],
            "strategy": "Canary10Percent5Minutes",
            "hooks": {"preTraffic": "orders-pre"}
        });
        let d = run(&aws, input(req)).await.unwrap();
        assert_eq!(
            d.status,
            Status::Ready,
            "not NothingToDeploy: the hooks and the creation run"
        );
        assert_eq!(aws.current("orders", "live"), None);
    }

    #[tokio::test]
    async fn an_alias_another_running_deployment_locked_is_busy_and_nothing_stays_locked() {
        let aws = aws()
            .function("billing", 2)
            .alias("billing", "live", Routing::only(v("1")))
            .lock(&lock_of("orders"), other("arn:running"));
        aws.running("arn:running");
        let req = json!({
            "targets": [
                {"functionName": "billing", "alias": "live", "targetVersion": "2"},
                {"functionName": "orders", "alias": "live", "targetVersion": "3"}
            ],
            "strategy": "AllAtOnce"
        });
        let err = run(&aws, input(req)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy);
        assert!(
            err.message
                .starts_with("orders:live is being deployed by d-0 (execution arn:running"),
            "{}",
            err.message
        );
        assert_eq!(
            aws.lock_holder(&lock_of("billing")),
            None,
            "billing's lock was given back"
        );
        assert_eq!(
            aws.lock_holder(&lock_of("orders")),
            Some(other("arn:running"))
        );
        assert_eq!(aws.record("d-1"), None);
    }

    #[tokio::test]
    async fn a_lock_left_by_a_dead_execution_is_taken_over_saying_so() {
        let aws = aws().lock(&lock_of("orders"), other("arn:dead"));
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(
            aws.lock_holder(&lock_of("orders")).unwrap().execution_arn,
            EXECUTION
        );
        assert!(
            d.history
                .iter()
                .any(|e| e.message.contains("took over the lock of deployment d-0")),
            "{:?}",
            d.history
        );
    }

    /// Another execution of sluice's state machine, X, deploying `request` to the same aliases.
    const X: &str = "arn:aws:states:us-east-1:123456789012:execution:sluice-deployments:x-1";

    /// X validated (its locks taken, its record written) while running.
    async fn validated_x(aws: &FakeAws, request: Value) -> Deployment {
        aws.running(X);
        let call = read_input(
            "validate",
            json!({"request": request, "deploymentId": "x-1", "executionArn": X}),
        )
        .unwrap();
        validate(&ports(aws), call, t(0)).await.unwrap()
    }

    /// X's shift to its next step, as the shift function writes it: the aliases, then the record.
    async fn x_shifts(aws: &FakeAws, x: &mut Deployment, now: Timestamp) {
        let (index, step) = x.next_step().unwrap();
        let mut revisions = Vec::new();
        for target in x.moving_targets() {
            let wanted = target.wanted_routing(step.weight).unwrap();
            let write = sluice_aws::alias::write_alias(aws, target, &wanted, |o| {
                target.decide_shift(o, &wanted)
            })
            .await
            .unwrap();
            revisions.push(write.revision().unwrap());
        }
        x.record_shift(index, revisions, now).unwrap();
        aws.save(x).await.unwrap();
    }

    fn x_record(aws: &FakeAws) -> Deployment {
        Deployment::from_json(aws.record("x-1").unwrap()).unwrap()
    }

    /// Stop it and start again: X was stopped mid-bake (its alias at 10 %) and the next
    /// deployment starts before X's safety net has run. X is settled first, recorded as such, and
    /// the next deployment starts from the version that was fully live.
    #[tokio::test]
    async fn a_deployment_that_ended_unsettled_is_settled_before_its_aliases_are_taken() {
        let aws = aws();
        let mut x = validated_x(&aws, good()).await;
        x_shifts(&aws, &mut x, t(1)).await;
        aws.ended(X);
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(d.targets[0].previous_version, Some(v("2")));
        assert_eq!(
            aws.current("orders", "live").unwrap().routing,
            Routing::only(v("2"))
        );
        assert_eq!(
            aws.lock_holder(&lock_of("orders")).unwrap().execution_arn,
            EXECUTION
        );
        let x = x_record(&aws);
        assert_eq!(x.status, Status::RolledBack);
        assert!(
            x.failure
                .unwrap()
                .cause
                .contains("deployment d-1 rolled it back before taking over its lock"),
        );
        assert!(
            d.history.iter().any(|e| e.message.contains(
                "deployment x-1 ended (ABORTED) holding its lock and was not settled yet; rolled it back first"
            )),
            "{:?}",
            d.history
        );
    }

    /// X ended unsettled and settling it fails now (AWS throttles the restore): the refusal names
    /// X, so the operator knows whose deployment is in the way; the state machine retries it.
    #[tokio::test]
    async fn a_holder_that_cannot_be_settled_now_is_named() {
        let aws = aws();
        let mut x = validated_x(&aws, good()).await;
        x_shifts(&aws, &mut x, t(1)).await;
        aws.ended(X);
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, false);
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        assert!(
            err.message.starts_with(
                "orders:live: deployment x-1 ended (ABORTED) holding its lock and is not settled \
                 yet; settling it first failed: "
            ),
            "{}",
            err.message
        );
        assert_eq!(
            aws.lock_holder(&lock_of("orders")).unwrap().execution_arn,
            X
        );
    }

    /// X was stopped while its first shift's write was still on its way. The next deployment
    /// settles X before it takes the lock, which fences the alias: X's late write cannot land.
    #[tokio::test]
    async fn a_late_write_of_a_stopped_deployment_cannot_land_under_the_next_ones_lock() {
        let aws = aws();
        let x = validated_x(&aws, good()).await;
        aws.ended(X);
        run(&aws, input(good())).await.unwrap();
        let target = &x.targets[0];
        let wanted = target
            .wanted_routing(Weight::from_percent(10.0).unwrap())
            .unwrap();
        let late = sluice_aws::alias::write_alias(&aws, target, &wanted, |o| {
            target.decide_shift(o, &wanted)
        })
        .await
        .unwrap();
        assert!(
            matches!(late, sluice_core::AliasWrite::Conflict(_)),
            "{late:?}"
        );
        assert_eq!(
            aws.current("orders", "live").unwrap().routing,
            Routing::only(v("2"))
        );
    }

    /// X was stopped during its PostTraffic hook (every alias on X's version, not yet verified).
    /// The next deployment does not take X's version as the one to roll back to.
    #[tokio::test]
    async fn the_previous_version_recorded_is_one_that_was_fully_live_and_settled() {
        let aws = aws().function("orders", 4);
        let mut x = validated_x(&aws, good()).await;
        x_shifts(&aws, &mut x, t(1)).await;
        x.status = sluice_core::Status::ShiftNext;
        x_shifts(&aws, &mut x, t(2)).await;
        assert_eq!(
            aws.current("orders", "live").unwrap().routing,
            Routing::only(v("3"))
        );
        aws.ended(X);
        let mut req = good();
        req["targets"][0]["targetVersion"] = json!("4");
        let d = run(&aws, input(req)).await.unwrap();
        assert_eq!(d.targets[0].previous_version, Some(v("2")));
        assert_eq!(x_record(&aws).status, Status::RolledBack);
    }

    /// Someone moves an alias after validate read it and before it locked it: validate reads it
    /// again under the lock, and starts from what is there.
    #[tokio::test]
    async fn an_alias_that_moved_before_its_lock_is_read_again_under_it() {
        let aws = aws();
        aws.before_next_lock(|fake| fake.set_alias("orders", "live", Routing::only(v("1"))));
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(d.targets[0].previous_version, Some(v("1")));
        assert_eq!(
            d.targets[0].revision_id,
            aws.current("orders", "live").unwrap().revision_id
        );
    }

    /// A validate that fails after it locked (a throttled read under the lock), then is refused
    /// on its retry (an alarm fired meanwhile), leaves no lock behind: the execution has no record,
    /// so nothing else would ever release them.
    #[tokio::test]
    async fn a_validate_that_fails_after_locking_gives_its_locks_back() {
        let aws = aws();
        aws.before_next_lock(|fake| fake.fail_next("GetAlias", AwsErrorKind::Transient, false));
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws, "{}", err.message);
        assert!(aws.locks().is_empty(), "{:?} {}", aws.locks(), err.message);
        // The same, but the retry is refused, holding the locks of its first try.
        let aws = super::tests::aws();
        aws.before_next_lock(|fake| fake.fail_next("SaveRecord", AwsErrorKind::Transient, false));
        for _ in 0..2 {
            aws.fail_next("DeleteItem", AwsErrorKind::Transient, false);
        }
        run(&aws, input(good())).await.unwrap_err();
        assert_eq!(aws.locks().len(), 1, "its best-effort release failed too");
        aws.set_alarm("orders-errors", AlarmState::Alarm);
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlarmBreached);
        assert!(aws.locks().is_empty(), "{:?}", aws.locks());
    }

    /// What Lambda would refuse at the first shift is refused before any traffic moves: a version
    /// still Pending is waited for (TransientAws, retried), a failed one refuses the request, and a
    /// weighted alias's two versions must share role and dead-letter config.
    #[tokio::test]
    async fn a_version_lambda_cannot_route_to_is_refused_before_any_traffic_moves() {
        use sluice_core::{VersionInfo, VersionState};
        let info = |state: VersionState, role: &str| VersionInfo {
            state,
            role: role.into(),
            dead_letter: None,
        };
        let role = "arn:aws:iam::123456789012:role/function";
        let cases = [
            (
                info(VersionState::Pending("Pending: SnapStart".into()), role),
                ErrorName::TransientAws,
                "version 3 of orders is not ready yet (Pending: SnapStart)",
            ),
            (
                info(VersionState::Unusable("Failed: bad image".into()), role),
                ErrorName::InvalidRequest,
                "targets[0].targetVersion: version 3 of orders cannot serve (Failed: bad image)",
            ),
            (
                info(VersionState::Active, "arn:aws:iam::123456789012:role/other"),
                ErrorName::InvalidRequest,
                "versions 2 and 3 of orders differ in the execution role",
            ),
        ];
        for (described, name, text) in cases {
            let aws = aws();
            aws.describe_version("orders", 3, described);
            let err = run(&aws, input(good())).await.unwrap_err();
            assert_eq!(err.name, name, "{}", err.message);
            assert!(err.message.contains(text), "{}", err.message);
            assert!(aws.locks().is_empty(), "{:?}", aws.locks());
            assert_eq!(
                aws.current("orders", "live").unwrap().routing,
                Routing::only(v("2"))
            );
        }
    }

    /// Step Functions lets a name be used again 90 days after its execution ended; the ledger may
    /// still hold that deployment's record. The new one is refused instead of being confused
    /// with it (its saves would all meet a settled record).
    #[tokio::test]
    async fn a_deployment_id_used_again_is_refused_not_confused_with_the_old_one() {
        let aws = aws();
        let mut old = sluice_core::testing::one_target(json!("AllAtOnce"), &[]);
        old.status = Status::RolledBack;
        aws.set_record("d-1", old.to_json());
        let later = Timestamp::from_unix_seconds(t(0).unix_seconds() + 91 * 86_400);
        let mut call = input(good());
        call["executionStartTime"] = json!(later.to_string());
        let err = run(&aws, call).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidRequest);
        assert!(
            err.message.contains("was used by an earlier deployment"),
            "{}",
            err.message
        );
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
        // Its own record, on a retry: no refusal.
        let aws = super::tests::aws();
        let mut call = input(good());
        call["executionStartTime"] = json!(t(0).to_string());
        run(&aws, call.clone()).await.unwrap();
        run(&aws, call).await.unwrap();
    }

    #[tokio::test]
    async fn a_retried_validate_keeps_its_own_locks() {
        let aws = aws();
        run(&aws, input(good())).await.unwrap();
        run(&aws, input(good())).await.unwrap();
        assert_eq!(
            aws.lock_holder(&lock_of("orders")).unwrap().execution_arn,
            EXECUTION
        );
    }

    #[tokio::test]
    async fn transient_aws_errors_keep_their_retryable_name() {
        let aws = aws();
        aws.fail_next("DescribeAlarms", AwsErrorKind::Transient, false);
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
    }

    #[tokio::test]
    async fn refuses_input_without_its_execution() {
        let aws = aws();
        let err = run(&aws, good()).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InternalError);
    }

    fn freeze(scope: FreezeScope, until: Option<Timestamp>) -> sluice_core::Freeze {
        sluice_core::Freeze {
            scope,
            function_name: Some("orders".into()),
            reason: "holiday freeze".into(),
            by: "arn:aws:iam::123456789012:user/alice".into(),
            at: t(0),
            until,
        }
    }

    #[tokio::test]
    async fn a_freeze_in_scope_refuses_naming_it_and_touches_nothing() {
        for scope in [
            FreezeScope::All,
            FreezeScope::Function(function_arn("orders")),
        ] {
            let aws = aws();
            aws.set_freeze(freeze(scope, None));
            let err = run(&aws, input(good())).await.unwrap_err();
            assert_eq!(err.name, ErrorName::Frozen);
            assert!(
                err.message
                    .contains("frozen by arn:aws:iam::123456789012:user/alice")
                    && err.message.contains("\"holiday freeze\""),
                "{}",
                err.message
            );
            assert_eq!(aws.writes(), Vec::<String>::new(), "nothing written");
            assert!(aws.record("d-1").is_none());
        }
    }

    #[tokio::test]
    async fn a_freeze_of_another_function_or_past_its_end_does_not_stop_it() {
        let aws = aws();
        aws.set_freeze(freeze(FreezeScope::Function(function_arn("billing")), None));
        aws.set_freeze(freeze(FreezeScope::All, Some(t(0))));
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(d.status, Status::Ready);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[tokio::test]
    async fn an_override_goes_through_the_freeze_and_says_so() {
        let aws = aws();
        aws.set_freeze(freeze(FreezeScope::All, Some(t(3600))));
        let mut req = good();
        req["overrideFreeze"] = json!("the incident fix");
        req["requestedBy"] = json!("arn:aws:iam::123456789012:user/bob");
        req["reason"] = json!("fix for INC-7");
        let d = run(&aws, input(req)).await.unwrap();
        assert_eq!(d.status, Status::Ready);
        let said: Vec<&str> = d.history.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            said[0],
            "requested by arn:aws:iam::123456789012:user/bob: \"fix for INC-7\""
        );
        assert!(
            said.iter().any(|m| m.contains("every deployment frozen by")
                && m.ends_with("overridden by the request (overrideFreeze): \"the incident fix\"")),
            "{said:?}"
        );
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        let journal = aws.journal_entries();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].previous_version.as_deref(), Some("2"));
        assert_eq!(journal[0].target_version, "3");
        assert_eq!(
            journal[0].requested_by.as_deref(),
            Some("arn:aws:iam::123456789012:user/bob")
        );
    }

    #[tokio::test]
    async fn the_freeze_read_failing_is_transient_and_writes_nothing() {
        let aws = aws();
        aws.fail_next("GetFreeze", AwsErrorKind::Transient, false);
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        assert!(aws.writes().is_empty());
    }

    /// A retry of a validate that recorded its deployment (its journal write failed, say) is not
    /// refused by a freeze set in between: the deployment exists, with its locks.
    #[tokio::test]
    async fn a_retry_after_the_record_is_not_refused_by_a_freeze_set_since() {
        let aws = aws();
        aws.fail_next("Journal", AwsErrorKind::Transient, false);
        let err = run(&aws, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        assert!(aws.record("d-1").is_some());
        aws.set_freeze(freeze(FreezeScope::All, None));
        let d = run(&aws, input(good())).await.unwrap();
        assert_eq!(d.status, Status::Ready);
        assert_eq!(aws.journal_entries().len(), 1);
    }

    fn dry(mut request: Value) -> Value {
        request["dryRun"] = json!(true);
        request
    }

    /// A dry run is checked as its deployment would be, and recorded, but it takes no lock and
    /// writes no journal entry: a real deployment of the same alias is not kept out by it.
    #[tokio::test]
    async fn a_dry_run_takes_no_lock_and_is_not_journaled() {
        let aws = aws();
        let d = run(&aws, input(dry(good()))).await.unwrap();
        assert!(d.dry_run);
        assert_eq!(d.status, Status::Ready);
        assert!(d.locks().is_empty());
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
        assert!(aws.journal_entries().is_empty());
        assert_eq!(
            aws.record("d-1").unwrap(),
            d.to_json(),
            "recorded all the same"
        );
        assert!(
            d.history.iter().any(|e| e.message.starts_with("dry run:")),
            "{:?}",
            d.history
        );
        // A real deployment of the same alias goes through while the dry run runs.
        let x = validated_x(&aws, good()).await;
        assert_eq!(x.status, Status::Ready);
        assert_eq!(
            aws.lock_holder(&lock_of("orders")).unwrap().execution_arn,
            X
        );
    }

    /// A real deployment running on the alias refuses a dry run as it would refuse a deployment;
    /// a lock an ended execution left is only said: not settled, not taken over.
    #[tokio::test]
    async fn a_dry_run_looks_at_the_locks_and_writes_none() {
        let busy = aws().lock(&lock_of("orders"), other("arn:running"));
        busy.running("arn:running");
        let err = run(&busy, input(dry(good()))).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy, "{}", err.message);
        assert_eq!(busy.record("d-1"), None);

        let aws = aws().lock(&lock_of("orders"), other("arn:dead"));
        let d = run(&aws, input(dry(good()))).await.unwrap();
        assert_eq!(
            aws.lock_holder(&lock_of("orders")).unwrap().execution_arn,
            "arn:dead",
            "the dead execution's lock is left to the safety net"
        );
        assert!(
            d.history.iter().any(|e| e
                .message
                .contains("a real deployment would take its lock over")),
            "{:?}",
            d.history
        );
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());

        // The dead execution left its deployment unsettled: a real deployment would roll it back
        // first and start from there, which a dry run cannot know. Refused, saying so; nothing
        // settled, nothing written.
        let unsettled = self::aws().lock(&lock_of("orders"), other("arn:dead"));
        let mut left = sluice_core::testing::baking(&[]);
        left.deployment_id = "d-0".into();
        left.execution_arn = "arn:dead".into();
        unsettled.set_record("d-0", left.to_json());
        let err = run(&unsettled, input(dry(good()))).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy);
        assert!(
            err.message
                .contains("deployment d-0 ended (Baking) holding its lock and is not settled yet"),
            "{}",
            err.message
        );
        assert_eq!(unsettled.record("d-0").unwrap(), left.to_json());
        assert!(unsettled.writes().is_empty(), "{:?}", unsettled.writes());
    }

    /// A freeze does not stop a dry run (it deploys nothing); it says a real deployment would be
    /// refused, as a warning.
    #[tokio::test]
    async fn a_dry_run_goes_through_a_freeze_saying_so() {
        let aws = aws();
        aws.set_freeze(freeze(FreezeScope::All, None));
        let d = run(&aws, input(dry(good()))).await.unwrap();
        assert_eq!(d.status, Status::Ready);
        assert_eq!(d.would_refuse.len(), 1, "{:?}", d.would_refuse);
        assert!(
            d.would_refuse[0].contains("\"holiday freeze\""),
            "{:?}",
            d.would_refuse
        );
        assert!(
            d.history.iter().any(|e| e
                .message
                .starts_with("dry run: a real deployment would be refused now: ")),
            "{:?}",
            d.history
        );
        // And the real deployment is still refused.
        let real = self::aws();
        real.set_freeze(freeze(FreezeScope::All, None));
        let err = run(&real, input(good())).await.unwrap_err();
        assert_eq!(err.name, ErrorName::Frozen);
    }

    /// A dry run is refused where the deployment would be: an alarm in ALARM, here.
    #[tokio::test]
    async fn a_dry_run_is_refused_where_its_deployment_would_be() {
        let aws = aws();
        let mut r = dry(good());
        r["alarms"] = json!(["orders-firing"]);
        let err = run(&aws, input(r)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlarmBreached, "{}", err.message);
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    }

    #[tokio::test]
    async fn dry_run_must_be_a_boolean() {
        let aws = aws();
        let mut r = good();
        r["dryRun"] = json!("yes");
        let err = run(&aws, input(r)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidRequest);
        assert_eq!(err.field.as_deref(), Some("dryRun"), "{}", err.message);
    }
}

#[cfg(test)]
mod corpus;
