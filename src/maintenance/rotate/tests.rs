use super::*;
use crate::maintenance::guard::Guard;
use crate::maintenance::progress::Progress;
use crate::maintenance::state::State;
use crate::time::ManualClock;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const DAY: Duration = Duration::from_secs(86_400);

/// 2030-01-01T12:00:00Z: later than any real file time, so ages are predictable.
fn noon() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_499_200)
}

fn job(text: &str) -> Job<RotateConfig> {
    let config: RotateConfig = toml::from_str(text).unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    Job {
        name: "t".into(),
        config,
        file: "t.toml".into(),
    }
}

struct Env {
    dir: tempfile::TempDir,
    clock: ManualClock,
    state: State,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let state = State::load(&dir.path().join("state.json")).unwrap();
        Env {
            dir,
            clock: ManualClock::new(noon()),
            state,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(name)
    }

    fn write(&self, name: &str, text: &str) {
        let p = self.path(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn run(&mut self, job: &Job<RotateConfig>, guard: &mut Guard, dry_run: bool) -> Report {
        let mut report = Report::new("rotate", dry_run);
        let mut progress = Progress::hidden();
        let mut ctx = Context {
            clock: &self.clock,
            guard,
            state: &mut self.state,
            dry_run,
            force: false,
            progress: &mut progress,
            poll: Duration::from_millis(5),
        };
        run_job(job, &mut ctx, &mut report);
        report
    }
}

fn gunzip(p: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn facts(size: u64, mtime: SystemTime) -> Facts {
    Facts {
        size,
        mtime,
        born: None,
    }
}

#[test]
fn triggers_follow_logrotate() {
    let now = noon();
    let cfg = |t: &str| job(&format!("paths = [\"x\"]\ntimezone = \"utc\"\n{t}")).config;
    let yes = |d: Due| matches!(d, Due::Yes(_));
    // size alone
    let c = cfg("size = \"1KiB\"");
    assert!(yes(due(&c, &facts(1024, now), None, now, false)));
    assert_eq!(
        due(&c, &facts(1000, now), None, now, false),
        Due::No("size 1000B < 1KiB".into())
    );
    // daily, by the last rotation in the state file
    let c = cfg("frequency = \"daily\"");
    let earlier_today = now - Duration::from_secs(3600);
    assert!(!yes(due(
        &c,
        &facts(5, now),
        Some(earlier_today),
        now,
        false
    )));
    assert!(yes(due(&c, &facts(5, now), Some(now - DAY), now, false)));
    // never rotated: the creation time counts; unknown creation time starts the period now
    let born = Facts {
        born: Some(now - 2 * DAY),
        ..facts(5, now)
    };
    assert!(yes(due(&c, &born, None, now, false)));
    assert_eq!(due(&c, &facts(5, now), None, now, false), Due::FirstSeen);
    // min_size holds back a due rotation; max_size rotates early
    let c = cfg("frequency = \"weekly\"\nmin_size = \"100B\"\nmax_size = \"1KiB\"");
    assert!(!yes(due(
        &c,
        &facts(50, now),
        Some(now - 8 * DAY),
        now,
        false
    )));
    assert!(yes(due(
        &c,
        &facts(150, now),
        Some(now - 8 * DAY),
        now,
        false
    )));
    assert!(yes(due(&c, &facts(2048, now), Some(now), now, false)));
    // min_age, empty files, --force
    let c = cfg("size = 1\nmin_age = \"1h\"\nnot_if_empty = true");
    assert!(!yes(due(
        &c,
        &facts(10, now - Duration::from_secs(60)),
        None,
        now,
        false
    )));
    assert!(yes(due(
        &c,
        &facts(10, now - Duration::from_secs(7200)),
        None,
        now,
        false
    )));
    assert!(!yes(due(&c, &facts(0, now - 2 * DAY), None, now, true)));
    assert!(yes(due(&c, &facts(10, now), None, now, true)));
}

#[test]
fn daily_rotation_shifts_compresses_late_and_keeps_three() {
    let mut env = Env::new();
    env.write("app.log", "day 0\n");
    let j = job(&format!(
        "paths = [\"{}\"]\nfrequency = \"daily\"\nkeep = 3\ncompress = true\ndelay_compress = true\ntimezone = \"utc\"",
        env.path("*.log").display()
    ));
    env.state.set_rotated(&env.path("app.log"), env.clock.now());
    let mut guard = Guard::off();
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.rotated, 0, "{:#?}", r.actions);
    for day in 1..=5 {
        env.clock.advance(DAY);
        let r = env.run(&j, &mut guard, false);
        assert_eq!(r.summary.errors, 0, "{:#?}", r.actions);
        assert_eq!(r.summary.rotated, 1);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(env.path("app.log"))
            .unwrap();
        writeln!(f, "day {day}").unwrap();
    }
    assert_eq!(
        env.names(),
        ["app.log", "app.log.1", "app.log.2.gz", "app.log.3.gz"]
    );
    assert_eq!(fs::read_to_string(env.path("app.log")).unwrap(), "day 5\n");
    assert_eq!(
        fs::read_to_string(env.path("app.log.1")).unwrap(),
        "day 4\n"
    );
    assert_eq!(gunzip(&env.path("app.log.2.gz")), "day 3\n");
    assert_eq!(gunzip(&env.path("app.log.3.gz")), "day 2\n");
    // Not due again the same day.
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.rotated, 0);
}

#[test]
fn dated_names_in_an_olddir_expire_by_max_age() {
    let mut env = Env::new();
    env.write("app.log", "x\n");
    fs::create_dir_all(env.dir.path().join("logs/old")).unwrap();
    for d in ["20291220", "20291228", "20291231"] {
        env.write(&format!("old/app.log-{d}.gz"), "old");
    }
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = 1\nnaming = \"date\"\nolddir = \"old\"\nmax_age = \"7d\"\nkeep = 10\ncompress = true\ntimezone = \"utc\"",
        env.path("app.log").display()
    ));
    let mut guard = Guard::off();
    let plan = env.run(&j, &mut guard, true);
    let lines: Vec<String> = plan.actions.iter().map(|a| a.line()).collect();
    let dir = env.dir.path().join("logs");
    assert_eq!(
        lines,
        [
            format!(
                "t: rotate {0}/app.log -> {0}/old/app.log-20300101 (size 2B >= 1B)",
                dir.display()
            ),
            format!(
                "t: create {0}/app.log ({1})",
                dir.display(),
                lines[1].split('(').nth(1).unwrap().trim_end_matches(')')
            ),
            format!(
                "t: delete {0}/old/app.log-20291220.gz (older than 7d)",
                dir.display()
            ),
            format!(
                "t: compress {0}/old/app.log-20300101 -> {0}/old/app.log-20300101.gz (gzip level 6)",
                dir.display()
            ),
        ]
    );
    let before = env.names();
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.errors, 0, "{:#?}", r.actions);
    // The dry run planned exactly what the run did.
    let done: Vec<String> = r
        .actions
        .iter()
        .map(|a| format!("{:?} {}", a.kind, a.path.display()))
        .collect();
    let planned: Vec<String> = plan
        .actions
        .iter()
        .map(|a| format!("{:?} {}", a.kind, a.path.display()))
        .collect();
    assert_eq!(done, planned);
    assert_eq!(before, ["app.log", "old"]);
    let mut old: Vec<_> = fs::read_dir(dir.join("old"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    old.sort();
    assert_eq!(
        old,
        [
            "app.log-20291228.gz",
            "app.log-20291231.gz",
            "app.log-20300101.gz"
        ]
    );
    // A second rotation the same day would overwrite today's version: refused.
    env.write("app.log", "again\n");
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.errors, 1);
    assert!(
        r.actions
            .iter()
            .any(|a| a.detail.contains("already rotated this period"))
    );
    assert_eq!(fs::read_to_string(env.path("app.log")).unwrap(), "again\n");
}

