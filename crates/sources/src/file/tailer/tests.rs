//! The tailer's unit tests: stepped synchronously against real files in a
//! temporary directory, time passed in.

use super::*;
use logagent_core::event::Batch;
use logagent_core::{ByteSize, HumanDuration};
use std::io::Write;

/// A tailer over `dir/*.log` with its batches collected by the test.
struct T {
    dir: tempfile::TempDir,
    config: FileSourceConfig,
    tailer: Tailer,
    out: Output,
    rx: Receiver<Batch>,
    now: Instant,
    metrics: Arc<ComponentMetrics>,
}

impl T {
    fn new(edit: impl FnOnce(&mut FileSourceConfig)) -> T {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("logs")).unwrap();
        let mut config =
            FileSourceConfig::with_include(vec![format!("{}/logs/*.log*", dir.path().display())]);
        edit(&mut config);
        let (tx, rx) = crossbeam_channel::unbounded();
        let metrics = Arc::new(ComponentMetrics::default());
        let out = Output::new(vec![tx], metrics.clone());
        let now = Instant::now();
        let tailer = Self::make(&dir, &config, &metrics, now);
        T {
            dir,
            config,
            tailer,
            out,
            rx,
            now,
            metrics,
        }
    }

    fn make(
        dir: &tempfile::TempDir,
        config: &FileSourceConfig,
        metrics: &Arc<ComponentMetrics>,
        now: Instant,
    ) -> Tailer {
        Tailer::new(
            config,
            TailerContext {
                source: "t".into(),
                data_dir: dir.path().join("data"),
                metrics: metrics.clone(),
                batch_max_events: 100,
                batch_max_bytes: 1 << 20,
                once: false,
            },
            now,
        )
    }

    fn restart(&mut self) {
        self.tailer = Self::make(&self.dir, &self.config, &self.metrics, self.now);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(name)
    }

    fn append(&self, name: &str, text: &str) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Scans, steps until nothing moves, and returns the lines sent (acknowledged).
    fn run(&mut self, advance: Duration) -> Vec<String> {
        self.now += advance;
        self.tailer.scan(self.now, &self.out).unwrap();
        let mut lines = Vec::new();
        for _ in 0..100 {
            let progressed = self.tailer.step(self.now, &self.out).unwrap();
            let mut got = false;
            for batch in self.rx.try_iter() {
                got = true;
                lines.extend(
                    batch
                        .events
                        .iter()
                        .map(|e| String::from_utf8_lossy(&e.line).into_owned()),
                );
            }
            if !progressed && !got {
                break;
            }
        }
        self.tailer.drain_acks();
        lines
    }
}

/// Steps without a rescan; returns the lines that came out.
fn steps(t: &mut T, n: usize, advance: Duration) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..n {
        t.now += advance;
        t.tailer.step(t.now, &t.out).unwrap();
        for batch in t.rx.try_iter() {
            lines.extend(
                batch
                    .events
                    .iter()
                    .map(|e| String::from_utf8_lossy(&e.line).into_owned()),
            );
        }
    }
    t.tailer.drain_acks();
    lines
}

fn since(t: &T, before: IoCounts) -> IoCounts {
    let now = t.tailer.io_counts();
    IoCounts {
        reads: now.reads - before.reads,
        fstats: now.fstats - before.fstats,
        path_stats: now.path_stats - before.path_stats,
        head_reads: now.head_reads - before.head_reads,
    }
}

