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

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
