//! The PreTraffic and PostTraffic hooks: the user's functions that judge a release before any
//! traffic moves and after all of it has.

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
}

impl Hooks {
    /// Each hook that is set, with its request field.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &FunctionRef)> {
        [
            ("hooks.preTraffic", &self.pre_traffic),
            ("hooks.postTraffic", &self.post_traffic),
        ]
        .into_iter()
        .filter_map(|(field, hook)| hook.as_ref().map(|h| (field, h)))
    }

    pub fn count(&self) -> usize {
        self.named().count()
    }
}