#[test]
fn idle_files_cost_no_read_and_at_most_one_fstat_per_look() {
    const N: u64 = 40;
    const K: u64 = 25;
    let mut t = T::new(|c| c.partial_line_timeout = HumanDuration(Duration::from_secs(5)));
    for i in 0..N {
        t.append(&format!("f{i:02}.log"), &format!("{{\"n\":{i}}}\n"));
    }
    let mut got = t.run(Duration::ZERO);
    got.extend(t.run(Duration::from_millis(1)));
    assert_eq!(got.len(), N as usize);
    assert_eq!(t.tailer.open_files(), N as usize);

    // Without notifications every step polls every file: one fstat each,
    // no read, no look at the path.
    let before = t.tailer.io_counts();
    assert!(steps(&mut t, K as usize, Duration::from_millis(300)).is_empty());
    let cost = since(&t, before);
    assert_eq!(
        (cost.reads, cost.path_stats, cost.head_reads),
        (0, 0, 0),
        "{cost:?}"
    );
    assert_eq!(cost.fstats, N * K, "{cost:?}");

    // Relying on notifications: one look at everything, then nothing at
    // all for files nothing names.
    t.tailer.set_notified(true);
    let before = t.tailer.io_counts();
    assert!(steps(&mut t, K as usize, Duration::from_millis(300)).is_empty());
    let cost = since(&t, before);
    assert_eq!(
        cost,
        IoCounts {
            reads: 0,
            fstats: N,
            path_stats: 0,
            head_reads: 0,
        }
    );

    // A rescan lists and stats: one fstat per open file, no read.
    let before = t.tailer.io_counts();
    t.now += Duration::from_secs(10);
    t.tailer.scan(t.now, &t.out).unwrap();
    assert!(steps(&mut t, 1, Duration::ZERO).is_empty());
    let cost = since(&t, before);
    assert_eq!(
        cost,
        IoCounts {
            reads: 0,
            fstats: N,
            path_stats: 0,
            head_reads: 0,
        }
    );

    // A write named by a notification costs that file one fstat, one read
    // and one look at its path; the others nothing.
    t.append("f07.log", "{\"n\":\"more\"}\n");
    t.tailer.wake_path(&t.path("f07.log"));
    let before = t.tailer.io_counts();
    assert_eq!(
        steps(&mut t, 3, Duration::from_millis(1)),
        ["{\"n\":\"more\"}"]
    );
    let cost = since(&t, before);
    assert_eq!(
        cost,
        IoCounts {
            reads: 1,
            fstats: 1,
            path_stats: 1,
            head_reads: 1,
        }
    );

    // A partial line's timeout fires without any notification.
    t.append("f08.log", "half");
    t.tailer.wake_path(&t.path("f08.log"));
    assert!(steps(&mut t, 1, Duration::ZERO).is_empty());
    assert!(steps(&mut t, 1, Duration::from_secs(4)).is_empty());
    assert_eq!(steps(&mut t, 1, Duration::from_secs(1)), ["half"]);

    // A file written without a notification is found by the next rescan.
    t.append("f09.log", "unannounced\n");
    assert!(steps(&mut t, 3, Duration::from_secs(1)).is_empty());
    t.now += Duration::from_secs(10);
    t.tailer.scan(t.now, &t.out).unwrap();
    assert_eq!(steps(&mut t, 1, Duration::ZERO), ["unannounced"]);

    // A deleted idle file is noticed by the rescan, read to its end and closed.
    fs::remove_file(t.path("f10.log")).unwrap();
    t.now += Duration::from_secs(10);
    t.tailer.scan(t.now, &t.out).unwrap();
    steps(&mut t, 2, Duration::ZERO);
    assert_eq!(t.tailer.open_files(), N as usize - 1);
}

#[cfg(unix)]
#[test]
fn a_symlinked_file_is_polled_since_notifications_miss_its_writes() {
    let mut t = T::new(|_| {});
    let target = t.dir.path().join("target.txt");
    fs::write(&target, "first\n").unwrap();
    std::os::unix::fs::symlink(&target, t.path("link.log")).unwrap();
    assert_eq!(t.run(Duration::ZERO), ["first"]);
    t.tailer.set_notified(true);
    // Idle, it is polled less and less often: at most one fstat per
    // poll_interval, fewer as the period doubles.
    let before = t.tailer.io_counts();
    assert!(steps(&mut t, 40, Duration::from_millis(250)).is_empty());
    let cost = since(&t, before);
    assert_eq!((cost.reads, cost.path_stats, cost.head_reads), (0, 0, 0));
    assert!(cost.fstats >= 2 && cost.fstats <= 10, "{cost:?}");
    // A write to the target, which no notification names, is read within
    // the longest period (8 poll intervals).
    let mut f = fs::OpenOptions::new().append(true).open(&target).unwrap();
    f.write_all(b"second\n").unwrap();
    assert_eq!(steps(&mut t, 9, Duration::from_millis(250)), ["second"]);
}

