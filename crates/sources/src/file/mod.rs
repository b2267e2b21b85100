//! `type = "file"`: follows files matching include globs, never losing or
//! repeating a line across rotation, truncation and restarts.
//!
//! The parts, each in its own module:
//!
//! * [`discover`] — include/exclude globs; [`watch`] — inotify wake-ups, with a
//!   periodic rescan as the safety net.
//! * [`identity`] — device+inode plus a fingerprint of the first bytes, so inode
//!   reuse, renames, copies and compressed rotations are recognised.
//! * [`item`] — one file's read and acknowledged offsets; [`tailer`] — all
//!   files, driven one synchronous step at a time (what the tests drive).
//! * [`assemble`] — lines to events: [`container`] formats (CRI, Docker),
//!   [`multiline`] joining, Kubernetes metadata from the path
//!   ([`logagent_core::kubelet`]).
//! * [`checkpointer`] — acknowledged offsets to `DATA_DIR/checkpoints/ID.json`.
//!
//! This file holds the thread loop: scan when due (or told by inotify), step,
//! checkpoint, sleep until something can happen; at a stop, send what is
//! batched, wait for the acknowledgements and write the final checkpoint.

pub mod assemble;
pub mod checkpointer;
pub mod config;
pub mod container;
pub mod discover;
pub mod identity;
pub mod item;
pub mod limits;
pub mod multiline;
pub mod record;
pub mod tailer;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{FileSourceConfig, Format, MultilineConfig, MultilineMode, ReadFrom};
use logagent_core::component::{Source, SourceComponent, SourceContext, SourceError};
use tailer::{Tailer, TailerContext};
use watch::{Wake, Watch};

/// How often to rescan when inotify cannot be relied on.
const FAST_RESCAN: Duration = Duration::from_secs(1);

impl FileSourceConfig {
    /// A source following the configured files.
    pub fn build(&self) -> FileSource {
        FileSource {
            config: self.clone(),
        }
    }
}

/// The running file source.
#[derive(Debug)]
pub struct FileSource {
    config: FileSourceConfig,
}

