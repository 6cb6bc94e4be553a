//! Where an alias routes, and the one rule for writing it: read, decide, write conditionally on
//! the RevisionId that was read, and leave alone an alias someone else changed.

use super::TargetState;
use crate::error::{Error, ErrorName};
use crate::weight::{Version, Weight};
use serde::{Deserialize, Serialize};

/// Where one alias routes: its main version, and at most one additional weighted version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional: Option<(Version, Weight)>,
}

impl Routing {
    pub fn only(version: Version) -> Routing {
        Routing {
            version,
            additional: None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.additional {
            None => format!("version {}", self.version),
            Some((v, w)) => format!("version {} with {} on version {}", self.version, w, v),
        }
    }
}

/// An alias as read from Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSnapshot {
    pub routing: Routing,
    pub revision_id: String,
}

/// What to do with one alias, decided on what was read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasDecision {
    /// The alias already routes as wanted (a retried phase whose write had landed).
    AlreadyThere { revision_id: String },
    /// Write the wanted routing, conditional on this revision.
    Update { expected_revision: String },
    /// Create the alias on the wanted version (a first deployment's first shift).
    Create,
    /// Someone else changed (or deleted) the alias: leave it alone; says what was found.
    Conflict(String),
}

/// How writing one alias ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasWrite {
    /// It already routed as wanted; nothing was written.
    AlreadyThere { revision_id: String },
    /// The wanted routing was written; this is the new revision.
    Written { revision_id: String },
    /// Someone else changed it; nothing was written.
    Conflict(String),
}

impl AliasWrite {
    /// The revision the alias has now, or the conflict as an `AliasConflict` error.
    pub fn revision(self) -> Result<String, Error> {
        match self {
            AliasWrite::AlreadyThere { revision_id } | AliasWrite::Written { revision_id } => {
                Ok(revision_id)
            }
            AliasWrite::Conflict(why) => Err(Error::new(ErrorName::AliasConflict, why)),
        }
    }
}

impl TargetState {
    /// Where this target's alias should route when `weight` is on the new version. An alias
    /// this deployment creates starts on the new version: there is no earlier one.
    pub fn wanted_routing(&self, weight: Weight) -> Result<Routing, Error> {
        if self.action == super::Action::Created {
            return Ok(Routing::only(self.target_version.clone()));
        }
        let previous = self.previous_version.clone().ok_or_else(|| {
            Error::internal(format!(
                "{} has no previous version to shift from",
                self.name()
            ))
        })?;
        Ok(if weight.is_full() {
            Routing::only(self.target_version.clone())
        } else {
            Routing {
                version: previous,
                additional: Some((self.target_version.clone(), weight)),
            }
        })
    }

    /// The decision when the alias is gone.
    pub(crate) fn deleted(&self) -> AliasDecision {
        AliasDecision::Conflict(format!("{} was deleted during the deployment", self.name()))
    }

    /// How a write ends when every conditional write lost to another writer.
    pub fn kept_changing(&self) -> AliasWrite {
        AliasWrite::Conflict(format!(
            "{} kept changing while sluice wrote it; sluice leaves it as it is",
            self.name()
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::Routing;
    use crate::testing::{one_target, v};
    use crate::weight::Weight;
    use serde_json::json;

    #[test]
    fn wanted_routing_keeps_the_old_version_main_until_full() {
        let d = one_target(json!("AllAtOnce"), &[]);
        let t = &d.targets[0];
        let w10 = Weight::from_percent(10.0).unwrap();
        assert_eq!(
            t.wanted_routing(w10).unwrap(),
            Routing {
                version: v("3"),
                additional: Some((v("4"), w10))
            }
        );
        assert_eq!(
            t.wanted_routing(Weight::FULL).unwrap(),
            Routing::only(v("4"))
        );
    }
}
