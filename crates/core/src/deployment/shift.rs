//! shift's rules: which step comes next, what an alias must look like for sluice to write it,
//! and the document after a step's weight is on every alias.

use super::{Action, AliasDecision, AliasSnapshot, Bake, Deployment, Routing, Status, TargetState};
use crate::duration::format_seconds;
use crate::error::Error;
use crate::strategy::Step;
use crate::time::Timestamp;

impl Deployment {
    /// The step shift applies next, refusing when the document is not at a shift point.
    pub fn next_step(&self) -> Result<(usize, Step), Error> {
        if !matches!(self.status, Status::Ready | Status::ShiftNext) {
            return Err(Error::internal(format!(
                "shift was called with status {:?}; it runs only after Ready or ShiftNext",
                self.status
            )));
        }
        let index = match self.step {
            // Sent to 100 % by an operator: the last step, whatever was left before it.
            Some(_) if self.promoted_full => self.plan.step_count() - 1,
            Some(s) => s + 1,
            None => 0,
        };
        let step = self.plan.steps().get(index).cloned().ok_or_else(|| {
            Error::internal(format!(
                "there is no step {} in a plan of {}",
                index + 1,
                self.plan.step_count()
            ))
        })?;
        Ok((index, step))
    }

    /// Records a completed shift to step `index`, with each shifting target's new revision.
    pub fn record_shift(
        &mut self,
        index: usize,
        revisions: Vec<String>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let step = self
            .plan
            .steps()
            .get(index)
            .cloned()
            .ok_or_else(|| Error::internal(format!("no step {}", index + 1)))?;
        let mut revisions = revisions.into_iter();
        for t in self.targets.iter_mut().filter(|t| t.moves()) {
            t.revision_id = revisions
                .next()
                .ok_or_else(|| Error::internal("a shifted target has no revision"))?;
        }
        self.step = Some(index);
        self.weight = step.weight;
        self.bake = Bake {
            required_seconds: step.bake_seconds,
            elapsed_seconds: 0,
            // The alarms' history is read in windows that follow each other from the first
            // shift on: the next window starts where the last check's ended, so what fired and
            // cleared while this shift ran (or was retried) is still read.
            history_since: self.bake.history_since.or(Some(now)),
            unread_checks: 0,
            shifted_at: Some(now),
            checks: 0,
            kept_baking_seconds: 0,
            metrics_until: None,
            lag_checks: 0,
            round: 0,
            hold: None,
        };
        let baking = if step.bake_seconds > 0 {
            format!(", baking {}", format_seconds(step.bake_seconds))
        } else {
            String::new()
        };
        let message = format!(
            "{}: {} of traffic on the new version{baking}",
            self.step_label(),
            step.weight
        );
        self.record(now, message);
        self.after_progress();
        // A step without a bake meets the next step's gate at once.
        self.enter_gate(now);
        Ok(())
    }

    /// The targets whose aliases the next shift writes, in the order `record_shift` takes
    /// their revisions: every shifting target, and every alias this deployment has yet to create.
    pub fn moving_targets(&self) -> impl Iterator<Item = &TargetState> {
        self.targets.iter().filter(|t| t.moves())
    }
}

impl TargetState {
    fn moves(&self) -> bool {
        match self.action {
            Action::Shift => true,
            Action::Created => self.revision_id.is_empty(),
            Action::Unchanged => false,
        }
    }

