use super::*;
use crate::config::ByteSize;
use crate::pipeline::{Output, Outputs, topology::detached_shutdown};
use std::sync::atomic::AtomicBool;

fn ctx(id: &str) -> (SinkContext, crate::pipeline::ShutdownTrigger) {
    let (trigger, shutdown) = detached_shutdown();
    let metrics = Arc::new(ComponentMetrics::default());
    (
        SinkContext {
            id: id.into(),
            outputs: Outputs::new(Output::new(Vec::new(), metrics.clone()), Vec::new()),
            metrics,
            shutdown,
        },
        trigger,
    )
}

fn batch(lines: &[&str], ack: AckToken) -> Batch {
    let stream = Arc::new(Stream {
        source: "app".into(),
        path: Some("/var/log/a.log".into()),
        id: 9,
    });
    let mut b = Batch::new(stream, ack, lines.len());
    for (i, l) in lines.iter().enumerate() {
        b.events.push(Event::new(
            Bytes::copy_from_slice(l.as_bytes()),
            i as u64 * 100,
        ));
    }
    b
}

/// Records every line it is given; acks at once (or holds every token while
/// `hold` is set, giving them up at close).
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    hold: Arc<AtomicBool>,
    held: Vec<AckToken>,
}

impl Sink for Recorder {
    fn write(
        &mut self,
        batch: Batch,
        _ctx: &SinkContext,
    ) -> Result<(), logagent_core::component::SinkError> {
        if self.hold.load(Ordering::SeqCst) {
            self.held.push(batch.ack.clone());
            return Ok(());
        }
        let mut out = self.lines.lock().unwrap();
        for e in &batch.events {
            let mut buf = Vec::new();
            encode::write_json(e, &mut buf);
            out.push(String::from_utf8(buf).unwrap());
        }
        Ok(())
    }
    fn flush(&mut self, _ctx: &SinkContext) -> Result<(), logagent_core::component::SinkError> {
        Ok(())
    }
    fn close(&mut self, _ctx: &SinkContext) -> Result<(), logagent_core::component::SinkError> {
        for t in self.held.drain(..) {
            t.fail();
        }
        Ok(())
    }
}

fn recorder(hold: bool) -> (Recorder, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    (
        Recorder {
            lines: lines.clone(),
            hold: Arc::new(AtomicBool::new(hold)),
            held: Vec::new(),
        },
        lines,
    )
}

fn config(max: u64, when_full: WhenFull) -> DiskBufferConfig {
    DiskBufferConfig {
        max_size: ByteSize(max),
        when_full,
    }
}

