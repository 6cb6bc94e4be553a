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
        let message = if self.dry_run {
            let routes: Vec<String> = self
                .moving_targets()
                .map(|t| {
                    t.wanted_routing(step.weight).map_or_else(
                        |e| e.message,
                        |r| format!("{} to {}", t.name(), r.describe()),
                    )
                })
                .collect();
            format!(
                "{}: dry run, no alias written; a real deployment would put {} of traffic on the new \
                 version here ({}){baking}",
                self.step_label(),
                step.weight,
                routes.join("; ")
            )
        } else {
            format!(
                "{}: {} of traffic on the new version{baking}",
                self.step_label(),
                step.weight
            )
        };
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

    /// A dry run's shift to step `index`: nothing is written; `observed[i]` is the `i`th moving
    /// target's alias as read now. An alias something else moved meanwhile (a dry run holds no
    /// lock) is said once per move, as a warning: what the dry run reports is judged on the alias
    /// as validate read it.
    pub fn record_dry_shift(
        &mut self,
        index: usize,
        observed: &[Option<AliasSnapshot>],
        now: Timestamp,
    ) -> Result<(), Error> {
        if !self.dry_run {
            return Err(Error::internal("a dry shift of a real deployment"));
        }
        let mut revisions = Vec::new();
        let mut notes = Vec::new();
        for (t, seen) in self.moving_targets().zip(observed) {
            let (revision, note) = t.dry_shift(seen.as_ref());
            revisions.push(revision);
            notes.extend(note);
        }
        if revisions.len() != self.moving_targets().count() {
            return Err(Error::internal("a dry shift without every alias read"));
        }
        for note in notes {
            if !self.warnings.contains(&note) {
                self.warnings.push(note.clone());
                self.record(now, note);
            }
        }
        self.record_shift(index, revisions, now)
    }
}

/// The revision a dry run records for an alias a real deployment would have created.
const DRY_CREATED: &str = "(dry run: not created)";

impl TargetState {
    /// What a dry run records for this alias as it is now: the revision to compare the next read
    /// with, and what to say when something else moved it since the last read.
    fn dry_shift(&self, observed: Option<&AliasSnapshot>) -> (String, Option<String>) {
        let moved = |now: &str| {
            format!(
                "{} {now} during the dry run (a dry run holds no lock, so a real deployment or a \
                 person may move it); what the dry run reports is judged on the alias as validate \
                 read it",
                self.name()
            )
        };
        // A real deployment creates an alias at its first shift, once: a dry run marks it as if
        // created (a revision no alias has), so that later steps do not create it again.
        match (self.action, observed) {
            (Action::Created, None) => (DRY_CREATED.to_string(), None),
            (Action::Created, Some(o)) => (
                DRY_CREATED.to_string(),
                Some(moved(&format!(
                    "was created (it routes to {})",
                    o.routing.describe()
                ))),
            ),
            (_, None) => (self.revision_id.clone(), Some(moved("was deleted"))),
            (_, Some(o)) if o.revision_id == self.revision_id => (o.revision_id.clone(), None),
            (_, Some(o)) => (
                o.revision_id.clone(),
                Some(moved(&format!(
                    "changed (it routes to {} now)",
                    o.routing.describe()
                ))),
            ),
        }
    }

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

    /// A dry run "creates" a new alias once, at its first shift, as a real deployment would; and
    /// a real deployment is never shifted the dry way.
    #[test]
    fn a_dry_run_creates_a_new_alias_once_and_writes_nothing_for_real() {
        let mut d = crate::testing::two_targets(
            json!({"canary": {"percent": 10, "interval": "1m"}}),
            ["r1", "r2"],
        );
        assert!(
            d.record_dry_shift(0, &[None, None], t(1)).is_err(),
            "not a dry run"
        );
        d.dry_run = true;
        d.targets[1].action = Action::Created;
        d.targets[1].previous_version = None;
        d.targets[1].revision_id = String::new();
        let seen = AliasSnapshot {
            routing: Routing::only(v("1")),
            revision_id: "r1".into(),
        };
        d.record_dry_shift(0, &[Some(seen.clone()), None], t(1))
            .unwrap();
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        assert_eq!(
            d.moving_targets().count(),
            1,
            "the new alias is not created again"
        );
        d.status = Status::ShiftNext;
        d.record_dry_shift(1, &[Some(seen)], t(2)).unwrap();
        assert_eq!(d.status, Status::AllShifted);
        let said = &d.history.last().unwrap().message;
        assert!(
            said.contains("a real deployment would put 100% of traffic")
                && !said.contains("b:live"),
            "{said}"
        );
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
