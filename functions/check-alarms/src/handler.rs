//! check-alarms: Deployment -> Deployment. The bake's backstop and its canary analysis: after a
//! Wait, counts the waited seconds into the bake, reads the alarms' state and their history since
//! the last check (an alarm that fired and cleared in between is a breach too, even if its event
//! was lost), reads both versions' own metrics of each shifting alias since the step's shift (one
//! GetMetricData call) and judges the new version against the stable one, and says what comes
//! next: bake on, shift on, or roll back. At a bake's healthy end it releases the bake's watch,
//! so the Parallel the bake runs in can end.

use sluice_aws::ending::refuse_if_settled;
use sluice_aws::watches::{Released, release_watch};
use sluice_aws::{
    AlarmReader, AwsError, AwsErrorKind, Invoker, Ledger, MetricReader, Saved, Tasks, Watches,
};
use sluice_core::FunctionRef;
use sluice_core::analysis::{Figures, TargetAnalysis, figures_of, newest_minute, queries};
use sluice_core::deployment::CheckAnswer;
use sluice_core::{AlarmReading, AlarmTransition, Deployment, Error, ErrorName, Status, Timestamp};

/// The longest a check waits for its check hook: longer is no answer (the check counts without
/// it), well inside the function's own 90 s.
pub const CHECK_HOOK_SECONDS: u64 = 30;

pub async fn check_alarms<
    A: AlarmReader + MetricReader,
    L: Ledger + Watches,
    T: Tasks,
    I: Invoker,
>(
    alarms: &A,
    ledger: &L,
    tasks: &T,
    hooks: &I,
    mut doc: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    refuse_if_settled(ledger, &doc).await?;
    if doc.interrupt.is_some() {
        return apply(alarms, ledger, doc, now).await;
    }
    // An operator's command at the bake's meeting point that its watch did not end the bake with
    // (the watch was lost, or the CLI stopped before it could): this check ends the bake with it.
    let point = ledger
        .meeting_point(&doc.deployment_id, &doc.bake_slot())
        .await?;
    if let Some(command) = point.command {
        return Err(Error::new(ErrorName::OperatorCommand, command.describe()));
    }
    let before = doc.clone();
    // The check hook first (told the last check's verdict): a hook that gives no answer makes
    // this check unread, so that a bake never ends without its verdict.
    let answer = match doc.hooks.check.clone() {
        Some(hook) => Some(ask(hooks, &hook, &doc).await),
        None => None,
    };
    let unanswered = match &answer {
        Some(CheckAnswer::Unanswered(why)) => {
            Some(format!("the check hook gave no answer ({why})"))
        }
        _ => None,
    };
    match read(alarms, &doc).await {
        Ok((readings, fired)) => match analyse(alarms, &doc, now).await {
            Ok((judged, newest)) => {
                let mut checked = doc.clone();
                checked.record_metrics_until(newest);
                checked.record_check_with(&readings, &fired, judged, now)?;
                match &unanswered {
                    // Unread for want of the hook's answer, unless the alarms or the analysis
                    // found a breach: that rolls back all the same.
                    Some(why) if checked.status != Status::AlarmBreached => {
                        doc.record_check_unanalysed(&readings, &fired, why, now)?
                    }
                    _ => doc = checked,
                }
            }
            // The metrics are not known yet, but an alarm in ALARM is acted on all the same.
            Err(e) if e.kind == AwsErrorKind::Transient => {
                doc.record_check_unanalysed(&readings, &fired, &e.to_string(), now)?
            }
            Err(e) => return Err(e.into()),
        },
        // Throttled or failed for now: not known yet, neither a pass nor a breach; read again.
        Err(e) if e.kind == AwsErrorKind::Transient => {
            doc.record_unread_check(&e.to_string(), now)?
        }
        Err(e) => return Err(e.into()),
    }
    // The check hook's verdict, beside the alarms' and the analysis' (a breach found stands).
    if let Some(answer) = answer {
        doc.judge_check_hook(answer, now)?;
    }
    // The bake's own end meets its meeting point: an operator's command recorded there first
    // wins, and the bake ends with it instead (a breach of the alarms or the analysis does not
    // give way: it rolls back whatever was asked).
    if doc.bake_ends_here()
        && let Released::Commanded(command) = release_watch(ledger, tasks, &doc).await?
    {
        // The command is applied to the bake as it was, its time up (ApplyCommand reads this
        // record): this check ends the bake with it, whether or not the watch still waits.
        doc.wait_for_command(before, now);
        save(ledger, &doc).await?;
        return Err(Error::new(ErrorName::OperatorCommand, command.describe()));
    }
    // Every check is recorded: a rollback the execution cannot finish keeps its reason, `sluice
    // status` shows the bake as it is, and an operator's command is applied to it.
    save(ledger, &doc).await?;
    Ok(doc)
}

