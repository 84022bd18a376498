//! Any manifest that loads becomes a MicroPython project or a list of what MicroPython cannot
//! check: the templates never fail to render and every generated module is text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use luagen::emit::micropython::{MicroPythonProject, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(device) = luagen::load_str("fuzz.yaml", text) else {
        return;
    };
    match MicroPythonProject::generate(&device, &Options::default()) {
        Ok(project) => {
            for file in &project.files {
                assert!(
                    std::str::from_utf8(&file.contents).is_ok(),
                    "{} is not UTF-8",
                    file.path.display()
                );
            }
        }
        Err(refused) => assert!(!refused.is_empty()),
    }
});
