//! What only the RP2040 does: its random numbers and the unit's id. luagen writes this file
//! for the board's chip (luagen's board record names it), so the rest of the firmware is the
//! same on every chip.

/// Randomness: the ring oscillator's bits (`tls.rs` hashes many of them into its key seed,
/// since they are weak and correlated one by one).
pub use embassy_rp::clocks::RoscRng as Rng;

/// The unit's unique id: the flash chip's (read with the flash out of XIP, so before the
/// WiFi driver and the tasks start). Only a unit whose name holds `{uid}` reads it.
#[cfg(device_uid)]
pub fn unique_id(flash: embassy_rp::Peri<'static, embassy_rp::peripherals::FLASH>) -> [u8; 8] {
    const FLASH_BYTES: usize = 2 * 1024 * 1024;
    let mut flash =
        embassy_rp::flash::Flash::<_, embassy_rp::flash::Blocking, FLASH_BYTES>::new_blocking(
            flash,
        );
    let mut uid = [0u8; 8];
    // `.ok()`: the HAL's error has no defmt form without the `driver-logs` feature.
    defmt::unwrap!(flash.blocking_unique_id(&mut uid).ok());
    uid
}