#[test]
fn a_file_shorter_than_the_fingerprint_is_read_and_bound_later() {
    let mut t = T::new(|_| {});
    t.append("a.log", "one\n");
    assert_eq!(t.run(Duration::ZERO), ["one"]);
    let e = &t.tailer.checkpoint_entries()[0];
    let fp = Fingerprint::decode(e.fingerprint.as_deref().unwrap()).unwrap();
    assert_eq!(
        (fp.len, e.offset),
        (4, 4),
        "a partial fingerprint of what is there"
    );
    t.append("a.log", &"x".repeat(300));
    t.append("a.log", "\n");
    assert_eq!(t.run(Duration::from_millis(10)).len(), 1);
    let e = &t.tailer.checkpoint_entries()[0];
    let fp = Fingerprint::decode(e.fingerprint.as_deref().unwrap()).unwrap();
    assert_eq!(fp.len, 256, "bound once long enough");
}

/// The stream ids the checkpoint on disk holds, by path.
fn saved_streams(t: &T) -> Vec<(PathBuf, Option<u64>)> {
    crate::checkpoint::load(&t.dir.path().join("data"), "t", |_| {})
        .unwrap()
        .map(|cp| cp.files.into_iter().map(|f| (f.path, f.stream)).collect())
        .unwrap_or_default()
}

#[test]
fn a_new_files_stream_id_is_saved_before_its_first_line_is_sent() {
    let mut t = T::new(|_| {});
    // Created empty (as after a rename rotation): opened, nothing to send.
    t.append("a.log", "");
    assert!(t.run(Duration::ZERO).is_empty());
    t.append("a.log", "1\n");
    t.now += Duration::from_millis(1);
    t.tailer.scan(t.now, &t.out).unwrap();
    t.tailer.step(t.now, &t.out).unwrap();
    let sent: Vec<Batch> = t.rx.try_iter().collect();
    assert_eq!(sent.len(), 1);
    // Sent, not acknowledged, no periodic checkpoint yet: the id is on disk.
    assert_eq!(
        saved_streams(&t),
        [(t.path("a.log"), Some(sent[0].stream.id))]
    );
    assert_eq!(t.tailer.checkpoint_entries()[0].offset, 0);
}

#[test]
fn stream_ids_survive_a_restart_and_an_inode_reused_gets_a_new_one() {
    let mut t = T::new(|_| {});
    t.append("a.log", "1\n");
    t.now += Duration::from_millis(1);
    t.tailer.scan(t.now, &t.out).unwrap();
    t.tailer.step(t.now, &t.out).unwrap();
    let first = t.rx.try_iter().next().unwrap().stream.id;
    t.restart();
    t.append("a.log", "2\n");
    t.now += Duration::from_millis(1);
    t.tailer.scan(t.now, &t.out).unwrap();
    t.tailer.step(t.now, &t.out).unwrap();
    let batches: Vec<Batch> = t.rx.try_iter().collect();
    assert!(
        batches.iter().all(|b| b.stream.id == first),
        "same content, same id"
    );
    drop(batches);
    t.tailer.drain_acks();
    // Another content at the same path (and perhaps the same inode).
    fs::remove_file(t.path("a.log")).unwrap();
    t.append("a.log", "other\n");
    t.restart();
    t.now += Duration::from_millis(1);
    t.tailer.scan(t.now, &t.out).unwrap();
    t.tailer.step(t.now, &t.out).unwrap();
    let b = t.rx.try_iter().next().unwrap();
    assert_eq!(&b.events[0].line[..], b"other");
    assert_ne!(b.stream.id, first);
}

#[test]
fn a_restart_resumes_at_the_acknowledged_offset() {
    let mut t = T::new(|_| {});
    t.append("a.log", "1\n2\n");
    assert_eq!(t.run(Duration::ZERO), ["1", "2"]);
    assert!(t.tailer.write_checkpoint(t.now));
    t.append("a.log", "3\n");
    t.restart();
    assert_eq!(t.run(Duration::ZERO), ["3"]);
}

#[test]
fn unacknowledged_lines_are_read_again_after_a_restart() {
    let mut t = T::new(|_| {});
    t.append("a.log", "1\n");
    assert_eq!(t.run(Duration::ZERO), ["1"]);
    t.append("a.log", "2\n");
    t.now += Duration::from_millis(1);
    t.tailer.scan(t.now, &t.out).unwrap();
    t.tailer.step(t.now, &t.out).unwrap();
    let held: Vec<Batch> = t.rx.try_iter().collect(); // not acknowledged yet
    assert!(t.tailer.write_checkpoint(t.now));
    assert_eq!(t.tailer.checkpoint_entries()[0].offset, 2);
    drop(held);
    t.restart();
    assert_eq!(t.run(Duration::ZERO), ["2"]);
}

