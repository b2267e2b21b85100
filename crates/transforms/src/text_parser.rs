//! What the text parsers (`parse_regex`, `parse_logfmt`, `parse_kv`) share:
//! running over a batch, keeping or dropping the lines they could not read,
//! and counting and logging those at a limited rate.

use logagent_core::event::{Batch, EventMut};
use logagent_core::telemetry::ratelimit::RateLimiter;

use logagent_core::component::TransformContext;

/// The lines of one batch a parser could not read.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Unmatched {
    /// How many.
    pub count: u64,
    /// The source offset of the first, for the log line.
    pub first_offset: u64,
}

impl Unmatched {
    /// Logs them (one line per batch at most, rate-limited), naming what did
    /// not match and what became of the lines.
    pub(crate) fn log(&self, ctx: &TransformContext, log: &RateLimiter, what: &str, dropped: bool) {
        if self.count == 0 {
            return;
        }
        if let Some(suppressed) = log.check() {
            let outcome = if dropped {
                "dropped"
            } else {
                "passed on unchanged"
            };
            tracing::warn!(component = %ctx.id, lines = self.count, offset = self.first_offset,
                suppressed, "{what}; {outcome}");
        }
    }
}

/// Runs `apply` on every event of `batch`; `apply` says whether it read the
/// line. Unread lines are dropped when `drop_unmatched`, else passed on as
/// they are.
pub(crate) fn parse_lines(
    batch: &mut Batch,
    drop_unmatched: bool,
    mut apply: impl FnMut(&mut EventMut<'_>) -> bool,
) -> Unmatched {
    let mut unmatched = Unmatched::default();
    let mut keep = Vec::with_capacity(if drop_unmatched {
        batch.events.len()
    } else {
        0
    });
    // Shared, not taken: leaving an empty arena behind would allocate one.
    let members = batch.members.clone();
    for event in batch.events.iter_mut() {
        let mut ev = EventMut {
            event,
            members: &members,
        };
        let matched = apply(&mut ev);
        if !matched {
            if unmatched.count == 0 {
                unmatched.first_offset = ev.event.meta.offset;
            }
            unmatched.count += 1;
        }
        if drop_unmatched {
            keep.push(matched);
        }
    }
    if drop_unmatched {
        let mut flags = keep.into_iter();
        batch.events.retain(|_| flags.next().unwrap_or(true));
    }
    unmatched
}
