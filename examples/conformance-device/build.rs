//! Link flags for the fixture devices.
//!
//! A position-independent Rust executable carries one 24-byte relocation for every pointer in
//! its read-only data (vtables, string tables), and the dynamic loader reads all of them at
//! start-up: ~250 KiB of the conformance device's resident memory, for as long as it runs.
//! Packed relative relocations (DT_RELR) store the same information in a few KiB.
//!
//! They need glibc >= 2.36 where the binary runs (the loader refuses an older one by name:
//! `GLIBC_ABI_DT_RELR not found`) and binutils >= 2.38 or lld where it is linked. A device
//! built for an older distribution drops this line; nothing else depends on it.
//!
//! The linker script moves the code that only a TLS or WebSocket connection (or a panic's
//! backtrace) runs into its own output section after `.text`. Linked in crate order, that
//! code sat between the functions every connection runs, and the kernel maps a file page's
//! neighbours along with it: on `mqtt://` a third of the resident code was TLS and WebSocket
//! code that never ran. Over `mqtts://` or `wss://` it runs and is resident as before, now in
//! one place. Sections are matched by their (mangled) function names; a name that no longer
//! matches only stays where the linker puts it.

use std::path::PathBuf;

const COLD_CODE: &str = "\
SECTIONS {
  .text.cold : {
    *(.text.*rustls* .text.*4ring* .text.*ring_core_* .text.*webpki* .text.*tungstenite*
      .text.*4http* .text.*httparse* .text.*5gimli* .text.*9addr2line* .text.*14rustc_demangle*
      .text.*11miniz_oxide*)
  }
} INSERT AFTER .text;
";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("cold-code.ld");
    std::fs::write(&script, COLD_CODE).expect("writing the linker script to OUT_DIR");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
