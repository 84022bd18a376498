//! Runs each handshake operation once on qemu's Cortex-M0 and prints, over semihosting, how
//! many ticks of the nRF51's TIMER0 (16 MHz) it took. Under `-icount shift=0` qemu's virtual
//! clock advances 1 ns per executed instruction, so a tick is 62.5 instructions.
//!
//! Output, one line each: `calibrate <ticks> <instructions>`, `op <name> <ticks> ok` or
//! `op <name> <ticks> failed <why>`, then `done`; `fault at <pc>` if the chip faults.

#![no_std]
#![no_main]

extern crate alloc;

// The Pico W template's verifier, copied verbatim by the bench.
#[allow(dead_code)]
mod pki;
// The chains, keys and signatures the bench made with openssl.
mod data;

use core::fmt::Write;

// Linked for its single-core critical section, which the allocator takes.
use cortex_m as _;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use rand_core::SeedableRng;

#[global_allocator]
static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();
/// The firmware's heap (`HEAP_BYTES` in the generated `config.rs`): RSA's big integers live there.
const HEAP_BYTES: usize = 32 * 1024;

const TIMER0: usize = 0x4000_8000;
const TASKS_START: usize = 0x000;
const TASKS_CLEAR: usize = 0x00c;
const TASKS_CAPTURE0: usize = 0x040;
const MODE: usize = 0x504;
const BITMODE: usize = 0x508;
const PRESCALER: usize = 0x510;
const CC0: usize = 0x540;

fn timer_write(offset: usize, value: u32) {
    // SAFETY: a TIMER0 register of the nRF51; nothing else uses the timer.
    unsafe { core::ptr::write_volatile((TIMER0 + offset) as *mut u32, value) }
}

fn ticks() -> u32 {
    timer_write(TASKS_CAPTURE0, 1);
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile((TIMER0 + CC0) as *const u32) }
}

fn semihost(op: u32, arg: usize) -> u32 {
    let mut r0 = op;
    // SAFETY: the ARM semihosting call; qemu runs with semihosting enabled.
    unsafe { core::arch::asm!("bkpt 0xab", inout("r0") r0, in("r1") arg, options(nostack)) };
    r0
}

/// A line, NUL-terminated for SYS_WRITE0.
struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 2 < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

fn print(args: core::fmt::Arguments) {
    let mut line = Line {
        buf: [0; 160],
        len: 0,
    };
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    line.buf[line.len + 1] = 0;
    semihost(0x04, line.buf.as_ptr() as usize);
}

fn exit(success: bool) -> ! {
    // ADP_Stopped_ApplicationExit exits qemu with 0; anything else, with 1.
    semihost(0x18, if success { 0x20026 } else { 0x20024 });
    loop {}
}

/// Time `f`, print its line.
fn op<E: core::fmt::Debug>(name: &str, f: impl FnOnce() -> Result<(), E>) {
    let start = ticks();
    let result = core::hint::black_box(f());
    let took = ticks().wrapping_sub(start);
    match result {
        Ok(()) => print(format_args!("op {name} {took} ok")),
        Err(e) => print(format_args!("op {name} {took} failed {e:?}")),
    }
}

fn chain(anchor: &[u8], chain: &[&[u8]]) -> Result<(), pki::PkiError> {
    pki::verify_chain(anchor, chain, data::HOST, Some(data::NOW)).map(|_| ())
}

/// Time the check of a CertificateVerify-like signature by the leaf of `chain` (whose key is
/// taken, untimed, from the verified chain).
fn signature(name: &str, anchor: &[u8], chain: &[&[u8]], scheme: u16, sig: &[u8]) {
    match pki::verify_chain(anchor, chain, data::HOST, Some(data::NOW)) {
        Ok(key) => op(name, || {
            pki::verify_signature(&key, scheme, data::CERTIFICATE_VERIFY, sig)
        }),
        Err(e) => print(format_args!("op {name} 0 failed chain {e:?}")),
    }
}

#[entry]
fn main() -> ! {
    {
        static mut MEMORY: [u8; HEAP_BYTES] = [0; HEAP_BYTES];
        // SAFETY: once, before any allocation; the array is used by nothing else.
        unsafe { HEAP.init(core::ptr::addr_of_mut!(MEMORY) as usize, HEAP_BYTES) }
    }
    timer_write(MODE, 0);
    timer_write(BITMODE, 3);
    timer_write(PRESCALER, 0);
    timer_write(TASKS_CLEAR, 1);
    timer_write(TASKS_START, 1);

    // A loop of a known instruction count checks the tick-to-instruction ratio.
    let n: u32 = 1_000_000;
    let start = ticks();
    // SAFETY: a register-only countdown.
    unsafe {
        core::arch::asm!("2:", "subs {0}, #1", "bne 2b", inout(reg) n => _, options(nomem, nostack));
    }
    let took = ticks().wrapping_sub(start);
    print(format_args!("calibrate {took} {}", 2 * n));

    op("chain-rsa", || chain(data::RSA_ROOT, data::RSA_CHAIN));
    op("chain-p384", || chain(data::P384_ROOT, data::P384_CHAIN));
    op("chain-p256", || chain(data::P256_ROOT, data::P256_CHAIN));
    let rsa = (data::RSA_ROOT, data::RSA_CHAIN);
    signature(
        "sig-rsa-pkcs1-sha256",
        rsa.0,
        rsa.1,
        0x0401,
        data::RSA_PKCS1,
    );
    signature("sig-rsa-pss-sha256", rsa.0, rsa.1, 0x0804, data::RSA_PSS);
    let p256 = (data::P256_ROOT, data::P256_CHAIN);
    signature(
        "sig-ecdsa-p256-sha256",
        p256.0,
        p256.1,
        0x0403,
        data::P256_ECDSA,
    );

    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    let peer = p256::ecdh::EphemeralSecret::random(&mut rng);
    let peer_share = p256::PublicKey::from(&peer);
    let mut secret = None;
    op("ecdhe-p256-key-share", || {
        let mine = p256::ecdh::EphemeralSecret::random(&mut rng);
        let share = p256::EncodedPoint::from(p256::PublicKey::from(&mine));
        core::hint::black_box(share);
        secret = Some(mine);
        Ok::<(), ()>(())
    });
    op("ecdhe-p256-shared-secret", || {
        let shared = secret.as_ref().ok_or(())?.diffie_hellman(&peer_share);
        core::hint::black_box(shared.raw_secret_bytes());
        Ok::<(), ()>(())
    });

    let cipher = aes_gcm::Aes128Gcm::new(&[0x42; 16].into());
    let nonce = [9u8; 12];
    let aad = [0x17, 0x03, 0x03, 0x04, 0x10];
    let mut record = [0x5au8; 1024];
    let mut tag = None;
    op("aes128gcm-seal-1k", || {
        let t = cipher
            .encrypt_in_place_detached(&nonce.into(), &aad, &mut record)
            .map_err(|_| ())?;
        tag = Some(t);
        Ok::<(), ()>(())
    });
    op("aes128gcm-open-1k", || {
        let t = tag.ok_or(())?;
        cipher
            .decrypt_in_place_detached(&nonce.into(), &aad, &mut record, &t)
            .map_err(|_| ())?;
        if record != [0x5a; 1024] {
            return Err(());
        }
        Ok(())
    });
    print(format_args!("done"));
    exit(true)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    print(format_args!("fault at {:#x}", frame.pc()));
    exit(false)
}
