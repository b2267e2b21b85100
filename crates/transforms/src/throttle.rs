//! `type = "throttle"`: at most `rate` events per second per key, with bursts
//! up to `burst` (a token bucket per key). The rest are dropped and counted as
//! discarded. Keys come from a template (`key = "{{ service }}"`); their number
//! is bounded by `max_keys` (idle, full buckets are forgotten first; past the
//! bound new keys share one bucket).

use std::collections::HashMap;

use serde::Deserialize;

use super::condition::{Condition, ConditionConfig};
use logagent_core::KeyError;
use logagent_core::component::{Transform, TransformComponent, TransformContext};
use logagent_core::event::Batch;
use logagent_core::event::template::Template;

/// Options of `throttle`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Events per second allowed per key (may be fractional: 0.5 = one per 2 s).
    pub rate: f64,
    /// Events allowed at once after a quiet period (default: `rate`, at least 1).
    #[serde(default)]
    pub burst: Option<u64>,
    /// Template naming the key, e.g. `"{{ service }}"` (default: one key for all).
    #[serde(default)]
    pub key: Option<String>,
    /// Most keys tracked at once (default 10000).
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// Events meeting this condition are never throttled.
    #[serde(default)]
    pub exclude: Option<Box<ConditionConfig>>,
}

fn default_max_keys() -> usize {
    10_000
}

impl ThrottleConfig {
    /// Checks the keys.
    pub fn check(&self) -> Vec<KeyError> {
        self.build(TransformContext::detached("check"))
            .err()
            .unwrap_or_default()
    }