impl Source for FileSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), SourceError> {
        let SourceContext {
            id,
            output,
            shutdown,
            metrics,
            batch_max_events,
            batch_max_bytes,
            once,
            data_dir,
        } = ctx;
        let config = &self.config;
        let (soft, hard) = limits::descriptor_limits();
        if let Some(warning) = limits::descriptor_warning(config.max_open_files, soft, hard) {
            tracing::warn!(component = %id, "{warning}");
        }
        let gauges = SourceGauges::new(&metrics);
        let mut tailer = Tailer::new(
            config,
            TailerContext {
                source: id.clone(),
                data_dir,
                metrics,
                batch_max_events,
                batch_max_bytes,
                once,
            },
            Instant::now(),
        );
        let mut watch = (!once).then(|| Watch::new(&config.include));
        let acks = tailer.ack_receiver();
        let poll = config.poll_interval.0;
        let mut next_scan = Instant::now();
        let mut next_gauges = Instant::now();
        // A notification that ended the wait, applied at the next turn.
        let mut pending: Option<Wake> = None;
        let result = loop {
            let now = Instant::now();
            if now >= next_gauges {
                gauges.publish(&tailer, now);
                next_gauges = now + Duration::from_secs(1);
            }
            let mut rescan = now >= next_scan || tailer.wants_rescan();
            if let Some(w) = &watch {
                tailer.set_notified(w.complete());
                for wake in pending.take().into_iter().chain(w.receiver().try_iter()) {
                    rescan |= apply(&mut tailer, wake);
                }
                if w.take_overflow() {
                    tailer.wake_all();
                }
            }
            let mut opened = 0;
            if rescan {
                if let Some(w) = &mut watch {
                    w.retry();
                }
                opened = match tailer.scan(now, &output) {
                    Ok(n) => n,
                    Err(closed) => break Err(SourceError::Closed(closed)),
                };
                let fast =
                    tailer.wants_fast_rescan() || !watch.as_ref().is_some_and(Watch::complete);
                let interval = if fast && !once {
                    config.glob_interval.0.min(FAST_RESCAN)
                } else {
                    config.glob_interval.0
                };
                next_scan = Instant::now() + interval;
            }
            let progressed = match tailer.step(now, &output) {
                Ok(p) => p,
                Err(closed) => break Err(SourceError::Closed(closed)),
            };
            if !shutdown.is_poisoned() {
                tailer.checkpoint_if_due(now);
            }
            if shutdown.is_stopping() {
                break Ok(());
            }
            if once {
                if !progressed && opened == 0 && tailer.nothing_open() {
                    if rescan {
                        break Ok(());
                    }
                    // One more scan: files beyond max_open_files wait for it.
                    next_scan = Instant::now();
                } else if !progressed && shutdown.wait(Duration::from_millis(5)) {
                    // Only unreadable files left: retry without spinning.
                    break Ok(());
                }
                continue;
            }
            if !progressed {
                let mut until = next_scan.min(now + poll);
                for t in [tailer.next_deadline(), tailer.next_checkpoint()]
                    .into_iter()
                    .flatten()
                {
                    until = until.min(t);
                }
                let wait = until.saturating_duration_since(Instant::now());
                let stop = shutdown.receiver();
                // An acknowledgement ends the wait too: it may make the group
                // commit due (checkpointer), or finish a rotated file.
                let never = crossbeam_channel::never();
                let wake = watch.as_ref().map_or(&never, |w| w.receiver());
                crossbeam_channel::select! {
                    recv(wake) -> msg => pending = msg.ok(),
                    recv(acks) -> ack => {
                        if let Ok(ack) = ack {
                            tailer.apply_ack(ack);
                        }
                    }
                    recv(stop) -> _ => {}
                    default(wait) => {}
                }
                if watch.is_none() && shutdown.is_stopping() {
                    break Ok(());
                }
            }
        };
        // Stopping: send complete lines already batched; lines held back (a
        // partial line, an open multiline group) stay unsent and are read whole
        // by the next run. Then wait for the acknowledgements, so the final
        // checkpoint covers everything delivered.
        let flushed = tailer.flush_batches(&output);
        drop(output);
        drop(watch);
        while !tailer.all_acked() && !shutdown.is_forced() {
            tailer.wait_acks(Duration::from_millis(50));
        }
        if shutdown.is_poisoned() {
            tracing::error!(component = %id, "a component failed: keeping the last checkpoint, so lines after it are read again on restart");
        } else if !tailer.write_checkpoint(Instant::now()) {
            tracing::error!(component = %id, "final checkpoint not written; some lines may be read again after a restart");
        }
        result?;
        flushed.map_err(SourceError::Closed)
    }
}

/// Hands a notification to the tailer; returns whether it asks for a rescan.
fn apply(tailer: &mut Tailer, wake: Wake) -> bool {
    match wake {
        Wake::Rescan => true,
        Wake::Read(paths) => {
            for path in &paths {
                tailer.wake_path(path);
            }
            false
        }
        Wake::All => {
            tailer.wake_all();
            false
        }
    }
}

/// The file source's gauges on `/metrics` (names in
/// [`logagent_core::telemetry::metrics::source_names`]), refreshed once a second.
struct SourceGauges {
    open_files: Arc<std::sync::atomic::AtomicU64>,
    read_lag: Arc<std::sync::atomic::AtomicU64>,
    checkpoint_age: Arc<std::sync::atomic::AtomicU64>,
}

impl SourceGauges {
    fn new(metrics: &logagent_core::telemetry::metrics::ComponentMetrics) -> SourceGauges {
        use logagent_core::telemetry::metrics::source_names as n;
        let l = &metrics.labeled;
        SourceGauges {
            open_files: l.gauge(n::OPEN_FILES, &[]),
            read_lag: l.gauge(n::READ_LAG_BYTES, &[]),
            checkpoint_age: l.gauge(n::CHECKPOINT_AGE_SECONDS, &[]),
        }
    }

    fn publish(&self, tailer: &Tailer, now: Instant) {
        use std::sync::atomic::Ordering::Relaxed;
        self.open_files.store(tailer.open_files() as u64, Relaxed);
        self.read_lag.store(tailer.read_lag_bytes(), Relaxed);
        self.checkpoint_age
            .store(tailer.checkpoint_age(now).as_secs(), Relaxed);
    }
}

impl SourceComponent for FileSourceConfig {
    fn check(&self) -> Vec<logagent_core::KeyError> {
        FileSourceConfig::check(self)
    }

    fn build(&self) -> Box<dyn Source> {
        Box::new(FileSourceConfig::build(self))
    }
}
