//! The bake: how long the next Wait is, what an alarm check makes of the deployment, and the
//! bake's watch (the task token the state machine waits on, registered against every alarm, so
//! that an alarm event stops the bake at once).

use super::{Action, Deployment, Status};
use crate::alarms::{AlarmReading, AlarmState, AlarmSummary, AlarmTransition, BakePoint};
use crate::analysis::{Figures, Outcome, Pair, Rule, TargetAnalysis};
use crate::bounds::{MAX_CAUSE_CHARS, MAX_REASON_CHARS, clip};
use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use crate::failure::Failure;
use crate::ledger::Watch;
use crate::names::AlarmName;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The last health check, kept for whoever watches the deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub checked_at: Timestamp,
    pub healthy: bool,
    /// Alarms in ALARM, with CloudWatch's reason.
    pub firing: Vec<AlarmReading>,
    /// Alarms with too little data to judge: counted healthy, but shown (never silently passed).
    pub insufficient_data: Vec<AlarmName>,
    /// Alarms named in the request that CloudWatch no longer has.
    pub missing: Vec<AlarmName>,
    /// Alarms that went to ALARM since the check before and out of it again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fired: Vec<AlarmTransition>,
    /// Why the alarms could not be read: nothing is known of them at this check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
    /// Alarms in ALARM that were allowed to fire as the deployment started and have not left
    /// ALARM since (ignored until they do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excused: Vec<AlarmName>,
    /// The canary analysis of each target: both versions' figures and the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis: Vec<TargetAnalysis>,
}

/// How long a bake's watch outlives the bake before it stops waiting for alarm events: the
/// backstop's last check decides the bake, and a lost release must not hold the Parallel for long.
pub const WATCH_GRACE_SECONDS: u64 = 900;

/// How long a bake past its end waits before it reads alarms it could not read again.
pub const OVERTIME_SECONDS: u64 = 60;

/// The watch function's payload: the document of the bake, and the task token its Watch state
/// waits on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchCall {
    pub document: Deployment,
    pub token: String,
}

/// What the watch function did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchOutcome {
    pub deployment_id: String,
    /// The alarms whose events now stop the bake.
    pub watching: Vec<AlarmName>,
    /// The bake had ended already: the watch ended its own task.
    pub bake_ended: bool,
}

impl Deployment {
    /// Sets status and the next wait from bake progress.
    pub(crate) fn after_progress(&mut self) {
        let remaining = self
            .bake
            .required_seconds
            .saturating_sub(self.bake.elapsed_seconds);
        if remaining == 0 {
            self.next_wait_seconds = 0;
            let last = self.step.map(|s| s + 1) == Some(self.plan.step_count());
            self.status = if last {
                Status::AllShifted
            } else {
                Status::ShiftNext
            };
        } else {
            // Without alarms or analysis there is nothing to check: wait out the bake in one go.
            // A hold is checked more coarsely (at most ten checks; alarm events still stop it
            // at once), so a long gate or pause costs little history.
            // (A pause's interval comes from the whole pause limit, so all of a deployment's
            // pauses take about ten checks in all.)
            let interval = match &self.bake.hold {
                Some(h) if h.kind == super::HoldKind::Pause => crate::budget::keep_baking_interval(
                    self.check_interval_seconds,
                    self.pause.limit_seconds,
                ),
                Some(h) => {
                    crate::budget::keep_baking_interval(self.check_interval_seconds, h.seconds)
                }
                None => self.check_interval_seconds.max(1),
            };
            self.next_wait_seconds = if !self.checks_bakes() {
                remaining
            } else {
                remaining.min(interval)
            };
            let keep = self
                .analysis
                .as_ref()
                .map_or(0, |a| a.inconclusive.keep_baking_seconds)
                .saturating_sub(self.bake.kept_baking_seconds);
            // A hold may follow in the same bake (a gate ahead; a pause that resumes by itself).
            let after = match &self.bake.hold {
                Some(h) if h.kind == super::HoldKind::Pause => {
                    h.bake_left + self.gate_ahead_seconds()
                }
                Some(_) => 0,
                None => self.gate_ahead_seconds(),
            };
            self.watch_timeout_seconds = remaining + keep + after + WATCH_GRACE_SECONDS;
            self.status = Status::Baking;
        }
    }

