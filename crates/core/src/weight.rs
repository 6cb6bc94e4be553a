//! Traffic weights and function versions: values that cannot be invalid once parsed.

use crate::error::Invalid;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The share of traffic on the new version, in hundredths of a percent (0..=10_000).
/// Serialized as a percent number (`12.5`), which is how people write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u16);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const FULL: Weight = Weight(10_000);

    /// A percent with at most two decimals, within 0..=100.
    pub fn from_percent(percent: f64) -> Result<Weight, Invalid> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(Invalid(format!(
                "{percent} is not a percent between 0 and 100"
            )));
        }
        let hundredths = (percent * 100.0).round();
        if (hundredths - percent * 100.0).abs() > 1e-6 {
            return Err(Invalid(format!("{percent} has more than two decimals")));
        }
        Ok(Weight(hundredths as u16))
    }

    pub fn from_hundredths(h: u16) -> Option<Weight> {
        (h <= 10_000).then_some(Weight(h))
    }

    pub fn hundredths(self) -> u16 {
        self.0
    }

    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// The value Lambda's `AdditionalVersionWeights` takes: a fraction in [0, 1].
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// Reads Lambda's fraction back, rounded to the nearest hundredth of a percent.
    pub fn from_fraction(fraction: f64) -> Option<Weight> {
        if !fraction.is_finite() || !(0.0..=1.0).contains(&fraction) {
            return None;
        }
        Some(Weight((fraction * 10_000.0).round() as u16))
    }

    pub fn is_full(self) -> bool {
        self == Weight::FULL
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(100) {
            write!(f, "{}%", self.0 / 100)
        } else {
            write!(f, "{}%", self.percent())
        }
    }
}

impl Serialize for Weight {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(100) {
            s.serialize_u64(u64::from(self.0 / 100))
        } else {
            s.serialize_f64(self.percent())
        }
    }
}

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Weight, D::Error> {
        let p = f64::deserialize(d)?;
        Weight::from_percent(p).map_err(serde::de::Error::custom)
    }
}

/// A published Lambda function version: a positive number, never `$LATEST`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Version(String);

impl Version {
    pub fn parse(text: &str) -> Result<Version, Invalid> {
        if text == "$LATEST" {
            return Err(Invalid::new(
                "$LATEST is not a published version; only published versions are shifted \
                 (leave targetVersion out and sluice publishes one)",
            ));
        }
        match text.parse::<u64>() {
            Ok(n) if n > 0 && !text.starts_with('0') => Ok(Version(text.to_string())),
            _ => Err(Invalid(format!(
                "{} is not a published version number (like \"7\")",
                crate::bounds::quote(text)
            ))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_parses_percent_with_two_decimals() {
        assert_eq!(Weight::from_percent(10.0).unwrap().fraction(), 0.1);
        assert_eq!(Weight::from_percent(12.5).unwrap().hundredths(), 1250);
        assert_eq!(Weight::from_percent(0.01).unwrap().hundredths(), 1);
        assert!(Weight::from_percent(0.001).is_err());
        assert!(Weight::from_percent(100.5).is_err());
        assert!(Weight::from_percent(-1.0).is_err());
        assert!(Weight::from_percent(f64::NAN).is_err());
    }

    #[test]
    fn weight_round_trips_through_lambda_fraction_and_json() {
        for h in [0u16, 1, 999, 1000, 1250, 9999, 10_000] {
            let w = Weight::from_hundredths(h).unwrap();
            assert_eq!(Weight::from_fraction(w.fraction()), Some(w));
            let json = serde_json::to_string(&w).unwrap();
            assert_eq!(serde_json::from_str::<Weight>(&json).unwrap(), w);
        }
        assert_eq!(serde_json::to_string(&Weight::FULL).unwrap(), "100");
        assert_eq!(Weight::from_fraction(1.5), None);
    }

    #[test]
    fn version_is_never_latest() {
        assert!(Version::parse("$LATEST").unwrap_err().contains("$LATEST"));
        assert!(Version::parse("0").is_err());
        assert!(Version::parse("07").is_err());
        assert!(Version::parse("x").is_err());
        assert_eq!(Version::parse("12").unwrap().as_str(), "12");
        assert!(serde_json::from_str::<Version>("\"$LATEST\"").is_err());
    }
}
