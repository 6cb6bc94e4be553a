//! The hooks: the user's functions that judge a release before any traffic moves (PreTraffic),
//! after all of it has (PostTraffic), and at every check of every bake (check).
//!
//! A traffic hook is invoked (`mode: "invoke"`, the default) and answers when it returns: nothing
//! or `{"status": "Succeeded"}` passes, `{"status": "Failed", "reason": ...}` or an error it
//! raises fails, and `{"status": "InProgress", "retryAfterSeconds": N, "state": ...}` has it
//! invoked again N seconds later with that state, until it answers or its `timeout` runs out.
//! In `mode: "callback"` it is handed a task token and reports with SendTaskSuccess or
//! SendTaskFailure within its `timeout`.

use crate::bounds::{MAX_FIELD_CHARS, clip, quote};
use crate::duration::{format_seconds, parse_seconds};
use crate::error::Error;
use crate::names::FunctionRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a traffic hook has to answer when the request does not say.
pub const DEFAULT_HOOK_TIMEOUT_SECONDS: u64 = 3600;

/// The longest a traffic hook may take: a week, the most a plan may bake in all.
pub const MAX_HOOK_TIMEOUT_SECONDS: u64 = 7 * 24 * 3600;

/// Calls of an invoked hook the history budget holds for its timeout: sluice waits at least a
/// thirtieth of the timeout between two calls (an hour's hook is called at most every 2 minutes,
/// a 10-minute one every 20 s), whatever `retryAfterSeconds` asks.
pub const HOOK_CALLS: u64 = 30;

/// The most calls one hook run takes: one per gap, the first, and the last at its deadline.
pub const MAX_HOOK_CALLS: u64 = HOOK_CALLS + 2;

/// The shortest wait between two calls of a hook with this timeout.
pub fn hook_call_gap(timeout_seconds: u64) -> u64 {
    timeout_seconds.div_ceil(HOOK_CALLS).max(1)
}

/// How a traffic hook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum HookMode {
    /// Its invocation's result is its answer (`InProgress` has it invoked again).
    #[default]
    Invoke,
    /// It is handed a task token and reports with SendTaskSuccess / SendTaskFailure.
    Callback,
}

impl HookMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HookMode::Invoke => "invoke",
            HookMode::Callback => "callback",
        }
    }
}

/// A PreTraffic or PostTraffic hook: the function, how it answers, and how long it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficHook {
    pub function: FunctionRef,
    pub mode: HookMode,
    pub timeout_seconds: u64,
}

/// In the document, a hook invoked with the default timeout is its function's name alone, as
/// every earlier shape wrote it (a CLI not upgraded yet still reads it); any other is
/// `{"function", "mode", "timeoutSeconds"}`.
impl Serialize for TrafficHook {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.mode == HookMode::Invoke && self.timeout_seconds == DEFAULT_HOOK_TIMEOUT_SECONDS {
            return self.function.serialize(s);
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Full<'a> {
            function: &'a FunctionRef,
            mode: HookMode,
            timeout_seconds: u64,
        }
        Full {
            function: &self.function,
            mode: self.mode,
            timeout_seconds: self.timeout_seconds,
        }
        .serialize(s)
    }
}

/// Documents written before hooks took their time name the function alone.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredHook {
    Named(FunctionRef),
    #[serde(rename_all = "camelCase")]
    Full {
        function: FunctionRef,
        #[serde(default)]
        mode: HookMode,
        #[serde(default = "default_timeout")]
        timeout_seconds: u64,
    },
}

fn default_timeout() -> u64 {
    DEFAULT_HOOK_TIMEOUT_SECONDS
}

impl<'de> Deserialize<'de> for TrafficHook {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TrafficHook, D::Error> {
        Ok(match StoredHook::deserialize(d)? {
            StoredHook::Named(function) => TrafficHook::invoked(function),
            StoredHook::Full {
                function,
                mode,
                timeout_seconds,
            } => TrafficHook {
                function,
                mode,
                timeout_seconds,
            },
        })
    }
}

impl TrafficHook {
    /// A hook invoked with the default timeout (as a request naming the function alone has it).
    pub fn invoked(function: FunctionRef) -> TrafficHook {
        TrafficHook {
            function,
            mode: HookMode::Invoke,
            timeout_seconds: DEFAULT_HOOK_TIMEOUT_SECONDS,
        }
    }

