//! `logagent top`: a table of per-component rates and buffer fill, computed
//! from two readings of the API's `/components` a known interval apart, under
//! a header with the agent's version, uptime and totals; rows in data-flow
//! order (sources, transforms, sinks) and cut to the terminal's width.

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

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60) {
        (0, 0, m, s) => format!("{m}m{s:02}s"),
        (0, h, m, _) => format!("{h}h{m:02}m"),
        (d, h, _, _) => format!("{d}d{h:02}h"),
    }
}

fn components(v: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut list = v
        .get("components")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Data-flow order: sources, then transforms, then sinks, each in config order.
    let rank = |c: &serde_json::Value| match c.get("kind").and_then(|k| k.as_str()) {
        Some("source") => 0,
        Some("transform") => 1,
        _ => 2,
    };
    list.sort_by_key(rank);
    list
}

/// The whole screen: a header (agent, version, uptime, totals per second)
/// and the [`table`], every line cut to `width` columns.
pub fn screen(
    api: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
    seconds: f64,
    width: usize,
) -> String {
    let agent = after.get("agent");
    let version = agent
        .and_then(|a| a.get("version"))
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let uptime = agent.map_or(0.0, |a| num(a, "uptime_seconds"));
    let seconds = seconds.max(1e-3);
    let (b, a) = (components(before), components(after));
    let total = |kind: &str, key: &str| {
        let sum = |list: &[serde_json::Value]| -> f64 {
            list.iter()
                .filter(|c| c.get("kind").and_then(|k| k.as_str()) == Some(kind))
                .map(|c| num(c, key))
                .sum()
        };
        ((sum(&a) - sum(&b)).max(0.0)) / seconds
    };
    let errors: f64 = a.iter().map(|c| num(c, "errors")).sum();
    let discarded: f64 = a.iter().map(|c| num(c, "discarded_events")).sum();
    let mut out = format!(
        "logagent {version} at {api}, up {}: in {}/s, out {}/s ({}/s), {discarded:.0} discarded, {errors:.0} errors   (q quits)\n\n",
        duration(uptime),
        human(total("source", "received_events")),
        human(total("sink", "sent_events")),
        bytes(total("sink", "sent_bytes")),
    );
    out.push_str(&table(before, after, seconds));
    out.lines()
        .map(|l| {
            let cut: String = l.chars().take(width.max(20)).collect();
            cut + "\n"
        })
        .collect()
}

/// The table for readings `before` and `after` (`/components` bodies) taken
/// `seconds` apart, in data-flow order.
pub fn table(before: &serde_json::Value, after: &serde_json::Value, seconds: f64) -> String {
    let (before, after) = (components(before), components(after));
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

    #[test]
    fn the_screen_has_a_header_flow_order_and_fits_the_width() {
        let before = serde_json::json!({"components": [
            {"id": "out", "kind": "sink", "type": "file", "sent_events": 0, "sent_bytes": 0},
            {"id": "parse", "kind": "transform", "type": "parse_json"},
            {"id": "app", "kind": "source", "type": "file", "received_events": 0}
        ]});
        let after = serde_json::json!({"agent": {"version": "9.9.9", "uptime_seconds": 3725.0},
            "components": [
            {"id": "out", "kind": "sink", "type": "file", "sent_events": 40, "sent_bytes": 4096, "errors": 2},
            {"id": "parse", "kind": "transform", "type": "parse_json"},
            {"id": "app", "kind": "source", "type": "file", "received_events": 50}
        ]});
        let s = screen("127.0.0.1:8686", &before, &after, 2.0, 60);
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[0].starts_with("logagent 9.9.9 at 127.0.0.1:8686, up 1h02m: in 25/s, out 20/"),
            "{s}"
        );
        let wide = screen("a", &before, &after, 2.0, 400);
        assert!(
            wide.contains("out 20/s (2.0KiB/s), 0 discarded, 2 errors"),
            "{wide}"
        );
        assert!(lines[2].starts_with("COMPONENT"), "{s}");
        let order: Vec<&str> = lines[3..]
            .iter()
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(order, ["app", "parse", "out"]);
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{s}");
    }
}
