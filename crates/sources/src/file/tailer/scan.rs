//! Identity resolution: what the globs find matched against the files the
//! tailer knows (device+inode, fingerprint, copies verified by bytes,
//! rotations, gzip read by content once complete), and admitting new ones.

use super::*;

impl Tailer {
    /// Matches the files the globs find now against what is known, opening new
    /// ones and reopening known ones where they stopped. Returns how many were
    /// opened. Open files are first checked for truncation, so that content
    /// found elsewhere is compared with what they hold now.
    pub fn scan(&mut self, now: Instant, out: &Output) -> Result<usize, Closed> {
        let open_ids: Vec<u64> = self
            .items
            .values()
            .filter(|i| i.open.is_some() && !i.compressed)
            .map(|i| i.id)
            .collect();
        for id in open_ids {
            if self.truncated_since_last_read(id, None) {
                self.truncated(id, now, out)?;
            }
        }
        let source = self.ctx.source.clone();
        let log = &self.log;
        let found = self.discovery.scan(|pattern, error| {
            if log.check().is_some() {
                tracing::warn!(component = %source, pattern, %error, "cannot read a path matched by include");
            }
        });
        if self.items.is_empty()
            && candidates_empty(&found)
            && let Some(suppressed) = self.empty_log.check()
        {
            tracing::warn!(
                component = %source,
                include = %self.discovery.patterns().join(", "),
                suppressed,
                "no file matches the include patterns yet; it is read when one appears (check the path)"
            );
        }
        let first = std::mem::replace(&mut self.first_scan, false);
        let mut candidates = Vec::with_capacity(found.len());
        let mut at_path: HashMap<&Path, FileId> = HashMap::new();
        let mut seen: HashMap<FileId, &Path> = HashMap::new();
        for path in &found {
            let Ok(meta) = fs::metadata(path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let id = FileId::of(&meta);
            at_path.insert(path, id);
            seen.insert(id, path);
            candidates.push((path.clone(), id, meta));
        }
        // Open files: follow renames, keep them marked as seen.
        let open: HashMap<FileId, u64> = self
            .items
            .values()
            .filter(|i| i.open.is_some())
            .map(|i| (i.file, i.id))
            .collect();
        self.starved = false;
        // Heads of the files not open, read once: first to notice known
        // contents that left their inode (truncated while closed, inode reused),
        // so that a copy of them elsewhere is recognised whatever the order of
        // the paths; then to decide about each file.
        let want = self.skip() + self.fp_bytes();
        let mut heads: Vec<Option<(Vec<u8>, bool)>> = Vec::with_capacity(candidates.len());
        for (path, file, _) in &candidates {
            if open.contains_key(file) {
                heads.push(None);
                continue;
            }
            match read_head_as(path, want, *file) {
                Ok(None) => {
                    // Renamed or replaced since it was listed: the next scan
                    // (at once) finds it where it is now.
                    self.rescan_soon = true;
                    heads.push(None);
                }
                Ok(Some((head, gz))) => {
                    for item in self.items.values_mut() {
                        if item.open.is_none()
                            && item.file == *file
                            && item.state != State::Detached
                            && (item.compressed != gz || item.fp.is_some_and(|f| !f.matches(&head)))
                        {
                            item.state = State::Detached;
                        }
                    }
                    heads.push(Some((head, gz)));
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    // Removed since it was listed (rotation): not an error.
                    tracing::debug!(component = %self.ctx.source, path = %path.display(), "file gone since it was listed");
                    heads.push(None);
                }
                Err(error) => {
                    if self.log.check().is_some() {
                        tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot open file");
                    }
                    ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                    heads.push(None);
                }
            }
        }
        let mut opened = 0;
        for ((path, file, meta), head) in candidates.into_iter().zip(heads) {
            if let Some(id) = open.get(&file) {
                if let Some(item) = self.items.get_mut(id) {
                    item.last_seen = now;
                    if at_path.get(item.path.as_path()) != Some(&file) {
                        tracing::debug!(component = %self.ctx.source, from = %item.path.display(), to = %path.display(), "file renamed");
                        item.path = path;
                        if item.state == State::Orphaned {
                            item.state = State::Live;
                        }
                    }
                }
                continue;
            }
            let Some((head, gz)) = head else { continue };
            if self.consider(&path, file, &meta, &head, gz, first, now, &seen) {
                opened += 1;
            }
        }
        self.index_paths(&at_path);
        // Known files nobody has seen for a long time are forgotten, and with
        // them whatever else is kept per file: nothing grows with file churn.
        let retention = self.config.checkpoint_retention.0;
        self.items.retain(|_, i| {
            i.open.is_some()
                || i.acks.in_flight()
                || now.saturating_duration_since(i.last_seen) < retention
        });
        let open_now: HashSet<FileId> = self
            .items
            .values()
            .filter(|i| i.open.is_some())
            .map(|i| i.file)
            .collect();
        self.deferred
            .retain(|f, _| seen.contains_key(f) && !open_now.contains(f));
        if !self.kubernetes.is_empty() {
            let paths: HashSet<&Path> = self.items.values().map(|i| i.path.as_path()).collect();
            self.kubernetes.retain(|p, _| paths.contains(p.as_path()));
        }
        Ok(opened)
    }

    /// Decides what to do with a file that is not open. Returns true if it was opened.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consider(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        gz: bool,
        first_scan: bool,
        now: Instant,
        seen: &HashMap<FileId, &Path>,
    ) -> bool {
        let old = self.ignore_older_than_says_old(meta);

        // An entry that never read a byte knows nothing about its file: once
        // the file has content, forget it, so an inode reused by another file
        // (a copy, perhaps) is judged afresh.
        if !head.is_empty() {
            self.items.retain(|_, i| {
                !(i.file == file
                    && i.open.is_none()
                    && i.fp.is_none()
                    && i.offset == 0
                    && !i.acks.in_flight())
            });
        }

        // (a) The same inode, known and not open: resume it.
        let same = self
            .items
            .values()
            .filter(|i| {
                i.open.is_none()
                    && i.file == file
                    && i.state != State::Detached
                    && i.compressed == gz
                    && i.fp.is_none_or(|f| f.matches(head))
            })
            .max_by_key(|i| i.seq)
            .map(|i| i.id);
        // Found under another name than where it was last seen.
        let moved = same
            .and_then(|id| self.items.get(&id))
            .is_some_and(|i| i.path != path);
        if let Some(id) = same {
            let Some(item) = self.items.get_mut(&id) else {
                return false;
            };
            item.last_seen = now;
            item.path = path.to_path_buf();
            let size = meta.len();
            let changed = item.size_at_close != Some(size);
            match item.state {
                // Finished stays finished unless a writer still appends to it.
                State::Finished if gz || size <= item.offset || !changed => {
                    item.size_at_close = Some(size);
                    return false;
                }
                // Closed for max_open_files: reopened once it changes.
                State::Closed if item.size_at_close.is_some() && !changed => return false,
                _ => {}
            }
        }
        // The same inode and head, but not the bytes before where reading
        // stopped: the inode was reused by a file that begins the same way
        // (checked only when about to resume, not at every scan).
        let sample = same.and_then(|id| self.items.get(&id)).and_then(|i| i.tail);
        let same = match (same, sample) {
            (Some(id), Some(t)) => match open_as(path, file) {
                // Renamed or replaced since the scan listed it (a rotation
                // between our stat and this open): judged at the next scan,
                // where it is found under its new name.
                None => {
                    self.rescan_soon = true;
                    return false;
                }
                Some(this) if !holds_sample(&this, gz, t) => {
                    if let Some(item) = self.items.get_mut(&id) {
                        tracing::debug!(component = %self.ctx.source, path = %path.display(), offset = item.offset,
                            "same inode and head, but not the bytes before where reading stopped: judged as another file");
                        item.state = State::Detached;
                    }
                    None
                }
                Some(_) => Some(id),
            },
            (other, _) => other,
        };
        // Nothing is read as text before it is known not to be gzip, nor a
        // gzip stream before it is complete.
        if !self.admit(path, file, meta, gz, now) {
            return false;
        }
        if let Some(id) = same {
            // An entry that read nothing (a file that never got a descriptor),
            // found under another name, says nothing about what its inode
            // holds now: the file may have been deleted and its inode reused
            // by a copy of content read elsewhere (copytruncate). Known content
            // gone from its old identity comes first, as it would for a new
            // inode; else the entry is resumed (from its start, like a new
            // file). (At its own path it is the same file: a replica sharing
            // the head of a truncated file is not that file's copy.)
            let read_nothing = moved
                && self.items.get(&id).is_some_and(|i| {
                    i.resume_offset() == 0 && i.tail.is_none() && !i.acks.in_flight()
                });
            if read_nothing
                && let Some(fp) = Fingerprint::of_head(head, self.skip(), self.fp_bytes())
            {
                match self.known_content(path, file, meta, head, gz, now, seen) {
                    Known::Continue(other) if other != id => {
                        self.items.remove(&id);
                        return self.rebind(other, path, file, meta, head, gz, fp, now);
                    }
                    Known::Wait => return false,
                    Known::Continue(_) | Known::New => {}
                }
            }
            let fp_bytes = self.fp_bytes();
            let skip = self.skip();
            let Some(item) = self.items.get_mut(&id) else {
                return false;
            };
            let size = meta.len();
            if !gz && size < item.offset {
                // Truncated while not open: its old content is gone.
                tracing::warn!(component = %self.ctx.source, path = %path.display(), size, offset = item.offset,
                    "file is shorter than its checkpoint (truncated while closed); reading it from the start");
                item.state = State::Detached;
                return self.open_new(path, file, head, gz, 0, now);
            }
            if old {
                return false;
            }
            if item.fp.is_none_or(|f| !f.is_full(fp_bytes))
                && let Some(f) = Fingerprint::of_head(head, skip, fp_bytes)
            {
                item.fp = Some(f);
            }
            return self.reopen(id, now);
        }

        // (b) Another inode whose head is content we know.
        if let Some(fp) = Fingerprint::of_head(head, self.skip(), self.fp_bytes()) {
            match self.known_content(path, file, meta, head, gz, now, seen) {
                Known::Wait => return false,
                Known::Continue(id) => return self.rebind(id, path, file, meta, head, gz, fp, now),
                Known::New => {}
            }
        }

        // (c) A file never seen.
        if old {
            return false;
        }
        let start = if first_scan && self.config.read_from == ReadFrom::End && self.ctx.once {
            // `--once` with read_from = end has nothing to read in old files.
            return false;
        } else if first_scan && self.config.read_from == ReadFrom::End {
            if gz {
                // Its content predates the agent, like what `end` skips of a
                // plain file: known from now on, and finished (else the next
                // scan would take it for a new file and read it).
                self.known_unread_gzip(path, file, meta, head, now);
                return false;
            }
            meta.len()
        } else {
            0
        };
        self.open_new(path, file, head, gz, start, now)
    }

