use super::*;
use logagent_core::event::Stream;
use logagent_core::event::ack::Ack;
use logagent_core::flow::Outputs;
use logagent_core::flow::channel::Output;
use logagent_core::telemetry::metrics::ComponentMetrics;
use logagent_core::time::clock::ManualClock;
use std::io::Read;

/// 2030-01-01T10:30:00Z.
fn half_past_ten() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_493_800)
}

fn ctx() -> (SinkContext, logagent_core::flow::shutdown::ShutdownTrigger) {
    let (trigger, shutdown) = logagent_core::flow::detached_shutdown();
    let metrics = Arc::new(ComponentMetrics::default());
    let ctx = SinkContext {
        id: "out".into(),
        metrics: metrics.clone(),
        shutdown,
        outputs: Outputs::new(Output::new(Vec::new(), metrics), Vec::new()),
    };
    (ctx, trigger)
}

fn batch(lines: &[String], ack: AckToken) -> Batch {
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: None,
        id: 1,
    });
    logagent_core::event::test_batch::json_batch_in(stream, ack, lines)
}

fn sink(config: &str, clock: Arc<ManualClock>) -> FileSink {
    let cfg: FileSinkConfig = toml::from_str(config).unwrap();
    assert!(cfg.check().is_empty(), "{:?}", cfg.check());
    cfg.build_with_clock(clock)
}

/// Every line in the files of `dir` whose name starts with `prefix`, in rotation
/// order (rotated files by name, then the active one), gzip or not.
fn all_lines(dir: &Path, active: &str) -> Vec<String> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(active) && n.len() > active.len()
        })
        .collect();
    rotated.sort_by_key(|p| p.to_string_lossy().trim_end_matches(".gz").to_owned());
    rotated.push(dir.join(active));
    let mut out = Vec::new();
    for p in rotated {
        let mut text = String::new();
        if p.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(File::open(&p).unwrap())
                .read_to_string(&mut text)
                .unwrap();
        } else if p.exists() {
            text = std::fs::read_to_string(&p).unwrap();
        }
        out.extend(text.lines().map(str::to_owned));
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    logagent_core::test_support::wait_until(what, cond);
}

#[test]
fn rotates_by_size_compresses_and_loses_no_line() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(half_past_ten()));
    let mut s = sink(
        &format!(
            "path = \"{}/app.ndjson\"\nencoding = \"text\"\n[rotate]\nmax_size = \"1KiB\"",
            d.path().display()
        ),
        clock.clone(),
    );
    let (ctx, _t) = ctx();
    let mut expected = Vec::new();
    for b in 0..50 {
        let lines: Vec<String> = (0..20)
            .map(|i| format!("batch {b:02} line {i:02}"))
            .collect();
        expected.extend(lines.iter().cloned());
        s.write(batch(&lines, AckToken::detached()), &ctx).unwrap();
    }
    s.flush(&ctx).unwrap();
    // 1000 lines of 17 bytes: 16 rotations at 1KiB; wait for the background gzip.
    wait_until("every rotated file compressed", || {
        let n = names(d.path());
        n.iter().filter(|n| n.ends_with(".gz")).count() == 16
            && n.iter().all(|n| n == "app.ndjson" || n.ends_with(".gz"))
    });
    for n in names(d.path()).iter().filter(|n| n.ends_with(".gz")) {
        let p = d.path().join(n);
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(File::open(&p).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        // Rotated at the first event that reaches 1KiB: never more than one event over.
        assert!(
            (1024..1024 + 17).contains(&text.len()),
            "{n}: {} bytes",
            text.len()
        );
    }
    drop(s);
    assert_eq!(all_lines(d.path(), "app.ndjson"), expected);
}