/// Asks the check hook about this check: its answer, or why there is none (a function that
/// cannot be invoked at all fails the check, as a hook that raises does).
async fn ask<I: Invoker>(hooks: &I, hook: &FunctionRef, doc: &Deployment) -> CheckAnswer {
    let payload = doc.check_hook_payload();
    let call = hooks.invoke(hook, &payload);
    match tokio::time::timeout(std::time::Duration::from_secs(CHECK_HOOK_SECONDS), call).await {
        Ok(Ok(invoked)) => CheckAnswer::of(&invoked.payload, invoked.function_error.as_deref()),
        Ok(Err(e)) if e.kind == AwsErrorKind::Transient => CheckAnswer::Unanswered(e.to_string()),
        Ok(Err(e)) => CheckAnswer::Failed(format!("it could not be invoked: {e}")),
        Err(_) => CheckAnswer::Unanswered(format!("no answer within {CHECK_HOOK_SECONDS}s")),
    }
}

async fn save<L: Ledger>(ledger: &L, doc: &Deployment) -> Result<(), Error> {
    match ledger.save(doc).await? {
        Saved::Written => Ok(()),
        Saved::AlreadySettled => refuse_if_settled(ledger, doc).await,
    }
}

/// An operator's command ended the bake (the state machine's Bake Catch wrote `interrupt`):
/// applied to the bake as its last check recorded it, the command as the ledger holds it at the
/// bake's meeting point (the interrupt's cause only names it). A retry finds it applied already;
/// a breach the bake's check recorded as the command came wins over it; and a command that moves
/// traffic on reads the alarms first (an alarm's event may have lost the race to the command).
async fn apply<A: AlarmReader, L: Ledger + Watches>(
    alarms: &A,
    ledger: &L,
    doc: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    let same_step = |r: &Deployment| r.step == doc.step && !r.status.is_settled();
    let mut latest = match ledger.load(&doc.deployment_id).await? {
        // This ApplyCommand's own earlier try: applied already.
        Some(r) if same_step(&r) && r.bake.round == doc.bake.round + 1 => return Ok(r),
        // The bake's last check found a breach: it rolls back, whatever the command said.
        Some(r)
            if same_step(&r)
                && r.bake.round == doc.bake.round
                && r.status == Status::AlarmBreached =>
        {
            return Ok(r);
        }
        Some(r)
            if same_step(&r) && r.bake.round == doc.bake.round && r.status == Status::Baking =>
        {
            r
        }
        _ => doc.clone(),
    };
    let point = ledger
        .meeting_point(&doc.deployment_id, &doc.bake_slot())
        .await?;
    latest.interrupt = None;
    latest.apply_command(point.command.as_ref(), now)?;
    if matches!(latest.status, Status::ShiftNext | Status::AllShifted) && !latest.alarms.is_empty()
    {
        let readings = alarms.read_alarms(&latest.alarms).await?;
        let breaches = latest.alarm_breaches(&readings);
        latest.refuse_forward_if_firing(breaches, now)?;
    }
    save(ledger, &latest).await?;
    Ok(latest)
}

/// The alarms' state now, and their moves into ALARM since the last check.
async fn read<A: AlarmReader>(
    alarms: &A,
    doc: &Deployment,
) -> Result<(Vec<AlarmReading>, Vec<AlarmTransition>), AwsError> {
    let readings = alarms.read_alarms(&doc.alarms).await?;
    let fired = match doc.bake.history_since {
        Some(since) if !doc.alarms.is_empty() => alarms.alarm_history(&doc.alarms, since).await?,
        _ => Vec::new(),
    };
    Ok((readings, fired))
}