    /// What a check reads, as messages name it.
    fn what_checks_read(&self) -> &'static str {
        match (self.alarms.is_empty(), self.analysis.is_some()) {
            (false, false) => "the alarms",
            (true, _) => "the versions' metrics",
            (false, true) => "the alarms or the versions' metrics",
        }
    }

    /// Whether a bake reads anything at its checks: alarms, or the versions' metrics.
    pub fn checks_bakes(&self) -> bool {
        !self.alarms.is_empty() || self.analysis.is_some() || self.hooks.check.is_some()
    }

    /// The targets the analysis compares at a check: each alias shifting from a previous
    /// version, with both versions (none when the analysis is off).
    pub fn analysis_pairs(&self) -> Vec<Pair<'_>> {
        if self.analysis.is_none() {
            return Vec::new();
        }
        self.targets
            .iter()
            .filter(|t| t.action == Action::Shift)
            .filter_map(|t| {
                Some(Pair {
                    target: t.name(),
                    function_name: t.function_name.name(),
                    alias: t.alias.as_str(),
                    new: &t.target_version,
                    stable: t.previous_version.as_ref()?,
                })
            })
            .collect()
    }

    /// The metrics window of a check at `now` (epoch seconds: start, end): from the minute of this
    /// step's shift to the end of the minute of `now`; and where the latency's minutes start (the
    /// minute after the shift's: the warm-up minute is left out).
    pub fn analysis_window(&self, now: Timestamp) -> (i64, i64, i64) {
        let since = self.bake.shifted_at.unwrap_or(self.started_at);
        let (start, end) = crate::analysis::window(since.unix_seconds(), now.unix_seconds());
        (start, end, start + crate::analysis::PERIOD_SECONDS)
    }

    /// The verdict on each pair from its two versions' figures (new, stable), in
    /// `analysis_pairs`' order. The first check of a step does not judge latency (warm-up).
    pub fn judge_versions(&self, figures: &[(Figures, Figures)]) -> Vec<TargetAnalysis> {
        let Some(analysis) = &self.analysis else {
            return Vec::new();
        };
        let alpha = analysis.alpha_per_check(self.planned_checks());
        self.analysis_pairs()
            .iter()
            .zip(figures)
            .map(|(pair, (new, stable))| {
                let baseline = self.tally.baseline(&pair.target);
                analysis.judge(pair, *new, *stable, baseline, self.weight, alpha)
            })
            .collect()
    }

    /// The checks this step's bake plans: one per check interval, and those an inconclusive
    /// analysis may bake on for (the analysis' threshold is shared among them).
    pub fn planned_checks(&self) -> u64 {
        let interval = self.check_interval_seconds.max(1);
        let bake = self
            .step
            .and_then(|s| self.plan.steps().get(s))
            .map_or(self.bake.required_seconds, |s| s.bake_seconds);
        let keep = self
            .analysis
            .as_ref()
            .map_or(0, |a| a.inconclusive.keep_baking_seconds);
        bake.div_ceil(interval) + crate::budget::keep_baking_checks(interval, keep)
    }

    /// Where Lambda's metrics had arrived at this check: the start of the newest minute with data.
    pub fn record_metrics_until(&mut self, newest_minute: Option<i64>) {
        self.bake.metrics_until = newest_minute.map(Timestamp::from_unix_seconds);
    }

    /// Whether the bake of the step on the aliases is over and healthy: its watch is released.
    pub fn bake_is_over(&self) -> bool {
        matches!(self.status, Status::ShiftNext | Status::AllShifted)
    }

    /// Whether a check ended the bake on its own — over and healthy, or a hold whose time ran
    /// out — so that its meeting point must record the end (an operator's command recorded
    /// first wins instead).
    pub fn bake_ends_here(&self) -> bool {
        self.bake_is_over()
            || self.failure.as_ref().is_some_and(|f| {
                f.error == crate::error::FailureName::Sluice(ErrorName::HoldTimedOut)
            })
    }

    /// "step 1/2 (10% on the new version", how a breach names where it happened; the bake
    /// figures and the closing parenthesis follow (`BakePoint::breach`).
    pub fn bake_label(&self) -> String {
        format!("{} ({} on the new version", self.step_label(), self.weight)
    }

    /// The watch of the bake this document is in, waiting on `token`, as of `now`.
    pub fn watch(&self, token: &str, now: Timestamp) -> Result<Watch, Error> {
        let step = self
            .step
            .ok_or_else(|| Error::internal("watch was called before any traffic moved"))?;
        if token.is_empty() {
            return Err(Error::internal("watch was called without a task token"));
        }
        Ok(Watch {
            deployment_id: self.deployment_id.clone(),
            execution_arn: self.execution_arn.clone(),
            token: token.to_string(),
            step,
            label: self.bake_label(),
            since: self.started_at,
            watching_since: now,
            baked_seconds: self.bake.elapsed_seconds,
            bake_seconds: self.bake.required_seconds,
        })
    }

    /// As a bake's watch begins, its one read of the alarms: one already firing (or gone)
    /// fails the watch, which rolls the deployment back.
    pub fn watch_begins(&self, readings: &[AlarmReading]) -> Result<WatchOutcome, Error> {
        let summary = self.alarm_summary(readings);
        if !summary.healthy() {
            let at = self.bake_point(self.bake.elapsed_seconds);
            return Err(Error::new(
                ErrorName::AlarmBreached,
                at.breach(&summary.breaches(), "; found as the bake's watch began"),
            ));
        }
        Ok(WatchOutcome {
            deployment_id: self.deployment_id.clone(),
            watching: self.alarms.clone(),
            bake_ended: false,
        })
    }

    /// What a watch did that found its bake ended already.
    pub fn watch_came_late(&self) -> WatchOutcome {
        WatchOutcome {
            deployment_id: self.deployment_id.clone(),
            watching: Vec::new(),
            bake_ended: true,
        }
    }

    fn bake_point(&self, baked_seconds: u64) -> BakePoint {
        BakePoint {
            label: self.bake_label(),
            baked_seconds,
            bake_seconds: self.bake.required_seconds,
        }
    }

    /// Records a check whose alarms could not be read (AWS throttled or failed the read): nothing
    /// is known, so neither a pass nor a breach. The time waited counts into the bake, and the
    /// next check reads the alarms' history from where the last read ended, so nothing goes
    /// unseen; but a bake is never over on an unread check: past its end it reads again every
    /// minute, and after `OVERTIME_CHECKS` such checks the deployment fails (`AwsFailure`).
    pub fn record_unread_check(&mut self, why: &str, now: Timestamp) -> Result<(), Error> {
        if self.status != Status::Baking {
            return Err(Error::internal(format!(
                "check-alarms was called with status {:?}; it runs only while Baking",
                self.status
            )));
        }
        let why = clip(why, MAX_REASON_CHARS);
        self.bake.elapsed_seconds =
            (self.bake.elapsed_seconds + self.next_wait_seconds).min(self.bake.required_seconds);
        self.updated_at = now;
        self.last_check = Some(Verdict {
            checked_at: now,
            healthy: false,
            firing: Vec::new(),
            insufficient_data: Vec::new(),
            missing: Vec::new(),
            fired: Vec::new(),
            unread: Some(why.clone()),
            excused: Vec::new(),
            analysis: Vec::new(),
        });
        let remaining = self
            .bake
            .required_seconds
            .saturating_sub(self.bake.elapsed_seconds);
        if remaining > 0 {
            self.next_wait_seconds = remaining.min(self.check_interval_seconds.max(1));
            return Ok(());
        }
        self.bake.unread_checks += 1;
        // A check that waited for the metrics to arrive counts among the overtime checks too.
        if self.bake.unread_checks + self.bake.lag_checks > crate::budget::OVERTIME_CHECKS {
            let cause = self.bake_point(self.bake.elapsed_seconds).breach(
                &format!(
                    "{} could not be read at the bake's end, {} times ({why})",
                    self.what_checks_read(),
                    self.bake.unread_checks
                ),
                "; without a reading the bake cannot be judged",
            );
            self.record(now, cause.clone());
            self.status = Status::AlarmBreached;
            self.next_wait_seconds = 0;
            self.failure = Some(Failure::new(ErrorName::AwsFailure, cause));
            return Ok(());
        }
        self.next_wait_seconds = OVERTIME_SECONDS.min(self.check_interval_seconds.max(1));
        let message = format!(
            "{}: {} could not be read ({why}); not known yet, read again in {}",
            self.step_label(),
            self.what_checks_read(),
            format_seconds(self.next_wait_seconds)
        );
        self.record(now, message);
        Ok(())
    }

    /// Records a health check of the alarms alone (no analysis this check).
    pub fn record_check(
        &mut self,
        readings: &[AlarmReading],
        fired: &[AlarmTransition],
        now: Timestamp,
    ) -> Result<(), Error> {
        self.record_check_with(readings, fired, Vec::new(), now)
    }

    /// Records a health check made after waiting `next_wait_seconds`: the alarms' state now,
    /// their moves into ALARM since `bake.history_since` (read from their history), and the
    /// analysis of each target (`judge_versions`).
    pub fn record_check_with(
        &mut self,
        readings: &[AlarmReading],
        fired: &[AlarmTransition],
        analyses: Vec<TargetAnalysis>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if self.status != Status::Baking {
            return Err(Error::internal(format!(
                "check-alarms was called with status {:?}; it runs only while Baking",
                self.status
            )));
        }
        self.bake.elapsed_seconds =
            (self.bake.elapsed_seconds + self.next_wait_seconds).min(self.bake.required_seconds);
        self.updated_at = now;
        self.bake.history_since = Some(now);
        self.bake.checks += 1;
        let summary = self.alarms_checked(readings, fired);
        let alarms_healthy = summary.healthy();
        let breaches = summary.breaches();
        if alarms_healthy {
            self.note_alarm_policies(&summary, readings, now);
        }
        let over = match &self.analysis {
            Some(a) if !analyses.is_empty() => {
                let a = a.clone();
                self.tally.keep_baselines(&a, &analyses);
                self.tally.count(&a, &analyses)
            }
            _ => None,
        };
        self.bake.unread_checks = 0;
        self.last_check = Some(Verdict {
            checked_at: now,
            healthy: alarms_healthy && over.is_none(),
            firing: summary.firing,
            insufficient_data: summary.insufficient_data,
            missing: summary.missing,
            fired: summary.fired,
            unread: None,
            excused: summary.excused.into_iter().map(|a| a.name).collect(),
            analysis: analyses,
        });
        if !alarms_healthy {
            // Clip the alarms' part, so where it happened is always told.
            let breaches = clip(&breaches, MAX_CAUSE_CHARS - 200);
            return self.fail_bake(ErrorName::AlarmBreached, &breaches, "", now);
        }
        if let Some(over) = over {
            let (failed, how) = self.analysis_failure(over);
            return self.fail_bake(ErrorName::AnalysisFailed, &failed, &how, now);
        }
        self.after_progress();
        if self.status == Status::Baking {
            return Ok(());
        }
        if let Some(hold) = self.bake.hold.take() {
            return self.hold_ran_out(hold, now);
        }
        // The bake's end, but Lambda's metrics have not arrived up to it yet (they land a minute
        // or more late): check again before the step's last minutes go unjudged.
        let behind = self.bake.metrics_until.filter(|until| {
            until.unix_seconds() + 2 * crate::analysis::PERIOD_SECONDS < now.unix_seconds()
        });
        if let Some(until) = behind.filter(|_| {
            !self.last_analysis().is_empty()
                && self.bake.lag_checks < crate::budget::LAG_CHECKS
                && self.bake.lag_checks + self.bake.unread_checks < crate::budget::OVERTIME_CHECKS
        }) {
            let more = crate::budget::LAG_CHECK_SECONDS.min(self.check_interval_seconds.max(1));
            self.bake.lag_checks += 1;
            self.bake.required_seconds += more;
            self.after_progress();
            let message = format!(
                "{}: the versions' metrics have arrived up to {until} only; checking again in {} before the bake ends",
                self.step_label(),
                format_seconds(more)
            );
            self.record(now, message);
            return Ok(());
        }
        // The bake's end: an analysis without a verdict follows the request's policy.
        if let Some(no_verdict) = self.inconclusive_targets() {
            let inconclusive = self.analysis.as_ref().map(|a| a.inconclusive.clone());
            let Some(policy) = inconclusive else {
                return Ok(());
            };
            if self.dry_run {
                // The aliases never route to the new version in a dry run: baking on for traffic
                // that cannot come would only wait. Said, with what a real deployment would do.
                let then = if policy.pass {
                    "pass with a warning"
                } else {
                    "roll back"
                };
                let would = match policy.keep_baking_seconds {
                    0 => then.to_string(),
                    keep => format!(
                        "bake on up to {} for one, then {then}",
                        format_seconds(keep)
                    ),
                };
                let message = format!(
                    "{}: no verdict on the new version ({no_verdict}): a dry run routes it no \
                     traffic; a real deployment would {would}",
                    self.step_label()
                );
                self.record(now, message);
                return self.bake_passed(now);
            }
            let left = policy
                .keep_baking_seconds
                .saturating_sub(self.bake.kept_baking_seconds);
            if left > 0 {
                let interval = crate::budget::keep_baking_interval(
                    self.check_interval_seconds,
                    policy.keep_baking_seconds,
                );
                let more = left.min(interval);
                self.bake.kept_baking_seconds += more;
                self.bake.required_seconds += more;
                self.after_progress();
                let message = format!(
                    "{}: no verdict at the bake's end ({no_verdict}); baking on, {} more at most",
                    self.step_label(),
                    format_seconds(left)
                );
                self.record(now, message);
                return Ok(());
            }
            if !policy.pass {
                let what = format!("no verdict on the new version ({no_verdict})");
                let how = "; analysis.inconclusive says \"fail\"";
                return self.fail_bake(ErrorName::AnalysisFailed, &what, how, now);
            }
            let warning = format!(
                "{}: passed without a verdict ({no_verdict}), as analysis.inconclusive says",
                self.step_label()
            );
            self.warnings.push(clip(&warning, MAX_REASON_CHARS));
            self.record(now, warning);
        }
        self.bake_passed(now)
    }

    /// The bake over, every judge satisfied: said, then the gate ahead (if any) is met.
    fn bake_passed(&mut self, now: Timestamp) -> Result<(), Error> {
        let judged = self
            .last_check
            .as_ref()
            .map(|c| {
                c.analysis
                    .iter()
                    .filter(|t| t.outcome == Outcome::Pass)
                    .map(|t| format!("; {}: {}", t.target, t.summary))
                    .collect::<String>()
            })
            .unwrap_or_default();
        let message = format!(
            "{} baked {} with no alarm{judged}",
            self.step_label(),
            format_seconds(self.bake.required_seconds)
        );
        self.record(now, message);
        self.enter_gate(now);
        Ok(())
    }

    /// The alarms' readings as this deployment's policies sort them: alarms allowed to fire set
    /// aside until they leave ALARM, and no data a breach when the request says so.
    /// What a reading of the alarms finds against this deployment's policies: the breaches, or
    /// None when healthy.
    pub fn alarm_breaches(&self, readings: &[AlarmReading]) -> Option<String> {
        let summary = self.alarm_summary(readings);
        (!summary.healthy()).then(|| summary.breaches())
    }

    fn alarm_summary(&self, readings: &[AlarmReading]) -> AlarmSummary {
        AlarmSummary::of(&self.alarms, readings)
            .excusing(&self.excused_alarms)
            .no_data_is_breach(self.insufficient_data_breaches)
    }

    /// A check's reading of the alarms: their state now under this deployment's policies, and
    /// their moves into ALARM since the last check. A move before the deployment started is not
    /// about it (and, of an alarm allowed to fire, is the one it was allowed for), whatever window
    /// the history was read in.
    fn alarms_checked(&self, readings: &[AlarmReading], fired: &[AlarmTransition]) -> AlarmSummary {
        let fired: Vec<AlarmTransition> = fired
            .iter()
            .filter(|t| t.at > self.started_at)
            // The start is kept to the second: a move of an alarm allowed to fire within that
            // second is the one it was allowed for (validate read it in ALARM after it).
            .filter(|t| {
                !(self.excused_alarms.contains(&t.name)
                    && t.at.unix_seconds() <= self.started_at.unix_seconds())
            })
            .cloned()
            .collect();
        self.alarm_summary(readings)
            .with_history(&self.alarms, &fired)
    }

    /// After a healthy reading: an alarm allowed to fire that left ALARM guards from now on, and
    /// an alarm without data passed as healthy is a warning (once per alarm).
    fn note_alarm_policies(
        &mut self,
        summary: &AlarmSummary,
        readings: &[AlarmReading],
        now: Timestamp,
    ) {
        let left: Vec<AlarmName> = self
            .excused_alarms
            .iter()
            .filter(|n| {
                readings
                    .iter()
                    .any(|r| &r.name == *n && r.state != AlarmState::Alarm)
            })
            .cloned()
            .collect();
        for name in left {
            self.excused_alarms.retain(|n| n != &name);
            self.record(
                now,
                format!("alarm {name} left ALARM: from now on it guards the deployment"),
            );
        }
        if self.insufficient_data_breaches {
            return;
        }
        for name in &summary.insufficient_data {
            let told = format!("alarm {name} had no data");
            if self.warnings.iter().any(|w| w.starts_with(&told)) {
                continue;
            }
            let warning = format!(
                "{told} (INSUFFICIENT_DATA) at {}: counted healthy, as insufficientData says",
                self.step_label()
            );
            self.warnings.push(clip(&warning, MAX_REASON_CHARS));
        }
    }

    /// The analysis of the last check (empty when it had none).
    fn last_analysis(&self) -> &[TargetAnalysis] {
        self.last_check.as_ref().map_or(&[], |c| &c.analysis)
    }

    /// Records a check whose alarms were read but whose metrics could not be (GetMetricData
    /// throttled or failed): an alarm breach is acted on all the same; otherwise nothing is known
    /// of the versions, so it is an unread check.
    pub fn record_check_unanalysed(
        &mut self,
        readings: &[AlarmReading],
        fired: &[AlarmTransition],
        why: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        if self.alarms_checked(readings, fired).healthy() {
            return self.record_unread_check(why, now);
        }
        self.record_check_with(readings, fired, Vec::new(), now)
    }

    /// The targets of the last check the analysis could not judge, told as their figures.
    fn inconclusive_targets(&self) -> Option<String> {
        let check = self.last_check.as_ref()?;
        let quiet: Vec<String> = check
            .analysis
            .iter()
            .filter(|t| t.outcome == Outcome::Inconclusive)
            .map(|t| format!("{}: {}", t.target, t.summary))
            .collect();
        (!quiet.is_empty()).then(|| quiet.join("; "))
    }

    /// What failed the analysis, and how the budget ran out.
    fn analysis_failure(&self, over: Result<Rule, u32>) -> (String, String) {
        let failed: Vec<String> = self
            .last_check
            .iter()
            .flat_map(|c| &c.analysis)
            .filter(|t| t.outcome == Outcome::Fail)
            .map(|t| format!("{}: {}", t.target, t.summary))
            .collect();
        let how = match over {
            Ok(rule) => {
                let n = self.analysis.as_ref().map_or(1, |a| a.fail_after(rule));
                if n > 1 {
                    format!("; {n} failed checks in a row")
                } else {
                    String::new()
                }
            }
            Err(max) => format!("; {max} failed checks in all (analysis.maxFailedChecks)"),
        };
        (clip(&failed.join("; "), MAX_CAUSE_CHARS - 200), how)
    }

    /// What the check hook (`hooks.check`) is asked at a check: the deployment, the step and the
    /// bake, each target with its stable and new version (and the new version's qualified ARN,
    /// to call it directly), and this check's verdict as far as it went (alarms, analysis).
    pub fn check_hook_payload(&self) -> serde_json::Value {
        let targets: Vec<serde_json::Value> =
            self.targets.iter().map(super::hook::hook_target).collect();
        serde_json::json!({
            "deploymentId": self.deployment_id,
            "phase": "Check",
            "dryRun": self.dry_run,
            "step": self.step.map(|s| s + 1),
            "steps": self.plan.step_count(),
            "weight": self.weight.percent(),
            "bakedSeconds": self.bake.elapsed_seconds,
            "bakeSeconds": self.bake.required_seconds,
            "target": targets.first().cloned().unwrap_or(serde_json::Value::Null),
            "targets": targets,
            "check": self.last_check,
        })
    }

    /// Records what the check hook answered at this check: `Failed` ends the bake as a breach
    /// (`HookFailed`, its reason in the cause); one that could not be asked is said (once per
    /// step) and the check counts without it, as an alarm that could not be read does.
    pub fn judge_check_hook(&mut self, answer: CheckAnswer, now: Timestamp) -> Result<(), Error> {
        let Some(hook) = self.hooks.check.clone() else {
            return Ok(());
        };
        if self.status == Status::AlarmBreached {
            return Ok(());
        }
        match answer {
            CheckAnswer::Passed => Ok(()),
            CheckAnswer::Failed(reason) => self.fail_bake(
                ErrorName::HookFailed,
                &format!(
                    "the check hook {hook} failed: {}",
                    clip(&reason, MAX_REASON_CHARS)
                ),
                "",
                now,
            ),
            CheckAnswer::Unanswered(why) => {
                let warning = clip(
                    &format!(
                        "{}: the check hook {hook} could not be asked ({why}); this check counted without it",
                        self.step_label()
                    ),
                    MAX_REASON_CHARS,
                );
                let said = format!(
                    "{}: the check hook {hook} could not be asked",
                    self.step_label()
                );
                if !self.warnings.iter().any(|w| w.starts_with(&said)) {
                    self.warnings.push(warning.clone());
                    self.record(now, warning);
                }
                Ok(())
            }
        }
    }

    /// Ends a bake unhealthy: recorded, and the state machine rolls back.
    pub(crate) fn fail_bake(
        &mut self,
        name: ErrorName,
        what: &str,
        how: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let cause = self.bake_point(self.bake.elapsed_seconds).breach(what, how);
        if let Some(check) = &mut self.last_check {
            check.healthy = false;
        }
        self.record(now, cause.clone());
        self.status = Status::AlarmBreached;
        self.next_wait_seconds = 0;
        self.failure = Some(Failure::new(name, cause));
        Ok(())
    }
}