#[test]
fn a_dry_run_changes_nothing() {
    let mut env = Env::new();
    env.write("app.log", "0123456789\n");
    env.write("app.log.1", "one\n");
    env.write("app.log.2.gz", "two");
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = 1\nkeep = 1\ncompress = true\npostrotate = \"touch {}\"",
        env.path("app.log").display(),
        env.path("ran").display()
    ));
    let snapshot = |env: &Env| -> Vec<(String, Vec<u8>)> {
        env.names()
            .into_iter()
            .map(|n| (n.clone(), fs::read(env.path(&n)).unwrap()))
            .collect()
    };
    let before = snapshot(&env);
    let mut guard = Guard::off();
    let plan = env.run(&j, &mut guard, true);
    assert_eq!(snapshot(&env), before);
    let kinds: Vec<_> = plan.actions.iter().map(|a| (a.kind, a.status)).collect();
    assert_eq!(
        kinds,
        [
            (Kind::Shift, Status::Planned),
            (Kind::Shift, Status::Planned),
            (Kind::Rotate, Status::Planned),
            (Kind::Create, Status::Planned),
            (Kind::Postrotate, Status::Planned),
            (Kind::Delete, Status::Planned),
            (Kind::Delete, Status::Planned),
            (Kind::Compress, Status::Planned),
        ]
    );
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.errors, 0, "{:#?}", r.actions);
    assert_eq!(env.names(), ["app.log", "app.log.1.gz", "ran"]);
}

