//! Descriptors: opening a file at its offset (checking it is still the same
//! file), reopening after a close, and closing within `max_open_files`.

use super::*;

impl Tailer {
    pub(super) fn open_new(
        &mut self,
        path: &Path,
        file: FileId,
        head: &[u8],
        gz: bool,
        start: u64,
        now: Instant,
    ) -> bool {
        let item = self.fresh_item(
            path.to_path_buf(),
            file,
            head,
            start,
            State::Closed,
            gz,
            now,
        );
        let id = item.id;
        self.items.insert(id, item);
        self.unsaved.insert(id);
        let starved = std::mem::replace(&mut self.starved, false);
        if self.reopen(id, now) {
            self.starved = starved;
            if let Some(open) = self.items.get_mut(&id).and_then(|i| i.open.as_mut()) {
                open.opened_empty = head.len() < GZIP_MAGIC.len();
            }
            return true;
        }
        if self.starved {
            // No descriptor free: it stays known as what it was judged (a file
            // of its own, read from `start`), opened by a later scan; so a
            // copy of it seen meanwhile is recognised as one.
            return false;
        }
        self.starved = starved;
        // Gone (or unreadable): nothing is known about it yet, so the next
        // scan decides afresh rather than by a stale entry.
        self.items.remove(&id);
        false
    }

    /// A new entry for content first seen now, at `offset`, not open (the
    /// caller opens it or records why not), with a fresh stream id.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fresh_item(
        &mut self,
        path: PathBuf,
        file: FileId,
        head: &[u8],
        offset: u64,
        state: State,
        compressed: bool,
        now: Instant,
    ) -> Item {
        Item {
            id: self.fresh_id(),
            seq: self.seq(),
            path,
            file,
            fp: Fingerprint::of_head(head, self.skip(), self.fp_bytes()),
            offset,
            acks: Acks::at(offset),
            open: None,
            state,
            compressed,
            last_seen: now,
            last_active: now,
            size_at_close: None,
            identity_saved: false,
            tail: None,
        }
    }

    /// Opens a known item at its resume offset, making room if needed.
    pub(super) fn reopen(&mut self, id: u64, now: Instant) -> bool {
        if self.open_files() >= self.config.max_open_files && !self.close_least_active(id) {
            self.starved = true;
            return false;
        }
        let Some(item) = self.items.get(&id) else {
            return false;
        };
        let (path, file, offset, gz) = (item.path.clone(), item.file, item.offset, item.compressed);
        let input = match open_input(&path, file, offset, gz) {
            Ok(Some(input)) => input,
            Ok(None) => {
                // Replaced between the scan and the open; the next scan sees it.
                return false;
            }
            Err(OpenError::GzipShorter) => {
                if let Some(item) = self.items.get_mut(&id) {
                    item.state = State::Finished;
                    item.size_at_close = fs::metadata(&path).ok().map(|m| m.len());
                }
                return false;
            }
            Err(OpenError::Io(error)) => {
                ComponentMetrics::add(&self.ctx.metrics.errors, 1);
                if self.log.check().is_some() {
                    tracing::warn!(component = %self.ctx.source, path = %path.display(), %error, "cannot open file; will retry");
                }
                if let Some(item) = self.items.get_mut(&id) {
                    item.size_at_close = None;
                }
                return false;
            }
        };
        let open = self.new_open(id, &path, input, offset, now);
        let Some(item) = self.items.get_mut(&id) else {
            return false;
        };
        tracing::info!(component = %self.ctx.source, path = %path.display(), offset, compressed = gz, "following file");
        item.open = Some(open);
        item.state = State::Live;
        item.last_active = now;
        true
    }

    pub(super) fn new_open(
        &mut self,
        id: u64,
        path: &Path,
        input: Input,
        offset: u64,
        now: Instant,
    ) -> Open {
        let kubernetes = if self.config.kubernetes_metadata {
            self.kubernetes
                .entry(path.to_path_buf())
                .or_insert_with(|| PodPath::from_path(path).map(|m| Bytes::from(m.to_json())))
                .clone()
        } else {
            None
        };
        let stream = Arc::new(Stream {
            source: self.ctx.source.clone(),
            path: Some(path.to_path_buf()),
            id,
        });
        let max_line = self.config.max_line_bytes.as_usize();
        self.io.path_stats += 1;
        let covered = fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink());
        self.awake.insert(id);
        Open {
            input,
            lines: LineReader::new(
                self.config.read_buffer.as_usize(),
                max_line,
                Oversize::from(self.config.oversize_lines),
                offset,
            ),
            assembler: Assembler::new(
                self.config.format,
                self.config.multiline.as_ref(),
                kubernetes,
                max_line,
            ),
            batcher: Batcher::tracking(
                stream,
                self.ctx.batch_max_events,
                self.ctx.batch_max_bytes,
                self.ack_tx.clone(),
            ),
            at_eof: false,
            last_read: now,
            checked: None,
            broken: false,
            opened_empty: false,
            seen: None,
            path_checked: None,
            woken: true,
            covered,
            next_poll: now,
            poll_every: self.config.poll_interval.0,
        }
    }

    /// Closes the least recently active open file that is at its end and can be
    /// reopened later without loss (not `except`, not rotated away). Returns
    /// whether one was; if none, the file waiting for a descriptor waits for
    /// the next scan (files being read are never closed for it).
    fn close_least_active(&mut self, except: u64) -> bool {
        let mut victims: Vec<(Instant, u64)> = self
            .items
            .values()
            .filter(|i| i.id != except && i.state == State::Live && !i.compressed)
            .filter_map(|i| i.open.as_ref().map(|o| (i, o)))
            .filter(|(_, o)| o.at_eof && o.is_drained())
            .map(|(i, _)| (i.last_active, i.id))
            .collect();
        victims.sort_unstable();
        for (_, id) in victims {
            let Some(item) = self.items.get_mut(&id) else {
                continue;
            };
            // Closing is safe only if the path still leads to the file (so it
            // can be found again) and nothing was written since it was read.
            self.io.path_stats += 1;
            let at_path = fs::metadata(&item.path).is_ok_and(|m| FileId::of(&m) == item.file);
            if !at_path {
                // Rotated away or deleted: readable only through this
                // descriptor, and maybe written since its last read (its
                // end-of-file mark is stale). Read to its end before it is
                // finished, never taken for read already.
                item.state = State::Orphaned;
                if let Some(o) = item.open.as_mut() {
                    o.at_eof = false;
                }
                self.awake.insert(id);
                continue;
            }
            self.io.fstats += 1;
            let unread = item.open.as_ref().is_some_and(|o| {
                o.input
                    .plain()
                    .and_then(|f| f.metadata().ok())
                    .is_none_or(|m| m.len() != o.read_pos())
            });
            if unread {
                continue;
            }
            self.close(id, State::Closed);
            return true;
        }
        false
    }

    /// Closes an open item; what is held back will be read again.
    pub(super) fn close(&mut self, id: u64, state: State) {
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        item.collect_sent();
        if let Some(open) = item.open.take() {
            item.offset = open.resume_offset();
            if let Some(t) = open
                .input
                .plain()
                .and_then(|f| tail_sample(f, item.offset, item.fp))
            {
                item.tail = Some(t);
            }
            // Only a file read to its end may stay closed until it changes
            // (its size differs from what was read).
            item.size_at_close =
                (open.lines.pending() == 0 && !item.compressed).then(|| open.read_pos());
        }
        item.state = state;
        tracing::debug!(component = %self.ctx.source, path = %item.path.display(), offset = item.offset, ?state, "closed file");
    }

    // ---------------------------------------------------------------- step
}