/// What a check hook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAnswer {
    /// It returned, without `"status": "Failed"`.
    Passed,
    /// `{"status": "Failed", "reason": ...}`, or the function raised an error (its message).
    Failed(String),
    /// It could not be asked now (throttled, timed out, AWS failing): not a verdict.
    Unanswered(String),
}

impl CheckAnswer {
    /// What the invocation returned: its payload, and Lambda's `FunctionError` when it raised.
    pub fn of(payload: &serde_json::Value, function_error: Option<&str>) -> CheckAnswer {
        if function_error.is_some() {
            let message = payload["errorMessage"]
                .as_str()
                .or(payload["errorType"].as_str())
                .unwrap_or("it raised an error")
                .to_string();
            return CheckAnswer::Failed(message);
        }
        let reason = || {
            payload["reason"]
                .as_str()
                .unwrap_or("no reason given")
                .to_string()
        };
        // Passing is returning nothing, or an object without a status or with "Succeeded":
        // anything else it answered is not understood, and fails the check.
        let not_understood = |what: String| {
            CheckAnswer::Failed(format!(
                "it answered {what}; a check hook returns nothing, or {{\"status\": \"Succeeded\" | \"Failed\", \"reason\": ...}}"
            ))
        };
        match payload {
            serde_json::Value::Null => CheckAnswer::Passed,
            serde_json::Value::Object(o) => match o.get("status") {
                None => CheckAnswer::Passed,
                Some(serde_json::Value::String(s)) if s == "Succeeded" => CheckAnswer::Passed,
                Some(serde_json::Value::String(s)) if s == "Failed" => {
                    CheckAnswer::Failed(reason())
                }
                Some(other) => not_understood(format!(
                    "status {}",
                    crate::bounds::clip(&other.to_string(), 80)
                )),
            },
            other => not_understood(crate::bounds::clip(&other.to_string(), 80)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::AlarmState;
    use crate::testing::{alarm, alarms, one_target, reading, t};
    use serde_json::json;

    #[test]
    fn an_alarm_breach_names_the_alarm_and_stops() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors", "latency"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let ok = |n| reading(n, AlarmState::Ok, "");
        d.record_check(&[ok("errors"), ok("latency")], &[], t(2))
            .unwrap();
        let firing = reading("latency", AlarmState::Alarm, "p99 > 1s");
        d.record_check(&[ok("errors"), firing], &[], t(3)).unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "AlarmBreached");
        assert!(
            f.cause.contains("alarm latency is in ALARM (p99 > 1s)"),
            "{}",
            f.cause
        );
        assert!(
            f.cause
                .contains("step 1/2 (10% on the new version, 20s of 5m baked)"),
            "{}",
            f.cause
        );
    }

    #[test]
    fn insufficient_data_passes_visibly_and_a_missing_alarm_fails() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors", "gone"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let quiet = reading("errors", AlarmState::InsufficientData, "");
        d.record_check(
            &[quiet.clone(), reading("gone", AlarmState::Ok, "")],
            &[],
            t(2),
        )
        .unwrap();
        let verdict = d.last_check.clone().unwrap();
        assert!(verdict.healthy);
        assert_eq!(verdict.insufficient_data, alarms(&["errors"]));
        d.record_check(&[quiet], &[], t(3)).unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(
            d.failure
                .unwrap()
                .cause
                .contains("alarm gone no longer exists")
        );
    }