    /// Builds the transform.
    pub fn build(&self, ctx: TransformContext) -> Result<Throttle, Vec<KeyError>> {
        let mut errors = Vec::new();
        if !(self.rate.is_finite() && self.rate > 0.0) {
            errors.push(KeyError::new(
                "rate",
                "must be a positive number of events per second",
            ));
        }
        if self.burst == Some(0) {
            errors.push(KeyError::new("burst", "must be at least 1"));
        }
        if self.max_keys == 0 {
            errors.push(KeyError::new("max_keys", "must be at least 1"));
        }
        let key = match &self.key {
            Some(k) => match Template::parse(k, false) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push(KeyError::new("key", e.to_string()));
                    None
                }
            },
            None => None,
        };
        let exclude = match &self.exclude {
            Some(c) => c.build("exclude").map_err(|e| errors.extend(e)).ok(),
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let burst = self
            .burst
            .unwrap_or_else(|| self.rate.ceil().max(1.0) as u64) as f64;
        Ok(Throttle {
            rate: self.rate,
            burst,
            key,
            max_keys: self.max_keys,
            exclude,
            buckets: HashMap::new(),
            overflow: Bucket {
                tokens: burst,
                last: i64::MIN,
            },
            ctx,
            buf: String::new(),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: i64,
}

impl Bucket {
    fn take(&mut self, now: i64, rate: f64, burst: f64) -> bool {
        if self.last != i64::MIN && now > self.last {
            let refill = (now - self.last) as f64 * rate / 1e9;
            self.tokens = (self.tokens + refill).min(burst);
        }
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The running `throttle` transform.
#[derive(Debug)]
pub struct Throttle {
    rate: f64,
    burst: f64,
    key: Option<Template>,
    max_keys: usize,
    exclude: Option<Condition>,
    buckets: HashMap<String, Bucket>,
    overflow: Bucket,
    ctx: TransformContext,
    buf: String,
}

impl Throttle {
    fn bucket(&mut self, now: i64) -> &mut Bucket {
        if !self.buckets.contains_key(self.buf.as_str()) {
            if self.buckets.len() >= self.max_keys {
                // Forget buckets that have refilled completely: they act like new ones.
                let (rate, burst) = (self.rate, self.burst);
                self.buckets.retain(|_, b| {
                    b.tokens + now.saturating_sub(b.last) as f64 * rate / 1e9 < burst
                });
            }
            if self.buckets.len() >= self.max_keys {
                return &mut self.overflow;
            }
            let fresh = Bucket {
                tokens: self.burst,
                last: i64::MIN,
            };
            self.buckets.insert(self.buf.clone(), fresh);
        }
        match self.buckets.get_mut(self.buf.as_str()) {
            Some(b) => b,
            None => &mut self.overflow,
        }
    }
}

impl Transform for Throttle {
    fn process(&mut self, batch: &mut Batch) {
        let now = self.ctx.clock.now_ns();
        // Shared, not taken: leaving an empty arena behind would allocate one.
        let members = batch.members.clone();
        let mut keep = Vec::with_capacity(batch.events.len());
        for event in &batch.events {
            if self
                .exclude
                .as_ref()
                .is_some_and(|c| c.eval(event, &members))
            {
                keep.push(true);
                continue;
            }
            self.buf.clear();
            if let Some(t) = &self.key {
                t.render(event, &members, now, &mut self.buf);
            }
            let (rate, burst) = (self.rate, self.burst);
            keep.push(self.bucket(now).take(now, rate, burst));
        }
        let mut flags = keep.into_iter();
        batch.events.retain(|_| flags.next().unwrap_or(true));
    }
}

impl TransformComponent for ThrottleConfig {
    fn check(&self) -> Vec<KeyError> {
        ThrottleConfig::check(self)
    }

    fn build(&self, ctx: TransformContext) -> Result<Box<dyn Transform>, Vec<KeyError>> {
        Ok(Box::new(ThrottleConfig::build(self, ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use logagent_core::time::ManualClock;
    use std::sync::Arc;

    fn batch(lines: &[&str]) -> Batch {
        logagent_core::event::test_batch::json_batch(lines)
    }

    #[test]
    fn per_key_rate_and_burst_with_an_injected_clock() {
        let clock = Arc::new(ManualClock::at_ns(1_000_000_000_000));
        let mut ctx = TransformContext::detached("t");
        ctx.clock = clock.clone();
        let mut t = toml::from_str::<ThrottleConfig>("rate = 2\nburst = 3\nkey = \"{{ svc }}\"")
            .unwrap()
            .build(ctx)
            .unwrap();
        let lines = [r#"{"svc":"a"}"#; 5];
        let mut b = batch(&lines);
        t.process(&mut b);
        assert_eq!(b.events.len(), 3, "burst of 3");
        let mut b = batch(&[r#"{"svc":"b"}"#, r#"{"svc":"a"}"#]);
        t.process(&mut b);
        assert_eq!(b.events.len(), 1, "b has its own bucket, a is empty");
        // Half a second later a has one token back (rate 2/s).
        clock.set_ns(1_000_500_000_000);
        let mut b = batch(&lines);
        t.process(&mut b);
        assert_eq!(b.events.len(), 1);
        // Ten seconds later it is full again, but no fuller than the burst.
        clock.set_ns(1_010_500_000_000);
        let mut b = batch(&lines);
        t.process(&mut b);
        assert_eq!(b.events.len(), 3);
    }

    #[test]
    fn keys_are_bounded_and_configs_checked() {
        let clock = Arc::new(ManualClock::at_ns(0));
        let mut ctx = TransformContext::detached("t");
        ctx.clock = clock;
        let mut t = toml::from_str::<ThrottleConfig>("rate = 1\nkey = \"{{ id }}\"\nmax_keys = 2")
            .unwrap()
            .build(ctx)
            .unwrap();
        let lines: Vec<String> = (0..10).map(|i| format!(r#"{{"id":{i}}}"#)).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let mut b = batch(&refs);
        t.process(&mut b);
        assert_eq!(t.buckets.len(), 2);
        assert_eq!(
            b.events.len(),
            3,
            "two own buckets plus one shared overflow bucket"
        );
        assert_eq!(
            toml::from_str::<ThrottleConfig>("rate = 0")
                .unwrap()
                .check()[0]
                .key,
            "rate"
        );
    }
}
