//! Human durations as the request writes them: "90s", "10m", "1h", "1h30m".

use crate::bounds::quote;
use crate::error::Invalid;
use serde::{Deserialize, Deserializer};

/// A duration read from a request string through [`parse_seconds`], so serde names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub u64);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
        let text = String::deserialize(d)?;
        parse_seconds(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// The longest duration a request may write.
const MAX_SECONDS: u64 = 30 * 24 * 3600;

/// Parses a duration into whole seconds. Units: s, m, h; at least one part; no zero-length
/// parts like "m"; at most 30 days, so sums cannot overflow.
pub fn parse_seconds(text: &str) -> Result<u64, Invalid> {
    seconds(text).map_err(Invalid)
}

fn seconds(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty; write a duration like \"30s\", \"10m\" or \"1h\"".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            if digits.len() > 9 {
                return Err(format!("{} is too long", quote(text)));
            }
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => {
                return Err(format!(
                    "{} has {ch:?}; use a number with s, m or h, like \"30s\", \"10m\", \"1h30m\"",
                    quote(text)
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!("{} has a unit without a number", quote(text)));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{} is not a duration", quote(text)))?;
        total += n * unit;
        // Checked at each part, so no number of parts can overflow the sum.
        if total > MAX_SECONDS {
            return Err(format!("{} is longer than 30 days", quote(text)));
        }
        digits.clear();
        parts += 1;
    }
    if !digits.is_empty() {
        return Err(format!(
            "{} has no unit; write \"{digits}s\", \"{digits}m\" or \"{digits}h\"",
            quote(text)
        ));
    }
    if parts == 0 {
        return Err(format!("{} is not a duration", quote(text)));
    }
    Ok(total)
}

/// Formats seconds the way the request writes them, for messages and plans.
pub fn format_seconds(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_seconds("45s"), Ok(45));
        assert_eq!(parse_seconds("10m"), Ok(600));
        assert_eq!(parse_seconds("2h"), Ok(7200));
        assert_eq!(parse_seconds("1h30m"), Ok(5400));
        assert_eq!(parse_seconds(" 0s "), Ok(0));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "1.5m",
            "-1s",
            "10 m",
            "31d",
            "9999999999s",
        ] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_seconds("10").unwrap_err().contains("\"10s\""));
    }

    #[test]
    fn formats_round_trip() {
        for s in [0, 1, 59, 60, 61, 3600, 3661, 5400, 86400] {
            assert_eq!(parse_seconds(&format_seconds(s)), Ok(s));
        }
    }
}
