//! Boards and their chips as values. Every fact a generated firmware project needs about the
//! hardware (target triple, memory map, UF2 family, the MicroPython build to flash, heap and
//! watchdog limits) is stated here once and handed to the emitters and their templates as
//! data; a new board is a new value plus the files that truly differ.

use std::ops::Range;

use serde::Serialize;

/// A microcontroller: what the toolchain, the linker script and the flashing tools need.
#[derive(Clone, Debug, Serialize)]
pub struct Chip {
    /// As its maker writes it: `RP2040`.
    pub name: &'static str,
    /// The CPU core, for the documentation: `Cortex-M0+`.
    pub core: &'static str,
    /// The Rust target triple.
    pub triple: &'static str,
    /// The chip's family, which names the firmware's chip module
    /// (`templates/pico-w/src/chip/{family}.rs`) and the shape of its boot block in `memory.x`.
    pub family: Family,
    /// The `embassy-rp` features for the chip: the one that selects it, then its ROM helpers.
    pub embassy_features: &'static [&'static str],
    /// The chip's name for `probe-rs --chip`.
    pub probe_rs: &'static str,
    /// Where flash and RAM are, for `memory.x`.
    pub memory: Memory,
    /// The UF2 family id its boot ROM accepts.
    pub uf2_family: u32,
    /// The address window of its execute-in-place flash: what a UF2 image may write.
    pub flash_window: Range<u32>,
    /// The volume name of its boot ROM's USB drive (BOOTSEL mode).
    pub bootsel_drive: &'static str,
    /// What `cargo run` flashes with (`.cargo/config.toml`'s runner).
    pub runner: &'static str,
    /// Bytes of the flash's unique id (a unit's `{uid}` is twice as many hex digits).
    pub unique_id_bytes: usize,
    /// The longest watchdog period the hardware counts, in milliseconds.
    pub watchdog_max_ms: u32,
}

/// Chips whose firmware differs in code, not only in numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// RP2040: a second-stage bootloader (boot2) at the start of flash.
    Rp2040,
    /// RP2350 (embassy's `rp235x`): an IMAGE_DEF block near the start of flash, a TRNG.
    Rp235x,
}

/// A chip's memory map as `memory.x` declares it.
#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    /// The second-stage bootloader at the start of flash (0 when the chip has none).
    pub boot2_bytes: u32,
    pub flash_origin: u32,
    /// The flash the board carries, boot2 included.
    pub flash_bytes: u32,
    pub ram_origin: u32,
    pub ram_bytes: u32,
}

/// A board: a chip, its radio, and how each firmware target runs on it.
#[derive(Clone, Debug, Serialize)]
pub struct Board {
    /// The command line's `--board` value and the Rust project's name suffix: `pico-w`.
    pub name: &'static str,
    /// For people: `Raspberry Pi Pico W`.
    pub title: &'static str,
    pub chip: Chip,
    /// The Wi-Fi chip, for the documentation.
    pub radio: &'static str,
    /// The `cyw43_pio` clock divider for the radio's SPI bus, as its constant's name: the
    /// RM2 module needs a slower bus than a CYW43439 on the board.
    pub radio_clock_divider: &'static str,
    /// The Rust firmware's heap (`HEAP_BYTES`), out of the chip's RAM.
    pub rust_heap_bytes: u32,
    /// The MicroPython build to flash: its name on micropython.org/download.
    pub micropython_build: &'static str,
}

/// The RP2040: dual Cortex-M0+, 264 KiB of RAM, flash outside the chip (QSPI, XIP).
pub const RP2040: Chip = Chip {
    name: "RP2040",
    core: "Cortex-M0+",
    triple: "thumbv6m-none-eabi",
    family: Family::Rp2040,
    // The boot ROM's float and integer routines instead of 2 KiB of flash (the RP2040-B2 of
    // the Pico W has ROM v3, so the v2 routines are there).
    embassy_features: &["rp2040", "intrinsics", "rom-v2-intrinsics"],
    probe_rs: "RP2040",
    memory: Memory {
        boot2_bytes: 0x100,
        flash_origin: 0x1000_0000,
        flash_bytes: 2048 * 1024,
        ram_origin: 0x2000_0000,
        ram_bytes: 264 * 1024,
    },
    uf2_family: 0xe48b_ff56,
    flash_window: 0x1000_0000..0x1100_0000,
    bootsel_drive: "RPI-RP2",
    // Converts to UF2 (family above) and copies to the BOOTSEL drive.
    runner: "elf2uf2-rs -d",
    unique_id_bytes: 8,
    // The counter has 24 bits and counts down twice per microsecond (erratum RP2040-E1).
    watchdog_max_ms: 8388,
};

