//! Moments, as sluice records them and AWS writes them: one type, parsed at the edge (RFC 3339 /
//! ISO 8601 as AWS writes it) and formatted in one place. Reading the clock is I/O and lives in
//! sluice-aws; everything else about time is here.

use crate::error::Invalid;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A moment, to the millisecond, in UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: i64,
}

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp { millis: 0 };

    pub fn from_unix_millis(millis: i64) -> Timestamp {
        Timestamp { millis }
    }

    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp {
            millis: seconds.saturating_mul(1000),
        }
    }

    pub fn unix_millis(self) -> i64 {
        self.millis
    }

    pub fn unix_seconds(self) -> i64 {
        self.millis.div_euclid(1000)
    }

    /// This moment plus `seconds`.
    pub fn plus_seconds(self, seconds: u64) -> Timestamp {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        Timestamp {
            millis: self.millis.saturating_add(seconds.saturating_mul(1000)),
        }
    }

    /// Whole seconds from `earlier` to this moment; 0 when `earlier` is later.
    pub fn seconds_since(self, earlier: Timestamp) -> u64 {
        u64::try_from((self.millis - earlier.millis).div_euclid(1000)).unwrap_or(0)
    }

    /// Reads the forms AWS writes: "2026-11-27T06:30:00Z", "2026-11-27T06:30:00.123+0000",
    /// "2026-11-27T07:30:00+01:00" (an offset without one is UTC).
    pub fn parse(text: &str) -> Result<Timestamp, Invalid> {
        parse(text).ok_or_else(|| {
            Invalid::new(format!(
                "{} is not a time like \"2026-11-27T10:00:00Z\"",
                crate::bounds::quote(text)
            ))
        })
    }
}

fn parse(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Fractional seconds, to the millisecond.
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let rest = text.get(i + 1..)?.replace(':', "");
            if rest.len() != 4 || !rest.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let minutes = rest[..2].parse::<i64>().ok()? * 60 + rest[2..].parse::<i64>().ok()?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        None => 0,
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(Timestamp {
        millis: seconds * 1000 + millis,
    })
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// RFC 3339 in UTC: "2026-11-26T10:59:17Z", with milliseconds only when there are any.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.unix_seconds();
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let rem = seconds.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        match self.millis.rem_euclid(1000) {
            0 => f.write_str("Z"),
            ms => write!(f, ".{ms:03}Z"),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<i64> {
        Timestamp::parse(text).ok().map(Timestamp::unix_seconds)
    }

    #[test]
    fn reads_the_timestamps_aws_writes() {
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("2026-11-26T10:59:17Z"), Some(1_795_690_757));
        assert_eq!(at("2026-11-26T10:59:17.123+0000"), Some(1_795_690_757));
        assert_eq!(at("2026-11-26T11:59:17+01:00"), Some(1_795_690_757));
        assert_eq!(at("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(
            Timestamp::parse("2026-11-26T10:59:17.5Z")
                .unwrap()
                .unix_millis(),
            1_795_690_757_500
        );
        for bad in [
            "",
            "t1",
            "2026-13-01T00:00:00Z",
            "2026-11-26T10:59:17Q",
            "2026-11-26T10:59",
            "2026-11-26T10:59:17.Z",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_known_instants_and_reads_them_back() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_690_757, "2026-11-26T10:59:17Z"),
        ] {
            let t = Timestamp::from_unix_seconds(seconds);
            assert_eq!(t.to_string(), text);
            assert_eq!(Timestamp::parse(text).unwrap(), t);
        }
        let t = Timestamp::from_unix_millis(1_795_690_757_042);
        assert_eq!(t.to_string(), "2026-11-26T10:59:17.042Z");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            serde_json::json!("2026-11-26T10:59:17.042Z")
        );
    }

    #[test]
    fn seconds_between_moments() {
        let a = Timestamp::from_unix_seconds(100);
        let b = Timestamp::from_unix_millis(190_900);
        assert_eq!(b.seconds_since(a), 90);
        assert_eq!(a.seconds_since(b), 0);
    }
}
