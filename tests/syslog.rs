//! The syslog source against real senders, through the real binary: util-linux
//! `logger` (RFC 3164 and RFC 5424, UDP and TCP, newline and octet-counted
//! framing) and Debian's rsyslog (`imfile` reading a file, `omfwd` forwarding
//! it over TCP with octet counting, in RFC 5424 and in the traditional BSD
//! format). `scripts/test` installs rsyslog; `logger` is part of every Debian.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Guard, bin, free_port, wait_until, write_pipeline};
use logagent::telemetry::{api, prometheus};
use serde_json::{Value, json};

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn metric(text: &str, name: &str, component: &str, label: Option<&str>) -> f64 {
    prometheus::parse(text)
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{name}{{"))
                && k.contains(&format!("component_id=\"{component}\""))
                && label.is_none_or(|l| k.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An agent with a TCP and a UDP syslog source writing NDJSON to `out.ndjson`.
struct Agent {
    _child: Guard,
    tcp: u16,
    udp: u16,
    api: String,
    out: std::path::PathBuf,
}

fn agent(dir: &Path) -> Agent {
    let d = dir.display().to_string();
    let (tcp, udp) = (free_port(), free_udp_port());
    let api = format!("127.0.0.1:{}", free_port());
    let p = write_pipeline(
        dir,
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{api}"
[sources.tcp]
type = "syslog"
mode = "tcp"
address = "127.0.0.1:{tcp}"
timezone = "UTC"
[sources.udp]
type = "syslog"
mode = "udp"
address = "127.0.0.1:{udp}"
timezone = "UTC"
[sinks.out]
type = "file"
inputs = ["tcp", "udp"]
path = "{d}/out.ndjson"
flush_interval = "50ms"
"#
        ),
    );
    let child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(30), "/ready", || {
        api::get(&api, "/ready").is_ok_and(|(s, _)| s == 200)
    });
    // The sources bind when they start: wait for both sockets.
    wait_until(Duration::from_secs(30), "the tcp listener", || {
        std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok()
    });
    wait_until(Duration::from_secs(30), "the udp socket", || {
        std::fs::read_to_string("/proc/net/udp")
            .unwrap_or_default()
            .contains(&format!("0100007F:{udp:04X}"))
    });
    Agent {
        _child: child,
        tcp,
        udp,
        api,
        out: dir.join("out.ndjson"),
    }
}

fn logger(args: &[&str]) {
    let status = Command::new("logger")
        .args(args)
        .status()
        .expect("logger (util-linux) runs");
    assert!(status.success(), "logger {args:?}");
}

fn hostname() -> String {
    String::from_utf8(Command::new("hostname").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned()
}

fn by_message<'a>(events: &'a [Value], message: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["message"] == message)
        .unwrap_or_else(|| panic!("no event with message {message:?} in {events:#?}"))
}

#[test]
fn logger_sends_rfc3164_and_rfc5424_over_tcp_and_udp() {
    let dir = tempfile::tempdir().unwrap();
    let a = agent(dir.path());
    let (tcp, udp) = (a.tcp.to_string(), a.udp.to_string());
    let server = ["--server", "127.0.0.1"];
    let cases: [(&str, &str, &[&str]); 5] = [
        ("tcp-3164", &tcp, &["--tcp", "--rfc3164"]),
        ("tcp-5424", &tcp, &["--tcp", "--rfc5424"]),
        (
            "tcp-5424-octets",
            &tcp,
            &["--tcp", "--rfc5424", "--octet-count"],
        ),
        ("udp-3164", &udp, &["--udp", "--rfc3164"]),
        ("udp-5424", &udp, &["--udp", "--rfc5424"]),
    ];
    for (name, port, how) in cases {
        let mut args: Vec<&str> = server.to_vec();
        args.extend(["--port", port]);
        args.extend(how);
        args.extend(["-t", "myapp", "--id=4242", "-p", "local3.warning"]);
        if name.contains("5424") {
            args.extend([
                "--msgid",
                "M1",
                "--sd-id",
                "zoo@32473",
                "--sd-param",
                "tiger=\"hungry \\\"very\\\"\"",
            ]);
        }
        let message = format!("hello from {name}");
        args.push(&message);
        logger(&args);
    }
    wait_until(Duration::from_secs(30), "five events", || {
        lines(&a.out).len() == 5
    });
    let events = lines(&a.out);
    let host = hostname();
    for (name, _, _) in cases {
        let e = by_message(&events, &format!("hello from {name}"));
        assert_eq!(e["appname"], "myapp", "{name}: {e}");
        assert_eq!(e["procid"], "4242", "{name}: {e}");
        assert_eq!(e["facility"], "local3", "{name}: {e}");
        assert_eq!(e["severity"], "warning", "{name}: {e}");
        assert_eq!(e["level"], "warn", "{name}: {e}");
        assert_eq!(e["source_ip"], "127.0.0.1", "{name}: {e}");
        assert!(e["timestamp"].is_string(), "{name}: {e}");
        // logger's RFC 3164 header carries the short hostname, 5424 the full one.
        let want = if name.contains("3164") {
            host.split('.').next().unwrap()
        } else {
            host.as_str()
        };
        assert_eq!(e["hostname"].as_str().unwrap(), want, "{name}: {e}");
        if name.contains("5424") {
            assert_eq!(e["version"], 1);
            assert_eq!(e["msgid"], "M1");
            assert_eq!(
                e["structured_data"]["zoo@32473"],
                json!({"tiger": "hungry \"very\""}),
                "{name}: {e}"
            );
            // logger adds its own element.
            assert!(
                e["structured_data"]["timeQuality"].is_object(),
                "{name}: {e}"
            );
        } else {
            assert!(e.get("structured_data").is_none());
        }
    }
    let m = api::get(&a.api, "/metrics").unwrap().1;
    assert_eq!(
        metric(&m, "component_received_events_total", "tcp", None),
        3.0
    );
    assert_eq!(
        metric(&m, "component_received_events_total", "udp", None),
        2.0
    );
    assert_eq!(metric(&m, "component_errors_total", "tcp", None), 0.0);
    assert_eq!(metric(&m, "component_errors_total", "udp", None), 0.0);
}

/// rsyslog, unprivileged-style: its own config, work directory and pid file,
/// in the foreground; imfile reads `in.log`, two omfwd actions forward every
/// line over TCP with octet-counted framing, once as RFC 5424 and once in the
/// traditional BSD forward format (rsyslog's own messages are not forwarded).
#[test]
fn rsyslog_forwards_a_file_with_octet_counted_framing() {
    let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("rsyslogd is installed (scripts/test installs Debian's rsyslog)");
    let dir = tempfile::tempdir().unwrap();
    let a = agent(dir.path());
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    let n = 200;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "line {i} of the file with a \"quote\" and ünïcode\n"
        ));
    }
    std::fs::write(dir.path().join("in.log"), text).unwrap();
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{d}/work" localHostName="rsyslog-test")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{d}/in.log" Tag="fromfile:" Facility="local5" Severity="error")
if $programname == "fromfile" then {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_TraditionalForwardFormat")
}}
"#,
            port = a.tcp
        ),
    )
    .unwrap();
    let check = Command::new(rsyslogd)
        .args(["-N1", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "rsyslogd -N1: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _rsyslog = Guard(
        Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(60), "every line twice", || {
        lines(&a.out).len() >= 2 * n
    });
    let events = lines(&a.out);
    assert_eq!(events.len(), 2 * n);
    for i in [0, 1, n / 2, n - 1] {
        let message = format!("line {i} of the file with a \"quote\" and ünïcode");
        let same: Vec<&Value> = events.iter().filter(|e| e["message"] == message).collect();
        assert_eq!(same.len(), 2, "{message}: {same:?}");
        for e in same {
            assert_eq!(e["hostname"], "rsyslog-test", "{e}");
            assert_eq!(e["appname"], "fromfile", "{e}");
            assert_eq!(e["facility"], "local5", "{e}");
            assert_eq!(e["severity"], "err", "{e}");
            assert_eq!(e["level"], "error", "{e}");
        }
    }
    // One of each format.
    assert_eq!(events.iter().filter(|e| e["version"] == 1).count(), n);
    let m = api::get(&a.api, "/metrics").unwrap().1;
    assert_eq!(
        metric(&m, "component_received_events_total", "tcp", None),
        (2 * n) as f64
    );
    assert_eq!(metric(&m, "component_errors_total", "tcp", None), 0.0);
}

