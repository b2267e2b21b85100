//! Progress for long jobs: an indicatif bar (files and bytes done) when stderr is
//! a terminal, nothing otherwise (the caller prints one summary line).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::human_bytes;

/// Reports progress, or does nothing when hidden.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    bytes_total: u64,
    bytes_done: u64,
}

impl Progress {
    /// A bar on stderr when `wanted` and stderr is a terminal; hidden otherwise.
    pub fn new(wanted: bool) -> Progress {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} files, {msg} {elapsed}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            bytes_total: 0,
            bytes_done: 0,
        }
    }

    /// A hidden progress (tests, `--json`).
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            bytes_total: 0,
            bytes_done: 0,
        }
    }

    /// Whether a bar is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Starts a phase of `files` files and `bytes` bytes.
    pub fn start(&mut self, what: &str, files: u64, bytes: u64) {
        self.bytes_total = bytes;
        self.bytes_done = 0;
        if let Some(bar) = &self.bar {
            bar.set_prefix(what.to_owned());
            bar.set_length(files);
            bar.set_position(0);
            bar.set_message(self.bytes_message());
        }
    }

    /// One more file done, of `bytes` bytes.
    pub fn file_done(&mut self, bytes: u64) {
        self.bytes_done += bytes;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(self.bytes_message());
        }
    }

    /// Prints a line above the bar (or to stderr without one).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn bytes_message(&self) -> String {
        format!(
            "{} / {}",
            human_bytes(self.bytes_done),
            human_bytes(self.bytes_total)
        )
    }
}
