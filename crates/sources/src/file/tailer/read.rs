//! Reading: each open file's turn, end of file (truncation, rotation,
//! deletion, partial lines, multiline timeouts) and settling what is done.

use super::*;

impl Tailer {
    /// Gives a turn to every open file that may have something to do, handles
    /// their ends, and applies the acknowledgements that came back. Returns
    /// whether anything was read or changed state.
    ///
    /// A file at its end with nothing due costs nothing unless it may have
    /// changed: named by a notification or a rescan, or polled (every step
    /// without reliable notifications, else only symlinked paths, less often
    /// while they stay idle); a poll is one `fstat`, and a file whose stamp did
    /// not change is not read.
    pub fn step(&mut self, now: Instant, out: &Output) -> Result<bool, Closed> {
        self.drain_acks();
        self.save_new_identities(now, out)?;
        let wake_all = std::mem::take(&mut self.wake_all);
        // Every open file is looked at without reliable notifications, after
        // lost ones, or when a symlinked file's poll is due; else only those
        // something asked for.
        let full = wake_all || !self.notified || self.next_look.is_some_and(|t| now >= t);
        let awake = std::mem::take(&mut self.awake);
        let mut ids: Vec<(u64, u64, Look)> = Vec::new();
        let mut still_awake = Vec::new();
        let mut consider = |item: &Item, look: Look| match look {
            Look::Skip
                if item
                    .open
                    .as_ref()
                    .is_some_and(|o| self.keeps_awake(item, o)) =>
            {
                still_awake.push(item.id);
            }
            Look::Skip => {}
            look => ids.push((item.seq, item.id, look)),
        };
        if full {
            for item in self.items.values() {
                consider(item, self.look(item, now, wake_all));
            }
        } else {
            for item in awake.iter().filter_map(|id| self.items.get(id)) {
                consider(item, self.look(item, now, false));
            }
        }
        self.awake.extend(still_awake);
        ids.sort_unstable_by_key(|(seq, _, _)| *seq);
        self.checkpoint_dirty |= !ids.is_empty();
        let mut progressed = false;
        let poll_interval = self.config.poll_interval.0;
        for (_, id, look) in ids {
            let meta = match look {
                Look::Poll => match self.poll(id, now) {
                    Some(meta) => Some(meta),
                    None => continue,
                },
                _ => None,
            };
            progressed |= self.read_turn(id, now, out, meta)?;
            self.touched.insert(id);
            let Some(open) = self.items.get_mut(&id).and_then(|i| i.open.as_mut()) else {
                continue;
            };
            open.woken = false;
            open.poll_every = poll_interval;
            open.next_poll = now + poll_interval;
            if !open.covered {
                self.next_look = Some(
                    self.next_look
                        .map_or(open.next_poll, |t| t.min(open.next_poll)),
                );
            }
            if let Some(item) = self.items.get(&id)
                && item
                    .open
                    .as_ref()
                    .is_some_and(|o| self.keeps_awake(item, o))
            {
                self.awake.insert(id);
            }
        }
        if full {
            self.next_look = self
                .items
                .values()
                .filter_map(|i| i.open.as_ref())
                .filter(|o| !o.covered)
                .map(|o| o.next_poll)
                .min();
        }
        self.drain_acks();
        progressed |= self.settle_touched();
        Ok(progressed)
    }