/// Bad input through the binary: the counters say exactly what happened and
/// the agent keeps serving.
#[test]
fn bad_frames_and_hostile_clients_are_counted_and_the_agent_keeps_running() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let a = agent(dir.path());
    let addr = format!("127.0.0.1:{}", a.tcp);
    let mut huge = std::net::TcpStream::connect(&addr).unwrap();
    huge.write_all(b"10737418240 <13>").unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        matches!(huge.read(&mut [0u8; 8]), Ok(0) | Err(_)),
        "closed by the agent"
    );
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"not syslog at all", ("127.0.0.1", a.udp))
        .unwrap();
    udp.send_to(b"<200>bad priority", ("127.0.0.1", a.udp))
        .unwrap();
    udp.send_to(b"<14>Dec  7 21:00:00 h app[1]: good", ("127.0.0.1", a.udp))
        .unwrap();
    wait_until(Duration::from_secs(30), "three udp events", || {
        lines(&a.out).len() == 3
    });
    let m = api::get(&a.api, "/metrics").unwrap().1;
    let err = |c: &str, t: &str| {
        metric(
            &m,
            "component_errors_total",
            c,
            Some(&format!("error_type=\"{t}\"")),
        )
    };
    assert_eq!(err("tcp", "frame_too_large"), 1.0);
    assert_eq!(err("udp", "malformed_frame"), 2.0);
    assert_eq!(
        metric(&m, "component_received_events_total", "udp", None),
        3.0
    );
    assert_eq!(
        metric(&m, "component_received_events_total", "tcp", None),
        0.0
    );
    let events = lines(&a.out);
    assert_eq!(by_message(&events, "good")["appname"], "app");
    assert!(
        by_message(&events, "not syslog at all")
            .get("facility")
            .is_none()
    );
    // Still serving.
    logger(&[
        "--server",
        "127.0.0.1",
        "--port",
        &a.tcp.to_string(),
        "--tcp",
        "after",
    ]);
    wait_until(Duration::from_secs(30), "the event after", || {
        lines(&a.out).len() == 4
    });
}

