//! rollback's rules: which aliases sluice may point back, and the summary that ends the
//! deployment with the original reason and what became of each alias.

use super::{
    Action, AliasDecision, AliasSnapshot, AliasWrite, Deployment, Routing, Status, TargetState,
};
use crate::bounds::{MAX_CAUSE_CHARS, clip};
use crate::error::{Error, ErrorName};
use crate::failure::Failure;
use crate::ledger::LockHolder;
use crate::time::Timestamp;

/// The result of rolling back one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// Pointed back at its previous version; the alias's new revision.
    RolledBack { revision_id: String },
    /// Already on its previous version with no weights (a second run).
    AlreadyRolledBack { revision_id: String },
    /// Not sluice's to roll back, and why.
    NotTouched(String),
    /// Someone else changed the alias: left as it is; says what was found.
    Conflict(String),
    /// AWS failed the read or the write; where the alias was left, when it could be read.
    Failed {
        error: Error,
        left_at: Option<Routing>,
    },
    /// A dry run: nothing was written; a real rollback would point the alias here.
    WouldRollBack(Routing),
}

impl From<AliasWrite> for RollbackOutcome {
    fn from(write: AliasWrite) -> RollbackOutcome {
        match write {
            AliasWrite::Written { revision_id } => RollbackOutcome::RolledBack { revision_id },
            AliasWrite::AlreadyThere { revision_id } => {
                RollbackOutcome::AlreadyRolledBack { revision_id }
            }
            AliasWrite::Conflict(why) => RollbackOutcome::Conflict(why),
        }
    }
}

impl TargetState {
    /// Where rollback points this alias, or why it leaves it alone.
    pub fn restore_to(&self) -> Result<Routing, RollbackOutcome> {
        match (self.action, &self.previous_version) {
            (Action::Shift, Some(previous)) => Ok(Routing::only(previous.clone())),
            (Action::Shift, None) => Err(RollbackOutcome::Conflict(format!(
                "{} has no recorded previous version",
                self.name()
            ))),
            (Action::Created, _) => Err(RollbackOutcome::NotTouched(
                "created by this deployment; there is no earlier version".into(),
            )),
            (Action::Unchanged, _) => Err(RollbackOutcome::NotTouched(
                "not shifted by this deployment".into(),
            )),
        }
    }
}

impl Deployment {
    /// A dry run's rollback: nothing to write (it moved nothing); where a real rollback would
    /// point each alias, or why it would leave it alone. None for a real deployment.
    pub fn dry_rollback(&self) -> Option<Vec<RollbackOutcome>> {
        self.dry_run.then(|| {
            self.targets
                .iter()
                .map(|t| match (t.action, t.restore_to()) {
                    (_, Ok(to)) => RollbackOutcome::WouldRollBack(to),
                    (Action::Created, Err(_)) => {
                        RollbackOutcome::NotTouched("a dry run did not create it".into())
                    }
                    (_, Err(why)) => why,
                })
                .collect()
        })
    }

    /// Rollback's rule for one alias: point it back to `wanted` (from `restore_to`) only if it
    /// still looks as sluice left it.
    pub fn decide_rollback(
        &self,
        target: &TargetState,
        observed: Option<&AliasSnapshot>,
        wanted: &Routing,
    ) -> AliasDecision {
        let Some(observed) = observed else {
            return target.deleted();
        };
        let r = &observed.routing;
        if r == wanted {
            return AliasDecision::AlreadyThere {
                revision_id: observed.revision_id.clone(),
            };
        }
        let previous = &wanted.version;
        // A state sluice may have written without recording it (a shift that failed after its write).
        let written_by_sluice = match &r.additional {
            None => r.version == target.target_version,
            Some((v, w)) => {
                r.version == *previous
                    && *v == target.target_version
                    && self.plan.steps().iter().any(|s| s.weight == *w)
            }
        };
        if observed.revision_id == target.revision_id || written_by_sluice {
            AliasDecision::Update {
                expected_revision: observed.revision_id.clone(),
            }
        } else {
            AliasDecision::Conflict(format!(
                "{} was changed by someone else: it routes to {} (revision {}); \
                 sluice would have left version {} with at most {} on version {}. Not rolled back: fix it by hand",
                target.name(),
                r.describe(),
                observed.revision_id,
                previous,
                self.weight,
                target.target_version
            ))
        }
    }

