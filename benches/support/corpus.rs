//! A deterministic corpus of realistic JSON log lines (~350 bytes, mixed levels),
//! in the seeds' format, for the benches.

#![allow(clippy::unwrap_used)]

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
        let email = if seed % 4 == 0 {
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