#[test]
fn rotates_by_time_at_period_boundaries_and_on_restart() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(half_past_ten()));
    let config = format!(
        "path = \"{}/app.ndjson\"\nencoding = \"text\"\n[rotate]\ninterval = \"1h\"\ncompress = false",
        d.path().display()
    );
    let mut s = sink(&config, clock.clone());
    let (ctx, _t) = ctx();
    s.write(batch(&["ten thirty".into()], AckToken::detached()), &ctx)
        .unwrap();
    clock.advance(Duration::from_secs(20 * 60));
    s.write(batch(&["ten fifty".into()], AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    assert_eq!(names(d.path()), ["app.ndjson"]);
    clock.advance(Duration::from_secs(15 * 60));
    // Past 11:00: the next batch (or flush) rotates first.
    s.write(batch(&["eleven o five".into()], AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    assert_eq!(
        names(d.path()),
        ["app.ndjson", "app.ndjson.20300101T110500.000Z"]
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("app.ndjson.20300101T110500.000Z")).unwrap(),
        "ten thirty\nten fifty\n"
    );
    drop(s);
    // A restart two hours later finds the file of an ended period: rotated at open.
    let active = d.path().join("app.ndjson");
    File::options()
        .write(true)
        .open(&active)
        .unwrap()
        .set_modified(clock.now())
        .unwrap();
    clock.advance(Duration::from_secs(2 * 3600));
    let mut s = sink(&config, clock.clone());
    s.write(batch(&["one o five".into()], AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    assert_eq!(std::fs::read_to_string(&active).unwrap(), "one o five\n");
    assert_eq!(
        all_lines(d.path(), "app.ndjson"),
        ["ten thirty", "ten fifty", "eleven o five", "one o five"]
    );
}

#[test]
fn acks_wait_for_the_write_even_across_a_rotation() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(half_past_ten()));
    let mut s = sink(
        &format!(
            "path = \"{}/app.ndjson\"\nencoding = \"text\"\nbuffer_bytes = \"1MiB\"\n[rotate]\nmax_size = \"100B\"\ncompress = false",
            d.path().display()
        ),
        clock,
    );
    let (ctx, _t) = ctx();
    let (tx, rx) = crossbeam_channel::unbounded::<Ack>();
    // 10 lines of 30 bytes: rotates twice inside the batch; the tail stays buffered.
    let lines: Vec<String> = (0..10)
        .map(|i| format!("line {i:02} padded to thirty by"))
        .collect();
    s.write(batch(&lines, AckToken::new(1, 300, tx)), &ctx)
        .unwrap();
    assert!(
        rx.try_recv().is_err(),
        "acknowledged before all of its data was written"
    );
    s.flush(&ctx).unwrap();
    assert!(rx.try_recv().unwrap().delivered);
    assert_eq!(all_lines(d.path(), "app.ndjson"), lines);
    assert_eq!(names(d.path()).len(), 3);
}

#[test]
fn retention_keeps_the_newest_closed_files() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(half_past_ten()));
    let mut s = sink(
        &format!(
            "path = \"{}/app.ndjson\"\nencoding = \"text\"\n[rotate]\nmax_size = \"100B\"\n[retain]\nmax_files = 3",
            d.path().display()
        ),
        clock.clone(),
    );
    let (ctx, _t) = ctx();
    for b in 0..10 {
        clock.advance(Duration::from_secs(1));
        let lines: Vec<String> = (0..4)
            .map(|i| format!("batch {b} line {i} is long enough"))
            .collect();
        s.write(batch(&lines, AckToken::detached()), &ctx).unwrap();
    }
    s.flush(&ctx).unwrap();
    // Each batch of 4 lines of 30 bytes fills one file (rotated at 100B): 10
    // rotated files, of which the newest 3 are kept.
    wait_until("three compressed files left", || {
        let n = names(d.path());
        n.len() == 3 && n.iter().all(|n| n.ends_with(".gz"))
    });
    drop(s);
    let lines = all_lines(d.path(), "app.ndjson");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("batch 9 line 3 is long enough")
    );
    assert!(
        lines.iter().all(|l| l.starts_with("batch 7")
            || l.starts_with("batch 8")
            || l.starts_with("batch 9")),
        "{lines:?}"
    );
}

/// The seeds' "delete log rows older than 90 days with level < 40": events below
/// warn go to their own files, kept 90 days; the rest to files kept a year.
#[test]
fn levels_go_to_separate_files_with_their_own_retention() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(half_past_ten()));
    let config = format!(
        r#"path = "{0}/all/app-%Y-%m-%d.ndjson"
[retain]
max_age = "365d"
[levels]
min_level = 40
below_path = "{0}/low/app-%Y-%m-%d.ndjson"
below_retain = {{ max_age = "90d" }}
"#,
        d.path().display()
    );
    // Files from earlier days, as a long-running agent leaves them.
    for (dir, day) in [
        ("all", "2029-08-01"),
        ("low", "2029-08-01"),
        ("all", "2029-12-01"),
        ("low", "2029-12-01"),
    ] {
        std::fs::create_dir_all(d.path().join(dir)).unwrap();
        std::fs::write(d.path().join(format!("{dir}/app-{day}.ndjson")), "{}\n").unwrap();
    }
    let mut s = sink(&config, clock);
    let (ctx, _t) = ctx();
    let lines: Vec<String> = [
        r#"{"level":"debug","n":1}"#,
        r#"{"level":"INFO","n":2}"#,
        r#"{"level":"warn","n":3}"#,
        r#"{"level":50,"n":4}"#,
        r#"{"level":30,"n":5}"#,
        r#"{"n":6}"#,
        r#"{"level":"chatty","n":7}"#,
        "plain text",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    s.write(batch(&lines, AckToken::detached()), &ctx).unwrap();
    s.flush(&ctx).unwrap();
    // No event time: the sink's clock dates them (2030-01-01).
    let read = |p: &str| std::fs::read_to_string(d.path().join(p)).unwrap();
    assert_eq!(
        read("low/app-2030-01-01.ndjson"),
        "{\"level\":\"debug\",\"n\":1}\n{\"level\":\"INFO\",\"n\":2}\n{\"level\":30,\"n\":5}\n"
    );
    assert_eq!(
        read("all/app-2030-01-01.ndjson"),
        "{\"level\":\"warn\",\"n\":3}\n{\"level\":50,\"n\":4}\n{\"n\":6}\n{\"level\":\"chatty\",\"n\":7}\n{\"message\":\"plain text\"}\n"
    );
    // Below-warn files older than 90 days go; the others are kept for a year.
    wait_until("the old low-level file deleted", || {
        !d.path().join("low/app-2029-08-01.ndjson").exists()
    });
    drop(s);
    assert_eq!(
        names(&d.path().join("low")),
        ["app-2029-12-01.ndjson", "app-2030-01-01.ndjson"]
    );
    assert_eq!(
        names(&d.path().join("all")),
        [
            "app-2029-08-01.ndjson",
            "app-2029-12-01.ndjson",
            "app-2030-01-01.ndjson"
        ]
    );
}