/// The console sink (logfmt) and the blackhole sink through the binary:
/// stdin → parse_json → both; stdin's end ends the run.
#[test]
fn console_writes_logfmt_and_blackhole_counts() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{}/data"
[sources.in]
type = "stdin"
[transforms.parse]
type = "parse_json"
inputs = ["in"]
[sinks.console]
type = "console"
inputs = ["parse"]
encoding = "logfmt"
[sinks.hole]
type = "blackhole"
inputs = ["parse"]
print_interval = "1s"
"#,
            dir.path().display()
        ),
    );
    let mut child = bin()
        .arg("-p")
        .arg(&p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"level\":\"info\",\"msg\":\"user logged in\",\"user\":{\"id\":7}}\nplain text\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "level=info msg=\"user logged in\" user.id=7\nmessage=\"plain text\"\n"
    );
}

/// Syslog over TLS (RFC 5425): a self-signed certificate made by `openssl req`
/// in the test, and `openssl s_client` (trusting it) as the sender of
/// octet-counted and newline frames; a plain-TCP client on the TLS port fails
/// its handshake, counted.
#[test]
fn tls_with_a_self_signed_certificate_and_openssl_s_client() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let crt = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=logagent test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (scripts/test installs it)");
    assert!(status.success(), "openssl req");
    let port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let p = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"data_dir = "{d}/data"
[api]
address = "{api}"
[sources.tls]
type = "syslog"
address = "127.0.0.1:{port}"
timezone = "UTC"
frame_timeout = "2s"
tls = {{ crt_file = "{d}/server.pem", key_file = "{d}/server.key" }}
[sinks.out]
type = "file"
inputs = ["tls"]
path = "{d}/out.ndjson"
flush_interval = "50ms"
"#
        ),
    );
    let _child = Guard(
        bin()
            .arg("-p")
            .arg(&p)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(30), "/ready", || {
        api::get(&api, "/ready").is_ok_and(|(s, _)| s == 200)
    });
    wait_until(Duration::from_secs(30), "the tls listener", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let handshakes = || {
        let m = api::get(&api, "/metrics").unwrap().1;
        metric(
            &m,
            "component_errors_total",
            "tls",
            Some("error_type=\"tls_handshake\""),
        )
    };

    let one = "<165>1 2025-08-20T10:30:45.123Z web01 app 4242 ID47 - over TLS, octet-counted";
    let frames = format!(
        "{} {one}{} <14>Aug 20 10:30:46 web01 sshd[7]: second",
        one.len(),
        "<14>Aug 20 10:30:46 web01 sshd[7]: second".len()
    );
    let frames = format!("{frames}<13>Aug 20 10:30:47 web01 cron[1]: newline framed\n");
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg("-CAfile")
        .arg(&crt)
        .args(["-verify_return_error", "-quiet", "-no_ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(frames.as_bytes())
        .unwrap();
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("out.ndjson");
    wait_until(Duration::from_secs(30), "three events over TLS", || {
        lines(&file).len() == 3
    });
    let events = lines(&file);
    let e = by_message(&events, "over TLS, octet-counted");
    assert_eq!(
        (e["appname"].as_str(), e["hostname"].as_str()),
        (Some("app"), Some("web01"))
    );
    assert_eq!(e["level"], "notice");
    assert_eq!(by_message(&events, "second")["appname"], "sshd");
    assert_eq!(by_message(&events, "newline framed")["appname"], "cron");

    // Plain text to the TLS port: the handshake fails, counted; no event.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .write_all(b"<13>Aug 20 10:30:47 web01 cron[1]: in clear\n")
        .unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest);
    wait_until(
        Duration::from_secs(30),
        "the failed handshake to be counted",
        || handshakes() == 1.0,
    );
    assert_eq!(lines(&file).len(), 3);
}