    /// Whether a file may be read now, as what its content says it is. A file
    /// of fewer than two bytes may yet become gzip (a compressor creates its
    /// output empty): it waits for more bytes, or for [`SETTLE`] without
    /// change. A gzip file is decoded to its end first (once per change of
    /// size or mtime): a stream still being written waits; one that stays cut
    /// short for [`SETTLE`] is read as far as it is valid (see
    /// [`Tailer::at_eof`]). With `--once` everything is read as it is.
    fn admit(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        gz: bool,
        now: Instant,
    ) -> bool {
        if self.ctx.once {
            return true;
        }
        let why = if gz {
            WaitFor::GzipEnd
        } else if meta.len() < GZIP_MAGIC.len() as u64 {
            WaitFor::Bytes
        } else {
            if self
                .deferred
                .get(&file)
                .is_some_and(|w| matches!(w.why, WaitFor::Bytes | WaitFor::GzipEnd))
            {
                self.deferred.remove(&file);
            }
            return true;
        };
        let stamp = (meta.len(), meta.modified().ok());
        let w = self
            .deferred
            .entry(file)
            .or_insert_with(|| Waiting::new(path, why, stamp, now));
        w.path = path.to_path_buf();
        if w.why != why || w.stamp != stamp {
            if w.why != why {
                w.since = now;
            }
            w.why = why;
            w.stamp = stamp;
            w.stable_since = now;
            w.gzip = None;
            w.settled = false;
        }
        if w.settled {
            return true;
        }
        let stable = now.saturating_duration_since(w.stable_since) >= SETTLE;
        if why == WaitFor::Bytes {
            w.settled = stable;
            return stable;
        }
        let end = match w.gzip {
            Some(end) => end,
            None => match gzip_end(path) {
                Ok(end) => *w.gzip.insert(end),
                Err(error) => {
                    if self.log.check().is_some() {
                        tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot read gzip file; will retry");
                    }
                    return false;
                }
            },
        };
        match end {
            GzipEnd::Complete(_) => {
                w.settled = true;
                true
            }
            GzipEnd::Truncated(valid) if stable => {
                tracing::warn!(component = %self.ctx.source, path = %path.display(), size = meta.len(), valid_bytes = valid,
                    "gzip stream ends early and has not changed for {}s; reading it as far as it is valid", SETTLE.as_secs());
                w.settled = true;
                true
            }
            GzipEnd::Truncated(_) => {
                if !w.told {
                    w.told = true;
                    tracing::debug!(component = %self.ctx.source, path = %path.display(), "gzip file still being written; waiting for its end");
                }
                false
            }
        }
    }

