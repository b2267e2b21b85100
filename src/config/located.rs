//! Locating a problem in a TOML table: which key a serde error is about and
//! where a key's value is, shared by the pipeline loader and the maintenance
//! jobs' loader so both point at the same line for the same mistake.

use std::ops::Range;

use toml::de::DeTable;

/// The keys of one table with the byte spans of each key and its value.
#[derive(Debug, Clone, Default)]
pub struct KeySpans(Vec<(String, Range<usize>, Range<usize>)>);

impl KeySpans {
    /// The keys of `table`, in order.
    pub fn of(table: &DeTable<'_>) -> KeySpans {
        KeySpans(
            table
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), k.span(), v.span()))
                .collect(),
        )
    }

    /// The key a serde error is about: the key or value its span points into,
    /// else the field its message names ("missing field `path`").
    pub fn serde_key(&self, e: &toml::de::Error) -> Option<String> {
        e.span()
            .and_then(|s| {
                self.0
                    .iter()
                    .find(|(_, k, v)| {
                        (k.start <= s.start && s.start < k.end.max(k.start + 1))
                            || (v.start <= s.start && s.end <= v.end)
                    })
                    .map(|(name, _, _)| name.clone())
            })
            .or_else(|| quoted_field(&serde_message(e)))
    }

    /// Where the value of `key` is, by its top-level name (`paths[2]` and
    /// `gfs.daily` point at `paths` and `gfs`).
    pub fn value_span(&self, key: &str) -> Option<Range<usize>> {
        let top = key.split(['.', '[']).next().unwrap_or(key);
        self.0
            .iter()
            .find(|(k, _, _)| k == top)
            .map(|(_, _, v)| v.clone())
    }
}

/// A serde error's message on one line.
pub fn serde_message(e: &toml::de::Error) -> String {
    e.message().trim().replace('\n', " ")
}

/// The first `backquoted` word of a serde message ("missing field `path`").
pub fn quoted_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_point_at_their_key() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            a: u32,
            b: String,
        }
        let text = "a = 1\nb = 2\n";
        let table = DeTable::parse(text).unwrap();
        let keys = KeySpans::of(table.get_ref());
        let e = toml::from_str::<T>(text).unwrap_err();
        assert_eq!(keys.serde_key(&e).as_deref(), Some("b"));
        let e = toml::from_str::<T>("a = 1\n").unwrap_err();
        assert_eq!(serde_message(&e), "missing field `b`");
        assert_eq!(KeySpans::default().serde_key(&e).as_deref(), Some("b"));
        assert_eq!(keys.value_span("b[0]"), Some(10..11));
        assert_eq!(keys.value_span("c"), None);
    }
}
