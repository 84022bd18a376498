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
    /// The `embassy-rp` feature that selects the chip.
    pub embassy_feature: &'static str,
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
    /// Bytes of the flash's unique id (a unit's `{uid}` is twice as many hex digits).
    pub unique_id_bytes: usize,
    /// The longest watchdog period the hardware counts, in milliseconds.
    pub watchdog_max_ms: u32,
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
    /// The Rust firmware's heap (`HEAP_BYTES`), out of the chip's RAM.
    pub rust_heap_bytes: u32,
    /// The MicroPython build to flash: its name on micropython.org/download.
    pub micropython_build: &'static str,
    /// The heap MicroPython leaves to programs on this board (what the tests model with the
    /// unix port's `-X heapsize`).
    pub micropython_heap_bytes: u32,
}

/// The RP2040: dual Cortex-M0+, 264 KiB of RAM, flash outside the chip (QSPI, XIP).
pub const RP2040: Chip = Chip {
    name: "RP2040",
    core: "Cortex-M0+",
    triple: "thumbv6m-none-eabi",
    embassy_feature: "rp2040",
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
    rust_heap_bytes: 32 * 1024,
    micropython_build: "RPI_PICO_W",
    micropython_heap_bytes: 192 * 1024,
};

/// Every board luagen generates for.
pub const BOARDS: &[&Board] = &[&PICO_W];

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
