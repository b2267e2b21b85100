//! The error a component's own checks report: a key and what is wrong with it.
//! Components know keys, not files or positions; the application's config
//! loader adds the file, the component and the position.

/// A problem with one key of a component, found by the component's own checks
/// (which know keys, not files or positions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The key.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl KeyError {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> KeyError {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}
