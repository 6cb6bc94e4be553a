//! Retrying inside a function, where the function (not the state machine) must ride out AWS
//! failing for a while: the safety net settles an ending from an event, and its event is retried
//! only a few times by Lambda.

use sluice_core::{Error, ErrorName};
use std::future::Future;
use std::time::Duration;

/// How often, and how far apart, a call is tried again while AWS fails transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries in all, the first included.
    pub tries: u32,
    /// The wait after the first failure; each later wait doubles it.
    pub first_wait: Duration,
}

impl Backoff {
    /// The safety net's: 6 tries, 1, 2, 4, 8 and 16 s apart (31 s), then Lambda's retries of
    /// the event.
    pub const SAFETY_NET: Backoff = Backoff {
        tries: 6,
        first_wait: Duration::from_secs(1),
    };

    /// Runs `attempt` until it succeeds, fails for a reason other than `TransientAws`, or has
    /// been tried `tries` times; returns the last result.
    pub async fn run<T, Fut>(self, mut attempt: impl FnMut() -> Fut) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut wait = self.first_wait;
        for _ in 1..self.tries {
            match attempt().await {
                Err(e) if e.name == ErrorName::TransientAws => tokio::time::sleep(wait).await,
                done => return done,
            }
            wait *= 2;
        }
        attempt().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_only_transient_failures_and_only_so_often() {
        let policy = Backoff {
            tries: 3,
            first_wait: Duration::from_millis(1),
        };
        let calls = AtomicU32::new(0);
        let out: Result<(), Error> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::new(ErrorName::TransientAws, "throttled"))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        calls.store(0, Ordering::SeqCst);
        let out: Result<(), Error> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::internal("a bug"))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a bug is not retried");
    }
}
