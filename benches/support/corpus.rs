//! A deterministic corpus of realistic JSON log lines (~350 bytes, mixed levels),
//! in the seeds' format, for the benches.

#![allow(clippy::unwrap_used, dead_code)]

/// Generates about `bytes` bytes of newline-terminated JSON lines.
pub fn generate(bytes: usize) -> Vec<u8> {
    let levels = [
        "trace", "debug", "debug", "info", "info", "info", "info", "warn", "error", "info",
    ];
    let messages = [
        "UseCase executed successfully",
        "User login successful",
        "Schedule recalculation completed",
        "External API call",
        "Database query failed",
    ];
    let mut out = Vec::with_capacity(bytes + 512);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut i = 0u64;
    while out.len() < bytes {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let level = levels[(seed % levels.len() as u64) as usize];
        let message = messages[((seed >> 8) % messages.len() as u64) as usize];
        let ms = i * 37 % 1000;
        let email = if seed.is_multiple_of(4) {
            format!(",\"email\":\"user{}@example.co.jp\"", seed % 1000)
        } else {
            String::new()
        };
        let line = format!(
            "{{\"timestamp\":\"2025-08-20T10:{:02}:{:02}.{ms:03}Z\",\"level\":\"{level}\",\"message\":\"{message}\",\"service\":\"api\",\"version\":\"1.1.0\",\"traceId\":\"trace_{}\",\"requestId\":\"req_{:012x}\",\"userId\":{}{email},\"duration\":{},\"context\":{{\"caseId\":{},\"processId\":{}}},\"metadata\":{{\"ip\":\"192.168.{}.{}\",\"method\":\"POST\",\"path\":\"/api/cases\"}}}}\n",
            (i / 60) % 60,
            i % 60,
            seed % 10_000_000_000,
            seed >> 16 & 0xffff_ffff_ffff,
            seed % 1000,
            seed % 5000,
            seed % 900,
            seed % 800,
            seed % 255,
            (seed >> 3) % 255,
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// About `bytes` bytes of nginx `combined` access-log lines.
pub fn nginx(bytes: usize) -> Vec<u8> {
    let paths = [
        "/api/cases/825",
        "/static/img/logo.svg",
        "/api/auth/login",
        "/health",
        "/api/processes/780/replan",
    ];
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "kube-probe/1.30",
    ];
    let statuses = [200, 200, 200, 201, 304, 404, 401, 500];
    let mut out = Vec::with_capacity(bytes + 512);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0u64;
    while out.len() < bytes {
        let r = xorshift(&mut seed);
        let line = format!(
            "10.0.{}.{} - - [20/Aug/2025:10:{:02}:{:02} +0000] \"GET {} HTTP/1.1\" {} {} \"https://app.example.jp/cases\" \"{}\"\n",
            r % 255,
            (r >> 8) % 255,
            (i / 60) % 60,
            i % 60,
            paths[(r >> 16) as usize % paths.len()],
            statuses[(r >> 24) as usize % statuses.len()],
            r % 5000,
            agents[(r >> 32) as usize % agents.len()],
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out
}

/// About `bytes` bytes of logfmt lines.
pub fn logfmt(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 512);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let levels = ["debug", "info", "info", "warn", "error"];
    while out.len() < bytes {
        let r = xorshift(&mut seed);
        let line = format!(
            "ts=2025-08-20T10:30:45.{:03}Z level={} msg=\"request completed\" method=GET path=/api/cases/{} status={} took={}ms trace_id={:016x}\n",
            r % 1000,
            levels[(r >> 10) as usize % levels.len()],
            r % 1000,
            [200, 404, 500][(r >> 20) as usize % 3],
            r % 900,
            r
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// About `bytes` bytes of RFC 3164 syslog lines.
pub fn syslog(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 512);
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    while out.len() < bytes {
        let r = xorshift(&mut seed);
        let line = format!(
            "<{}>Aug 20 10:{:02}:{:02} web-{} sshd[{}]: Accepted publickey for deploy from 203.0.113.{} port {} ssh2\n",
            r % 191,
            (r >> 8) % 60,
            (r >> 16) % 60,
            r % 9,
            r % 30000,
            (r >> 24) % 255,
            (r >> 32) % 65535
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// About `bytes` bytes of RFC 5424 syslog lines: structured data on some,
/// NILVALUEs and a BOM on others.
pub fn syslog_rfc5424(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 512);
    let mut seed: u64 = 0x0bad_cafe_f00d_1234;
    let apps = ["api", "worker", "scheduler", "sshd"];
    while out.len() < bytes {
        let r = xorshift(&mut seed);
        let sd = match r % 3 {
            0 => "-".to_owned(),
            1 => format!(
                "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"{}\"]",
                r % 9999
            ),
            _ => format!(
                "[origin ip=\"192.168.{}.{}\"][meta sequenceId=\"{}\"]",
                (r >> 8) % 255,
                (r >> 16) % 255,
                r % 100_000
            ),
        };
        let line = format!(
            "<{}>1 2025-08-20T10:{:02}:{:02}.{:03}Z web-{} {} {} {} {} {}Request completed in {} ms for case {}\n",
            r % 191,
            (r >> 8) % 60,
            (r >> 16) % 60,
            (r >> 24) % 1000,
            r % 9,
            apps[(r >> 32) as usize % apps.len()],
            if r.is_multiple_of(5) {
                "-".to_owned()
            } else {
                format!("{}", r % 30000)
            },
            if r.is_multiple_of(2) { "ID47" } else { "-" },
            sd,
            if r.is_multiple_of(7) { "\u{feff}" } else { "" },
            r % 900,
            r % 1000,
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// About `bytes` bytes of `timestamp level [thread] message` application lines
/// (Java/Python/Go loggers).
pub fn app(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 512);
    let mut seed: u64 = 0x5eed_0123_4567_89ab;
    let levels = ["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"];
    let threads = ["main", "http-nio-8080-exec-3", "scheduler-1"];
    while out.len() < bytes {
        let r = xorshift(&mut seed);
        let line = format!(
            "2025-08-20 10:{:02}:{:02},{:03} {:<5} [{}] c.e.CaseService - Loaded case {} in {} ms\n",
            (r >> 8) % 60,
            (r >> 16) % 60,
            r % 1000,
            levels[(r >> 24) as usize % levels.len()],
            threads[(r >> 32) as usize % threads.len()],
            r % 10_000,
            r % 900,
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}
