//! The names a deployment is made of, each a type that parses at the edge and cannot hold an
//! invalid value: a Lambda function as a request names it (a target's or a hook's), an alias, a
//! CloudWatch alarm, and where sluice runs. In documents and the ledger they are plain strings.

use crate::bounds::quote;
use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest function reference Lambda takes (an ARN).
pub const MAX_FUNCTION_CHARS: usize = 170;

const FORMS: &str = "a function name (orders), a partial ARN (123456789012:function:orders) or an ARN \
                     (arn:aws:lambda:us-east-1:123456789012:function:orders)";

/// Where sluice runs: the partition, region and account of its own execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Home {
    /// From an execution's ARN: `arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME`.
    pub fn of_execution(arn: &str) -> Option<Home> {
        match arn.split(':').collect::<Vec<_>>().as_slice() {
            [
                "arn",
                partition,
                "states",
                region,
                account,
                "execution" | "express",
                ..,
            ] if !partition.is_empty() && !region.is_empty() && is_account(account) => Some(Home {
                partition: partition.to_string(),
                region: region.to_string(),
                account: account.to_string(),
            }),
            _ => None,
        }
    }
}

/// Who names the function: a target (deployed) or a hook (invoked); the advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Target,
    Hook,
}

/// A function as a request names it, that passed every check: a name, a partial ARN or an ARN,
/// never qualified. Lambda's APIs take it as written; two spellings of one function have the
/// same [`name`](FunctionRef::name).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionRef {
    text: String,
    /// Where the function's name starts in `text`, and its length.
    name: (usize, usize),
    /// The account, from a partial or full ARN.
    account: Option<String>,
    /// The partition and region, from a full ARN.
    region: Option<(String, String)>,
}

impl FunctionRef {
    /// Reads `text`; errors are the reason only (the caller names the field).
    pub fn parse(text: &str, role: Role) -> Result<FunctionRef, Invalid> {
        parse_function(text, role).map_err(Invalid)
    }

    /// The reference as written: what Lambda's APIs are called with.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The function's name, however the reference spelled it.
    pub fn name(&self) -> &str {
        &self.text[self.name.0..self.name.0 + self.name.1]
    }

    /// Refuses a function outside the partition, region or account sluice runs in: sluice
    /// deploys (and invokes) only functions beside it.
    pub fn check_home(&self, home: &Home) -> Result<(), Invalid> {
        let (partition, region) = self
            .region
            .as_ref()
            .map_or((home.partition.as_str(), home.region.as_str()), |(p, r)| {
                (p.as_str(), r.as_str())
            });
        let account = self.account.as_deref().unwrap_or(home.account.as_str());
        if (partition, region, account)
            == (
                home.partition.as_str(),
                home.region.as_str(),
                home.account.as_str(),
            )
        {
            return Ok(());
        }
        Err(Invalid(format!(
            "{} is in {}; sluice runs in {} and deploys only functions there",
            quote(&self.text),
            place(partition, region, account),
            place(&home.partition, &home.region, &home.account)
        )))
    }
}

fn parse_function(text: &str, role: Role) -> Result<FunctionRef, String> {
    if text.is_empty() || text.chars().count() > MAX_FUNCTION_CHARS {
        return Err(format!(
            "a function name or ARN is 1 to {MAX_FUNCTION_CHARS} characters"
        ));
    }
    // '$' only ever belongs to a $LATEST qualifier, refused below with the right advice.
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '$')))
    {
        return Err(format!(
            "{} has {c:?}, which no function name or ARN has",
            quote(text)
        ));
    }
    let parts: Vec<&str> = text.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{} is not {FORMS}", quote(text)));
    }
    let (region, account, name, qualifier) = match parts.as_slice() {
        [name] => (None, None, *name, None),
        [name, q] => (None, None, *name, Some(*q)),
        [account, "function", name] => (None, Some(*account), *name, None),
        [account, "function", name, q] => (None, Some(*account), *name, Some(*q)),
        [
            "arn",
            partition,
            "lambda",
            region,
            account,
            "function",
            name,
        ] => (Some((*partition, *region)), Some(*account), *name, None),
        [
            "arn",
            partition,
            "lambda",
            region,
            account,
            "function",
            name,
            q,
        ] => (Some((*partition, *region)), Some(*account), *name, Some(*q)),
        _ => return Err(format!("{} is not {FORMS}", quote(text))),
    };
    if let Some(q) = qualifier {
        return Err(qualified(text, q, role));
    }
    if name.contains('$') {
        return Err(format!(
            "{} has '$', which no function name has",
            quote(text)
        ));
    }
    if let Some(account) = account
        && !is_account(account)
    {
        return Err(format!(
            "{} has the account {}; an account is 12 digits",
            quote(text),
            quote(account)
        ));
    }
    if let Some((partition, region)) = region
        && !(is_word(partition) && is_word(region))
    {
        return Err(format!("{} is not {FORMS}", quote(text)));
    }
    // The name is the last part (no qualifier is left).
    let start = text.len() - name.len();
    Ok(FunctionRef {
        text: text.to_string(),
        name: (start, name.len()),
        account: account.map(str::to_string),
        region: region.map(|(p, r)| (p.to_string(), r.to_string())),
    })
}

impl TryFrom<String> for FunctionRef {
    type Error = Invalid;

