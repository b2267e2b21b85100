//! The descriptor limit (`ulimit -n`) against `max_open_files`: a source that
//! may hold more files open than the process may have descriptors fails to
//! open the rest (it keeps retrying, so nothing is lost, but files wait), and
//! the reason is easy to miss. Checked once at start, with a clear warning.

/// Descriptors the rest of the agent needs besides the file source's files
/// (sinks, sockets, checkpoints, notifications, the disk buffer).
pub const HEADROOM: u64 = 64;

/// The warning to give when a soft limit of `soft` descriptors (None:
/// unlimited) cannot hold `max_open_files` plus [`HEADROOM`].
pub fn descriptor_warning(
    max_open_files: usize,
    soft: Option<u64>,
    hard: Option<u64>,
) -> Option<String> {
    let soft = soft?;
    let need = (max_open_files as u64).saturating_add(HEADROOM);
    if soft >= need {
        return None;
    }
    let hard = hard.map_or_else(|| "unlimited".to_string(), |h| h.to_string());
    Some(format!(
        "max_open_files = {max_open_files} but the descriptor limit (ulimit -n) is {soft} (hard limit {hard}); \
         files beyond it wait for a descriptor: raise it to at least {need} (ulimit -n, LimitNOFILE= in systemd, \
         the container runtime's nofile) or lower max_open_files"
    ))
}

/// The process's soft and hard descriptor limits (None: unlimited).
#[cfg(unix)]
pub fn descriptor_limits() -> (Option<u64>, Option<u64>) {
    let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    (l.current, l.maximum)
}

/// Unknown elsewhere.
#[cfg(not(unix))]
pub fn descriptor_limits() -> (Option<u64>, Option<u64>) {
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_the_limit_is_too_low() {
        assert_eq!(descriptor_warning(1024, Some(1024 + HEADROOM), None), None);
        assert_eq!(descriptor_warning(1024, None, None), None);
        let w = descriptor_warning(10_000, Some(1024), Some(524_288)).unwrap();
        assert!(w.contains("ulimit -n) is 1024"), "{w}");
        assert!(
            w.contains(&format!("at least {}", 10_000 + HEADROOM)),
            "{w}"
        );
    }

    #[test]
    fn the_limits_of_this_process_are_read() {
        let (soft, hard) = descriptor_limits();
        if let (Some(s), Some(h)) = (soft, hard) {
            assert!(s <= h);
            assert!(s > 0);
        }
    }
}