#[test]
fn a_corrupt_checkpoint_is_reported_and_the_source_starts_anyway() {
    let mut t = T::new(|_| {});
    t.append("a.log", "1\n");
    let cp = crate::checkpoint::path_for(&t.dir.path().join("data"), "t");
    fs::create_dir_all(cp.parent().unwrap()).unwrap();
    fs::write(&cp, "{\"version\":1,\"sou").unwrap();
    t.restart();
    assert_eq!(t.run(Duration::ZERO), ["1"]);
    assert!(t.tailer.write_checkpoint(t.now));
    let back = crate::checkpoint::load(&t.dir.path().join("data"), "t", |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(back.files[0].offset, 2);
}

#[test]
fn a_partial_last_line_waits_for_its_timeout() {
    let mut t = T::new(|c| c.partial_line_timeout = HumanDuration(Duration::from_secs(5)));
    t.append("a.log", "done\nhalf");
    assert_eq!(t.run(Duration::ZERO), ["done"]);
    assert_eq!(
        t.tailer.next_deadline(),
        Some(t.now + Duration::from_secs(5))
    );
    assert!(t.run(Duration::from_secs(4)).is_empty());
    assert_eq!(t.run(Duration::from_secs(1)), ["half"]);
}

#[test]
fn a_rotated_file_is_read_to_its_end_and_its_last_line_sent() {
    let mut t = T::new(|c| {
        c.include = vec![format!(
            "{}/logs/app.log",
            c.include[0].rsplit_once("/logs/").unwrap().0
        )];
    });
    t.append("app.log", "a\n");
    assert_eq!(t.run(Duration::ZERO), ["a"]);
    t.append("app.log", "b\nlast");
    fs::rename(t.path("app.log"), t.path("app.log.1")).unwrap();
    t.append("app.log", "new\n");
    let mut got = t.run(Duration::from_millis(1));
    got.extend(t.run(Duration::from_millis(1)));
    got.sort();
    assert_eq!(got, ["b", "last", "new"]);
    // Acknowledged and read to its end: closed and finished.
    assert_eq!(t.tailer.open_files(), 1);
    assert!(
        t.tailer
            .checkpoint_entries()
            .iter()
            .any(|e| e.finished && e.offset == 8)
    );
}

#[test]
fn gzip_files_never_checkpointed_are_read() {
    let mut t = T::new(|_| {});
    let mut enc = flate2::write::GzEncoder::new(
        fs::File::create(t.path("old.log.1.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(b"z1\nz2\n").unwrap();
    enc.finish().unwrap();
    let mut got = t.run(Duration::ZERO);
    got.sort();
    assert_eq!(got, ["z1", "z2"]);
    let e = &t.tailer.checkpoint_entries()[0];
    assert!(e.compressed && e.finished && e.offset == 6);
    assert!(t.run(Duration::from_secs(20)).is_empty(), "read once");
}

#[test]
fn descriptors_stay_within_max_open_files() {
    let mut t = T::new(|c| c.max_open_files = 3);
    for i in 0..10 {
        t.append(&format!("f{i}.log"), &format!("line{i}\n"));
    }
    let mut got = Vec::new();
    for _ in 0..10 {
        got.extend(t.run(Duration::from_secs(1)));
        assert!(t.tailer.open_files() <= 3);
    }
    got.sort();
    let want: Vec<String> = (0..10).map(|i| format!("line{i}")).collect();
    assert_eq!(got, want);
    // A closed file that grows is reopened where it stopped.
    t.append("f0.log", "more\n");
    let mut more = Vec::new();
    for _ in 0..5 {
        more.extend(t.run(Duration::from_secs(1)));
    }
    assert_eq!(more, ["more"]);
}

#[test]
fn old_files_are_ignored_but_their_checkpoints_kept() {
    let mut t = T::new(|c| c.ignore_older_than = Some(HumanDuration(Duration::from_secs(3600))));
    t.append("a.log", "1\n");
    assert_eq!(t.run(Duration::ZERO), ["1"]);
    assert!(t.tailer.write_checkpoint(t.now));
    let f = fs::File::options()
        .write(true)
        .open(t.path("a.log"))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    t.append("b.log", "b\n");
    let f = fs::File::options()
        .write(true)
        .open(t.path("b.log"))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    t.restart();
    assert!(t.run(Duration::ZERO).is_empty(), "old files are not opened");
    assert_eq!(
        t.tailer.checkpoint_entries().len(),
        1,
        "the checkpoint is kept"
    );
    t.append("a.log", "2\n");
    assert_eq!(
        t.run(Duration::from_secs(1)),
        ["2"],
        "resumed at its checkpoint"
    );
}

#[test]
fn long_lines_are_cut_or_dropped_and_counted() {
    let mut t = T::new(|c| {
        c.max_line_bytes = ByteSize(8);
        c.oversize_lines = crate::OversizeLines::Drop;
    });
    t.append("a.log", &format!("ok\n{}\nafter\n", "x".repeat(50)));
    assert_eq!(t.run(Duration::ZERO), ["ok", "after"]);
    assert_eq!(t.metrics.snapshot().discarded_events, 1);
    assert_eq!(t.tailer.checkpoint_entries()[0].offset, 60);
}

#[test]
fn read_from_end_skips_existing_content_only() {
    let mut t = T::new(|c| c.read_from = ReadFrom::End);
    t.append("a.log", "old\n");
    assert!(t.run(Duration::ZERO).is_empty());
    t.append("a.log", "new\n");
    t.append("b.log", "fresh file\n");
    let mut got = t.run(Duration::from_secs(1));
    got.sort();
    assert_eq!(got, ["fresh file", "new"]);
}

#[test]
fn multiline_groups_flush_on_timeout_and_checkpoints_stay_before_them() {
    let mut t = T::new(|c| {
        c.multiline = Some(crate::file::config::MultilineConfig {
            mode: crate::file::config::MultilineMode::Indented,
            pattern: None,
            max_lines: 100,
            max_bytes: ByteSize(1 << 20),
            timeout: HumanDuration(Duration::from_secs(2)),
        });
    });
    t.append("a.log", "Exception\n  at a\n  at b\n");
    assert!(t.run(Duration::ZERO).is_empty());
    assert!(t.tailer.write_checkpoint(t.now));
    assert_eq!(
        t.tailer.checkpoint_entries()[0].offset,
        0,
        "the open group is not acknowledged"
    );
    assert_eq!(t.run(Duration::from_secs(2)), ["Exception\n  at a\n  at b"]);
    assert!(t.tailer.write_checkpoint(t.now));
    assert_eq!(t.tailer.checkpoint_entries()[0].offset, 24);
}

fn copies(t: &T) -> u64 {
    t.metrics
        .labeled
        .counter(source_names::FILE_COPIES_TOTAL, &[])
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The same start-up banner, longer than the fingerprint.
fn banner() -> String {
    format!("{}\n", "=".repeat(299))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Regression: the second of two replicas printing the same banner was
/// never read (taken for a copy of the first).
#[test]
fn two_live_files_with_the_same_banner_are_both_read_in_full() {
    let mut t = T::new(|_| {});
    let b = banner();
    t.append("a.log", &format!("{b}a1\n"));
    t.append("b.log", &format!("{b}b1\n"));
    let ban = b.trim_end().to_string();
    assert_eq!(
        sorted(t.run(Duration::ZERO)),
        sorted(vec![ban.clone(), ban.clone(), "a1".into(), "b1".into()])
    );
    t.append("a.log", "a2\n");
    t.append("b.log", "b2\n");
    assert_eq!(sorted(t.run(Duration::from_millis(10))), ["a2", "b2"]);
    assert!(t.tailer.write_checkpoint(t.now));
    t.append("a.log", "a3\n");
    t.append("b.log", "b3\n");
    t.restart();
    assert_eq!(sorted(t.run(Duration::ZERO)), ["a3", "b3"]);
    assert_eq!(copies(&t), 0, "neither is a copy");
}

/// Files that are the same bytes, not just the same head: the second may
/// be a copy in progress, so it waits for the first's truncation, at most
/// COPY_GRACE, then is read as a file of its own.
#[test]
fn identical_live_files_are_both_read_after_the_copy_grace() {
    let mut t = T::new(|_| {});
    let b = banner();
    t.append("a.log", &b);
    assert_eq!(t.run(Duration::ZERO).len(), 1);
    t.append("b.log", &b);
    assert!(
        t.run(Duration::from_millis(10)).is_empty(),
        "a copy in progress?"
    );
    assert!(
        t.tailer.wants_fast_rescan(),
        "the wait is ended by a rescan"
    );
    assert!(t.run(Duration::from_secs(5)).is_empty());
    assert_eq!(t.run(COPY_GRACE), [b.trim_end()]);
    assert!(!t.tailer.wants_fast_rescan());
    t.append("b.log", "b1\n");
    assert_eq!(t.run(Duration::from_millis(10)), ["b1"]);
    assert_eq!(copies(&t), 0);
}

#[test]
fn files_shorter_than_the_fingerprint_are_read_at_once() {
    let mut t = T::new(|_| {});
    t.append("a.log", "hello\n");
    assert_eq!(t.run(Duration::ZERO), ["hello"]);
    t.append("b.log", "hello\n");
    assert_eq!(t.run(Duration::from_millis(10)), ["hello"]);
}

/// copytruncate seen half way: the copy waits, and once the original is
/// truncated it continues where reading stopped; nothing is read twice.
#[test]
fn a_copy_in_progress_waits_for_the_truncation_then_continues() {
    let mut t = T::new(|_| {});
    let body = read_forty_lines(&mut t);
    t.append("app.log", "tail-1\n");
    // The copy has the first 300 bytes so far (more than the fingerprint).
    fs::write(t.path("app.log.1"), &body[..300]).unwrap();
    assert_eq!(t.run(Duration::from_millis(10)), ["tail-1"]);
    let full = fs::read(t.path("app.log")).unwrap();
    fs::write(t.path("app.log.1"), &full).unwrap();
    assert!(t.run(Duration::from_millis(10)).is_empty());
    fs::File::options()
        .write(true)
        .open(t.path("app.log"))
        .unwrap()
        .set_len(0)
        .unwrap();
    assert!(t.run(Duration::from_millis(10)).is_empty());
    t.append("app.log", "after\n");
    assert_eq!(t.run(Duration::from_millis(10)), ["after"]);
    assert_eq!(copies(&t), 1, "the copy continued the original");
}

/// Writes 40 lines to `app.log` and reads them; returns what was written.
fn read_forty_lines(t: &mut T) -> String {
    let body: String = (0..40).map(|i| format!("line-{i:04}\n")).collect();
    t.append("app.log", &body);
    assert_eq!(t.run(Duration::ZERO).len(), 40);
    body
}

/// Regression (torture, rename + gzip, after a restart): a known file renamed
/// between the scan's listing and its check was checked under its old name,
/// which by then was the new file: its sample was not there, its entry was
/// dropped, and under its new name it was read again from the start.
#[test]
fn a_known_file_renamed_while_it_is_judged_is_resumed_under_its_new_name() {
    let mut t = T::new(|_| {});
    read_forty_lines(&mut t);
    assert!(t.tailer.write_checkpoint(t.now));
    t.restart();
    t.append("app.log", "tail-1\n");
    // The scan lists app.log (this inode)...
    let path = t.path("app.log");
    let meta = fs::metadata(&path).unwrap();
    let file = FileId::of(&meta);
    let (head, gz) = read_head_of(&path, t.tailer.skip() + t.tailer.fp_bytes()).unwrap();
    // ...then it is rotated before the scan looks at it.
    fs::rename(&path, t.path("app.log.1")).unwrap();
    t.append("app.log", "new-0\n");
    let seen = HashMap::from([(file, path.as_path())]);
    assert!(
        !t.tailer
            .consider(&path, file, &meta, &head, gz, false, t.now, &seen)
    );
    assert!(t.tailer.wants_rescan(), "judged again at once");
    let mut got = t.run(Duration::from_millis(10));
    got.sort();
    assert_eq!(
        got,
        ["new-0", "tail-1"],
        "resumed where it stopped, nothing twice"
    );
}

/// Regression (torture, rename + gzip, after a restart): the listing saw the
/// rotated file, which the compressor deleted before its archive was judged;
/// the entry counted as a live file, the archive as another file, and every
/// line was read again from the start.
#[test]
fn an_archive_of_a_file_deleted_since_the_listing_continues_its_entry() {
    let mut t = T::new(|_| {});
    let body = read_forty_lines(&mut t);
    assert!(t.tailer.write_checkpoint(t.now));
    t.restart();
    let rotated = t.path("app.log.1");
    fs::rename(t.path("app.log"), &rotated).unwrap();
    let listed = FileId::of(&fs::metadata(&rotated).unwrap());
    let archive = t.path("app.log.1.gz");
    fs::write(&archive, gzip(body.as_bytes())).unwrap();
    fs::remove_file(&rotated).unwrap();
    let meta = fs::metadata(&archive).unwrap();
    let file = FileId::of(&meta);
    let (head, gz) = read_head_of(&archive, t.tailer.skip() + t.tailer.fp_bytes()).unwrap();
    assert!(gz);
    let seen = HashMap::from([(listed, rotated.as_path()), (file, archive.as_path())]);
    let verdict = t
        .tailer
        .known_content(&archive, file, &meta, &head, gz, t.now, &seen);
    assert!(
        matches!(verdict, Known::Continue(_)),
        "the archive holds the entry's content"
    );
    assert!(
        t.run(Duration::from_millis(10)).is_empty(),
        "nothing read twice"
    );
}

/// Regression (torture, copytruncate): the copy was compared after the
/// original's truncation but before the tailer noticed it, found no bytes
/// to match, and was read from the start as a file of its own.
#[test]
fn a_copy_judged_between_the_truncation_and_its_notice_waits_then_continues() {
    let mut t = T::new(|_| {});
    let body = read_forty_lines(&mut t);
    // copytruncate completes between the scan's truncation check and its
    // look at the copy: the copy is judged with the original still open.
    let copy = t.path("app.log.1");
    fs::write(&copy, &body).unwrap();
    fs::File::options()
        .write(true)
        .open(t.path("app.log"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let meta = fs::metadata(&copy).unwrap();
    let file = FileId::of(&meta);
    let (head, gz) = read_head_of(&copy, t.tailer.skip() + t.tailer.fp_bytes()).unwrap();
    let seen = HashMap::from([(file, copy.as_path())]);
    let verdict = t
        .tailer
        .known_content(&copy, file, &meta, &head, gz, t.now, &seen);
    assert!(
        matches!(verdict, Known::Wait),
        "judged after the truncation is recorded"
    );
    assert!(t.tailer.wants_rescan(), "and that at once");
    assert!(
        t.run(Duration::from_millis(10)).is_empty(),
        "nothing read twice"
    );
    assert_eq!(copies(&t), 1, "the copy continued the original");
    t.append("app.log", "after\n");
    assert_eq!(t.run(Duration::from_millis(10)), ["after"]);
}

/// Regression: a gzip file under a matched name, first seen empty, was
/// read as text.
#[test]
fn gzip_written_in_steps_is_read_once_and_never_as_text() {
    let mut t = T::new(|_| {});
    let text: String = (0..500).map(|i| format!("z-{i:05}\n")).collect();
    let gz = gzip(text.as_bytes());
    let name = "x.log.2.gz.tmp";
    t.append(name, "");
    let mut got = t.run(Duration::ZERO);
    assert!(
        t.tailer.wants_fast_rescan(),
        "an empty file waits for bytes"
    );
    let mut at = 0;
    for step in [1, 1, 10, 100, 300] {
        let end = (at + step).min(gz.len());
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(t.path(name))
            .unwrap();
        f.write_all(&gz[at..end]).unwrap();
        drop(f);
        at = end;
        got.extend(t.run(Duration::from_millis(100)));
        assert!(got.is_empty(), "nothing before the stream is complete");
    }
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(t.path(name))
        .unwrap();
    f.write_all(&gz[at..]).unwrap();
    drop(f);
    got.extend(t.run(Duration::from_millis(100)));
    got.extend(t.run(SETTLE));
    let want: Vec<String> = text.lines().map(String::from).collect();
    assert_eq!(got, want);
    assert!(t.run(SETTLE * 2).is_empty(), "read once");
    assert_eq!(t.metrics.snapshot().errors, 0);
}

#[test]
fn a_plain_file_that_becomes_gzip_after_being_opened_is_not_read_as_text() {
    let mut t = T::new(|_| {});
    t.append("y.log", "");
    assert!(t.run(Duration::ZERO).is_empty());
    assert!(t.run(SETTLE).is_empty(), "opened empty, as text");
    fs::write(t.path("y.log"), gzip(b"g1\ng2\n")).unwrap();
    let mut got = t.run(Duration::from_millis(10));
    got.extend(t.run(Duration::from_millis(10)));
    assert_eq!(got, ["g1", "g2"]);
}

#[test]
fn a_truncated_gzip_is_read_as_far_as_valid_once_it_settles_and_counted() {
    let mut t = T::new(|_| {});
    let text: String = (0..4000)
        .map(|i| format!("t-{i:05} {}\n", i * 7919 % 1000))
        .collect();
    let gz = gzip(text.as_bytes());
    fs::write(t.path("cut.log.gz"), &gz[..gz.len() / 2]).unwrap();
    assert!(
        t.run(Duration::ZERO).is_empty(),
        "may still be being written"
    );
    assert!(t.run(Duration::from_secs(1)).is_empty());
    let got = t.run(SETTLE);
    assert!(!got.is_empty() && got.len() < 4000, "{} lines", got.len());
    let want: Vec<&str> = text.lines().take(got.len()).collect();
    assert_eq!(got[..got.len() - 1], want[..got.len() - 1]);
    let truncated = t
        .metrics
        .labeled
        .counter(ERRORS_BY_TYPE, &[("error_type", "gzip_truncated")])
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(truncated, 1);
    assert!(t.run(SETTLE).is_empty(), "finished");
}

#[test]
fn a_compressed_rotation_continues_where_the_plain_file_stopped() {
    let mut t = T::new(|_| {});
    let b = banner();
    t.append("app.log", &format!("{b}1\n2\n"));
    assert_eq!(t.run(Duration::ZERO).len(), 3);
    fs::rename(t.path("app.log"), t.path("app.log.1")).unwrap();
    assert!(t.run(Duration::from_millis(10)).is_empty());
    let plain = fs::read(t.path("app.log.1")).unwrap();
    let gz = gzip(&plain);
    fs::write(t.path("app.log.1.gz"), &gz[..gz.len() / 2]).unwrap();
    assert!(t.run(Duration::from_millis(10)).is_empty());
    fs::write(t.path("app.log.1.gz"), &gz).unwrap();
    assert!(
        t.run(Duration::from_millis(10)).is_empty(),
        "its original is still there"
    );
    fs::remove_file(t.path("app.log.1")).unwrap();
    assert!(t.run(Duration::from_millis(10)).is_empty());
    assert!(
        t.run(Duration::from_secs(1)).is_empty(),
        "nothing read twice"
    );
    assert_eq!(copies(&t), 1);
}

/// Pod churn: what the tailer keeps per file goes with the files once
/// their checkpoints expire.
#[test]
fn per_file_state_is_forgotten_with_the_files() {
    let mut t = T::new(|c| {
        c.include = vec![format!(
            "{}/pods/*/*/*.log",
            c.include[0].rsplit_once("/logs/").unwrap().0
        )];
        c.kubernetes_metadata = true;
        c.checkpoint_retention = HumanDuration(Duration::from_secs(3600));
    });
    let pods = t.dir.path().join("pods");
    for round in 0..3 {
        let mut dirs = Vec::new();
        for i in 0..20 {
            let d = pods
                .join(format!("ns_pod{round}x{i}_uid{round}x{i}"))
                .join("app");
            fs::create_dir_all(&d).unwrap();
            let text = if i % 5 == 0 {
                String::new()
            } else {
                format!("{round}-{i}\n")
            };
            fs::write(d.join("0.log"), text).unwrap();
            dirs.push(d);
        }
        assert_eq!(t.run(Duration::from_secs(1)).len(), 16);
        let now = t.tailer.tracked();
        assert_eq!((now.items, now.kubernetes, now.waiting), (16, 16, 4));
        for d in dirs {
            fs::remove_dir_all(d.parent().unwrap()).unwrap();
        }
        t.run(Duration::from_secs(1));
        assert_eq!(t.tailer.tracked().waiting, 0);
        t.run(Duration::from_secs(2 * 3600));
        assert_eq!(
            t.tailer.tracked(),
            Tracked {
                items: 0,
                waiting: 0,
                kubernetes: 0
            }
        );
    }
}

/// Regression: with `read_from = end`, a gzip file there at the start was
/// skipped by the first scan only, and read by the next.
#[test]
fn read_from_end_leaves_existing_gzip_files_unread_for_good() {
    let mut t = T::new(|c| c.read_from = ReadFrom::End);
    fs::write(t.path("old.log.1.gz"), gzip(b"old1\nold2\n")).unwrap();
    assert!(t.run(Duration::ZERO).is_empty());
    assert!(
        t.run(Duration::from_secs(20)).is_empty(),
        "not at a later scan either"
    );
    let e = &t.tailer.checkpoint_entries()[0];
    assert!(e.compressed && e.finished && e.offset == 10);
    fs::write(t.path("new.log.2.gz"), gzip(b"new1\n")).unwrap();
    assert_eq!(t.run(Duration::from_secs(1)), ["new1"], "a new one is read");
}
