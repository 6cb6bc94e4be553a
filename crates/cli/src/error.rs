//! How `sluice` fails and how it ends: its one error type, and the one table of exit codes.

use sluice_aws::AwsError;
use std::process::ExitCode;

/// Why sluice could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag, a request or an id sluice refuses before calling AWS.
    #[error("{0}")]
    Refused(String),
    /// An AWS call failed; `doing` says what sluice was doing.
    #[error("{doing}: {source}")]
    Aws {
        doing: String,
        #[source]
        source: AwsError,
    },
    /// A local file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Anything else, said as it is.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub fn refused(message: impl Into<String>) -> CliError {
        CliError::Refused(message.into())
    }

    /// An AWS error while `doing` something.
    pub fn aws(doing: impl Into<String>) -> impl FnOnce(AwsError) -> CliError {
        let doing = doing.into();
        move |source| CliError::Aws { doing, source }
    }
}

/// How a deployment the CLI followed ended, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every alias serves its new version.
    Deployed,
    /// The deployment failed or was refused, and every alias is where it was before.
    RolledBack,
    /// The deployment failed and some alias could not be put back: look at it.
    NotRolledBack,
}

/// The exit codes, in one place (the CLI's `--help` lists them too).
pub mod exit {
    /// Deployed (and every command that succeeds).
    pub const OK: u8 = 0;
    /// sluice could not do what was asked.
    pub const FAILED: u8 = 1;
    /// A bad command line (clap's own).
    pub const USAGE: u8 = 2;
    /// Failed or refused, every alias back where it was.
    pub const ROLLED_BACK: u8 = 3;
    /// Failed, some alias not back.
    pub const NOT_ROLLED_BACK: u8 = 4;
}

impl Ending {
    pub fn code(self) -> u8 {
        match self {
            Ending::Deployed => exit::OK,
            Ending::RolledBack => exit::ROLLED_BACK,
            Ending::NotRolledBack => exit::NOT_ROLLED_BACK,
        }
    }
}

/// What a command ends with: output to print, a deployment's ending, or nothing more to say.
pub enum Done {
    Print(String),
    Ended(Ending),
    Quiet,
}

impl Done {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Done::Print(out) => {
                println!("{out}");
                ExitCode::from(exit::OK)
            }
            Done::Ended(ending) => ExitCode::from(ending.code()),
            Done::Quiet => ExitCode::from(exit::OK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ending_has_its_own_code_and_the_usage_code_is_clap_s() {
        let codes = [
            exit::OK,
            exit::FAILED,
            exit::USAGE,
            exit::ROLLED_BACK,
            exit::NOT_ROLLED_BACK,
        ];
        for (i, c) in codes.iter().enumerate() {
            assert!(!codes[..i].contains(c));
        }
        assert_eq!(
            i32::from(exit::USAGE),
            clap::error::Error::<clap::error::DefaultFormatter>::new(
                clap::error::ErrorKind::InvalidValue
            )
            .exit_code()
        );
        assert_eq!(Ending::RolledBack.code(), 3);
    }
}