    /// Writes the checkpoint before the first lines of a content never
    /// checkpointed are read, so its stream id survives a crash (one write for
    /// all files new since the last step; none when there are none). Heads are
    /// read first so the entries carry fingerprints. A failed write is counted
    /// and logged by the checkpointer; reading then goes on (after a crash such
    /// a file would be read again under a new id: duplicates, never a loss).
    fn save_new_identities(&mut self, now: Instant, out: &Output) -> Result<(), Closed> {
        let items = &self.items;
        self.unsaved
            .retain(|id| items.get(id).is_some_and(|i| !i.identity_saved));
        let unsaved: Vec<u64> = self
            .unsaved
            .iter()
            .copied()
            .filter(|id| items.get(id).is_some_and(|i| i.open.is_some()))
            .collect();
        if unsaved.is_empty() {
            return Ok(());
        }
        for id in &unsaved {
            if self.truncated_since_last_read(*id, None) {
                self.truncated(*id, now, out)?;
            }
            // (A plain file into which a gzip stream is now being written is
            // treated as rewritten by the check above and judged again by the
            // next scan; a file too short to tell is not opened at all.)
            // Opened while too short to be recognised, and what arrived since
            // is content already known (a copy being made: copytruncate's
            // copy, `cp`): forget it unread, so the next scan judges it by its
            // head like any file (a copy of a live file, or one of its own).
            let copy_of_known = self.items.get(id).is_some_and(|i| {
                i.open
                    .as_ref()
                    .is_some_and(|o| o.opened_empty && o.read_pos() == 0)
                    && i.fp.is_some_and(|f| {
                        self.items
                            .values()
                            .any(|other| other.id != i.id && other.fp == Some(f))
                    })
            });
            if copy_of_known {
                self.items.remove(id);
            }
        }
        // Known by a fingerprint, or (with ignored_header_bytes) holding
        // header bytes only: nothing better will come for a while.
        let header_only = self.skip() > 0;
        let identifiable = |i: &Item| {
            i.fp.is_some()
                || (header_only
                    && i.open
                        .as_ref()
                        .and_then(|o| o.checked)
                        .is_some_and(|(len, _)| len > 0))
        };
        let ready = unsaved
            .iter()
            .any(|id| self.items.get(id).is_some_and(identifiable));
        // Written or not (a failure is counted and logged by the
        // checkpointer), reading goes on: see above.
        if ready {
            self.checkpoint_dirty = true;
            self.write_checkpoint(now);
            for item in self.items.values_mut() {
                if identifiable(item) {
                    item.identity_saved = true;
                }
            }
        }
        Ok(())
    }

    /// Whether an open item must be looked at again without anything naming
    /// it: mid-read, or something of it waits for a timeout or its end.
    fn keeps_awake(&self, item: &Item, open: &Open) -> bool {
        self.ctx.once
            || item.compressed
            || !open.at_eof
            || open.woken
            || open.lines.pending() > 0
            || open.assembler.deadline().is_some()
            || (item.state == State::Orphaned && !open.is_drained())
    }

    /// What an open item needs this step, without a system call.
    fn look(&self, item: &Item, now: Instant, wake_all: bool) -> Look {
        let Some(open) = item.open.as_ref() else {
            return Look::Skip;
        };
        let partial_due = open.lines.pending() > 0
            && now.saturating_duration_since(open.last_read) >= self.config.partial_line_timeout.0;
        let group_due = open.assembler.deadline().is_some_and(|d| d <= now);
        let unfinished = item.state == State::Orphaned && !open.is_drained();
        if self.ctx.once
            || item.compressed
            || !open.at_eof
            || open.woken
            || partial_due
            || group_due
            || unfinished
        {
            return Look::Turn;
        }
        if wake_all || !self.notified || (!open.covered && now >= open.next_poll) {
            return Look::Poll;
        }
        Look::Skip
    }

    /// One `fstat` of an open file at its end: its metadata if it changed
    /// since it was last looked at, else `None` (and, while notifications are
    /// relied on, the next poll comes later: the period doubles up to
    /// [`MAX_POLL_FACTOR`] times `poll_interval`).
    fn poll(&mut self, id: u64, now: Instant) -> Option<fs::Metadata> {
        let poll_interval = self.config.poll_interval.0;
        let notified = self.notified;
        self.io.fstats += 1;
        let open = self.items.get_mut(&id)?.open.as_mut()?;
        let meta = open.input.plain()?.metadata().ok()?;
        let stamp = Stamp::of(&meta);
        if open.seen != Some(stamp) || stamp.len != open.read_pos() {
            return Some(meta);
        }
        if notified {
            open.poll_every = (open.poll_every * 2).min(poll_interval * MAX_POLL_FACTOR);
            open.next_poll = now + open.poll_every;
        }
        None
    }