    /// Reads a hook as the request writes it: the function's name or ARN, or `{"function",
    /// "mode"?, "timeout"?}`; `function` reads the function, naming the field given.
    pub fn read(
        field: &str,
        raw: &Value,
        function: impl FnOnce(&str, &str) -> Result<FunctionRef, Error>,
    ) -> Result<TrafficHook, Error> {
        let object = match raw {
            Value::String(text) => return function(field, text).map(TrafficHook::invoked),
            Value::Object(o) => o,
            _ => {
                return Err(Error::invalid(
                    field,
                    "must be a function's name or ARN, or {\"function\": ..., \"mode\": \"invoke\" | \"callback\", \"timeout\": \"1h\"}",
                ));
            }
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !["function", "mode", "timeout"].contains(&k.as_str()))
        {
            return Err(Error::invalid(
                &format!("{field}.{}", clip(unknown, MAX_FIELD_CHARS)),
                "is not a field of a hook; a hook has function, mode and timeout",
            ));
        }
        let text = |name: &str| -> Result<Option<&str>, Error> {
            match object.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::invalid(
                    &format!("{field}.{name}"),
                    "must be a string",
                )),
            }
        };
        let name = text("function")?.ok_or_else(|| {
            Error::invalid(
                &format!("{field}.function"),
                "is missing: name the hook's function",
            )
        })?;
        let function = function(&format!("{field}.function"), name)?;
        let mode = match text("mode")? {
            None | Some("invoke") => HookMode::Invoke,
            Some("callback") => HookMode::Callback,
            Some(other) => {
                return Err(Error::invalid(
                    &format!("{field}.mode"),
                    format!("{} is not \"invoke\" or \"callback\"", quote(other)),
                ));
            }
        };
        let timeout_seconds = match text("timeout")? {
            None => DEFAULT_HOOK_TIMEOUT_SECONDS,
            Some(t) => parse_seconds(t).map_err(|r| r.at(&format!("{field}.timeout")))?,
        };
        if !(1..=MAX_HOOK_TIMEOUT_SECONDS).contains(&timeout_seconds) {
            return Err(Error::invalid(
                &format!("{field}.timeout"),
                format!(
                    "must be 1s to {} (the most a plan may bake in all)",
                    format_seconds(MAX_HOOK_TIMEOUT_SECONDS)
                ),
            ));
        }
        Ok(TrafficHook {
            function,
            mode,
            timeout_seconds,
        })
    }

    /// "orders-smoke (callback, 2h)", as plans and messages name it.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, timeout {})",
            self.function,
            self.mode.as_str(),
            format_seconds(self.timeout_seconds)
        )
    }
}

/// The hook functions, as the request names them and the document keeps them: an absent hook
/// stays absent, so the state machine can test `IsPresent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_traffic: Option<TrafficHook>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_traffic: Option<TrafficHook>,
    /// Asked at every check of a bake, beside the alarms and the analysis: its `Failed` is a
    /// breach (check-alarms invokes it; no state of the state machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<FunctionRef>,
}

impl Hooks {
    /// Each hook's function that is set, with its request field.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &FunctionRef)> {
        [
            (
                "hooks.preTraffic",
                self.pre_traffic.as_ref().map(|h| &h.function),
            ),
            (
                "hooks.postTraffic",
                self.post_traffic.as_ref().map(|h| &h.function),
            ),
            ("hooks.check", self.check.as_ref()),
        ]
        .into_iter()
        .filter_map(|(field, hook)| hook.map(|h| (field, h)))
    }

    /// The traffic hooks: each run by the state machine's hook states (the check hook runs
    /// inside check-alarms, and costs no history events of its own).
    pub fn traffic(&self) -> impl Iterator<Item = &TrafficHook> {
        self.pre_traffic.iter().chain(&self.post_traffic)
    }

    pub fn count(&self) -> usize {
        self.traffic().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Role;
    use serde_json::json;

    fn read(raw: Value) -> Result<TrafficHook, Error> {
        TrafficHook::read("hooks.preTraffic", &raw, |field, text| {
            FunctionRef::parse(text, Role::Hook).map_err(|r| r.at(field))
        })
    }

    #[test]
    fn a_name_alone_is_invoked_with_an_hour() {
        let h = read(json!("orders-smoke")).unwrap();
        assert_eq!(
            h,
            TrafficHook::invoked(crate::testing::function("orders-smoke"))
        );
        assert_eq!(h.timeout_seconds, 3600);
        assert_eq!(h.describe(), "orders-smoke (invoke, timeout 1h)");
    }

    #[test]
    fn the_object_names_mode_and_timeout() {
        let h = read(json!({"function": "qa", "mode": "callback", "timeout": "2h"})).unwrap();
        assert_eq!(h.mode, HookMode::Callback);
        assert_eq!(h.timeout_seconds, 7200);
        let h = read(json!({"function": "qa"})).unwrap();
        assert_eq!((h.mode, h.timeout_seconds), (HookMode::Invoke, 3600));
    }

    #[test]
    fn bad_hooks_name_their_field() {
        for (raw, field, says) in [
            (
                json!({"function": "qa", "mode": "poll"}),
                "hooks.preTraffic.mode",
                "\"poll\" is not",
            ),
            (
                json!({"function": "qa", "timeout": "169h"}),
                "hooks.preTraffic.timeout",
                "1s to 168h",
            ),
            (
                json!({"function": "bad name"}),
                "hooks.preTraffic.function",
                "",
            ),
            (json!("bad name"), "hooks.preTraffic", ""),
            (json!(7), "hooks.preTraffic", "a function's name or ARN"),
            (
                json!({"mode": "callback"}),
                "hooks.preTraffic.function",
                "is missing",
            ),
            (
                json!({"function": "qa", "timeout": "soon"}),
                "hooks.preTraffic.timeout",
                "soon",
            ),
            (
                json!({"function": "qa", "retries": 3}),
                "hooks.preTraffic.retries",
                "not a field",
            ),
        ] {
            let e = read(raw.clone()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{raw}: {}", e.message);
            assert!(e.message.contains(says), "{raw}: {}", e.message);
        }
    }

    #[test]
    fn documents_of_earlier_shapes_name_the_function_alone() {
        let h: TrafficHook = serde_json::from_value(json!("pre")).unwrap();
        assert_eq!(h, TrafficHook::invoked(crate::testing::function("pre")));
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!("pre"),
            "as earlier shapes wrote it"
        );
        let callback = TrafficHook {
            mode: HookMode::Callback,
            ..h
        };
        let full = serde_json::to_value(&callback).unwrap();
        assert_eq!(
            full,
            json!({"function": "pre", "mode": "callback", "timeoutSeconds": 3600})
        );
        assert_eq!(
            serde_json::from_value::<TrafficHook>(full).unwrap(),
            callback
        );
    }
}