#[test]
fn records_round_trip_with_edits_and_meta() {
    let mut b = batch(&["plain text", r#"{"a":1,"b":"x"}"#], AckToken::detached());
    let line = b.events[1].line.clone();
    let object = json::scan_object(&line, 16, &mut b.members).unwrap();
    b.events[1].root = Root::Json {
        object,
        members: Span::new(0, b.members.len()),
    };
    if let Some(mut e) = b.iter_mut().nth(1) {
        e.set(
            &crate::event::FieldPath::parse("c").unwrap(),
            crate::event::Value::Json(Bytes::from_static(b"true")),
        );
    }
    b.events[1].meta.time = Some(1_700_000_000_000_000_000);
    b.events[1].meta.level = Some(Level::Warn);
    b.events[0].meta.truncated = true;
    let mut expected = Vec::new();
    for e in &b.events {
        let mut out = Vec::new();
        encode::write_json(e, &mut out);
        expected.push(out);
    }
    let mut payload = Vec::new();
    encode_batch(&b, &mut payload);
    let back = decode_batch(Bytes::from(payload), AckToken::detached()).unwrap();
    assert_eq!(back.events.len(), 2);
    assert_eq!(
        back.stream.path.as_deref(),
        Some(Path::new("/var/log/a.log"))
    );
    assert_eq!(&*back.stream.source, "app");
    assert!(String::from_utf8_lossy(&expected[1]).contains(r#""c":true"#));
    for (e, want) in back.events.iter().zip(&expected) {
        let mut out = Vec::new();
        encode::write_json(e, &mut out);
        assert_eq!(&out, want);
    }
    assert!(back.events[0].meta.truncated);
    assert_eq!(back.events[0].root, Root::Text);
    assert!(matches!(back.events[1].root, Root::Json { .. }));
    assert_eq!(back.events[1].meta.level, Some(Level::Warn));
    assert_eq!(back.events[1].meta.time, Some(1_700_000_000_000_000_000));
    assert_eq!(back.events[1].meta.offset, 100);
}

#[test]
fn acks_go_upstream_after_the_write_and_everything_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(4);
    let (ack_tx, ack_rx) = crossbeam_channel::unbounded();
    let (sink, lines) = recorder(false);
    let (ctx, _trigger) = ctx("out");
    let data = dir.path().to_path_buf();
    let cfg = config(1 << 20, WhenFull::Block);
    let h = std::thread::spawn(move || run_sink_buffered(Box::new(sink), rx, ctx, &cfg, &data));
    for i in 0..50u64 {
        let line = format!("line {i}");
        tx.send(batch(&[&line], AckToken::new(1, i, ack_tx.clone())))
            .unwrap();
    }
    drop(tx);
    h.join().unwrap().unwrap();
    let acks: Vec<u64> = ack_rx.try_iter().map(|a| a.end_offset).collect();
    assert_eq!(
        acks,
        (0..50).collect::<Vec<_>>(),
        "every batch acked once, in order"
    );
    let got = lines.lock().unwrap().clone();
    let want: Vec<String> = (0..50)
        .map(|i| format!(r#"{{"message":"line {i}"}}"#))
        .collect();
    assert_eq!(got, want);
    // A second start replays nothing.
    let (rec, _) = recover(&dir.path().join("buffers/out")).unwrap();
    assert_eq!(rec.records, 0, "{rec:?}");
}

#[test]
fn undelivered_records_survive_and_replay_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20, WhenFull::Block);
    // First run: the sink holds everything (down) and gives up at the forced end.
    {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let (sink, lines) = recorder(true);
        let (ctx, mut trigger) = ctx("out");
        let metrics = ctx.metrics.clone();
        let data = dir.path().to_path_buf();
        let cfg = cfg.clone();
        let h = std::thread::spawn(move || run_sink_buffered(Box::new(sink), rx, ctx, &cfg, &data));
        for i in 0..20 {
            let line = format!("line {i}");
            tx.send(batch(&[&line, "second"], AckToken::detached()))
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while metrics.labeled.get(names::EVENTS, &[]) != Some(40) {
            assert!(Instant::now() < deadline, "buffer never held 40 events");
            std::thread::sleep(Duration::from_millis(5));
        }
        trigger.force();
        drop(tx);
        h.join().unwrap().unwrap();
        assert!(lines.lock().unwrap().is_empty());
    }
    let (rec, _) = recover(&dir.path().join("buffers/out")).unwrap();
    assert_eq!((rec.records, rec.events, rec.corrupted), (20, 40, 0));
    // Second run: the sink is up; everything arrives once.
    let (tx, rx) = crossbeam_channel::bounded(4);
    let (sink, lines) = recorder(false);
    let (ctx, _trigger) = ctx("out");
    drop(tx);
    run_sink_buffered(Box::new(sink), rx, ctx, &cfg, dir.path()).unwrap();
    let got = lines.lock().unwrap().clone();
    assert_eq!(got.len(), 40);
    assert_eq!(got[0], r#"{"message":"line 0"}"#);
    assert_eq!(got[39], r#"{"message":"second"}"#);
    let (rec, _) = recover(&dir.path().join("buffers/out")).unwrap();
    assert_eq!(rec.records, 0);
}

#[test]
fn a_cut_or_corrupted_tail_is_truncated_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("buffers/out");
    std::fs::create_dir_all(&wal).unwrap();
    let mut data = Vec::new();
    for i in 0..3 {
        let mut payload = Vec::new();
        encode_batch(
            &batch(&[&format!("r{i}")], AckToken::detached()),
            &mut payload,
        );
        data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        data.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        data.extend_from_slice(&payload);
    }
    let good = data.len();
    // A flipped byte in a fourth record, then a cut header.
    let mut payload = Vec::new();
    encode_batch(&batch(&["bad"], AckToken::detached()), &mut payload);
    data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    data.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    payload[3] ^= 0xff;
    data.extend_from_slice(&payload);
    data.extend_from_slice(&[1, 2, 3]);
    std::fs::write(wal.join(format!("{:020}.wal", 1)), &data).unwrap();
    let copy = tempfile::tempdir().unwrap();
    std::fs::write(copy.path().join(format!("{:020}.wal", 1)), &data).unwrap();
    let (rec, _) = recover(copy.path()).unwrap();
    assert_eq!(rec.records, 3);
    assert_eq!(rec.corrupted, 1);
    assert_eq!(rec.truncated_bytes as usize, data.len() - good);
    assert_eq!(
        std::fs::metadata(copy.path().join(format!("{:020}.wal", 1)))
            .unwrap()
            .len() as usize,
        good
    );
    // The sink gets the three good records; the counter says one was cut.
    let (tx, rx) = crossbeam_channel::bounded(1);
    drop(tx);
    let (sink, lines) = recorder(false);
    let (ctx, _t) = ctx("out");
    let metrics = ctx.metrics.clone();
    run_sink_buffered(
        Box::new(sink),
        rx,
        ctx,
        &config(1 << 20, WhenFull::Block),
        dir.path(),
    )
    .unwrap();
    assert_eq!(lines.lock().unwrap().len(), 3);
    assert_eq!(metrics.labeled.get(names::CORRUPTED, &[]), Some(1));
}

#[test]
fn drop_newest_counts_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(64);
    let (sink, lines) = recorder(true);
    let (ctx, mut trigger) = ctx("out");
    let metrics = ctx.metrics.clone();
    let data = dir.path().to_path_buf();
    let h = std::thread::spawn(move || {
        run_sink_buffered(
            Box::new(sink),
            rx,
            ctx,
            &config(1 << 20, WhenFull::DropNewest),
            &data,
        )
    });
    // 100 batches of ~20 KiB: about 50 fit in 1 MiB.
    let big = "x".repeat(20 << 10);
    for _ in 0..100 {
        tx.send(batch(&[&big], AckToken::detached())).unwrap();
    }
    let dropped = metrics
        .labeled
        .counter(DISCARDED_BY_REASON, &[("reason", "buffer_full")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kept = metrics.labeled.get(names::EVENTS, &[]).unwrap_or(0);
        if kept + dropped.load(Ordering::Relaxed) == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "kept {kept}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let kept = metrics.labeled.get(names::EVENTS, &[]).unwrap();
    assert!((40..=52).contains(&kept), "kept {kept}");
    assert!(metrics.labeled.get(names::BYTES, &[]).unwrap() <= 1 << 20);
    assert_eq!(metrics.snapshot().discarded_events, 100 - kept);
    trigger.force();
    drop(tx);
    h.join().unwrap().unwrap();
    assert!(lines.lock().unwrap().is_empty());
}

/// Regression: batches already waiting are written as one group; when the
/// second one of a group does not fit, the writer must commit the first (so
/// the sink can read it and make room) instead of waiting for room that only
/// that commit could make. Queued before the buffer starts, all five arrive as
/// one group every time.
#[test]
fn a_group_larger_than_the_buffer_is_committed_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(8);
    let big = "y".repeat(900 << 10);
    for _ in 0..5 {
        tx.send(batch(&[&big], AckToken::detached())).unwrap();
    }
    drop(tx);
    let (sink, lines) = recorder(false);
    let (ctx, _t) = ctx("out");
    run_sink_buffered(
        Box::new(sink),
        rx,
        ctx,
        &config(1 << 20, WhenFull::Block),
        dir.path(),
    )
    .unwrap();
    assert_eq!(lines.lock().unwrap().len(), 5);
}

#[test]
fn batches_nearly_as_big_as_the_buffer_still_pass_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (sink, lines) = recorder(false);
    let (ctx, _t) = ctx("out");
    let data = dir.path().to_path_buf();
    let h = std::thread::spawn(move || {
        run_sink_buffered(
            Box::new(sink),
            rx,
            ctx,
            &config(1 << 20, WhenFull::Block),
            &data,
        )
    });
    let big = "y".repeat(900 << 10);
    for _ in 0..5 {
        tx.send(batch(&[&big], AckToken::detached())).unwrap();
    }
    drop(tx);
    h.join().unwrap().unwrap();
    assert_eq!(lines.lock().unwrap().len(), 5);
}
