//! Request-body compression off the async runtime: a multi-megabyte gzip or
//! snappy pass would otherwise stall every other request (and timer) on the
//! sink's runtime thread.

use std::io::Write as _;

use bytes::Bytes;

/// Gzips `body` (fast level, as a log shipper wants).
pub fn gzip(body: &[u8]) -> std::io::Result<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)?;
    enc.finish().map(Bytes::from)
}

/// Snappy block format (Loki's protobuf pushes).
pub fn snappy(body: &[u8]) -> Result<Bytes, snap::Error> {
    snap::raw::Encoder::new()
        .compress_vec(body)
        .map(Bytes::from)
}

/// Runs `work` on tokio's blocking pool and awaits it; must be called within a
/// runtime. A panic in `work` comes back as an error, never unwinds the task.
pub async fn off_runtime<T, F>(work: F) -> std::io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| std::io::Error::other(format!("compression task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_bodies_decode_to_the_input() {
        let body = b"{\"message\":\"hello\"}\n".repeat(100);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let gz = rt
            .block_on(off_runtime({
                let body = body.clone();
                move || gzip(&body)
            }))
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        assert_eq!(out, body);
        let sn = snappy(&body).unwrap();
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&sn).unwrap(), body);
    }
}