    /// Shift's rule for one alias: idempotent when the wanted routing is already there,
    /// conditional on the last revision sluice saw, a conflict otherwise. An alias this
    /// deployment creates must not exist yet, or already be as this deployment created it.
    pub fn decide_shift(
        &self,
        observed: Option<&AliasSnapshot>,
        wanted: &Routing,
    ) -> AliasDecision {
        let Some(observed) = observed else {
            return if self.action == Action::Created {
                AliasDecision::Create
            } else {
                self.deleted()
            };
        };
        if &observed.routing == wanted {
            AliasDecision::AlreadyThere {
                revision_id: observed.revision_id.clone(),
            }
        } else if self.action == Action::Created {
            AliasDecision::Conflict(format!(
                "{} was created by someone else during the deployment: it routes to {}; sluice leaves it as it is",
                self.name(),
                observed.routing.describe()
            ))
        } else if observed.revision_id == self.revision_id {
            AliasDecision::Update {
                expected_revision: self.revision_id.clone(),
            }
        } else {
            AliasDecision::Conflict(format!(
                "{} was changed by someone else: it routes to {} (revision {}), not the revision {} sluice wrote; \
                 sluice leaves it as it is",
                self.name(),
                observed.routing.describe(),
                observed.revision_id,
                self.revision_id
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::{AlarmReading, AlarmState};
    use crate::testing::{alarm, one_target, t, v};
    use crate::weight::Weight;
    use serde_json::json;

    fn ok(name: &str) -> AlarmReading {
        AlarmReading {
            name: alarm(name),
            state: AlarmState::Ok,
            reason: String::new(),
        }
    }

    #[test]
    fn a_canary_walks_through_its_plan_by_wait_seconds() {
        let mut d = one_target(
            json!({"canary": {"percent": 10, "interval": "25s"}}),
            &["errors"],
        );
        assert_eq!(d.status, Status::Ready);
        let (i, step) = d.next_step().unwrap();
        assert_eq!((i, step.weight.hundredths()), (0, 1000));
        d.record_shift(i, vec!["r1".into()], t(1)).unwrap();
        assert_eq!((d.status, d.next_wait_seconds), (Status::Baking, 10));
        let mut waited = 0;
        while d.status == Status::Baking {
            waited += d.next_wait_seconds;
            d.record_check(&[ok("errors")], &[], t(5)).unwrap();
        }
        assert_eq!(
            waited, 25,
            "bake is counted in Wait seconds, the last wait trimmed to what remains"
        );
        assert_eq!(d.status, Status::ShiftNext);
        let (i, step) = d.next_step().unwrap();
        assert!(step.weight.is_full());
        d.record_shift(i, vec!["r2".into()], t(2)).unwrap();
        assert_eq!(d.status, Status::AllShifted);
        assert!(d.next_step().is_err(), "no shift after the last step");
        assert_eq!(d.targets[0].revision_id, "r2");
    }

    #[test]
    fn without_alarms_a_bake_is_one_wait() {
        let mut d = one_target(json!({"canary": {"percent": 10, "interval": "5m"}}), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        assert_eq!(d.next_wait_seconds, 300);
    }

    #[test]
    fn shift_is_idempotent_and_refuses_changes_by_someone_else() {
        let d = one_target(json!("Canary10Percent5Minutes"), &[]);
        let t = &d.targets[0];
        let wanted = t
            .wanted_routing(Weight::from_percent(10.0).unwrap())
            .unwrap();
        let snap = |routing: Routing, rev: &str| AliasSnapshot {
            routing,
            revision_id: rev.into(),
        };
        assert_eq!(
            t.decide_shift(Some(&snap(wanted.clone(), "r9")), &wanted),
            AliasDecision::AlreadyThere {
                revision_id: "r9".into()
            }
        );
        assert_eq!(
            t.decide_shift(Some(&snap(Routing::only(v("3")), "r0")), &wanted),
            AliasDecision::Update {
                expected_revision: "r0".into()
            }
        );
        match t.decide_shift(Some(&snap(Routing::only(v("2")), "rX")), &wanted) {
            AliasDecision::Conflict(msg) => assert!(
                msg.contains("orders:live was changed by someone else")
                    && msg.contains("version 2")
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            t.decide_shift(None, &wanted),
            AliasDecision::Conflict("orders:live was deleted during the deployment".into())
        );
    }

    #[test]
    fn a_first_deployment_creates_its_alias_at_the_first_shift_only() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        let t = &mut d.targets[0];
        t.action = Action::Created;
        t.previous_version = None;
        t.revision_id.clear();
        let t = d.targets[0].clone();
        let wanted = t
            .wanted_routing(Weight::from_percent(10.0).unwrap())
            .unwrap();
        assert_eq!(
            wanted,
            Routing::only(v("4")),
            "a new alias starts on the new version"
        );
        assert_eq!(t.decide_shift(None, &wanted), AliasDecision::Create);
        let snap = |routing: Routing| AliasSnapshot {
            routing,
            revision_id: "r1".into(),
        };
        assert_eq!(
            t.decide_shift(Some(&snap(wanted.clone())), &wanted),
            AliasDecision::AlreadyThere {
                revision_id: "r1".into()
            },
            "a retried shift finds its own creation"
        );
        assert!(matches!(
            t.decide_shift(Some(&snap(Routing::only(v("2")))), &wanted),
            AliasDecision::Conflict(m) if m.contains("created by someone else")
        ));
        assert_eq!(d.moving_targets().count(), 1);
        d.record_shift(0, vec!["r1".into()], crate::testing::t(1))
            .unwrap();
        assert_eq!(d.moving_targets().count(), 0, "created once");
        assert_eq!(d.status, Status::AllShifted);
    }
}