    #[test]
    fn an_alarm_that_fired_between_checks_is_a_breach_and_each_check_moves_the_window() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        assert_eq!(d.bake.history_since, Some(t(1)));
        assert_eq!(d.watch_timeout_seconds, 300 + WATCH_GRACE_SECONDS);
        let ok = [reading("errors", AlarmState::Ok, "")];
        d.record_check(&ok, &[], t(2)).unwrap();
        assert_eq!(d.bake.history_since, Some(t(2)));
        let blip = AlarmTransition {
            name: alarm("errors"),
            at: t(2),
            reason: "1 error".into(),
        };
        d.record_check(&ok, &[blip], t(3)).unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(d.failure.unwrap().cause.starts_with(&format!(
            "alarm errors went to ALARM at {} (1 error) and out of it again before this check at \
                 step 1/2 (10% on the new version, 20s of 5m baked)",
            t(2)
        )),);
    }

    #[test]
    fn an_unread_check_is_neither_a_pass_nor_a_breach() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let ok = [reading("errors", AlarmState::Ok, "")];
        let mut checks = 0;
        // Every read fails: the bake goes on to its end, then is never over.
        while d.status == Status::Baking && checks < 100 {
            d.record_unread_check("DescribeAlarms: Throttling", t(2))
                .unwrap();
            checks += 1;
        }
        assert_eq!(d.status, Status::AlarmBreached);
        assert_eq!(checks, 30 + crate::budget::OVERTIME_CHECKS as usize);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, ErrorName::AwsFailure);
        assert!(
            f.cause.starts_with(
                "the alarms could not be read at the bake's end, 4 times (DescribeAlarms: Throttling) at step 1/2"
            ),
            "{}",
            f.cause
        );
        // A read that works again after some unread ones ends the bake as usual.
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        while d.bake.elapsed_seconds < d.bake.required_seconds {
            d.record_unread_check("throttled", t(2)).unwrap();
        }
        assert_eq!((d.status, d.bake.unread_checks), (Status::Baking, 1));
        assert_eq!(
            d.next_wait_seconds, 10,
            "read again soon (the interval is 10 s here)"
        );
        assert_eq!(
            d.bake.history_since,
            Some(t(1)),
            "the window still starts at the shift"
        );
        d.record_check(&ok, &[], t(3)).unwrap();
        assert_eq!(d.status, Status::ShiftNext);
        assert_eq!(d.bake.unread_checks, 0);
    }

    fn figures(invocations: u64, errors: u64) -> Figures {
        Figures {
            invocations,
            errors,
            throttles: 0,
            latency_ms: Some(40.0),
            latency_calls: 0,
        }
    }

    /// One check of an analysed bake, the new version at `new` and the stable one at `stable`.
    fn check(d: &mut Deployment, new: (u64, u64), stable: (u64, u64), now: u32) {
        let judged = d.judge_versions(&[(figures(new.0, new.1), figures(stable.0, stable.1))]);
        d.record_check_with(&[], &[], judged, t(now)).unwrap();
    }

    #[test]
    fn a_new_version_worse_than_the_stable_is_rolled_back_with_both_figures() {
        let mut d = crate::testing::analysed(&[], json!({}));
        assert_eq!(d.analysis_pairs().len(), 1);
        assert_eq!(
            d.next_wait_seconds, 10,
            "an analysed bake is checked, not waited out"
        );
        check(&mut d, (40, 8), (360, 1), 2);
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, ErrorName::AnalysisFailed);
        assert!(
            f.cause.starts_with(
                "a:live: v2 error rate 20% (8 of 40) vs v1 0.3% (1 of 360), p = 4.2e-8 < 0.0033; \
                 v2 served 40 of 400 invocations (10% asked) at step 1/2 (10% on the new version, 10s of 30s baked)"
            ),
            "{}",
            f.cause
        );
        let verdict = d.last_check.clone().unwrap();
        assert!(!verdict.healthy);
        assert_eq!(verdict.analysis[0].new.errors, 8);
        assert_eq!(verdict.analysis[0].served_share, Some(0.1));
    }

    /// The check hook's `Failed` is a breach with its reason; an error it raised too; one that
    /// could not be asked is said once and the bake goes on.
    #[test]
    fn a_check_hooks_answer_is_judged_with_the_alarms() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.hooks.check = Some(crate::testing::function("orders-check"));
        assert!(d.checks_bakes(), "a check hook is a reason to check");
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.record_check(&[], &[], t(2)).unwrap();
        let payload = d.check_hook_payload();
        assert_eq!(
            (payload["phase"].clone(), payload["step"].clone()),
            (json!("Check"), json!(1))
        );
        assert_eq!(
            payload["targets"][0]["newVersion"],
            d.targets[0].target_version.to_string()
        );
        for _ in 0..2 {
            d.judge_check_hook(CheckAnswer::Unanswered("throttled".into()), t(3))
                .unwrap();
        }
        assert_eq!(d.warnings.len(), 1, "said once: {:?}", d.warnings);
        assert_eq!(d.status, Status::Baking);
        let answer = CheckAnswer::of(
            &json!({"status": "Failed", "reason": "p99 850 ms > 500 ms"}),
            None,
        );
        d.judge_check_hook(answer, t(4)).unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "HookFailed");
        assert!(
            f.cause
                .contains("the check hook orders-check failed: p99 850 ms > 500 ms"),
            "{}",
            f.cause
        );
        assert_eq!(CheckAnswer::of(&json!(null), None), CheckAnswer::Passed);
        assert_eq!(
            CheckAnswer::of(
                &json!({"errorMessage": "boom", "errorType": "E"}),
                Some("Unhandled")
            ),
            CheckAnswer::Failed("boom".into())
        );
        for not_understood in [
            json!({"status": "Maybe"}),
            json!({"status": false}),
            json!("{\"status\": \"Failed\"}"),
            json!(true),
        ] {
            assert!(
                matches!(
                    CheckAnswer::of(&not_understood, None),
                    CheckAnswer::Failed(_)
                ),
                "{not_understood}"
            );
        }
    }

    /// A dry run routes the new version no traffic through the aliases: its analysis has no
    /// verdict by construction, so it does not bake on for one, nor fail for lack of one; it
    /// says what a real deployment would do.
    #[test]
    fn a_dry_runs_bake_ends_without_waiting_for_a_verdict_that_cannot_come() {
        let mut d = crate::testing::analysed(
            &[],
            json!({"inconclusive": {"keepBaking": "10m", "then": "fail"}}),
        );
        d.dry_run = true;
        let required = d.bake.required_seconds;
        while d.status == Status::Baking {
            check(&mut d, (0, 0), (40, 0), 2);
        }
        assert_eq!(d.status, Status::ShiftNext);
        assert_eq!(d.bake.required_seconds, required, "no baking on");
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let said: Vec<&str> = d.history.iter().map(|e| e.message.as_str()).collect();
        assert!(
            said.iter().any(|m| m.contains(
                "a dry run routes it no traffic; a real deployment would bake on up to 10m for one, then roll back"
            )),
            "{said:?}"
        );
        assert!(
            said.last().unwrap().starts_with("step 1/2 baked"),
            "{said:?}"
        );
    }

    #[test]
    fn an_analysis_without_a_verdict_follows_the_requests_policy_at_the_bakes_end() {
        // Default: pass, with a warning everywhere.
        let mut d = crate::testing::analysed(&[], json!({}));
        while d.status == Status::Baking {
            check(&mut d, (2, 0), (38, 0), 2);
        }
        assert_eq!(d.status, Status::ShiftNext);
        assert_eq!(d.warnings.len(), 1);
        assert!(
            d.warnings[0].starts_with(
                "step 1/2: passed without a verdict (a:live: v2 served 2 of 40 invocations (10% asked); \
                 at least 30 are needed for a verdict)"
            ),
            "{}",
            d.warnings[0]
        );
        // "fail": rolled back, saying why.
        let mut d = crate::testing::analysed(&[], json!({"inconclusive": "fail"}));
        while d.status == Status::Baking {
            check(&mut d, (0, 0), (40, 0), 2);
        }
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.unwrap();
        assert_eq!(f.error, ErrorName::AnalysisFailed);
        assert!(
            f.cause
                .starts_with("no verdict on the new version (a:live: v2 served 0 of 40"),
            "{}",
            f.cause
        );
        assert!(
            f.cause.ends_with("analysis.inconclusive says \"fail\""),
            "{}",
            f.cause
        );
        // Keep baking: up to the limit, and a verdict reached meanwhile ends the bake.
        let mut d = crate::testing::analysed(
            &[],
            json!({"inconclusive": {"keepBaking": "20s", "then": "fail"}}),
        );
        let mut checks = 0;
        while d.status == Status::Baking {
            checks += 1;
            let calls = if checks < 4 { 5 } else { 40 };
            check(&mut d, (calls, 0), (400, 0), 2);
        }
        assert_eq!(
            (d.status, checks),
            (Status::ShiftNext, 4),
            "{:?}",
            d.history
        );
        assert_eq!(d.bake.kept_baking_seconds, 10);
        assert!(d.warnings.is_empty());
        assert!(d.watch_timeout_seconds >= 20 + WATCH_GRACE_SECONDS);
    }

    #[test]
    fn the_stables_errors_never_fail_a_clean_canary_and_a_pass_is_told() {
        let mut d = crate::testing::analysed(&[], json!({}));
        while d.status == Status::Baking {
            check(&mut d, (40, 0), (360, 90), 2);
        }
        assert_eq!(d.status, Status::ShiftNext);
        let last = d.history.last().unwrap().message.clone();
        assert!(
            last.starts_with("step 1/2 baked 30s with no alarm; a:live: v2 error rate 0% (0 of 40) vs v1 25% (90 of 360)"),
            "{last}"
        );
    }

    #[test]
    fn an_allowed_alarm_guards_once_it_left_alarm_and_no_data_is_a_warning_once() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors", "quiet"]);
        d.excuse_alarms(&[reading("errors", AlarmState::Alarm, "the bug")], t(0));
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let firing = reading("errors", AlarmState::Alarm, "the bug");
        let quiet = reading("quiet", AlarmState::InsufficientData, "");
        d.record_check(&[firing.clone(), quiet.clone()], &[], t(2))
            .unwrap();
        assert_eq!(d.status, Status::Baking, "still allowed");
        assert_eq!(d.last_check.clone().unwrap().excused, alarms(&["errors"]));
        d.record_check(
            &[reading("errors", AlarmState::Ok, ""), quiet.clone()],
            &[],
            t(3),
        )
        .unwrap();
        assert!(d.excused_alarms.is_empty());
        assert!(
            d.history
                .last()
                .unwrap()
                .message
                .starts_with("alarm errors left ALARM")
        );
        let no_data: Vec<_> = d
            .warnings
            .iter()
            .filter(|w| w.contains("had no data"))
            .collect();
        assert_eq!(no_data.len(), 1, "{:?}", d.warnings);
        d.record_check(&[firing, quiet], &[], t(4)).unwrap();
        assert_eq!(d.status, Status::AlarmBreached, "it guards now");
    }

    /// The flake of test_an_alarm_already_firing_refuses_a_deployment_unless_it_is_allowed: the
    /// alarm was set to ALARM 181 ms into the second the deployment started (its start is kept
    /// to the second), and that move, the one allowed, was read as a new one after the start.
    #[test]
    fn an_allowed_alarms_move_within_the_starting_second_is_the_one_allowed() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.excuse_alarms(&[reading("errors", AlarmState::Alarm, "the bug")], t(0));
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let set = AlarmTransition {
            name: alarm("errors"),
            at: Timestamp::from_unix_millis(d.started_at.unix_millis() + 181),
            reason: "set by the test".into(),
        };
        let firing = reading("errors", AlarmState::Alarm, "the bug");
        d.record_check(&[firing], std::slice::from_ref(&set), t(60))
            .unwrap();
        assert_eq!(d.status, Status::Baking, "{:?}", d.failure);
        // An alarm not allowed to fire that fires and clears within that second still counts.
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let ok = reading("errors", AlarmState::Ok, "");
        d.record_check(&[ok], &[set], t(60)).unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
    }

    #[test]
    fn a_check_outside_a_bake_is_refused() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        assert_eq!(
            d.record_check(&[], &[], t(1)).unwrap_err().name,
            ErrorName::InternalError
        );
    }
}