    /// A file on a new inode whose head matches content the tailer knows. Two
    /// files that exist at once on distinct inodes are distinct files whatever
    /// their content: the fingerprint links a file only to content that is
    /// gone from its old identity (truncated away, its inode gone: moved,
    /// compressed, deleted). A live file with a matching head is compared
    /// further: when the new file holds the same bytes just before the shorter
    /// one's end, it is a copy in progress (copytruncate) and waits, at most
    /// [`COPY_GRACE`], for the original's truncation; a compressed copy, or a
    /// copy of a file rotated away and still being read, waits for the original
    /// to be gone. A plain file shorter than the fingerprint never waits.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn known_content(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        gz: bool,
        now: Instant,
        seen: &HashMap<FileId, &Path>,
    ) -> Known {
        let fp_bytes = self.fp_bytes();
        let short = !gz && meta.len() < self.skip() + fp_bytes;
        let mut matching: Vec<&Item> = self
            .items
            .values()
            // (A detached entry may even have had this inode, for compressed
            // content: inode numbers are reused. Plain content at the inode
            // it was truncated away from is that inode's new content.)
            .filter(|i| i.file != file || (gz && i.state == State::Detached))
            .filter(|i| {
                i.fp.is_some_and(|f| {
                    f.matches(head) && (f.is_full(fp_bytes) || i.state == State::Detached || gz)
                })
            })
            .collect();
        if matching.is_empty() {
            return Known::New;
        }
        // Every comparison reads this one open file: the path may be renamed
        // or replaced meanwhile (rotation), the descriptor stays this file.
        let Some(this) = open_as(path, file) else {
            self.rescan_soon = true;
            return Known::Wait;
        };
        matching.sort_by_key(|i| std::cmp::Reverse(i.seq));
        // Gone content this file holds, best first: verified by the sample of
        // the bytes before where its reading stopped; truncated away (the
        // copytruncate this entry is kept for); gone without a sample (an
        // entry of an older checkpoint). A copy of a live file ranks between
        // the last two: it waits.
        let mut verified = None;
        let mut detached = None;
        let mut unverified = None;
        let mut original = None;
        let mut raced = false;
        for i in matching {
            // Seen by this scan's listing and still there: a file deleted
            // since (a rotated file removed once compressed) is gone content.
            let live = i.state != State::Detached
                && (i.open.is_some()
                    || seen
                        .get(&i.file)
                        .is_some_and(|p| fs::metadata(p).is_ok_and(|m| FileId::of(&m) == i.file)));
            if !live {
                if i.resume_offset() == 0 && i.tail.is_none() {
                    // Nothing known was read of it: continuing it is reading
                    // from the start, and says nothing about what this is.
                    continue;
                }
                match i.tail {
                    Some(t) => {
                        if verified.is_none() && holds_sample(&this, gz, t) {
                            verified = Some(i.id);
                        }
                    }
                    None if i.state == State::Detached => detached = detached.or(Some(i.id)),
                    None => unverified = unverified.or(Some(i.id)),
                }
                continue;
            }
            if short || original.is_some() {
                continue;
            }
            if holds_copy_of(&this, gz, i, seen.get(&i.file).copied()) {
                // A file at its path, open or not (closed or never opened
                // for `max_open_files`: it never goes by itself), may be
                // truncated soon: its copy waits a bounded time. Only a file
                // rotated away or deleted and still being read (orphaned)
                // goes once read to its end: its copy waits for that.
                let bounded = !gz && i.state != State::Orphaned;
                original = Some((i.id, i.path.clone(), bounded));
            } else if !gz && shrunk_below_read(i, seen.get(&i.file).copied()) {
                // Truncated after this scan checked it and before this copy
                // was compared (copytruncate's copy then truncation, between
                // two of our steps): its content is gone from it, which the
                // next scan records first; this file is judged then.
                raced = true;
            }
        }
        if let Some(id) = verified.or(detached) {
            return Known::Continue(id);
        }
        if raced && original.is_none() {
            self.rescan_soon = true;
            return Known::Wait;
        }
        let Some((of, of_path, bounded)) = original else {
            return unverified.map_or(Known::New, Known::Continue);
        };
        let why = if bounded {
            WaitFor::Truncation(of)
        } else {
            WaitFor::Original(of)
        };
        let stamp = (meta.len(), meta.modified().ok());
        let w = self
            .deferred
            .entry(file)
            .or_insert_with(|| Waiting::new(path, why, stamp, now));
        if gz {
            // The gzip entry keeps its verdict; it waits without a deadline.
            w.settled = true;
            if !w.told {
                w.told = true;
                tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
                    "compressed copy of a file still being read; its lines are read there, this one waits for it to go");
            }
            return Known::Wait;
        }
        if w.why != why {
            w.why = why;
            w.since = now;
            w.settled = false;
            w.told = false;
        }
        if !bounded {
            w.settled = true;
            if !w.told {
                w.told = true;
                tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
                    "copy of a file rotated away and still being read; waiting for that one to be read to its end");
            }
            return Known::Wait;
        }
        if now.saturating_duration_since(w.since) < COPY_GRACE {
            if !w.told {
                w.told = true;
                tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
                    "same bytes as a file being read: a copy in progress (copytruncate)? waiting up to {}s for the original's truncation",
                    COPY_GRACE.as_secs());
            }
            return Known::Wait;
        }
        w.settled = true;
        tracing::info!(component = %self.ctx.source, path = %path.display(), original = %of_path.display(),
            "the file it looked copied from was not truncated; reading it as a file of its own");
        Known::New
    }

    /// Records a gzip file `read_from = end` leaves unread as read to its end
    /// (its decompressed length, known from `admit`).
    fn known_unread_gzip(
        &mut self,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        now: Instant,
    ) {
        let end = match self.deferred.get(&file).and_then(|w| w.gzip) {
            Some(GzipEnd::Complete(n) | GzipEnd::Truncated(n)) => n,
            None => 0,
        };
        let mut item = self.fresh_item(
            path.to_path_buf(),
            file,
            head,
            end,
            State::Finished,
            true,
            now,
        );
        item.size_at_close = Some(meta.len());
        self.items.insert(item.id, item);
    }

    fn ignore_older_than_says_old(&self, meta: &fs::Metadata) -> bool {
        let Some(limit) = &self.config.ignore_older_than else {
            return false;
        };
        meta.modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > limit.0)
    }

    /// Content known under another identity continues at this one.
    #[allow(clippy::too_many_arguments)]
    fn rebind(
        &mut self,
        id: u64,
        path: &Path,
        file: FileId,
        meta: &fs::Metadata,
        head: &[u8],
        gz: bool,
        fp: Fingerprint,
        now: Instant,
    ) -> bool {
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        let offset = item.resume_offset();
        if !gz && meta.len() < offset {
            // Shares the head but is shorter than what was read: not a copy.
            return self.open_new(path, file, head, gz, 0, now);
        }
        tracing::info!(component = %self.ctx.source, from = %item.path.display(), to = %path.display(), offset,
            "known content found in another file (copied, moved or compressed); continuing where it stopped");
        ComponentMetrics::add(&self.copies, 1);
        item.path = path.to_path_buf();
        item.file = file;
        item.compressed = gz;
        item.offset = offset;
        item.state = State::Closed;
        item.size_at_close = None;
        item.last_seen = now;
        if item.fp.is_none_or(|f| f.len < fp.len) {
            item.fp = Some(fp);
        }
        self.reopen(id, now)
    }
}

