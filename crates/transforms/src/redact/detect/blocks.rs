//! The trigger pass's byte classes, one bit per byte of a 64-byte block:
//! digits, `.`, `:`, `@`, `S` and number separators (space, `.`, `-`).
//!
//! On x86-64 they come from SSE2 compares and `movemask` (part of the
//! baseline instruction set, reached without `unsafe` through `safe_arch`):
//! about two instructions per byte for all classes, where the 64-bit word
//! arithmetic the pass used before spent about eighteen (it was half of the
//! time of `redact` with every detector on typical JSON lines). Elsewhere the
//! same masks are built from that word arithmetic ([`block_words`], which the
//! tests also compare with the SSE2 version and a byte-by-byte reference).

use super::trigger::{digit_mask, eq_mask};

/// The classes of one 64-byte block: bit `k` stands for byte `k`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Block {
    pub(super) digits: u64,
    pub(super) dots: u64,
    pub(super) colons: u64,
    pub(super) ats: u64,
    /// `S` (the `SK`/`SG.` key prefixes).
    pub(super) caps: u64,
    /// Space, `.` or `-`: what joins the digit pairs of a phone number.
    pub(super) seps: u64,
}

/// The classes of the 64 bytes `b`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(super) fn block(b: &[u8; 64]) -> Block {
    use safe_arch::{
        add_i8_m128i, cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let splat = |c: u8| set_splat_i8_m128i(c as i8);
    let bits = |m: m128i| u64::from(move_mask_i8_m128i(m) as u16);
    // A digit plus 0x50 is 0x80..=0x89, the ten lowest signed bytes.
    let (shift, below) = (splat(0x50), set_splat_i8_m128i(-118));
    let (dot, colon, at, cap, space, dash) = (
        splat(b'.'),
        splat(b':'),
        splat(b'@'),
        splat(b'S'),
        splat(b' '),
        splat(b'-'),
    );
    let mut m = Block::default();
    for (k, c) in b.chunks_exact(16).enumerate() {
        let v = m128i::from(<[u8; 16]>::try_from(c).unwrap_or([0; 16]));
        let s = 16 * k;
        m.digits |= bits(cmp_lt_mask_i8_m128i(add_i8_m128i(v, shift), below)) << s;
        let d = bits(cmp_eq_mask_i8_m128i(v, dot));
        m.dots |= d << s;
        m.colons |= bits(cmp_eq_mask_i8_m128i(v, colon)) << s;
        m.ats |= bits(cmp_eq_mask_i8_m128i(v, at)) << s;
        m.caps |= bits(cmp_eq_mask_i8_m128i(v, cap)) << s;
        m.seps |=
            (d | bits(cmp_eq_mask_i8_m128i(v, space)) | bits(cmp_eq_mask_i8_m128i(v, dash))) << s;
    }
    m
}

/// The classes of the 64 bytes `b`.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub(super) fn block(b: &[u8; 64]) -> Block {
    block_words(b)
}

/// The classes of the 64 bytes `b` from 64-bit word arithmetic: the lane
/// masks of [`digit_mask`]/[`eq_mask`] gathered to one bit per byte.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
pub(super) fn block_words(b: &[u8; 64]) -> Block {
    // The high bit of each lane to bits 56..63 (no carries: one bit per
    // partial product), then down to the word's eight bits.
    let gather = |m: u64| ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) & 0xff;
    let mut m = Block::default();
    for (k, c) in b.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or([0; 8]));
        let s = 8 * k;
        let dot = eq_mask(x, b'.');
        m.digits |= gather(digit_mask(x)) << s;
        m.dots |= gather(dot) << s;
        m.colons |= gather(eq_mask(x, b':')) << s;
        m.ats |= gather(eq_mask(x, b'@')) << s;
        m.caps |= gather(eq_mask(x, b'S')) << s;
        m.seps |= gather(dot | eq_mask(x, b' ') | eq_mask(x, b'-')) << s;
    }
    m
}

/// The classes of the 64 bytes `b`, one byte at a time (the tests' reference).
#[cfg(test)]
pub(super) fn block_bytes(b: &[u8; 64]) -> Block {
    let mut m = Block::default();
    for (k, c) in b.iter().enumerate() {
        let bit = 1u64 << k;
        let set = |on: bool| if on { bit } else { 0 };
        m.digits |= set(c.is_ascii_digit());
        m.dots |= set(*c == b'.');
        m.colons |= set(*c == b':');
        m.ats |= set(*c == b'@');
        m.caps |= set(*c == b'S');
        m.seps |= set(matches!(c, b' ' | b'.' | b'-'));
    }
    m
}
