//! Text without `core::fmt`. The chip's messages are built from pieces with these, so the
//! firmware links none of the formatting machinery (about 6 KiB of a Cortex-M0+'s flash);
//! `Display` impls on the host call the same builders.

use alloc::string::String;

use crate::json::write_u64;

/// `parts` joined, in one allocation.
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// Append `n` in decimal, with leading zeros up to `width` digits.
pub fn write_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = String::new();
    write_u64(&mut digits, n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Append `n` in hexadecimal, `0x` first and at least two digits: `0x0f`.
pub fn write_hex(out: &mut String, n: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push_str("0x");
    out.push(char::from(DIGITS[usize::from(n >> 4)]));
    out.push(char::from(DIGITS[usize::from(n & 15)]));
}

/// `bytes` as text with each invalid sequence replaced by U+FFFD, as
/// `String::from_utf8_lossy` does (whose chunk iterator costs the chip 300 bytes of flash
/// over `from_utf8`, which it links anyway).
pub fn lossy(mut bytes: &[u8]) -> String {
    let mut out = String::new();
    loop {
        match core::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(core::str::from_utf8(good).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                bytes = &rest[e.error_len().map_or(rest.len(), usize::from)..];
            }
        }
    }
}

/// `n` in decimal.
pub fn number(n: u64) -> String {
    let mut out = String::new();
    write_u64(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        assert_eq!(concat(&["lua-", "a", "-", "b"]), "lua-a-b");
        assert_eq!(concat(&[]), "");
        let mut s = String::new();
        write_padded(&mut s, 7, 3);
        write_padded(&mut s, 1234, 2);
        assert_eq!(s, "0071234");
        assert_eq!(number(0), "0");
        let mut h = String::new();
        write_hex(&mut h, 0x0f);
        write_hex(&mut h, 0xe0);
        assert_eq!(h, "0x0f0xe0");
    }

    #[test]
    fn lossy_text_is_stds() {
        for bytes in [
            &b"plain"[..],
            b"",
            b"bad \xff byte",
            b"cut \xe2\x82",
            b"\xf0\x9f\x98\x80 ok \xed\xa0\x80 surrogate \xc3",
        ] {
            assert_eq!(lossy(bytes), alloc::string::String::from_utf8_lossy(bytes));
        }
    }
}
