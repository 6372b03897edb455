//! A circuit breaker per provider: open after a failure until the provider's own reset time (or a backoff),
//! then one probe decides whether it closes.

use std::time::{Duration, Instant};

use crate::model::ProviderError;

/// Backoff when the provider gave no wait time: 2 s doubling per consecutive failure, capped.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest a breaker stays open on backoff alone.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// What the breaker says about the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allow,
    /// Go ahead: this request is the probe after the open period.
    Probe,
    /// Do not call the provider before this time.
    Deny {
        /// When the provider may be tried again.
        until: Instant,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// The probe is in flight; others are denied until it ends.
    Probing {
        since: Instant,
    },
}

/// One provider's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    state: State,
    failures: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: State::Closed,
            failures: 0,
        }
    }
}

impl Breaker {
    /// Whether a request may go to the provider now.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed => Admission::Allow,
            State::Open { until } if now < until => Admission::Deny { until },
            State::Open { .. } => {
                self.state = State::Probing { since: now };
                Admission::Probe
            }
            // A probe that never reported back (its task was dropped) does not block forever.
            State::Probing { since } if now.duration_since(since) > Duration::from_secs(120) => {
                self.state = State::Probing { since: now };
                Admission::Probe
            }
            State::Probing { since } => Admission::Deny {
                until: since + Duration::from_secs(1),
            },
        }
    }

    /// The provider answered: close.
    pub fn success(&mut self) {
        self.state = State::Closed;
        self.failures = 0;
    }

    /// The provider failed: open until its reset time, else back off; returns when it may be tried again.
    pub fn failure(&mut self, now: Instant, error: &ProviderError, jitter: f64) -> Instant {
        self.failures += 1;
        let wait = match error {
            // A wrong key will not fix itself: wait the longest.
            ProviderError::Auth(_) => BACKOFF_CAP,
            _ => error
                .wait_hint()
                .unwrap_or_else(|| backoff(self.failures, jitter)),
        };
        let until = now + wait;
        self.state = State::Open { until };
        until
    }
}

/// Exponential backoff for the n-th consecutive failure, scaled by `jitter` (0.8–1.2), capped.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.mul_f64(jitter.clamp(0.5, 1.5)).min(BACKOFF_CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_until_retry_after_then_probes_once() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        assert_eq!(b.admit(t0), Admission::Allow);
        let err = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            reset_at: None,
        };
        let until = b.failure(t0, &err, 1.0);
        assert_eq!(until, t0 + Duration::from_secs(2));
        assert_eq!(
            b.admit(t0 + Duration::from_secs(1)),
            Admission::Deny { until }
        );
        assert_eq!(b.admit(t0 + Duration::from_secs(2)), Admission::Probe);
        assert!(
            matches!(b.admit(t0 + Duration::from_secs(2)), Admission::Deny { .. }),
            "one probe at a time"
        );
        b.success();
        assert_eq!(b.admit(t0 + Duration::from_secs(3)), Admission::Allow);
    }

    #[test]
    fn a_failed_probe_backs_off_longer() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        let first = b.failure(t0, &ProviderError::Server(502), 1.0);
        assert_eq!(first, t0 + Duration::from_secs(2));
        assert_eq!(b.admit(first), Admission::Probe);
        let second = b.failure(first, &ProviderError::Timeout, 1.0);
        assert_eq!(second, first + Duration::from_secs(4));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(2, 1.2), Duration::from_secs_f64(4.8));
    }
}
