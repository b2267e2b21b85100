//! Finding files by include/exclude globs.

use std::path::PathBuf;

/// Expands the include globs and filters out excluded paths.
#[derive(Debug)]
pub struct Discovery {
    include: Vec<String>,
    exclude: Vec<glob::Pattern>,
}

impl Discovery {
    /// The include patterns, for log lines.
    pub fn patterns(&self) -> &[String] {
        &self.include
    }

    /// Patterns were checked when the config was loaded; invalid ones are skipped.
    pub fn new(include: &[String], exclude: &[String]) -> Discovery {
        Discovery {
            include: include.to_vec(),
            exclude: exclude
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
        }
    }

    /// Regular files matching now, sorted, without duplicates. Unreadable
    /// directories are reported through `on_error` and skipped.
    pub fn scan(&self, mut on_error: impl FnMut(&str, String)) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for entry in paths {
                match entry {
                    Ok(path) => {
                        if path.is_file() && !self.exclude.iter().any(|p| p.matches_path(&path)) {
                            found.push(path);
                        }
                    }
                    Err(e) => on_error(pattern, e.to_string()),
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_and_excludes() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "c.txt", "skip.log"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.log")).unwrap();
        let d = Discovery::new(
            &[format!("{}/*.log", dir.path().display())],
            &[format!("{}/skip*", dir.path().display())],
        );
        let names: Vec<String> = d
            .scan(|_, _| {})
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log"]);
    }
}