#[test]
fn postrotate_runs_once_per_set_with_the_files_and_failures_count() {
    let mut env = Env::new();
    env.write("a.log", "a\n");
    env.write("b.log", "b\n");
    let out = env.dir.path().join("args");
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = 1\npostrotate = 'echo \"$#\" >> {}'",
        env.path("*.log").display(),
        out.display()
    ));
    let mut guard = Guard::off();
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.rotated, 2);
    assert_eq!(fs::read_to_string(&out).unwrap(), "2\n");
    let failing = job(&format!(
        "paths = [\"{}\"]\nsize = 1\npostrotate = \"exit 3\"",
        env.path("a.log").display()
    ));
    env.write("a.log", "again\n");
    let r = env.run(&failing, &mut guard, false);
    assert_eq!(r.summary.errors, 1);
    assert!(
        r.actions
            .iter()
            .any(|a| a.kind == Kind::Postrotate && a.status == Status::Failed)
    );
    let slow = job(&format!(
        "paths = [\"{}\"]\nsize = 1\npostrotate = \"sleep 5\"\npostrotate_timeout = \"50ms\"",
        env.path("a.log").display()
    ));
    env.write("a.log", "again\n");
    let r = env.run(&slow, &mut guard, false);
    assert!(
        r.actions.iter().any(|a| a.detail.contains("killed")),
        "{:#?}",
        r.actions
    );
}

#[test]
fn missing_files_are_errors_unless_missing_ok_and_versions_are_not_rotated_again() {
    let mut env = Env::new();
    env.write("app.log", "x\n");
    env.write("app.log.1", "old\n");
    env.write("app.log.2.gz", "old");
    let mut guard = Guard::off();
    let j = job(&format!(
        "paths = [\"{}\", \"{}\"]\nsize = 1",
        env.path("app.log*").display(),
        env.path("nothing*.log").display()
    ));
    let r = env.run(&j, &mut guard, true);
    assert_eq!(r.summary.errors, 1, "{:#?}", r.actions);
    assert_eq!(
        r.summary.files, 1,
        "app.log.1 and app.log.2.gz are versions, not live files"
    );
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = 1\nmissing_ok = true",
        env.path("nothing*.log").display()
    ));
    assert_eq!(env.run(&j, &mut guard, false).summary.errors, 0);
}

