//! The Pico W firmware's SNTP logic on the host: `templates/pico-w/src/sntp.rs` compiled as it
//! is (it does no I/O): the request, which answers set the clock, and the retry schedule that
//! keeps asking in the background until a server answers.

#[path = "../../../templates/pico-w/src/sntp.rs"]
mod sntp;

use sntp::{Schedule, FIRST_RETRY_MS, MAX_RETRY_MS, RESYNC_MS};

const NONCE: u64 = 0x0123_4567_89ab_cdef;

/// A server's answer: mode 4, `stratum`, originate = `originate`, transmit = `ntp_s` seconds
/// and half a second.
fn answer(stratum: u8, originate: u64, ntp_s: u32) -> [u8; 48] {
    let mut a = [0u8; 48];
    a[0] = 0x24; // version 4, mode 4 (server)
    a[1] = stratum;
    a[24..32].copy_from_slice(&originate.to_be_bytes());
    a[40..44].copy_from_slice(&ntp_s.to_be_bytes());
    a[44..48].copy_from_slice(&0x8000_0000u32.to_be_bytes());
    a
}

/// 2025-01-15T10:30:00Z in NTP seconds.
const NTP_2025: u32 = (1_736_937_000u64 + 2_208_988_800) as u32;

#[test]
fn a_request_carries_its_nonce_as_the_transmit_time() {
    let r = sntp::request(NONCE);
    assert_eq!(r[0], 0x23, "version 4, client");
    assert_eq!(&r[40..48], &NONCE.to_be_bytes());
    assert!(r[1..40].iter().all(|&b| b == 0));
}

#[test]
fn only_a_servers_answer_to_this_request_sets_the_clock() {
    assert_eq!(
        sntp::answer_unix_ms(&answer(2, NONCE, NTP_2025), NONCE),
        Some(1_736_937_000_500)
    );
    for (why, bytes) in [
        ("another request's answer", answer(2, NONCE ^ 1, NTP_2025)),
        ("kiss-o'-death", answer(0, NONCE, NTP_2025)),
        ("no time", answer(2, NONCE, 0)),
    ] {
        assert_eq!(sntp::answer_unix_ms(&bytes, NONCE), None, "{why}");
    }
    let mut client = answer(2, NONCE, NTP_2025);
    client[0] = 0x23;
    assert_eq!(sntp::answer_unix_ms(&client, NONCE), None, "mode 3");
    assert_eq!(
        sntp::answer_unix_ms(&answer(2, NONCE, NTP_2025)[..47], NONCE),
        None,
        "short"
    );
}

#[test]
fn seconds_past_the_2036_wrap_are_era_1() {
    // 2040-01-01T00:00:00Z: Unix 2_208_988_800, NTP 4_417_977_600, past 2^32.
    let ntp_2040 = (2_208_988_800u64 + 2_208_988_800 - (1 << 32)) as u32;
    assert_eq!(
        sntp::answer_unix_ms(&answer(1, NONCE, ntp_2040), NONCE),
        Some(2_208_988_800_500)
    );
}

#[test]
fn retries_back_off_with_jitter_until_an_answer_then_resync_daily() {
    let mut s = Schedule::new();
    assert_eq!(s.wait_ms(0), 0, "due at once");
    // Each failure waits between half and all of an interval that doubles to the cap.
    let mut now = 0;
    let mut ceiling = FIRST_RETRY_MS;
    for i in 0..12 {
        let low = s.clone().failed(now, 0);
        let high = s.clone().failed(now, (ceiling - ceiling / 2) as u32);
        assert_eq!(low, ceiling / 2, "failure {i}");
        assert_eq!(high, ceiling, "failure {i}");
        let delay = s.failed(now, 12_345 * i);
        assert!((ceiling / 2..=ceiling).contains(&delay));
        assert_eq!(s.wait_ms(now), delay);
        now += delay;
        ceiling = (ceiling * 2).min(MAX_RETRY_MS);
    }
    assert_eq!(ceiling, MAX_RETRY_MS, "the interval reached its cap");
    s.answered(now);
    assert_eq!(s.wait_ms(now), RESYNC_MS);
    assert_eq!(s.wait_ms(now + RESYNC_MS + 1), 0);
    // A failed resync starts from the first interval again.
    assert_eq!(s.clone().failed(now, 0), FIRST_RETRY_MS / 2);
}
