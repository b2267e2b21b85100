use super::*;
use crate::maintenance::guard::tests_support::checkpoint;
use crate::time::ManualClock;
use std::time::Duration;

const DAY: u64 = 86_400;

/// 2030-01-01T12:00:00Z.
fn noon() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_499_200)
}

fn job(text: &str) -> Job<RetainConfig> {
    let config: RetainConfig = toml::from_str(text).unwrap();
    assert!(config.check().is_empty(), "{:?}", config.check());
    Job {
        name: "t".into(),
        config,
        file: "t.toml".into(),
    }
}

fn touch(path: &Path, body: &str, age_days: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    let t = noon() - Duration::from_secs(age_days * DAY);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn run(job: &Job<RetainConfig>, guard: &mut Guard, dry_run: bool) -> Report {
    let clock = ManualClock::new(noon());
    let mut progress = Progress::hidden();
    let mut report = Report::new("retain", dry_run);
    let mut ctx = Context {
        clock: &clock,
        guard,
        dry_run,
        progress: &mut progress,
    };
    run_job(job, &mut ctx, &mut report);
    report
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The seeds' `find /var/log/workflow -name "*.log.*" -mtime +30 -delete`.
#[test]
fn max_age_by_mtime_like_find() {
    let d = tempfile::tempdir().unwrap();
    touch(&d.path().join("app.log"), "live", 90);
    touch(&d.path().join("app.log.1"), "1", 10);
    touch(&d.path().join("app.log.2.gz"), "22", 31);
    touch(&d.path().join("app.log.3.gz"), "333", 45);
    let j = job(&format!(
        "directory = \"{}\"\npattern = \"*.log.*\"\nmax_age = \"30d\"\ndate_from = \"mtime\"",
        d.path().display()
    ));
    let mut guard = Guard::off();
    let plan = run(&j, &mut guard, true);
    let lines: Vec<String> = plan.actions.iter().map(|a| a.line()).collect();
    assert_eq!(
        lines,
        [
            format!(
                "t: delete {}/app.log.3.gz (older than 30d)",
                d.path().display()
            ),
            format!(
                "t: delete {}/app.log.2.gz (older than 30d)",
                d.path().display()
            ),
        ]
    );
    assert_eq!(names(d.path()).len(), 4);
    let r = run(&j, &mut guard, false);
    assert_eq!(
        (r.summary.deleted, r.summary.freed_bytes, r.summary.files),
        (2, 5, 3)
    );
    assert_eq!(names(d.path()), ["app.log", "app.log.1"]);
}

/// Backups named by date, one a day for 40 days, `daily = 7, weekly = 4`: the
/// dates in the names decide, not the (identical) mtimes.
#[test]
fn gfs_by_dates_in_names() {
    let d = tempfile::tempdir().unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2029, 11, 23).unwrap();
    for i in 0..40 {
        let day = first + chrono::Duration::days(i);
        touch(
            &d.path()
                .join(format!("db-{}.sql.gz", day.format("%Y-%m-%d"))),
            "x",
            0,
        );
    }
    let j = job(&format!(
        "directory = \"{}\"\npattern = \"db-*.sql.gz\"\ngfs = {{ daily = 7, weekly = 4 }}\ntimezone = \"utc\"",
        d.path().display()
    ));
    let mut guard = Guard::off();
    let r = run(&j, &mut guard, false);
    assert_eq!(r.summary.errors, 0);
    // The last day is 2030-01-01 (a Tuesday): 7 days back to 2029-12-26, plus the
    // newest of each of the three ISO weeks before this one: Sundays 12-30
    // (already a daily), 12-23 and 12-16.
    assert_eq!(
        names(d.path()),
        [
            "db-2029-12-16.sql.gz",
            "db-2029-12-23.sql.gz",
            "db-2029-12-26.sql.gz",
            "db-2029-12-27.sql.gz",
            "db-2029-12-28.sql.gz",
            "db-2029-12-29.sql.gz",
            "db-2029-12-30.sql.gz",
            "db-2029-12-31.sql.gz",
            "db-2030-01-01.sql.gz",
        ]
    );
    assert_eq!(r.summary.deleted, 31);
}

#[test]
fn keep_last_and_total_size_in_subdirectories() {
    let d = tempfile::tempdir().unwrap();
    for (name, age) in [
        ("a/1.gz", 1),
        ("a/2.gz", 2),
        ("b/3.gz", 3),
        ("b/4.gz", 4),
        ("b/5.txt", 5),
    ] {
        touch(&d.path().join(name), "0123456789", age);
    }
    let j = job(&format!(
        "directory = \"{}\"\npattern = \"**/*.gz\"\nkeep_last = 3\nmax_total_size = \"25B\"",
        d.path().display()
    ));
    let mut guard = Guard::off();
    let r = run(&j, &mut guard, false);
    assert_eq!(r.summary.deleted, 2, "{:#?}", r.actions);
    assert_eq!(names(&d.path().join("a")), ["1.gz", "2.gz"]);
    assert_eq!(names(&d.path().join("b")), ["5.txt"]);
    let reasons: Vec<_> = r.actions.iter().map(|a| a.detail.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "beyond the newest 3",
            "the newer files already fill max_total_size (25B)"
        ]
    );
}

