//! What only the RP2350 does: its random numbers and the unit's id. luagen writes this file
//! for the board's chip (luagen's board record names it), so the rest of the firmware is the
//! same on every chip.

use embassy_rp::bind_interrupts;
use embassy_rp::peripherals::TRNG;
use embassy_rp::trng::{self, Trng};

bind_interrupts!(struct TrngIrqs {
    TRNG_IRQ => trng::InterruptHandler<TRNG>;
});

/// Randomness from the chip's true random number generator, read blocking (a 192-bit block
/// takes microseconds), with the ring oscillator driver's method names.
pub struct Rng;

impl Rng {
    fn trng() -> Trng<'static, TRNG> {
        // SAFETY: the TRNG is used here alone, one call at a time (the executor runs one task
        // at a time and no interrupt handler draws random numbers), and each call sets it up
        // afresh.
        Trng::new(unsafe { TRNG::steal() }, TrngIrqs, trng::Config::default())
    }

    pub fn next_u32(&mut self) -> u32 {
        Self::trng().blocking_next_u32()
    }

    pub fn next_u64(&mut self) -> u64 {
        Self::trng().blocking_next_u64()
    }

    // Keys and masks: TLS and WebSocket only.
    #[cfg_attr(not(any(mqtt_tls, mqtt_ws)), allow(dead_code))]
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        Self::trng().blocking_fill_bytes(dest)
    }
}

/// The unit's unique id: the chip id the factory wrote into OTP. Only a unit whose name holds
/// `{uid}` reads it.
#[cfg(device_uid)]
pub fn unique_id(_flash: embassy_rp::Peri<'static, embassy_rp::peripherals::FLASH>) -> [u8; 8] {
    // `.ok()`: the HAL's error has no defmt form without the `driver-logs` feature.
    defmt::unwrap!(embassy_rp::otp::get_chipid().ok()).to_be_bytes()
}