#[test]
fn bad_rotation_options_are_reported_by_key() {
    let cfg: FileSinkConfig = toml::from_str(
        "path = \"x\"\n[rotate]\ncompress_level = 0\n[retain]\n[levels]\nmin_level = \"loud\"\nbelow_path = \"x\"",
    )
    .unwrap();
    let keys: Vec<String> = cfg.check().into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        [
            "rotate",
            "rotate.compress_level",
            "retain",
            "levels.min_level",
            "levels.below_path"
        ]
    );
}

#[test]
fn batches_never_written_are_reported_undelivered() {
    let dir = tempfile::tempdir().unwrap();
    let config: FileSinkConfig = toml::from_str(&format!(
        "path = {:?}\nflush_interval = \"1h\"",
        dir.path().join("out.ndjson").display().to_string()
    ))
    .unwrap();
    let mut sink = config.build();
    let (tx, rx) = crossbeam_channel::unbounded();
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: None,
        id: 1,
    });
    let mut batch = Batch::new(stream, AckToken::new(1, 10, tx), 1);
    batch
        .events
        .push(Event::new(bytes::Bytes::from_static(b"x"), 0));
    let (_trigger, shutdown) = logagent_core::flow::detached_shutdown();
    let ctx = SinkContext {
        id: "o".into(),
        metrics: Arc::default(),
        shutdown,
        outputs: logagent_core::flow::Outputs::new(
            logagent_core::flow::Output::new(Vec::new(), Arc::default()),
            Vec::new(),
        ),
    };
    sink.write(batch, &ctx).unwrap();
    assert!(rx.try_recv().is_err(), "buffered, not yet acknowledged");
    drop(sink);
    assert!(!rx.try_recv().unwrap().delivered);
}

/// A batch of text lines `from..to` of file stream `id` of source "s", each
/// line 10 bytes (`line 0001\n`), offsets as a file source sets them.
fn file_batch(id: u64, from: u64, to: u64, ack: AckToken) -> Batch {
    let stream = Arc::new(Stream {
        source: "s".into(),
        path: Some(PathBuf::from("/var/log/app.log")),
        id,
    });
    let mut b = Batch::new(stream, ack, (to - from) as usize);
    for n in from..to {
        b.events.push(Event::new(
            bytes::Bytes::from(format!("line {n:04}")),
            n * 10,
        ));
    }
    b
}

fn exactly_once_sink(dir: &Path, extra: &str) -> FileSink {
    let cfg: FileSinkConfig = toml::from_str(&format!(
        "path = \"{}/out/app.ndjson\"\nencoding = \"text\"\nflush_interval = \"1h\"\nbuffer_bytes = 64\n{extra}",
        dir.display()
    ))
    .unwrap();
    assert!(cfg.check().is_empty(), "{:?}", cfg.check());
    cfg.build_in(dir)
}

fn text_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn expected(from: u64, to: u64) -> Vec<String> {
    (from..to).map(|n| format!("line {n:04}")).collect()
}