/// A writer that keeps its file open and reopens it when the postrotate command
/// tells it to (the nginx/`kill -USR1` pattern): with rename + create, every line
/// ends up in exactly one of the two files, in order.
#[test]
fn rename_and_create_loses_no_line_under_a_busy_writer() {
    let mut env = Env::new();
    env.write("app.log", "");
    let flag = env.dir.path().join("reopen");
    let live = env.path("app.log");
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = \"64KiB\"\npostrotate = \"touch {}\"",
        live.display(),
        flag.display()
    ));
    const LINES: u64 = 100_000;
    let (live2, flag2) = (live.clone(), flag.clone());
    // Writes at least LINES lines, and goes on until it has reopened once.
    let writer = std::thread::spawn(move || {
        let open = || {
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&live2)
                .unwrap()
        };
        let mut f = open();
        let mut reopened = 0;
        let mut i = 0u64;
        while (i < LINES || reopened == 0) && i < 100 * LINES {
            f.write_all(format!("{i:08}\n").as_bytes()).unwrap();
            i += 1;
            if i.is_multiple_of(64) && flag2.exists() {
                fs::remove_file(&flag2).unwrap();
                f = open();
                reopened += 1;
            }
        }
        (i, reopened)
    });
    crate::maintenance::guard::tests_support::wait_until("the writer to pass 64KiB", || {
        fs::metadata(&live)
            .map(|m| m.len() > 64 << 10)
            .unwrap_or(false)
    });
    let mut guard = Guard::off();
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.rotated, 1, "{:#?}", r.actions);
    let (written, reopened) = writer.join().unwrap();
    assert_eq!(reopened, 1);
    let all =
        fs::read_to_string(env.path("app.log.1")).unwrap() + &fs::read_to_string(&live).unwrap();
    let expected: String = (0..written).map(|i| format!("{i:08}\n")).collect();
    assert!(
        all == expected,
        "lines lost or duplicated across the rotation"
    );
}

/// copytruncate under a writer that never stops: the copy and the truncated file
/// together hold every line except those written in the window between the last
/// size check and the truncation. The window is measured and reported; this test
/// prints it and the lines lost (see the README for figures).
#[test]
fn copytruncate_window_is_measured_under_a_busy_writer() {
    let mut env = Env::new();
    env.write("app.log", "");
    let live = env.path("app.log");
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = \"256KiB\"\nmethod = \"copytruncate\"",
        live.display()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let (live2, stop2) = (live.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new().append(true).open(&live2).unwrap();
        let mut i = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            f.write_all(format!("{i:08}\n").as_bytes()).unwrap();
            i += 1;
        }
        i
    });
    crate::maintenance::guard::tests_support::wait_until("the writer to pass 256KiB", || {
        fs::metadata(&live)
            .map(|m| m.len() > 256 << 10)
            .unwrap_or(false)
    });
    let mut guard = Guard::off();
    let r = env.run(&j, &mut guard, false);
    // Let the writer add some lines after the truncation too.
    let after = fs::metadata(&live).unwrap().len();
    crate::maintenance::guard::tests_support::wait_until("lines after the truncation", || {
        fs::metadata(&live)
            .map(|m| m.len() > after + 900)
            .unwrap_or(false)
    });
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let action = r
        .actions
        .iter()
        .find(|a| a.kind == Kind::Copytruncate)
        .unwrap();
    assert_eq!(action.status, Status::Done, "{action:?}");
    let window_us = action.window_us.unwrap();
    let copy = fs::read_to_string(env.path("app.log.1")).unwrap();
    let rest = fs::read_to_string(&live).unwrap();
    let numbers: Vec<u64> = copy
        .lines()
        .chain(rest.lines())
        .map(|l| l.parse().unwrap())
        .collect();
    // Every line intact, in order, none twice; the only gap is at the truncation.
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "order or duplicates broken"
    );
    let gaps: Vec<u64> = numbers
        .windows(2)
        .map(|w| w[1] - w[0] - 1)
        .filter(|g| *g > 0)
        .collect();
    assert!(gaps.len() <= 1, "{gaps:?}");
    assert_eq!(numbers.first(), Some(&0));
    assert_eq!(numbers.last(), Some(&(written - 1)));
    let lost: u64 = gaps.iter().sum();
    println!(
        "copytruncate window: {window_us} us, {lost} of {written} lines lost under a writer that never pauses"
    );
}