    /// Whether a restore may go on to write `target`'s alias, given who holds its lock as read
    /// right after the alias (`observed`): None when it may (this execution holds the lock, or
    /// the document is of the first shape, which never held locks), else how the alias is left.
    /// Read after the alias, so a write conditional on that read cannot land on an alias that
    /// another deployment has locked, or that this one released when it was settled: a write
    /// that lost a race (a stop while Rollback wrote, the safety net's restore, then the next
    /// deployment's shift) is decided again on the lock as it is then, not as it was.
    pub fn may_restore(
        &self,
        target: &TargetState,
        holder: Option<&LockHolder>,
        observed: Option<&AliasSnapshot>,
        wanted: &Routing,
    ) -> Option<AliasWrite> {
        match holder {
            Some(held) if held.execution_arn == self.execution_arn => None,
            Some(held) => Some(AliasWrite::Conflict(format!(
                "{} is locked by deployment {} (execution {}) now; sluice leaves it to that deployment",
                target.name(),
                held.deployment_id,
                held.execution_arn
            ))),
            None if self.execution_arn.is_empty() => None,
            None => match observed {
                Some(o) if &o.routing == wanted => Some(AliasWrite::AlreadyThere {
                    revision_id: o.revision_id.clone(),
                }),
                Some(o) => Some(AliasWrite::Conflict(format!(
                    "{} is no longer locked by this deployment (its lock was released: the deployment was \
                     settled already) and routes to {} (revision {}); sluice leaves it as it is",
                    target.name(),
                    o.routing.describe(),
                    o.revision_id
                ))),
                None => Some(AliasWrite::Conflict(format!(
                    "{} is no longer locked by this deployment and was deleted; sluice leaves it as it is",
                    target.name()
                ))),
            },
        }
    }

    /// Records the rollback of every target (`outcomes[i]` is `targets[i]`'s): RolledBack, or
    /// RollbackIncomplete when some alias was left alone, with the original reason kept. When AWS
    /// failed some alias, the error (to be retried) keeps the reason too and says where each
    /// alias is.
    pub fn record_rollback(
        &mut self,
        outcomes: Vec<RollbackOutcome>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if outcomes.len() != self.targets.len() {
            return Err(Error::internal(
                "rollback outcomes do not match the targets",
            ));
        }
        if outcomes
            .iter()
            .any(|o| matches!(o, RollbackOutcome::Failed { .. }))
        {
            return Err(self.unfinished(&outcomes));
        }
        let failure = self.failure.clone().unwrap_or(Failure::new(
            ErrorName::InternalError,
            "rollback was requested without a recorded failure",
        ));
        let mut done = Vec::new();
        let mut conflicts = Vec::new();
        for (t, outcome) in self.targets.iter_mut().zip(outcomes) {
            let previous = t
                .previous_version
                .as_ref()
                .map_or("-".to_string(), |v| v.to_string());
            match outcome {
                RollbackOutcome::RolledBack { revision_id } => {
                    t.revision_id = revision_id;
                    done.push(format!("{} back on version {previous}", t.name()))
                }
                RollbackOutcome::AlreadyRolledBack { revision_id } => {
                    t.revision_id = revision_id;
                    done.push(format!("{} already on version {previous}", t.name()))
                }
                RollbackOutcome::NotTouched(why) => {
                    done.push(format!("{} left alone ({why})", t.name()))
                }
                RollbackOutcome::Conflict(why) => conflicts.push(why),
                RollbackOutcome::WouldRollBack(to) => {
                    done.push(format!("{} would go back to {}", t.name(), to.describe()))
                }
                RollbackOutcome::Failed { .. } => {}
            }
        }
        self.next_wait_seconds = 0;
        let cause = failure.plain_cause();
        let (status, error, summary) = if conflicts.is_empty() && self.dry_run {
            (
                Status::RolledBack,
                failure.error,
                format!(
                    "{cause}. Dry run over, no alias written; a real deployment would have rolled \
                     back: {}",
                    done.join("; ")
                ),
            )
        } else if conflicts.is_empty() {
            (
                Status::RolledBack,
                failure.error,
                format!("{cause}. Rolled back: {}", done.join("; ")),
            )
        } else {
            let done = if done.is_empty() {
                "nothing".to_string()
            } else {
                done.join("; ")
            };
            (
                Status::RollbackIncomplete,
                ErrorName::AliasConflict.into(),
                format!(
                    "{cause}. Rollback INCOMPLETE: {}. Done: {done}",
                    conflicts.join("; ")
                ),
            )
        };
        let summary = clip(&summary, MAX_CAUSE_CHARS);
        self.status = status;
        self.record(now, summary.clone());
        self.failure = Some(Failure {
            error,
            cause: summary,
        });
        Ok(())
    }