/// The canary analysis of this check: each shifting alias's two versions, read per minute from
/// the step's shift to now in one GetMetricData call, and judged; and the newest minute Lambda's
/// metrics had arrived for.
async fn analyse<M: MetricReader>(
    metrics: &M,
    doc: &Deployment,
    now: Timestamp,
) -> Result<(Vec<TargetAnalysis>, Option<i64>), AwsError> {
    let pairs = doc.analysis_pairs();
    let Some(analysis) = doc.analysis.as_ref().filter(|_| !pairs.is_empty()) else {
        return Ok((Vec::new(), None));
    };
    let asked = queries(analysis, &pairs);
    let (start, end, warm_from) = doc.analysis_window(now);
    let values = metrics
        .read_metrics(
            &asked,
            Timestamp::from_unix_seconds(start),
            Timestamp::from_unix_seconds(end),
        )
        .await?;
    let series = |id: &str| values.get(id).cloned();
    let figures: Vec<(Figures, Figures)> = (0..pairs.len())
        .map(|i| figures_of(i, &series, warm_from))
        .collect();
    Ok((doc.judge_versions(&figures), newest_minute(&asked, &series)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_aws::fake::{FakeAws, Task};
    use sluice_aws::runtime::read_input;
    use sluice_aws::{AwsErrorKind, Watches};
    use sluice_core::analysis::Figures;
    use sluice_core::testing::{alarm, baking, t};
    use sluice_core::{AlarmState, ErrorName, Status};

    /// check-alarms, handed `input` as the runtime hands it over.
    async fn run(aws: &FakeAws, input: Value, now: Timestamp) -> Result<Deployment, Error> {
        check_alarms(aws, aws, aws, aws, read_input("check-alarms", input)?, now).await
    }

    /// A redriven execution resumes its bake after the safety net settled the deployment: the
    /// check refuses, and records nothing over the settled record.
    #[tokio::test]
    async fn a_deployment_settled_already_is_refused() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let d = baking(&["errors"]);
        aws.settle(&d);
        let settled = aws.record("d-1");
        let err = run(&aws, d.to_json(), t(0)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlreadySettled);
        assert!(
            err.message.contains("settled as RolledBack"),
            "{}",
            err.message
        );
        assert_eq!(aws.record("d-1"), settled);
    }

    /// The check hook is asked at each check with the bake's context: it passes, it cannot be
    /// asked (the check counts without it, said once), then it fails: a breach with its reason.
    #[tokio::test]
    async fn the_check_hook_is_asked_at_each_check_and_its_failure_rolls_back() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        d.hooks.check = Some(sluice_core::testing::function("orders-check"));
        let d = run(&aws, d.to_json(), t(0)).await.unwrap();
        assert_eq!(d.status, Status::Baking);
        aws.answer_next(Err(AwsErrorKind::Transient));
        let d = run(&aws, d.to_json(), t(0)).await.unwrap();
        assert_eq!(d.status, Status::Baking, "no answer is not a verdict");
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        aws.answer_next(Ok(sluice_aws::Invoked {
            payload: serde_json::json!({"status": "Failed", "reason": "p99 850 ms over 500 ms"}),
            function_error: None,
        }));
        let d = run(&aws, d.to_json(), t(0)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "HookFailed");
        assert!(
            f.cause
                .contains("the check hook orders-check failed: p99 850 ms over 500 ms"),
            "{}",
            f.cause
        );
        let asked = aws.invocations();
        assert_eq!(asked.len(), 3);
        assert_eq!(asked[0].0, "orders-check");
        assert_eq!(asked[0].1["phase"], "Check");
        assert_eq!(
            asked[0].1["check"],
            Value::Null,
            "no check before the first"
        );
        assert_eq!(
            asked[1].1["check"]["healthy"], true,
            "the last check's verdict"
        );
        assert_eq!(
            aws.record("d-1").unwrap()["status"],
            "AlarmBreached",
            "recorded"
        );

        // A hook that never answers: the bake never ends on an unanswered check; past its
        // overtime the deployment fails (rolled back), never passes unjudged.
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        d.hooks.check = Some(sluice_core::testing::function("orders-check"));
        let mut checks = 0;
        while d.status == Status::Baking && checks < 100 {
            aws.answer_next(Err(AwsErrorKind::Transient));
            d = run(&aws, d.to_json(), t(0)).await.unwrap();
            checks += 1;
        }
        assert_eq!(
            d.status,
            Status::AlarmBreached,
            "after {checks} checks: {:?}",
            d.history.last()
        );
        assert_eq!(d.failure.unwrap().error, "AwsFailure");
    }

    #[tokio::test]
    async fn bakes_in_checks_then_moves_on() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        let mut checks = 0;
        while d.status == Status::Baking {
            d = run(&aws, d.to_json(), t(0)).await.unwrap();
            checks += 1;
        }
        assert_eq!(
            (checks, d.status, d.bake.elapsed_seconds),
            (3, Status::ShiftNext, 30)
        );
        assert!(d.last_check.unwrap().healthy);
    }

    #[tokio::test]
    async fn an_alarm_in_alarm_stops_the_deployment_by_name() {
        let aws = FakeAws::new()
            .alarm("errors", AlarmState::Ok)
            .alarm("latency", AlarmState::Ok);
        let d = run(&aws, baking(&["errors", "latency"]).to_json(), t(0))
            .await
            .unwrap();
        assert_eq!(d.status, Status::Baking);
        aws.set_alarm("latency", AlarmState::Alarm);
        let d = run(&aws, d.to_json(), t(0)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert_eq!(
            aws.record("d-1").unwrap(),
            d.to_json(),
            "the breach is recorded"
        );
        let failure = d.failure.unwrap();
        assert_eq!(failure.error, "AlarmBreached");
        assert!(
            failure.cause.starts_with("alarm latency is in ALARM"),
            "{}",
            failure.cause
        );
        assert!(
            !failure.cause.contains("errors"),
            "only the firing alarm is named"
        );
    }

    #[tokio::test]
    async fn an_alarm_that_fired_and_cleared_since_the_last_check_is_a_breach() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let d = baking(&["errors"]);
        let since = d.bake.history_since.unwrap();
        // Before the window: an earlier deployment's alarm, not this one's.
        aws.alarm_fired_at("errors", t(0));
        let d = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(
            d.status,
            Status::Baking,
            "{since}: t(0) is before the shift"
        );
        aws.alarm_fired_at("errors", t(2));
        let d = run(&aws, d.to_json(), t(3)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(
            d.failure
                .unwrap()
                .cause
                .starts_with(&format!("alarm errors went to ALARM at {}", t(2))),
        );
    }

    /// The alarms' history is read in windows that follow each other from the first shift on: an
    /// alarm that fired and cleared while the next step's Shift ran (or was retried), its event
    /// lost, is seen by the next step's first check.
    #[tokio::test]
    async fn an_alarm_that_fired_and_cleared_during_a_shift_is_seen_by_the_next_check() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = sluice_core::testing::one_target(
            serde_json::json!({"steps": [{"weight": 10, "bake": "10s"}, {"weight": 50, "bake": "10s"}, {"weight": 100}]}),
            &["errors"],
        );
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let d = run(&aws, d.to_json(), t(3)).await.unwrap();
        assert_eq!(d.status, Status::ShiftNext, "the first bake is over");
        // While the second step's Shift runs (and is retried): the alarm fires and clears.
        aws.alarm_fired_at("errors", t(5));
        let mut d = d;
        d.record_shift(1, vec!["r2".into()], t(9)).unwrap();
        let d = run(&aws, d.to_json(), t(12)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached, "{:?}", d.last_check);
    }

    /// Approve racing a gate's timeout: the command was recorded at the meeting point first, so
    /// the check that finds the gate's time up does not roll back; it fails the watch's task with
    /// the command (OperatorCommand) and bakes on until the command ends the bake.
    #[tokio::test]
    async fn a_command_recorded_before_the_bake_ends_wins_over_the_end() {
        use sluice_core::ledger::{Command, CommandKind};
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = sluice_core::testing::one_target(
            serde_json::json!({"steps": [{"weight": 10, "bake": "10s"}, {"approval": {"timeout": "20s"}}, {"weight": 100}]}),
            &["errors"],
        );
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let mut d = run(&aws, d.to_json(), t(11)).await.unwrap();
        assert!(d.bake.hold.is_some(), "at the gate");
        aws.waiting_task("tok");
        aws.watch_began("d-1", &d.bake_slot(), "tok").await.unwrap();
        let approve = Command {
            kind: CommandKind::Approve,
            by: "alice".into(),
            reason: None,
            at: t(20),
        };
        assert_eq!(
            aws.command("d-1", &d.bake_slot(), &approve).await.unwrap(),
            Ok(Some("tok".into()))
        );
        // The check that finds the gate's time up (the CLI did not reach the watch): the command
        // came first, so this check ends the bake with it instead of rolling back.
        d.bake.elapsed_seconds = d.bake.required_seconds - 1;
        d.next_wait_seconds = 1;
        let err = run(&aws, d.to_json(), t(40)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::OperatorCommand);
        let recorded = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert_eq!(recorded.status, Status::Baking, "{:?}", recorded.failure);
        assert!(
            recorded.failure.is_none(),
            "no rollback for the gate's time out"
        );
        // Any later check ends the bake with it too (a lost watch cannot hold it up).
        let err = run(&aws, d.to_json(), t(41)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::OperatorCommand);
        // The state machine's Catch: the command is applied to the recorded bake.
        d.interrupt = Some(sluice_core::Failure::new(
            sluice_core::ErrorName::OperatorCommand,
            "approve by alice",
        ));
        let applied = run(&aws, d.to_json(), t(41)).await.unwrap();
        assert_eq!(applied.status, Status::ShiftNext);
        assert_eq!(applied.gates_passed, vec![1]);
        assert_eq!(applied.commands, 0, "an approval is budgeted with its gate");
        assert_eq!(
            Deployment::from_json(aws.record("d-1").unwrap())
                .unwrap()
                .bake
                .round,
            1
        );
        // ApplyCommand retried (its answer lost): the same outcome, not applied twice.
        let again = run(&aws, d.to_json(), t(42)).await.unwrap();
        assert_eq!(again, applied);
    }

    /// A command wins the race with an alarm event (alarm-event found the watch's task ended):
    /// the alarm, read as the command is applied, rolls back instead of moving traffic on.
    #[tokio::test]
    async fn a_command_that_moves_traffic_on_reads_the_alarms_first() {
        use sluice_core::ledger::{Command, CommandKind};
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        d = run(&aws, d.to_json(), t(2)).await.unwrap();
        let promote = Command {
            kind: CommandKind::Promote,
            by: "alice".into(),
            reason: None,
            at: t(3),
        };
        aws.command("d-1", &d.bake_slot(), &promote)
            .await
            .unwrap()
            .unwrap();
        aws.set_alarm("errors", AlarmState::Alarm);
        d.interrupt = Some(sluice_core::Failure::new(
            ErrorName::OperatorCommand,
            "promote by alice",
        ));
        let d = run(&aws, d.to_json(), t(4)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(
            d.failure
                .unwrap()
                .cause
                .contains("read as an operator's command was applied"),
        );
    }

    #[tokio::test]
    async fn the_last_check_of_a_bake_releases_its_watch_whichever_came_first() {
        // The watch began first: the bake's end succeeds its task and takes the watches off.
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        let watch = d.watch("tok-1", t(1)).unwrap();
        aws.watch(&alarm("errors"), &watch).await.unwrap();
        assert!(!aws.watch_began("d-1", "0", "tok-1").await.unwrap().ended);
        aws.waiting_task("tok-1");
        let mut last_input = d.to_json();
        while d.status == Status::Baking {
            assert_eq!(
                aws.task("tok-1"),
                Some(Task::Waiting),
                "released only at the end"
            );
            last_input = d.to_json();
            d = run(&aws, d.to_json(), t(0)).await.unwrap();
        }
        assert_eq!(aws.task("tok-1"), Some(Task::Succeeded));
        assert!(aws.watches_of("errors").is_empty());
        // A retried last check (its answer lost) succeeds again without an error.
        let again = run(&aws, last_input, t(0)).await.unwrap();
        assert_eq!(again.status, Status::ShiftNext);

        // The bake ended first: the watch that begins afterwards learns it has nothing to wait for.
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let mut d = baking(&["errors"]);
        while d.status == Status::Baking {
            d = run(&aws, d.to_json(), t(0)).await.unwrap();
        }
        assert!(aws.watch_began("d-1", "0", "tok-2").await.unwrap().ended);
    }

    /// Under load a read of the alarms is throttled: that is no verdict. The bake reads again,
    /// and a read refused for good (permissions) is still an error.
    #[tokio::test]
    async fn a_throttled_read_is_not_known_yet_never_a_pass_nor_a_breach() {
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        aws.fail_next("DescribeAlarmHistory", AwsErrorKind::Transient, false);
        let d = run(&aws, baking(&["errors"]).to_json(), t(2))
            .await
            .unwrap();
        assert_eq!(d.status, Status::Baking);
        let check = d.last_check.clone().unwrap();
        assert!(!check.healthy);
        assert!(
            check
                .unread
                .as_deref()
                .unwrap()
                .starts_with("DescribeAlarmHistory"),
            "{check:?}"
        );
        assert_eq!(
            d.bake.history_since,
            Some(t(1)),
            "the next read covers this check's time"
        );
        aws.fail_next("DescribeAlarms", AwsErrorKind::Refused, false);
        let err = run(&aws, d.to_json(), t(3)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AwsFailure);
    }

    /// The analysis reads both versions of each shifting alias in one call per check, from the
    /// step's shift on, and a version failing 20 % of its calls rolls back at the first check.
    #[tokio::test]
    async fn a_version_failing_a_fifth_of_its_calls_is_rolled_back_by_its_own_metrics() {
        let aws = FakeAws::new();
        let figures = |invocations, errors| Figures {
            invocations,
            errors,
            throttles: 0,
            latency_ms: Some(30.0),
            latency_calls: 0,
        };
        aws.version_figures("a", "1", figures(360, 0));
        aws.version_figures("a", "2", figures(40, 8));
        let d = sluice_core::testing::analysed(&[], serde_json::json!({}));
        let d = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, ErrorName::AnalysisFailed);
        assert!(
            f.cause
                .contains("v2 error rate 20% (8 of 40) vs v1 0% (0 of 360)"),
            "{}",
            f.cause
        );
        assert_eq!(
            aws.record("d-1").unwrap(),
            d.to_json(),
            "the verdict is recorded"
        );
        let reads = aws.metric_reads();
        assert_eq!(reads.len(), 1);
        let (queries, start, end, _) = reads[0];
        assert_eq!(queries, 8, "4 metrics of 2 versions");
        assert!(start <= t(1) && end > t(2), "{start}..{end}");

        // The same traffic, errors only on the stable version: the canary passes.
        let aws = FakeAws::new();
        aws.version_figures("a", "1", figures(360, 90));
        aws.version_figures("a", "2", figures(40, 0));
        let mut d = sluice_core::testing::analysed(&[], serde_json::json!({}));
        while d.status == Status::Baking {
            d = run(&aws, d.to_json(), t(2)).await.unwrap();
        }
        assert_eq!(d.status, Status::ShiftNext);
        assert!(d.warnings.is_empty());
    }

    /// A throttled GetMetricData is no verdict, as a throttled alarm read is not.
    #[tokio::test]
    async fn a_throttled_metrics_read_is_not_known_yet() {
        let aws = FakeAws::new();
        aws.fail_next("GetMetricData", AwsErrorKind::Transient, false);
        let d = sluice_core::testing::analysed(&[], serde_json::json!({}));
        let d = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(d.status, Status::Baking);
        let check = d.last_check.unwrap();
        assert!(check.unread.unwrap().starts_with("GetMetricData"));

        // An alarm in ALARM at that check is acted on all the same.
        let aws = FakeAws::new().alarm("errors", AlarmState::Ok);
        let d = sluice_core::testing::analysed(&["errors"], serde_json::json!({}));
        aws.set_alarm("errors", AlarmState::Alarm);
        aws.fail_next("GetMetricData", AwsErrorKind::Transient, false);
        let d = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert_eq!(d.failure.unwrap().error, ErrorName::AlarmBreached);
    }

    #[tokio::test]
    async fn without_alarms_one_wait_bakes_the_step() {
        let aws = FakeAws::new();
        let d = baking(&[]);
        assert_eq!(d.next_wait_seconds, 30);
        let d = run(&aws, d.to_json(), t(0)).await.unwrap();
        assert_eq!(d.status, Status::ShiftNext);
    }
}