#[test]
fn copytruncate_waits_for_the_agent_and_gives_up_at_the_deadline() {
    let env = Env::new();
    env.write("app.log", "0123456789\n");
    let data = env.dir.path().join("data");
    let live = env.path("app.log");
    crate::maintenance::guard::tests_support::checkpoint(&data, "app", &[(&live, 4)]);
    let mut guard = Guard::new(&data, &[]);
    // The agent does not catch up: nothing truncated, no copy left behind.
    let to = env.path("app.log.1");
    let r = copytruncate(
        &live,
        &to,
        &mut guard,
        Instant::now() + Duration::from_millis(30),
        Duration::from_millis(5),
    )
    .unwrap();
    assert!(
        matches!(r, CopyTruncate::Held(ref why) if why.contains("4 of its 11 bytes")),
        "{r:?}"
    );
    assert_eq!(fs::read_to_string(&live).unwrap(), "0123456789\n");
    assert!(!to.exists());
    // The agent catches up while we wait (once the copy exists).
    let (data2, live2, to2) = (data.clone(), live.clone(), to.clone());
    let agent = std::thread::spawn(move || {
        crate::maintenance::guard::tests_support::wait_until("the copy", || to2.exists());
        crate::maintenance::guard::tests_support::checkpoint(&data2, "app", &[(&live2, 11)]);
    });
    let r = copytruncate(
        &live,
        &to,
        &mut guard,
        Instant::now() + Duration::from_secs(30),
        Duration::from_millis(5),
    )
    .unwrap();
    agent.join().unwrap();
    assert!(matches!(r, CopyTruncate::Done { bytes: 11, .. }), "{r:?}");
    assert_eq!(fs::read_to_string(&to).unwrap(), "0123456789\n");
    assert_eq!(fs::read(&live).unwrap(), b"");
}

/// keep = 1: the version pushed out is deleted only once the agent has shipped
/// it; until then it stays (renamed, never overwritten) and is reported.
#[test]
fn versions_the_agent_has_not_shipped_are_held_not_deleted() {
    let mut env = Env::new();
    env.write("app.log", "new line\n");
    env.write("app.log.1", "line 1\nline 2\n");
    let data = env.dir.path().join("data");
    let old = env.path("app.log.1");
    let live = env.path("app.log");
    crate::maintenance::guard::tests_support::checkpoint(&data, "app", &[(&old, 7), (&live, 9)]);
    let j = job(&format!(
        "paths = [\"{}\"]\nsize = 1\nkeep = 1\ncompress = true\nagent_wait = \"20ms\"",
        live.display()
    ));
    let mut guard = Guard::new(&data, &[]);
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.held, 1, "{:#?}", r.actions);
    let held = r.actions.iter().find(|a| a.status == Status::Held).unwrap();
    assert_eq!(held.kind, Kind::Delete);
    assert!(
        held.detail.contains("acknowledged 7 of its 14 bytes"),
        "{}",
        held.detail
    );
    // The shipped, freshly rotated version was compressed (its end was acknowledged).
    assert_eq!(env.names(), ["app.log", "app.log.1.gz", "app.log.2"]);
    assert_eq!(
        fs::read_to_string(env.path("app.log.2")).unwrap(),
        "line 1\nline 2\n"
    );
    // The agent finishes the file: the next run deletes it.
    crate::maintenance::guard::tests_support::checkpoint(
        &data,
        "app",
        &[(&env.path("app.log.2"), 14)],
    );
    let r = env.run(&j, &mut guard, false);
    assert_eq!(r.summary.deleted, 1, "{:#?}", r.actions);
    assert_eq!(env.names(), ["app.log", "app.log.1.gz"]);
}

/// What a step decided, comparable between a dry run and a real one: a dry
/// run's "waits for the agent" is a hold when the agent does not come.
fn decisions(r: &Report) -> Vec<(Kind, String, bool)> {
    r.actions
        .iter()
        .map(|a| {
            let name = a
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let held = a.status == Status::Held || a.detail.contains("waits up to");
            (a.kind, name, held)
        })
        .collect()
}

