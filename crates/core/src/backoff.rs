//! The one retry delay of the agent: capped exponential backoff with optional
//! jitter and a `Retry-After` override. Every retry loop (network pushes, local
//! writes, the disk buffer) draws its delays here, so they all grow, cap and
//! reset the same way and are tested once.

use std::time::Duration;

/// Where jitter comes from. Injected so tests can pin the delays; the default
/// ([`XorShift`]) needs no cryptographic quality, only to spread the retries of
/// many agents apart.
pub trait RandomSource: Send {
    /// The next pseudo-random number.
    fn next_u64(&mut self) -> u64;
}

/// xorshift64, seeded from the clock and a random hasher key by [`XorShift::from_entropy`].
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (never stuck at zero).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    /// A generator seeded differently in every process and every call.
    pub fn from_entropy() -> XorShift {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        XorShift::new(h.finish())
    }
}

impl RandomSource for XorShift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Capped exponential backoff: the `n`-th delay since the last [`Backoff::reset`]
/// is `base × 2^(n-1)`, at most `cap`; with jitter it is drawn from
/// `[d/2, d]` instead of being `d`.
#[derive(Debug, Clone)]
pub struct Backoff<R: RandomSource = XorShift> {
    base: Duration,
    cap: Duration,
    current: Duration,
    jitter: Option<R>,
}

impl Backoff<XorShift> {
    /// Jittered backoff from `base` to `cap`, for requests to a server that many
    /// agents may retry at once.
    pub fn jittered(base: Duration, cap: Duration) -> Backoff<XorShift> {
        Backoff::with_jitter(base, cap, XorShift::from_entropy())
    }

    /// Deterministic backoff from `base` to `cap`, for local retries (a full
    /// disk) where nobody else competes.
    pub fn fixed(base: Duration, cap: Duration) -> Backoff<XorShift> {
        Backoff {
            base,
            cap: cap.max(base),
            current: base,
            jitter: None,
        }
    }
}

impl<R: RandomSource> Backoff<R> {
    /// Jittered backoff drawing from `source`.
    pub fn with_jitter(base: Duration, cap: Duration, source: R) -> Backoff<R> {
        Backoff {
            base,
            cap: cap.max(base),
            current: base,
            jitter: Some(source),
        }
    }

    /// The longest delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The delay before the next attempt, after a failure; each call doubles
    /// the next one up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = d.checked_mul(2).unwrap_or(self.cap).min(self.cap);
        match &mut self.jitter {
            None => d,
            Some(source) => {
                let full = d.as_nanos().min(u128::from(u64::MAX)) as u64;
                let half = full / 2;
                let spread = full - half;
                let extra = match spread.checked_add(1) {
                    Some(m) => source.next_u64() % m,
                    None => source.next_u64(),
                };
                Duration::from_nanos(half + extra)
            }
        }
    }

    /// Like [`Backoff::next_delay`], but never shorter than what the server
    /// asked for with `Retry-After` (itself capped, so a hostile or broken
    /// header cannot park the sink for hours).
    pub fn next_delay_after(&mut self, retry_after: Option<Duration>) -> Duration {
        let delay = self.next_delay();
        match retry_after {
            Some(ra) => delay.max(ra.min(self.cap)),
            None => delay,
        }
    }

    /// Back to `base` after a success.
    pub fn reset(&mut self) {
        self.current = self.base;
    }
}

/// `Retry-After` in seconds (the form Loki, Elasticsearch and their proxies
/// send); an HTTP date or garbage is ignored, leaving the backoff in charge.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source returning a fixed sequence, to pin the jitter.
    struct Fixed(Vec<u64>, usize);
    impl RandomSource for Fixed {
        fn next_u64(&mut self) -> u64 {
            let v = self.0[self.1 % self.0.len()];
            self.1 += 1;
            v
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fixed_backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::fixed(ms(100), ms(5000));
        let got: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert_eq!(
            got,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000]
                .map(ms)
                .to_vec()
        );
        b.reset();
        assert_eq!(b.next_delay(), ms(100));
    }

    #[test]
    fn jitter_spans_half_to_all_of_the_delay() {
        // 0 gives the lower bound, a number ≡ spread (mod spread + 1) the upper.
        let mut low = Backoff::with_jitter(ms(100), ms(1000), Fixed(vec![0], 0));
        assert_eq!(
            (0..6).map(|_| low.next_delay()).collect::<Vec<_>>(),
            [50, 100, 200, 400, 500, 500].map(ms).to_vec()
        );
        let spread = ms(50).as_nanos() as u64;
        let mut high = Backoff::with_jitter(ms(100), ms(1000), Fixed(vec![spread], 0));
        assert_eq!(high.next_delay(), ms(100));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut b = Backoff::with_jitter(ms(100), ms(1000), XorShift::new(12345));
        let mut bounds = vec![(50, 100), (100, 200), (200, 400), (400, 800)];
        bounds.extend(std::iter::repeat_n((500, 1000), 20));
        let mut seen = std::collections::HashSet::new();
        for (lo, hi) in bounds {
            let d = b.next_delay();
            assert!(d >= ms(lo) && d <= ms(hi), "{d:?} not in {lo}..={hi} ms");
            seen.insert(d);
        }
        assert!(seen.len() > 10, "delays are jittered");
        b.reset();
        let d = b.next_delay();
        assert!(d >= ms(50) && d <= ms(100), "{d:?} after reset");
    }

    /// The Elasticsearch sink's former backoff test, on the shared type.
    #[test]
    fn backoff_grows_caps_and_resets() {
        let mut b = Backoff::jittered(Duration::from_millis(100), Duration::from_secs(2));
        let d = b.next_delay();
        assert!(
            d >= Duration::from_millis(50) && d <= Duration::from_millis(100),
            "{d:?}"
        );
        for _ in 0..20 {
            b.next_delay();
        }
        for _ in 0..50 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
                "{d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_lengthens_the_delay_up_to_the_cap() {
        let mut b = Backoff::with_jitter(ms(100), ms(2000), Fixed(vec![0], 0));
        assert_eq!(b.next_delay_after(Some(ms(1500))), ms(1500));
        assert_eq!(
            b.next_delay_after(Some(Duration::from_secs(3600))),
            ms(2000)
        );
        assert_eq!(b.next_delay_after(Some(ms(1))), ms(200));
        assert_eq!(b.next_delay_after(None), ms(400));
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn a_zero_base_and_huge_cap_do_not_overflow() {
        let mut b = Backoff::jittered(Duration::ZERO, Duration::MAX);
        assert_eq!(b.next_delay(), Duration::ZERO);
        let mut b = Backoff::jittered(Duration::from_secs(u64::MAX / 4), Duration::MAX);
        for _ in 0..4 {
            b.next_delay();
        }
    }
}