#[cfg(unix)]
#[test]
fn never_follows_symlinks_nor_leaves_the_directory() {
    let d = tempfile::tempdir().unwrap();
    let inside = d.path().join("logs");
    let outside = d.path().join("precious");
    touch(&outside.join("keep.log"), "precious", 100);
    touch(&inside.join("old.log"), "old", 100);
    std::os::unix::fs::symlink(outside.join("keep.log"), inside.join("link.log")).unwrap();
    std::os::unix::fs::symlink(&outside, inside.join("linked-dir")).unwrap();
    let j = job(&format!(
        "directory = \"{}\"\npattern = \"**/*.log\"\nmax_age = \"1d\"",
        inside.display()
    ));
    let mut guard = Guard::off();
    let r = run(&j, &mut guard, false);
    assert_eq!(r.summary.deleted, 1, "{:#?}", r.actions);
    assert_eq!(names(&inside), ["link.log", "linked-dir"]);
    assert_eq!(
        fs::read_to_string(outside.join("keep.log")).unwrap(),
        "precious"
    );
}

#[test]
fn name_dates_only_when_asked_and_custom_formats() {
    let d = tempfile::tempdir().unwrap();
    touch(&d.path().join("report-no-date.csv"), "x", 100);
    touch(&d.path().join("report_23.11.2029.csv"), "x", 0);
    touch(&d.path().join("report-2029-11-23.csv"), "x", 0);
    let j = job(&format!(
        "directory = \"{}\"\npattern = \"report*.csv\"\nmax_age = \"30d\"\ndate_from = \"name\"",
        d.path().display()
    ));
    let mut guard = Guard::off();
    let r = run(&j, &mut guard, true);
    let lines: Vec<String> = r.actions.iter().map(|a| a.line()).collect();
    let p = d.path().display();
    assert_eq!(
        lines,
        [
            format!("t: skip {p}/report-no-date.csv (no date in its name (date_from = \"name\"))"),
            format!(
                "t: skip {p}/report_23.11.2029.csv (no date in its name (date_from = \"name\"))"
            ),
            format!("t: delete {p}/report-2029-11-23.csv (older than 30d)"),
        ]
    );
    let fmt = DateFormat::parse("-%Y%m").unwrap();
    let cfg =
        job("directory = \"/x\"\npattern = \"*\"\nmax_age = \"1d\"\ntimezone = \"utc\"").config;
    let t = file_time(&cfg, Some(&fmt), "sales-202911.csv", noon()).unwrap();
    assert_eq!(
        t,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_888_185_600)
    );
}

#[test]
fn a_missing_directory_is_an_error() {
    let j = job("directory = \"/no/such/dir/here\"\npattern = \"*\"\nmax_age = \"1d\"");
    let mut guard = Guard::off();
    let r = run(&j, &mut guard, false);
    assert_eq!(r.summary.errors, 1);
    assert!(r.actions[0].detail.contains("cannot open the directory"));
}

/// The agent has shipped half of `b.log.1` and never reached `c.log.1`: both
/// stay, `a.log.1` (shipped) goes.
#[test]
fn unshipped_files_are_held() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    let data = d.path().join("data");
    for n in ["a.log.1", "b.log.1", "c.log.1"] {
        touch(&logs.join(n), "0123456789\n", 60);
    }
    checkpoint(
        &data,
        "app",
        &[(&logs.join("a.log.1"), 11), (&logs.join("b.log.1"), 5)],
    );
    let sources = [crate::maintenance::config::TailSource {
        id: "app".into(),
        include: vec![format!("{}/*.log*", logs.display())],
        exclude: vec![],
    }];
    let mut guard = Guard::new(&data, &sources);
    let j = job(&format!(
        "directory = \"{}\"\npattern = \"*.log.*\"\nmax_age = \"30d\"",
        logs.display()
    ));
    let r = run(&j, &mut guard, false);
    assert_eq!(
        (r.summary.deleted, r.summary.held),
        (1, 2),
        "{:#?}",
        r.actions
    );
    assert_eq!(names(&logs), ["b.log.1", "c.log.1"]);
}