pub(super) enum OpenError {
    GzipShorter,
    Io(io::Error),
}

/// Reads the head of a file (decompressed if it is gzip). Returns it and
/// whether the file is gzip.
#[cfg(test)]
pub(super) fn read_head_of(path: &Path, n: u64) -> io::Result<(Vec<u8>, bool)> {
    head_of(File::open(path)?, n)
}

/// [`read_head_of`] the file at `path` if it still is `file`: `None` when the
/// path was renamed away or replaced since it was listed (a head read there
/// would be another file's, and judged as this one's).
pub(super) fn read_head_as(
    path: &Path,
    n: u64,
    file: FileId,
) -> io::Result<Option<(Vec<u8>, bool)>> {
    let f = File::open(path)?;
    if FileId::of(&f.metadata()?) != file {
        return Ok(None);
    }
    head_of(f, n).map(Some)
}

fn head_of(mut f: File, n: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut f, &mut magic)?;
    if got == 2 && magic == GZIP_MAGIC {
        f.seek(SeekFrom::Start(0))?;
        let mut d = MultiGzDecoder::new(f);
        // An incomplete gzip still has a readable head.
        let mut head = Vec::new();
        let _ = (&mut d).take(n).read_to_end(&mut head);
        return Ok((head, true));
    }
    f.seek(SeekFrom::Start(0))?;
    Ok((read_head(&mut f, n)?, false))
}

pub(super) fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Opens `path` at `offset`, checking it is still `file`.
pub(super) fn open_input(
    path: &Path,
    file: FileId,
    offset: u64,
    gz: bool,
) -> Result<Option<Input>, OpenError> {
    let mut f = File::open(path).map_err(OpenError::Io)?;
    let meta = f.metadata().map_err(OpenError::Io)?;
    if FileId::of(&meta) != file {
        return Ok(None);
    }
    if gz {
        let mut d = MultiGzDecoder::new(f);
        let skipped = io::copy(&mut (&mut d).take(offset), &mut io::sink());
        return match skipped {
            Ok(n) if n == offset => Ok(Some(Input::Gzip(Box::new(d)))),
            Ok(_) => Err(OpenError::GzipShorter),
            Err(e) => Err(OpenError::Io(e)),
        };
    }
    f.seek(SeekFrom::Start(offset)).map_err(OpenError::Io)?;
    Ok(Some(Input::Plain(f)))
}
