//! ISO-8601 timestamps from Unix milliseconds, because the core has no clock of its own.

use alloc::string::String;

use crate::text::write_padded;

/// `2025-01-15T10:30:00.000Z` for `unix_ms` milliseconds after the Unix epoch (UTC).
///
/// The shape is JavaScript's `toISOString`, the one the gateway documentation shows.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let millis = unix_ms % 1000;
    // Years past 9999 are not timestamps a device sends (nor ones four digits hold): they
    // read as the last day of 9999, which also keeps the calendar arithmetic in 32 bits
    // (64-bit division is a library call on a Cortex-M0+).
    let days = (secs / 86_400).min(LAST_DAY) as u32;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    write_padded(&mut out, u64::from(year), 4);
    for (sep, n) in [
        ('-', u64::from(month)),
        ('-', u64::from(day)),
        ('T', rem / 3600),
        (':', rem % 3600 / 60),
        (':', rem % 60),
    ] {
        out.push(sep);
        write_padded(&mut out, n, 2);
    }
    out.push('.');
    write_padded(&mut out, millis, 3);
    out.push('Z');
    out
}

/// Days from 1970-01-01 to 9999-12-31.
const LAST_DAY: u64 = 2_932_896;

// Howard Hinnant's days-to-civil algorithm: exact for the proleptic Gregorian calendar. Days
// since 1970 only, so nothing is negative.
fn civil_from_days(days: u32) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u32::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_736_937_000_000), "2025-01-15T10:30:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(iso8601(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601(253_402_300_800_000), "9999-12-31T00:00:00.000Z");
        assert_eq!(iso8601(u64::MAX), "9999-12-31T14:25:51.615Z");
    }
}
