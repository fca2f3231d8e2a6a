//! Fault injection for the embedded endpoint: throttling, server errors, slow answers,
//! dropped connections and malformed XML, at chosen rates, deterministic from the seed.

use std::sync::Mutex;
use std::time::Duration;

use super::scenario::Rng;

/// Rates are percentages of requests, 0.0..=100.0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// `RequestLimitExceeded`, HTTP 503.
    pub throttle: f64,
    /// `InternalError`, HTTP 500.
    pub internal_error: f64,
    /// An answer delayed by `slow_delay`.
    pub slow: f64,
    pub slow_delay: Duration,
    /// The connection closed without an answer.
    pub drop: f64,
    /// A 200 answer whose XML is cut short.
    pub malformed: f64,
    /// Every request that carries a `NextToken` fails with `InternalError`: a failure part-way
    /// through a paginated fetch.
    pub fail_later_pages: bool,
    /// A hostile or broken server, for the tests that prove nothing hangs, crashes or leaks.
    pub hostile: Hostile,
    /// `DescribeImages` answers in pages of this many images even when the request sets no
    /// `MaxResults`: a server may page, and a client must follow `NextToken` whatever it asked.
    pub images_page: Option<usize>,
}

/// What a hostile or broken server does instead of answering well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Hostile {
    #[default]
    None,
    /// Every page carries the same next token: the listing would loop forever (for
    /// `DescribeImages` too).
    RepeatToken,
    /// Pages carry two tokens in turn: a cycle of two.
    CycleTokens,
    /// Every answer is an error whose code and message hold terminal escape sequences.
    EvilError,
    /// Task fields (state, bucket, key, reason) hold terminal escape sequences.
    EvilFields,
    /// A 200 answer of this many bytes, with its length declared.
    HugeBody(usize),
    /// A 200 answer that never ends.
    EndlessBody,
    /// The connection is accepted and never answered.
    Silent,
    /// Pages larger than the `MaxResults` asked for.
    OverSend,
    /// Each page starts one task early, so a page's last task comes again on the next (as
    /// when an export starts while the newest-first list is paged).
    OverlapPages,
}

impl FaultConfig {
    pub fn is_quiet(&self) -> bool {
        *self == Self { slow_delay: self.slow_delay, ..Self::default() }
    }

    /// The hostile behaviour in force.
    pub fn hostile(&self) -> Hostile {
        self.hostile
    }
}

/// One fault to inject into one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    Internal,
    Slow(Duration),
    Drop,
    Malformed,
}

pub(super) struct FaultRoller(Mutex<(FaultConfig, Rng)>);

impl FaultRoller {
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Self(Mutex::new((config, Rng::new(seed.rotate_left(7)))))
    }

    pub fn set(&self, config: FaultConfig) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0 = config;
    }

    pub fn hostile(&self) -> Hostile {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0.hostile
    }

    pub fn config(&self) -> FaultConfig {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Decides the fault, if any, for the next request (`page_index` 0 for a first page).
    pub fn roll(&self, page_index: usize) -> Option<Fault> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (cfg, rng) = &mut *guard;
        if cfg.is_quiet() {
            return None;
        }
        if cfg.fail_later_pages && page_index > 0 {
            return Some(Fault::Internal);
        }
        let mut r = rng.unit() * 100.0;
        for (rate, fault) in [
            (cfg.throttle, Fault::Throttle),
            (cfg.internal_error, Fault::Internal),
            (cfg.slow, Fault::Slow(cfg.slow_delay)),
            (cfg.drop, Fault::Drop),
            (cfg.malformed, Fault::Malformed),
        ] {
            if r < rate {
                return Some(fault);
            }
            r -= rate;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_roughly_honoured() {
        let cfg = FaultConfig { throttle: 30.0, ..FaultConfig::default() };
        let r = FaultRoller::new(cfg, 1);
        let hits = (0..10_000).filter(|_| r.roll(0) == Some(Fault::Throttle)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
    }

    #[test]
    fn quiet_config_never_faults_and_later_pages_switch_works() {
        let r = FaultRoller::new(FaultConfig::default(), 1);
        assert!((0..1000).all(|_| r.roll(3).is_none()));
        r.set(FaultConfig { fail_later_pages: true, ..FaultConfig::default() });
        assert_eq!(r.roll(0), None);
        assert_eq!(r.roll(1), Some(Fault::Internal));
    }
}