    /// As documents hold them (they were checked when the request was read).
    fn try_from(text: String) -> Result<FunctionRef, Invalid> {
        FunctionRef::parse(&text, Role::Target)
    }
}

impl From<FunctionRef> for String {
    fn from(f: FunctionRef) -> String {
        f.text
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Compares the reference as written.
impl PartialEq<&str> for FunctionRef {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl fmt::Debug for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

/// A Lambda alias name: 1-128 of [A-Za-z0-9_-], not all digits (that would be a version).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    pub fn parse(name: &str) -> Result<AliasName, Invalid> {
        if name.is_empty() || name.len() > 128 {
            return Err(Invalid::new("an alias name is 1 to 128 characters"));
        }
        if name == "$LATEST" {
            return Err(Invalid::new(
                "$LATEST is not an alias; name an alias, like live",
            ));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            return Err(Invalid(format!(
                "{} has {c:?}; alias names use letters, digits, - and _",
                quote(name)
            )));
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            return Err(Invalid(format!(
                "{} is all digits, which names a version, not an alias",
                quote(name)
            )));
        }
        Ok(AliasName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A CloudWatch alarm's name: 1 to 255 characters, not blank.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlarmName(String);

impl AlarmName {
    pub fn parse(name: &str) -> Result<AlarmName, Invalid> {
        if name.trim().is_empty() || name.len() > 255 {
            return Err(Invalid::new("an alarm name is 1 to 255 characters"));
        }
        Ok(AlarmName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the two string names have in common: read from and written as strings.
macro_rules! string_name {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = Invalid;

            fn try_from(text: String) -> Result<$t, Invalid> {
                <$t>::parse(&text)
            }
        }

        impl From<$t> for String {
            fn from(name: $t) -> String {
                name.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_name!(AliasName);
string_name!(AlarmName);

fn place(partition: &str, region: &str, account: &str) -> String {
    let partition = if partition == "aws" {
        String::new()
    } else {
        format!(" (partition {partition})")
    };
    format!("region {region}, account {account}{partition}")
}

/// A qualified reference, refused saying where the qualifier belongs.
fn qualified(text: &str, qualifier: &str, role: Role) -> String {
    let version = qualifier.chars().all(|c| c.is_ascii_digit());
    let what = if qualifier == "$LATEST" {
        "the qualifier $LATEST".to_string()
    } else if version {
        format!("the version qualifier {}", quote(qualifier))
    } else {
        format!("the alias qualifier {}", quote(qualifier))
    };
    let advice = match role {
        Role::Hook => "name the hook function only (sluice invokes it unqualified)",
        Role::Target if qualifier == "$LATEST" => {
            "name the function only: sluice shifts published versions (leave targetVersion out \
             and it publishes the current code)"
        }
        Role::Target if version => "name the function only and put the version in targetVersion",
        Role::Target => "name the function only and put the alias in alias",
    };
    format!("{} carries {what}; {advice}", quote(text))
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_digit())
}

fn is_word(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Home {
        Home::of_execution("arn:aws:states:us-east-1:123456789012:execution:sluice:d-1").unwrap()
    }

    #[test]
    fn three_spellings_name_one_function() {
        for text in [
            "orders",
            "123456789012:function:orders",
            "arn:aws:lambda:us-east-1:123456789012:function:orders",
        ] {
            let f = FunctionRef::parse(text, Role::Target).unwrap();
            assert_eq!(f.name(), "orders", "{text}");
            assert_eq!(f.as_str(), text);
            assert_eq!(f.check_home(&home()), Ok(()), "{text}");
        }
    }

    #[test]
    fn qualifiers_are_refused_saying_where_they_belong() {
        let refuse = |text: &str, role| FunctionRef::parse(text, role).unwrap_err();
        assert!(refuse("orders:live", Role::Target).ends_with("put the alias in alias"));
        assert!(
            refuse("123456789012:function:orders:3", Role::Target).ends_with("in targetVersion")
        );
        assert!(
            refuse(
                "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST",
                Role::Target
            )
            .contains("the qualifier $LATEST; name the function only")
        );
        assert!(
            refuse("smoke:live", Role::Hook)
                .ends_with("name the hook function only (sluice invokes it unqualified)")
        );
    }

    #[test]
    fn other_regions_and_accounts_are_refused() {
        let check = |text: &str| {
            FunctionRef::parse(text, Role::Target)
                .unwrap()
                .check_home(&home())
        };
        assert!(
            check("arn:aws:lambda:eu-west-1:123456789012:function:orders")
                .unwrap_err()
                .contains(
                    "is in region eu-west-1, account 123456789012; sluice runs in region us-east-1"
                )
        );
        assert!(
            check("210987654321:function:orders")
                .unwrap_err()
                .contains("account 210987654321")
        );
        assert!(
            check("arn:aws-cn:lambda:us-east-1:123456789012:function:orders")
                .unwrap_err()
                .contains("(partition aws-cn)")
        );
    }

    #[test]
    fn malformed_references_are_refused() {
        for text in [
            "",
            "a b",
            "orders:",
            "x:y:z",
            "12:function:orders",
            "arn:aws:s3:us-east-1:123456789012:function:o",
            "or$ders",
        ] {
            assert!(FunctionRef::parse(text, Role::Target).is_err(), "{text:?}");
        }
        assert_eq!(Home::of_execution("arn:running"), None);
    }
}