#[test]
fn exactly_once_acknowledges_only_committed_batches() {
    let d = tempfile::tempdir().unwrap();
    let mut s = exactly_once_sink(d.path(), "");
    let (ctx, _t) = ctx();
    let (tx, rx) = crossbeam_channel::unbounded();
    s.write(file_batch(7, 0, 20, AckToken::new(7, 200, tx)), &ctx)
        .unwrap();
    // Past buffer_bytes: written to the file, but not committed.
    assert!(text_lines(&d.path().join("out/app.ndjson")).len() >= 10);
    assert!(rx.try_recv().is_err(), "not acknowledged before the commit");
    s.flush(&ctx).unwrap();
    assert!(rx.try_recv().unwrap().delivered);
    let l = ledger::Ledger::recover(d.path(), "out", 10, Duration::from_secs(60), |_| {}).0;
    assert_eq!(l.replay_next("s", 7), Some(191));
    assert_eq!(
        l.listed_len(&format!("{}/out/app.ndjson", d.path().display())),
        Some(200)
    );
}

#[test]
fn a_crash_after_a_commit_neither_loses_nor_repeats_a_line() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out/app.ndjson");
    let (ctx, _t) = ctx();
    let mut s = exactly_once_sink(d.path(), "");
    s.write(file_batch(7, 0, 30, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    // Written out after the commit, then the process dies (no drop, no flush).
    s.write(file_batch(7, 30, 45, AckToken::detached()), &ctx)
        .unwrap();
    assert!(text_lines(&out).len() > 30, "uncommitted lines in the file");
    std::mem::forget(s);
    // The restart: the source replays from its checkpoint (older than the
    // commit: line 10), then goes on.
    let mut s = exactly_once_sink(d.path(), "");
    s.write(file_batch(7, 10, 40, AckToken::detached()), &ctx)
        .unwrap();
    s.write(file_batch(7, 40, 60, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    assert_eq!(text_lines(&out), expected(0, 60));
    assert_eq!(
        ctx.metrics
            .labeled
            .counter(REPLAY_SKIPPED, &[])
            .load(std::sync::atomic::Ordering::Relaxed),
        20,
        "lines 10..30 were committed before the crash"
    );
}

#[test]
fn a_new_stream_with_reused_offsets_is_not_skipped() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out/app.ndjson");
    let (ctx, _t) = ctx();
    let mut s = exactly_once_sink(d.path(), "");
    s.write(file_batch(7, 0, 10, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    drop(s);
    let mut s = exactly_once_sink(d.path(), "");
    // Another content (a new file, or an inode reused) has another id.
    s.write(file_batch(8, 0, 5, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    let mut want = expected(0, 10);
    want.extend(expected(0, 5));
    assert_eq!(text_lines(&out), want);
}

#[test]
fn streams_without_stable_ids_are_never_skipped() {
    let d = tempfile::tempdir().unwrap();
    let (ctx, _t) = ctx();
    let mut s = exactly_once_sink(d.path(), "");
    let stdin = |n: usize| {
        let stream = Arc::new(Stream {
            source: "s".into(),
            path: None,
            id: 0,
        });
        let mut b = Batch::new(stream, AckToken::detached(), n);
        for i in 0..n {
            b.events.push(Event::new(
                bytes::Bytes::from(format!("in {i}")),
                i as u64 * 5,
            ));
        }
        b
    };
    s.write(stdin(3), &ctx).unwrap();
    s.flush(&ctx).unwrap();
    drop(s);
    let mut s = exactly_once_sink(d.path(), "");
    s.write(stdin(3), &ctx).unwrap();
    s.flush(&ctx).unwrap();
    assert_eq!(text_lines(&d.path().join("out/app.ndjson")).len(), 6);
}

#[test]
fn a_crash_around_a_size_rotation_keeps_every_line_once() {
    let d = tempfile::tempdir().unwrap();
    let (ctx, _t) = ctx();
    let rotate = "[rotate]\nmax_size = \"100B\"\ncompress = false";
    let mut s = exactly_once_sink(d.path(), rotate);
    s.write(file_batch(7, 0, 25, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    s.write(file_batch(7, 25, 37, AckToken::detached()), &ctx)
        .unwrap();
    std::mem::forget(s);
    let mut s = exactly_once_sink(d.path(), rotate);
    s.write(file_batch(7, 0, 50, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    drop(s);
    let all = all_lines(&d.path().join("out"), "app.ndjson");
    assert_eq!(all, expected(0, 50));
}

#[test]
fn at_least_once_removes_a_stale_ledger() {
    let d = tempfile::tempdir().unwrap();
    let (ctx, _t) = ctx();
    let mut s = exactly_once_sink(d.path(), "");
    s.write(file_batch(7, 0, 10, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    drop(s);
    assert!(ledger::path_for(d.path(), "out").exists());
    let mut s = exactly_once_sink(d.path(), "durability = \"at_least_once\"");
    s.write(file_batch(7, 0, 10, AckToken::detached()), &ctx)
        .unwrap();
    s.flush(&ctx).unwrap();
    assert!(!ledger::path_for(d.path(), "out").exists());
    assert_eq!(text_lines(&d.path().join("out/app.ndjson")).len(), 20);
}
