//! The wall clock: the one place sluice reads it (history lines, lock and check times; bakes
//! count the state machine's own Wait seconds).

use sluice_core::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, to the second (what the history and the alarm-history windows need).
pub fn now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp::from_unix_seconds(i64::try_from(secs).unwrap_or(0))
}

/// The current time to the millisecond (a metric's timestamp; the phases' clock is `now`).
pub fn now_precise() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp::from_unix_millis(i64::try_from(millis).unwrap_or(0))
}
