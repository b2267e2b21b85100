//! `logagent top`: a table of per-component rates and buffer fill, computed
//! from two readings of the API's `/components` a known interval apart.

use std::fmt::Write as _;

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v.get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
}

fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.1}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

fn bytes(b: f64) -> String {
    if b >= (1u64 << 20) as f64 {
        format!("{:.1}MiB", b / (1u64 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.1}KiB", b / 1024.0)
    } else {
        format!("{b:.0}B")
    }
}

/// The table for readings `before` and `after` (`/components` bodies) taken
/// `seconds` apart.
pub fn table(before: &serde_json::Value, after: &serde_json::Value, seconds: f64) -> String {
    let empty = Vec::new();
    let list = |v: &serde_json::Value| {
        v.get("components")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (before, after) = (list(before), list(after));
    let seconds = seconds.max(1e-3);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<10} {:<14} {:>9} {:>9} {:>10} {:>10} {:>8} {:>18}",
        "COMPONENT", "KIND", "TYPE", "IN/s", "OUT/s", "OUT B/s", "DISCARDED", "ERRORS", "BUFFER"
    );
    for c in &after {
        let id = c.get("id").and_then(|v| v.as_str()).unwrap_or("?");
        let prev = before
            .iter()
            .find(|b| b.get("id").and_then(|v| v.as_str()) == Some(id));
        let rate = |key: &str| {
            let now = num(c, key);
            let then = prev.map_or(now, |p| num(p, key));
            ((now - then).max(0.0)) / seconds
        };
        let buffer = if c.get("disk_buffer_max_bytes").is_some_and(|v| !v.is_null()) {
            format!(
                "{} / {}",
                bytes(num(c, "disk_buffer_bytes")),
                bytes(num(c, "disk_buffer_max_bytes"))
            )
        } else if c.get("buffer_max_batches").is_some_and(|v| !v.is_null()) {
            format!(
                "{:.0} ev, {:.0}/{:.0}b",
                num(c, "buffer_events"),
                num(c, "buffer_batches"),
                num(c, "buffer_max_batches")
            )
        } else {
            "-".to_owned()
        };
        let blocked = if c.get("blocked").and_then(|v| v.as_bool()) == Some(true) {
            " (blocked)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<20} {:<10} {:<14} {:>9} {:>9} {:>10} {:>10} {:>8} {:>18}{blocked}",
            id,
            c.get("kind").and_then(|v| v.as_str()).unwrap_or(""),
            c.get("type").and_then(|v| v.as_str()).unwrap_or(""),
            human(rate("received_events")),
            human(rate("sent_events")),
            bytes(rate("sent_bytes")),
            num(c, "discarded_events"),
            num(c, "errors"),
            buffer
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_interval() {
        let before = serde_json::json!({"components": [
            {"id": "app", "kind": "source", "type": "file", "received_events": 100, "sent_events": 100, "sent_bytes": 1000}
        ]});
        let after = serde_json::json!({"components": [
            {"id": "app", "kind": "source", "type": "file", "received_events": 2100, "sent_events": 2100, "sent_bytes": 3048,
             "buffer_batches": null, "blocked": true}
        ]});
        let t = table(&before, &after, 2.0);
        let row = t.lines().nth(1).unwrap();
        assert!(row.starts_with("app"), "{t}");
        assert!(
            row.contains(" 1.0k ") && row.contains("1.0KiB") && row.ends_with("(blocked)"),
            "{t}"
        );
    }
}