/// A sample of the bytes before `offset` of an open plain file (see
/// [`Item::tail`]); `None` at offset 0, when they cannot be read, or when the
/// file no longer begins with `fp` (rewritten since it was read: the bytes
/// there now are not the ones read).
pub(super) fn tail_sample(
    file: &File,
    offset: u64,
    fp: Option<Fingerprint>,
) -> Option<Fingerprint> {
    if let Some(fp) = fp {
        let head = pread_head(file, fp.head_len()).ok()?;
        if !fp.matches(&head) {
            return None;
        }
    }
    let start = offset.saturating_sub(TAIL_SAMPLE_BYTES);
    let bytes = pread_at(file, start, offset - start).ok()?;
    if bytes.len() as u64 != offset - start {
        return None;
    }
    let f = Fingerprint::of_head(&bytes, 0, bytes.len() as u64)?;
    Some(Fingerprint { skip: start, ..f })
}

/// Opens `path` if it still is `file` (not renamed away or replaced since it
/// was listed), so that what is read of it is about that file.
pub(super) fn open_as(path: &Path, file: FileId) -> Option<File> {
    let f = File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    (FileId::of(&meta) == file).then_some(f)
}

/// Whether `f` (decompressed if `gz`) holds the bytes `sample` was taken of,
/// at the same offset.
pub(super) fn holds_sample(f: &File, gz: bool, sample: Fingerprint) -> bool {
    let end = sample.skip + sample.len;
    let bytes = if gz {
        // Decoded from the start (the descriptor is shared by the checks).
        let mut f = f;
        if f.seek(SeekFrom::Start(0)).is_err() {
            return false;
        }
        let mut d = MultiGzDecoder::new(io::BufReader::new(f));
        match window_before(&mut d, end, sample.len) {
            Ok((at, w)) if at == end => w,
            _ => return false,
        }
    } else {
        match pread_at(f, sample.skip, sample.len) {
            Ok(w) => w,
            Err(_) => return false,
        }
    };
    Fingerprint::of_head(&bytes, 0, sample.len)
        .is_some_and(|f| f.len == sample.len && f.hash == sample.hash)
}

