//! Config errors that say where: file, line and column, component, key, and
//! what was expected.

use std::fmt;
use std::path::PathBuf;

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in, when it is in one file.
    pub file: Option<PathBuf>,
    /// 1-based line and column, where TOML tells us.
    pub position: Option<(usize, usize)>,
    /// The component, as `sources.app` / `transforms.parse` / `sinks.out`.
    pub component: Option<String>,
    /// The offending key within the component (or top-level key).
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error with just a message; locate it with the builder methods.
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: None,
            position: None,
            component: None,
            key: None,
            message: message.into(),
        }
    }

    /// Names the file.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> ConfigError {
        self.file = Some(file.into());
        self
    }

    /// Names the component.
    pub fn in_component(mut self, component: impl Into<String>) -> ConfigError {
        self.component = Some(component.into());
        self
    }

    /// Names the key.
    pub fn at_key(mut self, key: impl Into<String>) -> ConfigError {
        self.key = Some(key.into());
        self
    }

    /// Sets the line and column.
    pub fn at(mut self, position: Option<(usize, usize)>) -> ConfigError {
        self.position = position;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.position) {
            (Some(file), Some((line, col))) => write!(f, "{}:{line}:{col}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, _) => {}
        }
        if let Some(c) = &self.component {
            write!(f, "{c}: ")?;
        }
        if let Some(k) = &self.key {
            write!(f, "key `{k}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a set of pipeline files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} error{} in the pipeline configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub use logagent_core::error::KeyError;
