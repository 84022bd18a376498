//! Any manifest that loads generates Rust that parses (the typed device with its agent client,
//! the no_std payload types, the Pico W project's Rust files) and a Pico W `Cargo.toml` that
//! is TOML naming the expected package: never a panic, never text that escapes its literal.

#![no_main]

use libfuzzer_sys::fuzz_target;
use luagen::emit::pico_w::PicoWProject;
use luagen::emit::rust::{RustEmitter, RustOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(device) = luagen::load_str("fuzz.yaml", text) else {
        return;
    };
    for options in [
        RustOptions {
            agent: true,
            ..RustOptions::default()
        },
        RustOptions {
            types_only: true,
            ..RustOptions::default()
        },
    ] {
        let tokens = RustEmitter::with_options(&device, options)
            .tokens()
            .to_string();
        if let Err(e) = syn::parse_file(&tokens) {
            panic!("generated Rust does not parse: {e}\n{tokens}");
        }
    }
    let _ = RustEmitter::new(&device).source();
    let project = match PicoWProject::new(&device).project() {
        Ok(project) => project,
        // A pattern the chip cannot check is refused with a reason, not generated.
        Err(reason) => {
            assert!(!reason.is_empty());
            return;
        }
    };
    for file in &project.files {
        let path = file.path.to_string_lossy();
        if path.starts_with("lua-device/") || path == "build.rs" {
            continue; // copied verbatim from the repository
        }
        let text = std::str::from_utf8(&file.contents).expect("generated files are UTF-8");
        if path.ends_with(".rs") {
            if let Err(e) = syn::parse_file(text) {
                panic!("{path} does not parse: {e}\n{text}");
            }
        } else if path == "Cargo.toml" {
            let manifest: toml::Table = text
                .parse()
                .unwrap_or_else(|e| panic!("Cargo.toml is not TOML: {e}\n{text}"));
            let name = manifest["package"]["name"].as_str();
            assert_eq!(name, Some(PicoWProject::new(&device).crate_name().as_str()));
        }
    }
});