    /// The error of a rollback AWS did not let finish: the original reason, then where each
    /// alias is. Transient when any failure was, so the state machine tries again.
    fn unfinished(&self, outcomes: &[RollbackOutcome]) -> Error {
        let reason = self
            .failure
            .as_ref()
            .map_or_else(String::new, Failure::plain_cause);
        let mut name = ErrorName::AwsFailure;
        let places: Vec<String> = self
            .targets
            .iter()
            .zip(outcomes)
            .map(|(t, o)| match o {
                RollbackOutcome::RolledBack { .. } | RollbackOutcome::AlreadyRolledBack { .. } => {
                    format!(
                        "{} is back on version {}",
                        t.name(),
                        t.previous_version
                            .as_ref()
                            .map_or("-".into(), |v| v.to_string())
                    )
                }
                RollbackOutcome::NotTouched(why) => format!("{} left alone ({why})", t.name()),
                RollbackOutcome::Conflict(why) => why.clone(),
                RollbackOutcome::WouldRollBack(to) => {
                    format!("{} would go back to {}", t.name(), to.describe())
                }
                RollbackOutcome::Failed { error, left_at } => {
                    if error.name == ErrorName::TransientAws {
                        name = ErrorName::TransientAws;
                    }
                    let at = left_at.as_ref().map_or(
                        "an unknown routing (it could not be read)".into(),
                        Routing::describe,
                    );
                    format!(
                        "{} could not be rolled back ({}) and is at {at}",
                        t.name(),
                        error.message
                    )
                }
            })
            .collect();
        Error::new(
            name,
            clip(
                &format!("{reason}. Rollback not finished: {}", places.join("; ")),
                MAX_CAUSE_CHARS,
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_target, t, v};
    use crate::weight::Weight;
    use serde_json::json;

    #[test]
    fn a_restore_writes_only_under_the_deployments_own_lock() {
        let d = one_target(json!("Canary10Percent5Minutes"), &[]);
        let t = &d.targets[0];
        let wanted = t.restore_to().unwrap();
        let holder = |arn: &str| LockHolder {
            deployment_id: "d-x".into(),
            execution_arn: arn.into(),
            since: crate::testing::t(1),
        };
        let at = |routing: Routing| AliasSnapshot {
            routing,
            revision_id: "r7".into(),
        };
        let shifted = at(Routing {
            version: v("3"),
            additional: Some((v("4"), crate::weight::Weight::from_percent(10.0).unwrap())),
        });
        // Its own lock: decide as usual.
        let ours = holder(&d.execution_arn);
        assert_eq!(d.may_restore(t, Some(&ours), Some(&shifted), &wanted), None);
        // Another deployment's: leave it to that one.
        match d.may_restore(t, Some(&holder("arn:next")), Some(&shifted), &wanted) {
            Some(AliasWrite::Conflict(why)) => {
                assert!(
                    why.starts_with("orders:live is locked by deployment d-x"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        // Released (the deployment was settled): nothing more to write, whatever is there now.
        assert_eq!(
            d.may_restore(t, None, Some(&at(wanted.clone())), &wanted),
            Some(AliasWrite::AlreadyThere {
                revision_id: "r7".into()
            })
        );
        match d.may_restore(t, None, Some(&shifted), &wanted) {
            Some(AliasWrite::Conflict(why)) => assert!(
                why.starts_with("orders:live is no longer locked by this deployment"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        // A document of the first shape never held locks.
        let mut first_shape = d.clone();
        first_shape.execution_arn = String::new();
        assert_eq!(
            first_shape.may_restore(t, None, Some(&shifted), &wanted),
            None
        );
    }

    #[test]
    fn rollback_touches_only_what_sluice_left() {
        let mut d = one_target(
            json!({"steps": [{"weight": 10, "bake": "1m"}, {"weight": 50, "bake": "1m"}, {"weight": 100}]}),
            &[],
        );
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let t = d.targets[0].clone();
        let wanted = t.restore_to().unwrap();
        assert_eq!(wanted, Routing::only(v("3")));
        let snap = |routing: Routing, rev: &str| AliasSnapshot {
            routing,
            revision_id: rev.into(),
        };
        let w = |p: f64| Weight::from_percent(p).unwrap();
        let weighted = |p: f64| Routing {
            version: v("3"),
            additional: Some((v("4"), w(p))),
        };
        let decide = |s: &AliasSnapshot| d.decide_rollback(&t, Some(s), &wanted);
        let update = |rev: &str| AliasDecision::Update {
            expected_revision: rev.into(),
        };
        // Recorded revision: roll back.
        assert_eq!(decide(&snap(weighted(10.0), "r1")), update("r1"));
        // A later plan step written by a shift that failed before recording it.
        assert_eq!(decide(&snap(weighted(50.0), "r2")), update("r2"));
        assert_eq!(decide(&snap(Routing::only(v("4")), "r3")), update("r3"));
        // Already back: nothing to do (a second rollback run).
        assert_eq!(
            decide(&snap(Routing::only(v("3")), "r4")),
            AliasDecision::AlreadyThere {
                revision_id: "r4".into()
            }
        );
        // Someone else's routing.
        for changed in [
            Routing::only(v("5")),
            weighted(33.0),
            Routing {
                version: v("3"),
                additional: Some((v("5"), w(10.0))),
            },
        ] {
            match decide(&snap(changed.clone(), "rX")) {
                AliasDecision::Conflict(msg) => {
                    assert!(msg.contains("changed by someone else"), "{msg}")
                }
                other => panic!("{changed:?}: {other:?}"),
            }
        }
        assert_eq!(
            d.decide_rollback(&t, None, &wanted),
            AliasDecision::Conflict("orders:live was deleted during the deployment".into())
        );
    }

    #[test]
    fn only_shifted_targets_are_restored() {
        let mut t = one_target(json!("AllAtOnce"), &[]).targets[0].clone();
        t.action = Action::Created;
        assert!(matches!(
            t.restore_to(),
            Err(RollbackOutcome::NotTouched(_))
        ));
        t.action = Action::Unchanged;
        assert!(matches!(
            t.restore_to(),
            Err(RollbackOutcome::NotTouched(_))
        ));
        t.action = Action::Shift;
        t.previous_version = None;
        assert!(matches!(t.restore_to(), Err(RollbackOutcome::Conflict(_))));
    }

    #[test]
    fn rollback_summary_keeps_the_reason_and_reports_conflicts() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.failure = Some(Failure {
            error: "AliasConflict".into(),
            cause: json!({"errorType": "AliasConflict", "errorMessage": "orders:live was changed"})
                .to_string(),
        });
        let mut ok_doc = d.clone();
        ok_doc
            .record_rollback(
                vec![RollbackOutcome::RolledBack {
                    revision_id: "r5".into(),
                }],
                t(9),
            )
            .unwrap();
        assert_eq!(ok_doc.status, Status::RolledBack);
        let f = ok_doc.failure.unwrap();
        assert_eq!(f.error, "AliasConflict");
        assert_eq!(
            f.cause,
            "orders:live was changed. Rolled back: orders:live back on version 3"
        );
        assert_eq!(ok_doc.targets[0].revision_id, "r5");

        d.record_rollback(
            vec![RollbackOutcome::Conflict("found version 9".into())],
            t(9),
        )
        .unwrap();
        assert_eq!(d.status, Status::RollbackIncomplete);
        let f = d.failure.unwrap();
        assert_eq!(f.error, "AliasConflict");
        assert!(
            f.cause.contains("Rollback INCOMPLETE: found version 9"),
            "{}",
            f.cause
        );
        assert!(f.cause.ends_with("Done: nothing"), "{}", f.cause);
    }

    #[test]
    fn a_rollback_aws_stopped_keeps_the_reason_and_says_where_each_alias_is() {
        let mut d = crate::testing::breached(["r1", "r2"]);
        let before = d.clone();
        let err = d
            .record_rollback(
                vec![
                    RollbackOutcome::RolledBack {
                        revision_id: "r3".into(),
                    },
                    RollbackOutcome::Failed {
                        error: Error::new(ErrorName::TransientAws, "UpdateAlias: throttled"),
                        left_at: Some(crate::testing::ten()),
                    },
                    RollbackOutcome::NotTouched("not shifted by this deployment".into()),
                ],
                t(9),
            )
            .unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws, "retried");
        assert_eq!(
            err.message,
            "alarm errors is in ALARM. Rollback not finished: a:live is back on version 1; \
             b:live could not be rolled back (UpdateAlias: throttled) and is at version 1 with 10% on version 2; \
             c:live left alone (not shifted by this deployment)"
        );
        assert_eq!(d, before, "nothing recorded until every alias is done");
    }
}