/// The Raspberry Pi Pico W: an RP2040 with 2 MiB of flash and a CYW43439 for Wi-Fi.
pub const PICO_W: Board = Board {
    name: "pico-w",
    title: "Raspberry Pi Pico W",
    chip: RP2040,
    radio: "CYW43439",
    radio_clock_divider: "DEFAULT_CLOCK_DIVIDER",
    rust_heap_bytes: 32 * 1024,
    micropython_build: "RPI_PICO_W",
};

/// The RP2350 (A: the 60-pin package) on its Arm cores: dual Cortex-M33 with an FPU, 520 KiB
/// of RAM (512 KiB striped, and two 4 KiB banks the firmware leaves alone), flash outside
/// the chip, an IMAGE_DEF block instead of boot2, and a true random number generator.
pub const RP2350: Chip = Chip {
    name: "RP2350",
    core: "Cortex-M33",
    triple: "thumbv8m.main-none-eabihf",
    family: Family::Rp235x,
    embassy_features: &["rp235xa"],
    probe_rs: "RP235x",
    memory: Memory {
        boot2_bytes: 0,
        flash_origin: 0x1000_0000,
        flash_bytes: 4096 * 1024,
        ram_origin: 0x2000_0000,
        ram_bytes: 512 * 1024,
    },
    // "RP2350, Arm, secure": what its boot ROM takes for a Cortex-M33 image.
    uf2_family: 0xe48b_ff59,
    flash_window: 0x1000_0000..0x1100_0000,
    bootsel_drive: "RP2350",
    // elf2uf2-rs knows the RP2040 only; picotool loads an ELF onto any RP chip over USB.
    runner: "picotool load -u -v -x -t elf",
    // The chip id in OTP (the RP2350's flash has no unique-id command the HAL reads).
    unique_id_bytes: 8,
    // Its watchdog counts microseconds in 24 bits (the RP2040's halving erratum is fixed).
    watchdog_max_ms: 16_777,
};

/// The Raspberry Pi Pico 2 W: an RP2350A with 4 MiB of flash and a CYW43439 in Raspberry Pi's
/// RM2 module, wired to the same pins as on the Pico W.
pub const PICO_2_W: Board = Board {
    name: "pico-2-w",
    title: "Raspberry Pi Pico 2 W",
    chip: RP2350,
    radio: "CYW43439 in an RM2 module",
    radio_clock_divider: "RM2_CLOCK_DIVIDER",
    rust_heap_bytes: 32 * 1024,
    micropython_build: "RPI_PICO2_W",
};

/// Every board luagen generates for.
pub const BOARDS: &[&Board] = &[&PICO_W, &PICO_2_W];

/// The board called `name` (its `--board` value).
pub fn find(name: &str) -> Option<&'static Board> {
    BOARDS.iter().copied().find(|b| b.name == name)
}

impl Board {
    /// The application's share of flash, after the second-stage bootloader.
    pub fn app_flash(&self) -> Range<u32> {
        let m = &self.chip.memory;
        m.flash_origin + m.boot2_bytes..m.flash_origin + m.flash_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_are_found_by_name_and_their_flash_fits_the_window() {
        for board in BOARDS {
            assert_eq!(find(board.name).map(|b| b.title), Some(board.title));
            let flash = board.app_flash();
            assert!(board.chip.flash_window.contains(&flash.start));
            assert!(board.chip.flash_window.contains(&(flash.end - 1)));
            assert!(board.rust_heap_bytes < board.chip.memory.ram_bytes / 2);
        }
        assert!(find("pico-x").is_none());
    }
}
