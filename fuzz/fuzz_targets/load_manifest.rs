//! Any text, however broken, loads to a device or to diagnostics that render: never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match luagen::load_str("fuzz.yaml", text) {
        Ok(device) => {
            let _ = device.tools();
            let _ = device.registration_commands();
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            let _ = diagnostics.to_string();
        }
    }
});
