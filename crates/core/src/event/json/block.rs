//! Bitmasks of the bytes that end plain string content (`"`, `\` and
//! control bytes), 64 input bytes at a time, for the compact fast path.
//!
//! Finding the end of a string byte by byte (or word by word) puts a long
//! dependency chain (load → mask → count → next load) on every string, and a
//! log line is mostly short strings. With the masks of a whole 64-byte block
//! in registers, the next special byte after any position in the block is a
//! shift and a trailing-zero count.
//!
//! x86_64 computes a block with SSE2 (part of the x86_64 baseline, so no
//! runtime detection) through `safe_arch`'s safe wrappers, the workspace
//! forbidding `unsafe`; other targets use the portable SWAR version, which
//! tests also check on x86_64.

/// Masks of one 64-byte block: bit `k` describes byte `base + k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Masks {
    /// `"` bytes.
    pub quote: u64,
    /// `\` and control (< 0x20) bytes.
    pub other: u64,
}

/// Bytes past the end of the input in a partial block: a space is neither a
/// quote nor special, so the padding sets no bit.
const PAD: u8 = b' ';

/// The masks of `input[base..base + 64]`, the part past the input's end
/// counting as no special byte.
#[inline(always)]
pub(super) fn masks_at(input: &[u8], base: usize) -> Masks {
    match input.get(base..).and_then(|s| s.first_chunk::<64>()) {
        Some(block) => block_masks(block),
        None => {
            let mut block = [PAD; 64];
            let rest = input.get(base..).unwrap_or(&[]);
            let n = rest.len().min(64);
            block[..n].copy_from_slice(&rest[..n]);
            block_masks(&block)
        }
    }
}

/// The masks of a full block, with the fastest implementation for the target.
#[inline(always)]
pub(super) fn block_masks(block: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        block_masks_sse2(block)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block_masks_swar(block)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_masks_sse2(block: &[u8; 64]) -> Masks {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let quote = set_splat_i8_m128i(b'"' as i8);
    let backslash = set_splat_i8_m128i(b'\\' as i8);
    let below_space = set_splat_i8_m128i(0x1f);
    let mut masks = Masks { quote: 0, other: 0 };
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let Some(lane) = lane.first_chunk::<16>() else {
            continue;
        };
        let x = load_unaligned_m128i(lane);
        let q = cmp_eq_mask_i8_m128i(x, quote);
        let b = cmp_eq_mask_i8_m128i(x, backslash);
        // x <= 0x1f (unsigned) exactly when min(x, 0x1f) == x.
        let c = cmp_eq_mask_i8_m128i(min_u8_m128i(x, below_space), x);
        // move_mask gives 16 bits in the low half of an i32.
        let q = u64::from(move_mask_i8_m128i(q) as u16);
        let o = u64::from(move_mask_i8_m128i(bitor_m128i(b, c)) as u16);
        masks.quote |= q << (16 * k);
        masks.other |= o << (16 * k);
    }
    masks
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `t` that is zero, exactly (no borrow between
/// bytes, unlike the cheaper `(t - ONES) & !t`).
#[inline(always)]
fn zero_bytes(t: u64) -> u64 {
    !(((t & LOW7) + LOW7) | t) & HIGHS
}

/// Gathers the high bit of each byte into the low 8 bits (byte `k` → bit `k`).
#[inline(always)]
fn gather(highs: u64) -> u64 {
    ((highs >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Portable version of [`block_masks`] on 64-bit words.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub(super) fn block_masks_swar(block: &[u8; 64]) -> Masks {
    let mut masks = Masks { quote: 0, other: 0 };
    for (k, word) in block.chunks_exact(8).enumerate() {
        let Some(word) = word.first_chunk::<8>() else {
            continue;
        };
        let x = u64::from_le_bytes(*word);
        let q = zero_bytes(x ^ (ONES * u64::from(b'"')));
        let b = zero_bytes(x ^ (ONES * u64::from(b'\\')));
        let c = zero_bytes(x & (ONES * 0xe0));
        masks.quote |= gather(q) << (8 * k);
        masks.other |= gather(b | c) << (8 * k);
    }
    masks
}

/// A `base` that no offset of an input (at most `u32::MAX` bytes) falls
/// within 64 bytes after, even with wrapping subtraction.
const NO_BLOCK: usize = usize::MAX & !63;

/// Walks the string-special bytes of one input with the masks of the
/// current block kept at hand.
pub(super) struct Cursor<'a> {
    input: &'a [u8],
    /// Offset of the block the masks describe (a multiple of 64), or
    /// [`NO_BLOCK`] before the first block is computed.
    base: usize,
    masks: Masks,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    pub(super) fn new(input: &'a [u8]) -> Self {
        Cursor {
            input,
            base: NO_BLOCK,
            masks: Masks { quote: 0, other: 0 },
        }
    }

    /// Position of the first `"`, `\\` or control byte at or after `i`, and
    /// whether it is a `"`; `None` when there is none before the end.
    /// Same answer as `find_string_special` (tests check).
    #[inline(always)]
    pub(super) fn next_special(&mut self, mut i: usize) -> Option<(usize, bool)> {
        loop {
            let off = i.wrapping_sub(self.base);
            if off >= 64 {
                if i >= self.input.len() {
                    return None;
                }
                self.base = i & !63;
                self.masks = masks_at(self.input, self.base);
                continue;
            }
            let quotes = self.masks.quote >> off;
            if self.masks.other == 0 {
                // The usual block: no escape or control byte, only quotes.
                if quotes != 0 {
                    return Some((i + quotes.trailing_zeros() as usize, true));
                }
            } else {
                let m = quotes | (self.masks.other >> off);
                if m != 0 {
                    let first = m & m.wrapping_neg();
                    return Some((i + m.trailing_zeros() as usize, quotes & first != 0));
                }
            }
            i = self.base + 64;
        }
    }
}