    fn read_turn(
        &mut self,
        id: u64,
        now: Instant,
        out: &Output,
        meta: Option<fs::Metadata>,
    ) -> Result<bool, Closed> {
        if self.truncated_since_last_read(id, meta) {
            self.truncated(id, now, out)?;
            return Ok(true);
        }
        // A plain file whose id is not saved yet (it was empty so far): read
        // nothing yet (the next step saves its id with a fingerprint first),
        // but still look for rotation at its end.
        let hold = self.items.get(&id).is_some_and(|i| {
            !i.identity_saved && i.open.as_ref().is_some_and(|o| o.input.plain().is_some())
        });
        let per_turn = self.config.max_read_per_turn.0;
        let metrics = self.ctx.metrics.clone();
        let Some(item) = self.items.get_mut(&id) else {
            return Ok(false);
        };
        let Some(open) = item.open.as_mut() else {
            return Ok(false);
        };
        let mut progressed = false;
        let mut read = 0u64;
        let before = open.lines.stats();
        let Open {
            input,
            lines,
            assembler,
            batcher,
            at_eof,
            last_read,
            broken,
            ..
        } = open;
        let mut sent = Ok(());
        if hold {
            *at_eof = true;
        }
        let seen = open.seen;
        while read < per_turn && !hold {
            let filled = match input {
                Input::Plain(file) => {
                    // Read what the last fstat says is there, no more: the
                    // buffer is sized to it, and no read is made to learn
                    // that there is nothing.
                    let there = seen.map_or(0, |s| s.len);
                    let limit =
                        there.saturating_sub(lines.consumed_offset() + lines.pending() as u64);
                    if limit == 0 {
                        Ok(0)
                    } else {
                        self.io.reads += 1;
                        lines.fill_file(file, limit.min(per_turn - read))
                    }
                }
                Input::Gzip(_) => {
                    self.io.reads += 1;
                    lines.fill(input)
                }
            };
            match filled {
                Ok(0) => {
                    *at_eof = true;
                    break;
                }
                Ok(n) => {
                    *at_eof = false;
                    progressed = true;
                    read += n as u64;
                    *last_read = now;
                    if assembler.is_plain() {
                        lines.drain_lines(|line| {
                            if sent.is_ok() {
                                sent = batcher.push(line, out, &metrics);
                            }
                        });
                    } else {
                        lines.drain_lines(|line| {
                            assembler.push(line, now, &mut |event, end| {
                                if sent.is_ok() {
                                    sent = batcher.push_event(event, end, out, &metrics);
                                }
                            });
                        });
                    }
                    sent?;
                }
                Err(error) => {
                    ComponentMetrics::add(&metrics.errors, 1);
                    if item.compressed {
                        *broken = true;
                        *at_eof = true;
                        if self.log.check().is_some() {
                            tracing::warn!(component = %self.ctx.source, path = %item.path.display(), %error,
                                "gzip stream ends early (cut short or corrupt)");
                        }
                    } else if self.log.check().is_some() {
                        tracing::warn!(component = %self.ctx.source, path = %item.path.display(), %error, "read failed; will retry");
                    }
                    break;
                }
            }
        }
        if progressed {
            item.last_active = now;
        }
        let stats = lines.stats();
        let (cut, dropped) = (
            stats.truncated - before.truncated,
            stats.dropped - before.dropped,
        );
        if cut + dropped > 0 {
            ComponentMetrics::add(&metrics.discarded_events, dropped);
            ComponentMetrics::add(&metrics.errors, cut + dropped);
            if let Some(suppressed) = self.oversize_log.check() {
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), truncated = cut, dropped, suppressed,
                    max_line_bytes = %self.config.max_line_bytes, "lines over max_line_bytes");
            }
        }
        let malformed = assembler.take_malformed();
        if malformed > 0 {
            ComponentMetrics::add(&metrics.errors, malformed);
            if let Some(suppressed) = self.oversize_log.check() {
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), lines = malformed, suppressed,
                    format = ?self.config.format, "lines not in the container log format; passed on as text");
            }
        }
        if *at_eof {
            progressed |= self.at_eof(id, now, out)?;
        }
        if let Some(item) = self.items.get_mut(&id) {
            if let Some(o) = &mut item.open {
                o.batcher.flush(out)?;
            }
            item.collect_sent();
        }
        Ok(progressed)
    }

    /// Before reading a plain file: has it shrunk below what was read, or has
    /// its head changed (truncated and rewritten)? Checked before reading, so
    /// new content is never read from an old offset. The head is read again
    /// only when size or mtime changed; a growing fingerprint is extended.
    ///
    /// `meta` is the file's `fstat` if the caller just made it. A change of
    /// stamp marks the file woken (a rescan found it changed).
    pub(super) fn truncated_since_last_read(
        &mut self,
        id: u64,
        meta: Option<fs::Metadata>,
    ) -> bool {
        let (skip, fp_bytes) = (self.skip(), self.fp_bytes());
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        let Some(open) = item.open.as_mut() else {
            return false;
        };
        let Some(file) = open.input.plain() else {
            return false;
        };
        let meta = match meta {
            Some(meta) => meta,
            None => {
                self.io.fstats += 1;
                let Ok(meta) = file.metadata() else {
                    return false;
                };
                meta
            }
        };
        let seen = Stamp::of(&meta);
        if open.seen != Some(seen) {
            open.woken = true;
            open.seen = Some(seen);
            self.awake.insert(id);
        }
        if meta.len() < open.read_pos() {
            return true;
        }
        let stamp = (meta.len(), meta.modified().ok());
        if open.checked == Some(stamp) {
            return false;
        }
        open.checked = Some(stamp);
        self.io.head_reads += 1;
        let Ok(head) = pread_head(file, skip + fp_bytes) else {
            return false;
        };
        if head.starts_with(&GZIP_MAGIC) {
            // Became gzip (it was empty when opened): never read as text.
            return true;
        }
        match item.fp {
            Some(f) if !f.matches(&head) => return true,
            current => {
                if let Some(f) = Fingerprint::of_head(&head, skip, fp_bytes)
                    && current.is_none_or(|c| f.len > c.len)
                {
                    item.fp = Some(f);
                }
            }
        }
        false
    }

    /// End of what is there for now: look for rotation, send
    /// lines that waited long enough, finish files that will not grow.
    fn at_eof(&mut self, id: u64, now: Instant, out: &Output) -> Result<bool, Closed> {
        let once = self.ctx.once;
        let partial_timeout = self.config.partial_line_timeout.0;
        let Some(item) = self.items.get_mut(&id) else {
            return Ok(false);
        };
        let Some(open) = item.open.as_mut() else {
            return Ok(false);
        };
        if item.compressed {
            if open.broken {
                // Admitted complete, or cut short and stable for SETTLE (see
                // `admit`): what decoded is all there is; the rest is counted.
                ComponentMetrics::add(&self.gzip_truncated, 1);
                tracing::warn!(component = %self.ctx.source, path = %item.path.display(), valid_bytes = open.read_pos(),
                    "gzip stream ends early; its lines up to there were read, the rest is lost");
            }
            Self::finish(item, now, out, &self.ctx.metrics)?;
            self.close(id, State::Finished);
            return Ok(true);
        }
        let mut progressed = false;
        // The path is looked at only when the file's stamp changed since it
        // last was (a rename or unlink changes its ctime), or a rescan asked.
        let here = if open.path_checked.is_none() || open.path_checked != open.seen {
            self.io.path_stats += 1;
            open.path_checked = open.seen;
            fs::metadata(&item.path).map(|m| FileId::of(&m) == item.file)
        } else {
            Ok(item.state != State::Orphaned)
        };
        match (item.state, here) {
            (State::Live, Ok(false) | Err(_)) => {
                tracing::info!(component = %self.ctx.source, path = %item.path.display(),
                    "file rotated away or deleted; reading it to its end");
                item.state = State::Orphaned;
                progressed = true;
            }
            (State::Orphaned, Ok(true)) => item.state = State::Live,
            _ => {}
        }
        if item.state == State::Orphaned || once {
            if !open.is_drained() {
                Self::finish(item, now, out, &self.ctx.metrics)?;
                progressed = true;
            }
            if once {
                self.close(id, State::Finished);
                return Ok(true);
            }
        } else {
            // A live file: a last line without newline waits for
            // partial_line_timeout, a multiline group for its own timeout.
            let metrics = &self.ctx.metrics;
            let Open {
                lines,
                assembler,
                batcher,
                last_read,
                ..
            } = open;
            let mut sent = Ok(());
            if lines.pending() > 0
                && now.saturating_duration_since(*last_read) >= partial_timeout
                && let Some(line) = lines.finish()
            {
                progressed = true;
                send_line(assembler, batcher, line, now, out, metrics)?;
            }
            assembler.flush_expired(now, &mut |e, end| {
                progressed = true;
                if sent.is_ok() {
                    sent = batcher.push_event(e, end, out, metrics);
                }
            });
            sent?;
        }
        Ok(progressed)
    }

    /// Sends everything read from a file that will not grow: its last line
    /// without newline and whatever the assembler holds.
    fn finish(
        item: &mut Item,
        now: Instant,
        out: &Output,
        metrics: &ComponentMetrics,
    ) -> Result<(), Closed> {
        let Some(open) = item.open.as_mut() else {
            return Ok(());
        };
        let Open {
            lines,
            assembler,
            batcher,
            ..
        } = open;
        if let Some(line) = lines.finish() {
            send_line(assembler, batcher, line, now, out, metrics)?;
        }
        let mut sent = Ok(());
        let end = lines.consumed_offset();
        assembler.flush(end, now, &mut |e, end| {
            if sent.is_ok() {
                sent = batcher.push_event(e, end, out, metrics);
            }
        });
        sent?;
        batcher.flush(out)?;
        item.collect_sent();
        Ok(())
    }

    /// The file shrank or its head changed: its old content is gone from this
    /// inode. What was read of it stays known (a copy may turn up), and the
    /// inode's new content is read from 0.
    pub(super) fn truncated(&mut self, id: u64, now: Instant, out: &Output) -> Result<(), Closed> {
        let skip = self.skip();
        let fp_bytes = self.fp_bytes();
        let Some(item) = self.items.get_mut(&id) else {
            return Ok(());
        };
        let Some(open) = item.open.as_mut() else {
            return Ok(());
        };
        tracing::warn!(component = %self.ctx.source, path = %item.path.display(), offset = open.read_pos(),
            "file truncated or rewritten; reading it from the start");
        open.batcher.flush(out)?;
        item.collect_sent();
        let file = item.file;
        let path = item.path.clone();
        let Some(open) = item.open.take() else {
            return Ok(());
        };
        item.offset = open.resume_offset();
        item.state = State::Detached;
        item.last_seen = now;
        let Input::Plain(mut f) = open.input else {
            return Ok(());
        };
        if let Err(error) = f.seek(SeekFrom::Start(0)) {
            tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot rewind file");
            return Ok(());
        }
        let head = pread_head(&f, skip + fp_bytes).unwrap_or_default();
        if head.len() < GZIP_MAGIC.len() || head.starts_with(&GZIP_MAGIC) {
            // Too short to tell, or gzip: not read as text; the next scan
            // (asked for at once) judges the new content like any file's.
            self.rescan_soon = true;
            return Ok(());
        }
        let mut item = self.fresh_item(path.clone(), file, &head, 0, State::Live, false, now);
        let new_id = item.id;
        item.open = Some(self.new_open(new_id, &path, Input::Plain(f), 0, now));
        self.by_path.insert(path, new_id);
        self.items.insert(new_id, item);
        self.unsaved.insert(new_id);
        Ok(())
    }

    /// Applies what can be decided without reading: acknowledged offsets of
    /// quiet files, and closing rotated files that are read and acknowledged.
    pub(super) fn settle(&mut self) -> bool {
        self.touched.clear();
        self.settle_all = false;
        let mut done = Vec::new();
        for item in self.items.values_mut() {
            Self::settle_item(item, &mut done);
        }
        self.close_settled(done)
    }

    /// [`Tailer::settle`] for the items that were read or acknowledged since
    /// the last one (all of them after a rescan).
    fn settle_touched(&mut self) -> bool {
        if self.settle_all {
            return self.settle();
        }
        let mut done = Vec::new();
        for id in std::mem::take(&mut self.touched) {
            if let Some(item) = self.items.get_mut(&id) {
                Self::settle_item(item, &mut done);
            }
        }
        self.close_settled(done)
    }

    fn settle_item(item: &mut Item, done: &mut Vec<u64>) {
        match &item.open {
            Some(o) if o.is_drained() => {
                item.acks.settle(o.lines.consumed_offset());
                if item.state == State::Orphaned && o.at_eof && !item.acks.in_flight() {
                    done.push(item.id);
                }
            }
            Some(_) => {}
            None => item.acks.settle(item.offset),
        }
    }

    fn close_settled(&mut self, done: Vec<u64>) -> bool {
        let any = !done.is_empty();
        for id in done {
            if let Some(item) = self.items.get(&id) {
                tracing::info!(component = %self.ctx.source, path = %item.path.display(), "finished rotated or deleted file");
            }
            self.close(id, State::Finished);
        }
        any
    }
}

/// Sends one line read outside the read loop (a last line without newline):
/// as an event of its own, or through the multiline assembler.
fn send_line(
    assembler: &mut Assembler,
    batcher: &mut Batcher,
    line: logagent_codecs::framing::Line,
    now: Instant,
    out: &Output,
    metrics: &ComponentMetrics,
) -> Result<(), Closed> {
    if assembler.is_plain() {
        return batcher.push(line, out, metrics);
    }
    let mut sent = Ok(());
    assembler.push(line, now, &mut |e, end| {
        if sent.is_ok() {
            sent = batcher.push_event(e, end, out, metrics);
        }
    });
    sent
}