/// The reproduction: the agent is down, `app.log` (matched by its include
/// glob, never checkpointed) is rotated. The rotated copy no longer matches
/// `*.log`; it must not be compressed (its `.gz` would not match either, and
/// its lines would never be shipped). The dry run and the real run agree.
#[test]
fn a_rotated_file_the_agent_has_not_read_is_not_compressed_and_the_dry_run_agrees() {
    for agent_ran_before in [false, true] {
        let mut env = Env::new();
        let lines: String = (0..100).map(|i| format!("line {i}\n")).collect();
        env.write("app.log", &lines);
        env.write("other.log", "shipped\n");
        let data = env.dir.path().join("data");
        if agent_ran_before {
            // A checkpoint, but from before app.log's lines (it lists another file).
            crate::maintenance::guard::tests_support::checkpoint(
                &data,
                "app",
                &[(&env.path("other.log"), 8)],
            );
        }
        let sources = [crate::maintenance::config::TailSource {
            id: "app".into(),
            include: vec![format!("{}/*.log", env.dir.path().join("logs").display())],
            exclude: Vec::new(),
        }];
        let j = job(&format!(
            "paths = [\"{}\"]\nsize = 1\nkeep = 3\ncompress = true\nagent_wait = \"20ms\"",
            env.path("app.log").display()
        ));
        let mut guard = Guard::new(&data, &sources);
        let plan = env.run(&j, &mut guard, true);
        let real = env.run(&j, &mut guard, false);
        assert_eq!(
            decisions(&plan),
            decisions(&real),
            "dry run:\n{}\nreal run:\n{}",
            plan.lines(),
            real.lines()
        );
        let compress = real
            .actions
            .iter()
            .find(|a| a.kind == Kind::Compress)
            .unwrap();
        assert_eq!(compress.status, Status::Held, "{}", real.lines());
        assert!(
            compress.detail.contains("reads it as"),
            "{}",
            compress.detail
        );
        assert_eq!(fs::read_to_string(env.path("app.log.1")).unwrap(), lines);
        assert!(!env.path("app.log.1.gz").exists());

        // The agent comes back and ships it (known by its inode now): the next
        // run compresses it, dry and real alike.
        crate::maintenance::guard::tests_support::checkpoint(
            &data,
            "app",
            &[(&env.path("app.log.1"), lines.len() as u64)],
        );
        env.clock.advance(DAY);
        let plan = env.run(&j, &mut guard, true);
        let real = env.run(&j, &mut guard, false);
        assert_eq!(decisions(&plan), decisions(&real), "{}", real.lines());
        assert_eq!(gunzip(&env.path("app.log.1.gz")), lines, "{}", real.lines());
    }
}

/// A version the agent shipped long ago may have lost its checkpoint entry
/// (`checkpoint_retention`): a checkpoint written well after the version last
/// changed lets it go, so old versions do not pile up forever.
#[test]
fn an_old_version_whose_entry_expired_is_let_go() {
    let env = Env::new();
    env.write("app.log", "");
    env.write("app.log.1", "old\n");
    let old = fs::File::options()
        .write(true)
        .open(env.path("app.log.1"))
        .unwrap();
    old.set_modified(SystemTime::now() - 2 * DAY).unwrap();
    let data = env.dir.path().join("data");
    crate::maintenance::guard::tests_support::checkpoint(
        &data,
        "app",
        &[(&env.path("app.log"), 0)],
    );
    let sources = [crate::maintenance::config::TailSource {
        id: "app".into(),
        include: vec![format!("{}/*.log", env.dir.path().join("logs").display())],
        exclude: Vec::new(),
    }];
    let guard = Guard::new(&data, &sources);
    assert!(
        guard
            .check_path_as(&env.path("app.log.1"), &env.path("app.log"))
            .allows()
    );
    // The same file changed a moment ago is held.
    old.set_modified(SystemTime::now()).unwrap();
    assert!(
        !guard
            .check_path_as(&env.path("app.log.1"), &env.path("app.log"))
            .allows()
    );
}
