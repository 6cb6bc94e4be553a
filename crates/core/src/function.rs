//! A Lambda function as a request names it (a target's or a hook's): a name, a partial ARN or an
//! ARN, never qualified, and in the region and account sluice runs in.

use crate::bounds::quote;

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

/// A function reference that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionRef<'a> {
    /// The function's name, however the reference spelled it: two references to one function
    /// have the same name.
    pub name: &'a str,
    /// The account, from a partial or full ARN.
    pub account: Option<&'a str>,
    /// The partition and region, from a full ARN.
    pub region: Option<(&'a str, &'a str)>,
}

impl<'a> FunctionRef<'a> {
    /// Reads `text`; errors are the reason only (the caller names the field).
    pub fn parse(text: &'a str, role: Role) -> Result<FunctionRef<'a>, String> {
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
        Ok(FunctionRef {
            name,
            account,
            region,
        })
    }

    /// Refuses a function outside the partition, region or account sluice runs in: sluice
    /// deploys (and invokes) only functions beside it.
    pub fn check_home(&self, text: &str, home: &Home) -> Result<(), String> {
        let (partition, region) = self
            .region
            .unwrap_or((home.partition.as_str(), home.region.as_str()));
        let account = self.account.unwrap_or(home.account.as_str());
        if (partition, region, account)
            == (
                home.partition.as_str(),
                home.region.as_str(),
                home.account.as_str(),
            )
        {
            return Ok(());
        }
        Err(format!(
            "{} is in {}; sluice runs in {} and deploys only functions there",
            quote(text),
            place(partition, region, account),
            place(&home.partition, &home.region, &home.account)
        ))
    }
}

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
            assert_eq!(f.name, "orders", "{text}");
            assert_eq!(f.check_home(text, &home()), Ok(()), "{text}");
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
                .check_home(text, &home())
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
