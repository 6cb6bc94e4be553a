//! `sluice rollback FUNCTION:ALIAS`: where a finished deployment's alias goes back to, decided
//! on the alias journal (newest first, each entry with its record's status) and on what the
//! alias serves now. The rollback itself is a deployment of its own.

use super::{Routing, Status};
use crate::error::{Error, ErrorName};
use crate::ledger::AliasEntry;
use crate::weight::Version;

/// What the operator asked to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoAsked {
    /// The version live before the alias's last deployment that went through.
    Last,
    /// The version live before this deployment.
    Deployment(String),
    /// This version (`--to`).
    Version(Version),
}

/// Where the rollback goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// The alias serves that version already: nothing to start.
    Nothing(String),
    /// Deploy `version`, undoing `undoing` (when a deployment is undone); `note` says what.
    To {
        version: Version,
        undoing: Option<String>,
        note: String,
    },
}

fn refuse(message: String) -> Error {
    Error::new(ErrorName::InvalidRequest, message)
}

/// Decides a rollback of `name` ("function:alias"), given its journal (newest first, each
/// entry with the status its record has: None when the record is gone) and what it serves now.
pub fn undo_point(
    name: &str,
    asked: &UndoAsked,
    journal: &[(AliasEntry, Option<Status>)],
    serving: Option<&Routing>,
) -> Result<Undo, Error> {
    let Some(serving) = serving else {
        return Err(refuse(format!(
            "{name} does not exist: nothing to roll back"
        )));
    };
    if let Some((v, w)) = &serving.additional {
        return Err(refuse(format!(
            "{name} routes to two versions ({} with {w} on {v}): a deployment is running or was \
             left half-done. Look at it first (sluice list --running; sluice abort ID)",
            serving.version
        )));
    }
    if let Some((newest, status)) = journal.first()
        && !status.is_some_and(Status::is_settled)
        && status.is_some()
    {
        return Err(Error::new(
            ErrorName::AliasBusy,
            format!(
                "{name} is being deployed by {} (started {}): abort it instead (sluice abort {}); \
                 sluice rolls it back itself",
                newest.deployment_id, newest.started_at, newest.deployment_id
            ),
        ));
    }
    let current = &serving.version;
    let (version, undoing, note) = match asked {
        UndoAsked::Version(v) => {
            let note = format!("{name}: version {current} -> {v} (rollback to the version asked)");
            (v.clone(), None, note)
        }
        UndoAsked::Deployment(id) => {
            let Some((entry, status)) = journal.iter().find(|(e, _)| &e.deployment_id == id) else {
                return Err(refuse(format!(
                    "the ledger's journal of {name} has no deployment {id} (entries are kept 90 days)"
                )));
            };
            let entry = deployed(name, entry, *status)?;
            let note = if entry.target_version == current.as_str() {
                format!(
                    "{name}: version {current} -> {} (undoing deployment {id})",
                    previous(name, entry)?
                )
            } else {
                format!(
                    "{name}: version {current} -> {} (undoing deployment {id}, which left it on \
                     {}; it changed since)",
                    previous(name, entry)?,
                    entry.target_version
                )
            };
            (previous(name, entry)?, Some(id.clone()), note)
        }
        UndoAsked::Last => {
            let mut last = None;
            for (entry, status) in journal {
                match status {
                    // Rolled back or nothing moved: the alias was left where it was.
                    Some(Status::RolledBack | Status::NothingToDeploy) => continue,
                    _ => {
                        last = Some(deployed(name, entry, *status)?);
                        break;
                    }
                }
            }
            let Some(entry) = last else {
                return Err(refuse(format!(
                    "the ledger knows no deployment of {name} that went through (its journal keeps \
                     90 days): name the version (--to VERSION)"
                )));
            };
            if let Some(undone) = &entry.rollback_of {
                return Err(refuse(format!(
                    "the last deployment of {name}, {}, was itself a rollback (of {undone}): \
                     rolling back again would bring back what it undid. Name the version (--to \
                     VERSION) or the deployment to undo (--deployment ID)",
                    entry.deployment_id
                )));
            }
            if entry.target_version != current.as_str() {
                return Err(refuse(format!(
                    "{name} serves version {current}, not {} as its last deployment {} left it: it \
                     was changed outside sluice since. Name the version (--to VERSION)",
                    entry.target_version, entry.deployment_id
                )));
            }
            let version = previous(name, entry)?;
            let note = format!(
                "{name}: version {current} -> {version} (undoing deployment {}, started {})",
                entry.deployment_id, entry.started_at
            );
            (version, Some(entry.deployment_id.clone()), note)
        }
    };
    if &version == current {
        return Ok(Undo::Nothing(format!(
            "{name} already serves version {version}: nothing to roll back"
        )));
    }
    Ok(Undo::To {
        version,
        undoing,
        note,
    })
}

