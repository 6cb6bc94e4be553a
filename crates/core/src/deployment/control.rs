//! Operators in control of a running deployment: gates that wait for a person, and the commands
//! (approve, reject, pause, resume, promote, promote --full) that the CLI records at a bake's
//! meeting point in the ledger and that reach the bake through its watch's task token. A hold
//! (a gate or a pause) is a bake that goes on — the alarms and the analysis keep judging the
//! traffic already shifted — until a command ends it or its time runs out.

use super::{Deployment, Status};
use crate::bounds::{MAX_REASON_CHARS, clip};
use crate::budget::MAX_COMMANDS;
use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use crate::ledger::{Command, CommandKind};
use crate::strategy::OnTimeout;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What holds the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HoldKind {
    /// A gate of the plan, waiting for approval before step `before_step`.
    Approval,
    /// An operator's pause.
    Pause,
}

/// A hold in progress (kept in the bake).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub kind: HoldKind,
    pub since: Timestamp,
    /// The bake's elapsed seconds when it began (the hold's time is the bake's past that).
    pub from_elapsed: u64,
    pub on_timeout: OnTimeout,
    /// How long it may hold (the gate's timeout, the pause limit left).
    #[serde(default)]
    pub seconds: u64,
    /// A gate: the index of the step it comes before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_step: Option<usize>,
    /// A pause: the bake that was left when it began, baked after it.
    #[serde(default)]
    pub bake_left: u64,
    /// A pause: who paused, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Deployment {
    /// The bake's meeting point in the ledger: its step, and how many commands the step took.
    pub fn bake_slot(&self) -> String {
        let step = self.step.unwrap_or(0);
        match self.bake.round {
            0 => step.to_string(),
            r => format!("{step}.{r}"),
        }
    }

    /// "step 2/3", of the step a gate comes before.
    fn step_name(&self, index: usize) -> String {
        format!("step {}/{}", index + 1, self.plan.step_count())
    }

    /// The gate before the next step, when the deployment must still wait at it.
    fn gate_ahead(&self) -> Option<(usize, crate::strategy::Gate)> {
        if self.promoted_full {
            return None;
        }
        let next = self.step? + 1;
        let gate = self.plan.steps().get(next)?.approval?;
        (!self.gates_passed.contains(&next)).then_some((next, gate))
    }

    /// How long the gate ahead may wait, for the watch's timeout.
    pub(crate) fn gate_ahead_seconds(&self) -> u64 {
        self.gate_ahead().map_or(0, |(_, g)| g.timeout_seconds)
    }

    /// A bake over (ShiftNext) that meets a gate before the next step: the deployment holds at
    /// this weight, baking on, until approved or the gate's time runs out.
    pub(crate) fn enter_gate(&mut self, now: Timestamp) {
        if self.status != Status::ShiftNext {
            return;
        }
        let Some((next, gate)) = self.gate_ahead() else {
            return;
        };
        if self.dry_run {
            // Nobody is asked to approve what will not happen: said, and passed.
            self.gates_passed.push(next);
            let message = format!(
                "dry run: a real deployment would wait here for approval before {} at {} (up to {}, \
                 then {}); passed without waiting",
                self.step_name(next),
                self.weight,
                format_seconds(gate.timeout_seconds),
                gate.on_timeout.as_str()
            );
            self.record(now, message);
            return;
        }
        self.bake.hold = Some(Hold {
            kind: HoldKind::Approval,
            since: now,
            from_elapsed: self.bake.elapsed_seconds,
            on_timeout: gate.on_timeout,
            seconds: gate.timeout_seconds,
            before_step: Some(next),
            bake_left: 0,
            by: None,
        });
        self.bake.required_seconds = self.bake.elapsed_seconds + gate.timeout_seconds;
        let message = format!(
            "waiting for approval before {} at {} (sluice approve {} / reject): up to {}, then {}",
            self.step_name(next),
            self.weight,
            self.deployment_id,
            format_seconds(gate.timeout_seconds),
            gate.on_timeout.as_str()
        );
        self.record(now, message);
        self.after_progress();
    }

    /// The hold's time ran out (a check found the bake over while holding): the gate's or the
    /// pause's `onTimeout` decides.
    pub(crate) fn hold_ran_out(&mut self, hold: Hold, now: Timestamp) -> Result<(), Error> {
        let held = self.bake.elapsed_seconds.saturating_sub(hold.from_elapsed);
        match (hold.kind, hold.on_timeout) {
            (HoldKind::Approval, OnTimeout::Promote) => {
                let next = hold.before_step.unwrap_or(0);
                self.gates_passed.push(next);
                let message = format!(
                    "no approval before {} in {}: going on, as the gate's onTimeout says",
                    self.step_name(next),
                    format_seconds(held)
                );
                self.warnings.push(clip(&message, MAX_REASON_CHARS));
                self.record(now, message);
                Ok(())
            }
            (HoldKind::Approval, OnTimeout::Rollback) => {
                let what = format!(
                    "no approval before {} in {}",
                    self.step_name(hold.before_step.unwrap_or(0)),
                    format_seconds(held)
                );
                self.fail_bake(
                    ErrorName::HoldTimedOut,
                    &what,
                    "; the gate's onTimeout says rollback",
                    now,
                )
            }
            (HoldKind::Pause, OnTimeout::Promote) => {
                self.paused_seconds += held;
                self.bake.required_seconds = self.bake.elapsed_seconds + hold.bake_left;
                let message = format!(
                    "paused for {}, the pause limit: resuming, as pause.onTimeout says",
                    format_seconds(held)
                );
                self.warnings.push(clip(&message, MAX_REASON_CHARS));
                self.record(now, message);
                self.after_progress();
                self.enter_gate(now);
                Ok(())
            }
            (HoldKind::Pause, OnTimeout::Rollback) => {
                self.paused_seconds += held;
                let what = format!(
                    "paused for {}, the pause limit, without a resume",
                    format_seconds(held)
                );
                self.fail_bake(
                    ErrorName::HoldTimedOut,
                    &what,
                    "; pause.onTimeout says rollback",
                    now,
                )
            }
        }
    }

    /// Whether the deployment, as this document has it, can take `kind` now; else why not.
    pub fn can_take(&self, kind: CommandKind) -> Result<(), String> {
        if self.status.is_settled() {
            return Err(format!(
                "{} has ended ({}): there is nothing to {}",
                self.deployment_id,
                self.status.as_str(),
                kind.as_str()
            ));
        }
        if self.status != Status::Baking {
            return Err(format!(
                "{} is not baking now ({}): a command reaches a deployment during a bake or at a \
                 gate; try again in a moment",
                self.deployment_id,
                self.status.as_str()
            ));
        }
        let allowed = self.cost.map_or(0, |c| c.commands).min(MAX_COMMANDS);
        let at_gate = self.at_gate()
            && matches!(
                kind,
                CommandKind::Approve | CommandKind::Reject | CommandKind::Promote
            );
        if !at_gate && self.commands >= allowed {
            return Err(format!(
                "{} has taken {} commands, all its history budget holds",
                self.deployment_id, self.commands
            ));
        }
        let hold = self.bake.hold.as_ref().map(|h| h.kind);
        match (kind, hold) {
            (CommandKind::Approve | CommandKind::Reject, Some(HoldKind::Approval)) => Ok(()),
            (CommandKind::Approve | CommandKind::Reject, _) => Err(format!(
                "{} is not waiting at a gate: nothing to {} (sluice abort rolls it back)",
                self.deployment_id,
                kind.as_str()
            )),
            (CommandKind::Pause, None) => {
                if self.paused_seconds >= self.pause.limit_seconds {
                    Err(format!(
                        "{} was paused for {} already, its pause limit",
                        self.deployment_id,
                        format_seconds(self.paused_seconds)
                    ))
                } else {
                    Ok(())
                }
            }
            (CommandKind::Pause, Some(HoldKind::Pause)) => {
                Err(format!("{} is paused already", self.deployment_id))
            }
            (CommandKind::Pause, Some(HoldKind::Approval)) => Err(format!(
                "{} is waiting at a gate already: approve or reject it",
                self.deployment_id
            )),
            (CommandKind::Resume, Some(HoldKind::Pause)) => Ok(()),
            (CommandKind::Resume, _) => Err(format!("{} is not paused", self.deployment_id)),
            (CommandKind::Promote | CommandKind::PromoteFull, _) => Ok(()),
        }
    }

    /// Applies an operator's command, read from the bake's meeting point after it interrupted
    /// the bake. A command the deployment can no longer take (its state moved on) is recorded as
    /// not applied, and the bake goes on. Either way the step's bake starts anew in the state
    /// machine, at the next meeting point.
    pub fn apply_command(
        &mut self,
        command: Option<&Command>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if self.status != Status::Baking {
            return Err(Error::internal(format!(
                "a command was applied with status {:?}; it interrupts only a bake",
                self.status
            )));
        }
        self.interrupt = None;
        self.bake.round += 1;
        self.updated_at = now;
        let Some(command) = command else {
            self.record(
                now,
                "the bake was interrupted without a command in the ledger: baking on".into(),
            );
            return self.bake_on(now);
        };
        // An approval (or a reject, or a promote) at a gate is budgeted with the gate; any other
        // command, applied or not, spends one of `cost.commands`.
        let at_gate = self.at_gate()
            && matches!(
                command.kind,
                CommandKind::Approve | CommandKind::Reject | CommandKind::Promote
            );
        if !at_gate {
            self.commands += 1;
        }
        if let Err(why) = self.can_take(command.kind) {
            self.record(now, format!("{} not applied: {why}", command.describe()));
            return self.bake_on(now);
        }
        let left = self
            .bake
            .required_seconds
            .saturating_sub(self.bake.elapsed_seconds);
        let hold = self.bake.hold.take();
        let at = format!("{} at {}", self.step_label(), self.weight);
        match command.kind {
            CommandKind::Approve => {
                self.pass_gate(hold.as_ref());
                self.record(
                    now,
                    format!("{}: the gate is passed ({at})", command.describe()),
                );
                self.end_bake_now();
            }
            CommandKind::Reject => {
                let before = hold
                    .as_ref()
                    .and_then(|h| h.before_step)
                    .map(|s| self.step_name(s))
                    .unwrap_or_default();
                let what = format!(
                    "rejected at the gate before {before}: {}",
                    command.describe()
                );
                return self.fail_bake(ErrorName::Rejected, &what, "", now);
            }
            CommandKind::Pause => {
                let limit = self.pause.limit_seconds.saturating_sub(self.paused_seconds);
                self.bake.hold = Some(Hold {
                    kind: HoldKind::Pause,
                    since: now,
                    from_elapsed: self.bake.elapsed_seconds,
                    on_timeout: self.pause.on_timeout,
                    seconds: limit,
                    before_step: None,
                    bake_left: left,
                    by: Some(command.by.clone()),
                });
                self.bake.required_seconds = self.bake.elapsed_seconds + limit;
                let then = match self.pause.on_timeout {
                    OnTimeout::Rollback => "rollback",
                    OnTimeout::Promote => "resume",
                };
                self.record(
                    now,
                    format!(
                        "{}: holding {at} (alarms and the analysis keep judging), {} of bake left; \
                         up to {}, then {then} (sluice resume {})",
                        command.describe(),
                        format_seconds(left),
                        format_seconds(limit),
                        self.deployment_id
                    ),
                );
                self.after_progress();
            }
            CommandKind::Resume | CommandKind::Promote => {
                let bake_left = match &hold {
                    Some(h) if h.kind == HoldKind::Pause => {
                        // Counted in the bake's Wait seconds, or the clock's between checks.
                        self.paused_seconds += self
                            .bake
                            .elapsed_seconds
                            .saturating_sub(h.from_elapsed)
                            .max(now.seconds_since(h.since));
                        if command.kind == CommandKind::Resume {
                            h.bake_left
                        } else {
                            0
                        }
                    }
                    Some(h) if h.kind == HoldKind::Approval => {
                        self.pass_gate(Some(h));
                        0
                    }
                    _ => 0,
                };
                let said = match (command.kind, &hold) {
                    (CommandKind::Resume, _) => {
                        format!("resuming, {} of bake left", format_seconds(bake_left))
                    }
                    (_, Some(h)) if h.kind == HoldKind::Approval => "the gate is passed".into(),
                    _ => format!("the rest of the bake ({}) is skipped", format_seconds(left)),
                };
                self.record(now, format!("{}: {said} ({at})", command.describe()));
                self.bake.required_seconds = self.bake.elapsed_seconds + bake_left;
                self.after_progress();
                self.enter_gate(now);
            }
            CommandKind::PromoteFull => {
                self.promoted_full = true;
                let last = self.plan.step_count();
                self.record(
                    now,
                    format!(
                        "{}: to 100% now ({at}; steps and gates left skipped, step {last}/{last} \
                         next; the PostTraffic hook still runs)",
                        command.describe()
                    ),
                );
                self.end_bake_now();
            }
        }
        Ok(())
    }

    /// Whether the deployment waits at a gate.
    fn at_gate(&self) -> bool {
        self.bake
            .hold
            .as_ref()
            .is_some_and(|h| h.kind == HoldKind::Approval)
    }

    /// The bake goes on as it was (no command applied): at its end, a hold's time out or a gate
    /// ahead decide what comes next, as at any check.
    fn bake_on(&mut self, now: Timestamp) -> Result<(), Error> {
        self.after_progress();
        if self.status == Status::Baking {
            return Ok(());
        }
        match self.bake.hold.take() {
            Some(hold) => self.hold_ran_out(hold, now),
            None => {
                self.enter_gate(now);
                Ok(())
            }
        }
    }

    /// An operator's command moves traffic on (approve, resume, promote): an alarm that is in
    /// ALARM as it is applied (its event may have lost the race to the command) rolls back
    /// instead. `breaches` is what the alarms' reading found (empty: healthy).
    pub fn refuse_forward_if_firing(
        &mut self,
        breaches: Option<String>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let Some(breaches) = breaches else {
            return Ok(());
        };
        if !matches!(self.status, Status::ShiftNext | Status::AllShifted) {
            return Ok(());
        }
        self.status = Status::Baking;
        self.fail_bake(
            ErrorName::AlarmBreached,
            &breaches,
            "; read as an operator's command was applied",
            now,
        )
    }

    fn pass_gate(&mut self, hold: Option<&Hold>) {
        if let Some(next) = hold.and_then(|h| h.before_step) {
            self.gates_passed.push(next);
        }
    }

    /// The bake is over now: shift on (or on to the end).
    fn end_bake_now(&mut self) {
        self.bake.required_seconds = self.bake.elapsed_seconds;
        self.after_progress();
    }

    /// A check that found the bake over, but an operator's command recorded first at its meeting
    /// point: the command wins. The bake as it was before the check, its time up, is what the
    /// command is applied to (the check then ends the bake with the command).
    pub fn wait_for_command(&mut self, before: Deployment, now: Timestamp) {
        *self = before;
        self.bake.elapsed_seconds = self.bake.required_seconds;
        self.status = Status::Baking;
        self.next_wait_seconds = super::OVERTIME_SECONDS.min(self.check_interval_seconds.max(1));
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_target, t};
    use serde_json::json;

    fn cmd(kind: CommandKind) -> Command {
        Command {
            kind,
            by: "arn:aws:iam::1:user/alice".into(),
            reason: Some("looks good".into()),
            at: t(5),
        }
    }

    fn gated() -> Deployment {
        let strategy = json!({"steps": [
            {"weight": 10, "bake": "1m"},
            {"approval": {"timeout": "10m", "onTimeout": "rollback"}},
            {"weight": 100}
        ]});
        let mut d = one_target(strategy, &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d
    }

    /// Ends the bake as a check would, at `now`.
    fn bake_out(d: &mut Deployment, now: Timestamp) {
        d.bake.elapsed_seconds = d.bake.required_seconds;
        d.updated_at = now;
        d.after_progress();
        if d.status != Status::Baking {
            if let Some(h) = d.bake.hold.take() {
                d.hold_ran_out(h, now).unwrap();
            } else {
                d.enter_gate(now);
            }
        }
    }

    /// Nobody is asked to approve a dry run: its gate is said, and passed at once.
    #[test]
    fn a_dry_run_passes_its_gates_saying_what_a_real_deployment_would_wait_for() {
        let mut d = gated();
        d.dry_run = true;
        bake_out(&mut d, t(61));
        assert_eq!(d.status, Status::ShiftNext);
        assert!(d.bake.hold.is_none());
        assert_eq!(d.gates_passed, vec![1]);
        assert_eq!(
            d.history.last().unwrap().message,
            "dry run: a real deployment would wait here for approval before step 2/2 at 10% (up \
             to 10m, then rollback); passed without waiting"
        );
    }

    #[test]
    fn a_gate_holds_after_the_bake_then_approve_passes_it() {
        let mut d = gated();
        assert!(
            d.can_take(CommandKind::Approve)
                .unwrap_err()
                .contains("not waiting at a gate")
        );
        bake_out(&mut d, t(61));
        assert_eq!(d.status, Status::Baking);
        let hold = d.bake.hold.clone().unwrap();
        assert_eq!((hold.kind, hold.before_step), (HoldKind::Approval, Some(1)));
        assert_eq!(d.bake.required_seconds - d.bake.elapsed_seconds, 600);
        assert!(d.watch_timeout_seconds >= 600);
        d.apply_command(Some(&cmd(CommandKind::Approve)), t(100))
            .unwrap();
        assert_eq!(d.status, Status::ShiftNext);
        assert_eq!(d.gates_passed, vec![1]);
        assert_eq!(d.bake.round, 1);
        assert_eq!(d.bake_slot(), "0.1");
        assert!(d.history.last().unwrap().message.starts_with(
            "approve by arn:aws:iam::1:user/alice (\"looks good\"): the gate is passed"
        ));
    }

    #[test]
    fn a_gate_that_times_out_rolls_back_or_goes_on_as_it_says() {
        let mut d = gated();
        bake_out(&mut d, t(61));
        bake_out(&mut d, t(661));
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "HoldTimedOut");
        assert!(
            f.cause.contains("no approval before step 2/2 in 10m"),
            "{}",
            f.cause
        );

        let mut d = gated();
        d.plan = d
            .plan
            .with_gate(
                1,
                crate::strategy::Gate {
                    timeout_seconds: 60,
                    on_timeout: OnTimeout::Promote,
                },
            )
            .unwrap();
        bake_out(&mut d, t(61));
        bake_out(&mut d, t(121));
        assert_eq!(d.status, Status::ShiftNext);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    }

    #[test]
    fn reject_rolls_back_naming_who_and_why() {
        let mut d = gated();
        bake_out(&mut d, t(61));
        d.apply_command(Some(&cmd(CommandKind::Reject)), t(100))
            .unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.unwrap();
        assert_eq!(f.error, "Rejected");
        assert!(
            f.cause.starts_with("rejected at the gate before step 2/2: reject by arn:aws:iam::1:user/alice (\"looks good\")"),
            "{}",
            f.cause
        );
    }

    #[test]
    fn pause_holds_and_resume_bakes_what_was_left() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.bake.elapsed_seconds = 120;
        d.apply_command(Some(&cmd(CommandKind::Pause)), t(121))
            .unwrap();
        assert_eq!(d.status, Status::Baking);
        assert_eq!(d.bake.hold.as_ref().unwrap().bake_left, 180);
        assert_eq!(d.bake.required_seconds - d.bake.elapsed_seconds, 3600);
        assert!(d.can_take(CommandKind::Pause).is_err());
        d.bake.elapsed_seconds += 300;
        d.apply_command(Some(&cmd(CommandKind::Resume)), t(421))
            .unwrap();
        assert_eq!(d.paused_seconds, 300);
        assert!(d.bake.hold.is_none());
        assert_eq!(d.bake.required_seconds - d.bake.elapsed_seconds, 180);
        assert_eq!(d.bake.round, 2);
        // The pause limit ran out: the request's policy (rollback by default).
        d.apply_command(Some(&cmd(CommandKind::Pause)), t(500))
            .unwrap();
        bake_out(&mut d, t(4000));
        assert_eq!(d.failure.unwrap().error, "HoldTimedOut");
        assert_eq!(d.paused_seconds, 3600);
    }

    #[test]
    fn promote_skips_the_bake_and_promote_full_goes_to_the_last_step() {
        let mut d = one_target(json!("Linear10PercentEvery1Minute"), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.apply_command(Some(&cmd(CommandKind::Promote)), t(10))
            .unwrap();
        assert_eq!(d.status, Status::ShiftNext);
        assert_eq!(d.next_step().unwrap().0, 1);
        d.record_shift(1, vec!["r2".into()], t(11)).unwrap();
        d.apply_command(Some(&cmd(CommandKind::PromoteFull)), t(12))
            .unwrap();
        assert_eq!(d.status, Status::ShiftNext);
        let (index, step) = d.next_step().unwrap();
        assert_eq!((index, step.weight.is_full()), (9, true));
        d.record_shift(index, vec!["r3".into()], t(13)).unwrap();
        assert_eq!(d.status, Status::AllShifted);
        assert_eq!(d.commands, 2);
    }

    #[test]
    fn a_command_the_deployment_can_no_longer_take_is_recorded_and_the_bake_goes_on() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.apply_command(Some(&cmd(CommandKind::Resume)), t(10))
            .unwrap();
        assert_eq!(d.status, Status::Baking);
        assert_eq!(d.commands, 1, "it cost its history events all the same");
        assert!(
            d.history.last().unwrap().message.contains("not applied"),
            "{:?}",
            d.history.last()
        );
        assert_eq!(
            d.bake.round, 1,
            "the bake starts anew at the next meeting point"
        );
    }
}
