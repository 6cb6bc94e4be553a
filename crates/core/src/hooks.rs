//! The hooks: the user's functions that judge a release before any traffic moves (PreTraffic),
//! after all of it has (PostTraffic), and at every check of every bake (check).

use crate::names::FunctionRef;
use serde::{Deserialize, Serialize};

/// The hook functions, as the request names them and the document keeps them: an absent hook
/// stays absent, so the state machine can test `IsPresent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_traffic: Option<FunctionRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_traffic: Option<FunctionRef>,
    /// Asked at every check of a bake, beside the alarms and the analysis: its `Failed` is a
    /// breach (check-alarms invokes it; no state of the state machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<FunctionRef>,
}

impl Hooks {
    /// Each hook that is set, with its request field.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &FunctionRef)> {
        [
            ("hooks.preTraffic", &self.pre_traffic),
            ("hooks.postTraffic", &self.post_traffic),
            ("hooks.check", &self.check),
        ]
        .into_iter()
        .filter_map(|(field, hook)| hook.as_ref().map(|h| (field, h)))
    }

    /// The traffic hooks: each a Task state of its own in the state machine (the check hook runs
    /// inside check-alarms, and costs no history events).
    pub fn count(&self) -> usize {
        self.pre_traffic.iter().chain(&self.post_traffic).count()
    }
}