/// Whether `copy` (gzip if `gz`) holds the same bytes as `x`, a
/// live plain file whose head it shares, just before the shorter one's end
/// (its last [`COPY_CHECK_BYTES`]): true for a copy of `x` (complete or in
/// progress), false for a file that only begins the same way (two replicas
/// printing one banner diverge after it). `x_now` is where a scan found `x`
/// when it is not open. A compressed `x` cannot be read at an offset: a match
/// of its head counts as a copy, as before this check.
pub(super) fn holds_copy_of(copy: &File, gz: bool, x: &Item, x_now: Option<&Path>) -> bool {
    if x.compressed {
        return true;
    }
    let reopened;
    let original: &File = match x.open.as_ref().and_then(|o| o.input.plain()) {
        Some(f) => f,
        None => {
            let Some(found) = File::open(x_now.unwrap_or(&x.path)).ok() else {
                return false;
            };
            if found.metadata().map(|m| FileId::of(&m)).ok() != Some(x.file) {
                return false;
            }
            reopened = found;
            &reopened
        }
    };
    let Ok(x_len) = original.metadata().map(|m| m.len()) else {
        return false;
    };
    // A copy is never longer than its original (that only grows until it is
    // truncated): a longer file that begins with all of it is another file.
    let window = if gz {
        let mut copy = copy;
        if copy.seek(SeekFrom::Start(0)).is_err() {
            return false;
        }
        let mut d = MultiGzDecoder::new(io::BufReader::new(copy));
        window_before(&mut d, x_len + 1, COPY_CHECK_BYTES)
    } else {
        copy.metadata().and_then(|m| {
            let end = m.len().min(x_len + 1);
            let start = end.saturating_sub(COPY_CHECK_BYTES);
            pread_at(copy, start, end - start).map(|w| (end, w))
        })
    };
    let Ok((end, window)) = window else {
        return false;
    };
    // A compressed copy is of a rotated file, which no longer grows: it holds
    // all of it. (A gzip that is a mere prefix of a live file is another file,
    // which must not wait for that one to go.)
    if end > x_len || (gz && end != x_len) {
        return false;
    }
    let start = end - window.len() as u64;
    pread_at(original, start, window.len() as u64).is_ok_and(|theirs| theirs == window)
}

/// Whether `x`'s file is now shorter than where its reading stopped: it was
/// truncated and the tailer has not yet seen it.
pub(super) fn shrunk_below_read(x: &Item, x_now: Option<&Path>) -> bool {
    let (len, read) = match x.open.as_ref() {
        Some(open) => match open.input.plain() {
            Some(f) => (f.metadata().map(|m| m.len()), open.read_pos()),
            None => return false,
        },
        None => {
            let Ok(meta) = fs::metadata(x_now.unwrap_or(&x.path)) else {
                return false;
            };
            if FileId::of(&meta) != x.file {
                return false;
            }
            (Ok(meta.len()), x.resume_offset())
        }
    };
    len.is_ok_and(|len| len < read)
}

/// True when the listing found no regular file (only directories, or nothing).
fn candidates_empty(found: &[std::path::PathBuf]) -> bool {
    !found
        .iter()
        .any(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
}