/// The entry of a deployment that went through, or why it cannot be undone.
fn deployed<'a>(
    name: &str,
    entry: &'a AliasEntry,
    status: Option<Status>,
) -> Result<&'a AliasEntry, Error> {
    match status {
        Some(Status::Deployed) => Ok(entry),
        Some(s @ (Status::RolledBack | Status::NothingToDeploy)) => Err(refuse(format!(
            "deployment {} ended {}: it left {name} where it was; there is nothing of it to undo",
            entry.deployment_id,
            s.as_str()
        ))),
        Some(s) => Err(refuse(format!(
            "deployment {} ended {}, not Deployed: look at {name} (sluice status {}) and name the \
             version (--to VERSION)",
            entry.deployment_id,
            s.as_str(),
            entry.deployment_id
        ))),
        None => Err(refuse(format!(
            "the record of deployment {} is gone (records are kept 90 days): name the version \
             (--to VERSION)",
            entry.deployment_id
        ))),
    }
}

fn previous(name: &str, entry: &AliasEntry) -> Result<Version, Error> {
    let Some(p) = &entry.previous_version else {
        return Err(refuse(format!(
            "deployment {} created {name}: there is no version before it. Name one (--to VERSION)",
            entry.deployment_id
        )));
    };
    Version::parse(p).map_err(|e| Error::internal(format!("the journal's version {p}: {}", e.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{t, v};

    fn entry(id: &str, from: Option<&str>, to: &str, at: u32) -> AliasEntry {
        AliasEntry {
            deployment_id: id.into(),
            execution_arn: format!("arn:aws:states:us-east-1:1:execution:sm:{id}"),
            function_arn: "arn:aws:lambda:us-east-1:1:function:orders".into(),
            function_name: "orders".into(),
            alias: "live".into(),
            started_at: t(at),
            previous_version: from.map(str::to_string),
            target_version: to.into(),
            requested_by: None,
            reason: None,
            rollback_of: None,
        }
    }

    fn on(n: &str) -> Routing {
        Routing::only(v(n))
    }

    #[test]
    fn the_last_deployment_that_went_through_is_undone() {
        let journal = vec![
            (entry("d-3", Some("3"), "4", 30), Some(Status::RolledBack)),
            (entry("d-2", Some("2"), "3", 20), Some(Status::Deployed)),
            (entry("d-1", Some("1"), "2", 10), Some(Status::Deployed)),
        ];
        let undo = undo_point("orders:live", &UndoAsked::Last, &journal, Some(&on("3"))).unwrap();
        assert_eq!(
            undo,
            Undo::To {
                version: v("2"),
                undoing: Some("d-2".into()),
                note: format!(
                    "orders:live: version 3 -> 2 (undoing deployment d-2, started {})",
                    t(20)
                ),
            }
        );
        let undo = undo_point(
            "orders:live",
            &UndoAsked::Deployment("d-1".into()),
            &journal,
            Some(&on("3")),
        )
        .unwrap();
        assert!(
            matches!(&undo, Undo::To { version, note, .. } if *version == v("1") && note.contains("it changed since")),
            "{undo:?}"
        );
    }

    #[test]
    fn an_alias_changed_outside_sluice_a_running_deployment_or_no_journal_refuse() {
        let journal = vec![(entry("d-2", Some("2"), "3", 20), Some(Status::Deployed))];
        let e = undo_point("orders:live", &UndoAsked::Last, &journal, Some(&on("7"))).unwrap_err();
        assert!(
            e.message.contains("serves version 7, not 3"),
            "{}",
            e.message
        );
        let running = vec![(entry("d-3", Some("3"), "4", 30), Some(Status::Baking))];
        let e = undo_point("orders:live", &UndoAsked::Last, &running, Some(&on("3"))).unwrap_err();
        assert_eq!(e.name, ErrorName::AliasBusy);
        assert!(e.message.contains("sluice abort d-3"), "{}", e.message);
        let e = undo_point("orders:live", &UndoAsked::Last, &[], Some(&on("3"))).unwrap_err();
        assert!(e.message.contains("--to VERSION"), "{}", e.message);
        let mut undo_of_undo = entry("d-3", Some("3"), "2", 30);
        undo_of_undo.rollback_of = Some("d-2".into());
        let e = undo_point(
            "orders:live",
            &UndoAsked::Last,
            &[(undo_of_undo, Some(Status::Deployed))],
            Some(&on("2")),
        )
        .unwrap_err();
        assert!(
            e.message.contains("was itself a rollback (of d-2)"),
            "{}",
            e.message
        );
        let created = vec![(entry("d-1", None, "1", 10), Some(Status::Deployed))];
        let e = undo_point("orders:live", &UndoAsked::Last, &created, Some(&on("1"))).unwrap_err();
        assert!(e.message.contains("created orders:live"), "{}", e.message);
        let e = undo_point("orders:live", &UndoAsked::Last, &journal, None).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let weighted = Routing {
            version: v("2"),
            additional: Some((v("3"), crate::Weight::from_percent(10.0).unwrap())),
        };
        let e = undo_point("orders:live", &UndoAsked::Last, &journal, Some(&weighted)).unwrap_err();
        assert!(
            e.message.contains("routes to two versions"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_version_asked_is_taken_and_one_served_already_is_nothing() {
        let undo = undo_point(
            "orders:live",
            &UndoAsked::Version(v("5")),
            &[],
            Some(&on("3")),
        )
        .unwrap();
        assert!(matches!(undo, Undo::To { undoing: None, .. }));
        let undo = undo_point(
            "orders:live",
            &UndoAsked::Version(v("3")),
            &[],
            Some(&on("3")),
        )
        .unwrap();
        assert!(matches!(undo, Undo::Nothing(m) if m.contains("already serves version 3")));
    }
}
