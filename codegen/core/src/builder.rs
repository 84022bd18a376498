//! The build-script door, in the manner of prost-build: generate a device's Rust into
//! `OUT_DIR` and `include!` it.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), luagen::BuildError> {
//!     luagen::Builder::new().manifest("device.yaml").generate()
//! }
//! // src/main.rs: include!(concat!(env!("OUT_DIR"), "/label_printer.rs"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::emit::rust::{RustEmitter, RustOptions};
use crate::load::{load_file, LoadError};

/// Configures and runs code generation from a build script.
#[derive(Debug, Default)]
pub struct Builder {
    manifests: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    agent: bool,
}

/// Why generation failed. `Debug` prints the same readable text as `Display`, so
/// `fn main() -> Result<(), BuildError>` in build.rs shows `path:line:col` diagnostics.
pub enum BuildError {
    Load(LoadError),
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    NoOutDir,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Load(e) => write!(f, "luagen: invalid device manifest\n{e}"),
            BuildError::Io { path, error } => {
                write!(f, "luagen: cannot write {}: {error}", path.display())
            }
            BuildError::NoOutDir => f.write_str(
                "luagen: OUT_DIR is not set (call Builder from build.rs, or set out_dir)",
            ),
        }
    }
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for BuildError {}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a manifest; relative paths are relative to the crate (build scripts run there).
    pub fn manifest(mut self, path: impl AsRef<Path>) -> Self {
        self.manifests.push(path.as_ref().to_path_buf());
        self
    }

    /// Where to write (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Also generate the typed agent-side client (needs `lua-device/agent`).
    pub fn agent(mut self, on: bool) -> Self {
        self.agent = on;
        self
    }

    /// Write `{device_name_in_snake_case}.rs` per manifest, and tell cargo to rerun when a
    /// manifest changes.
    pub fn generate(self) -> Result<(), BuildError> {
        let out_dir = match self.out_dir {
            Some(d) => d,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        for manifest in &self.manifests {
            println!("cargo:rerun-if-changed={}", manifest.display());
            let device = load_file(manifest).map_err(BuildError::Load)?;
            let options = RustOptions {
                agent: self.agent,
                ..RustOptions::default()
            };
            let source = RustEmitter::with_options(&device, options).source();
            let path = out_dir.join(format!("{}.rs", crate::ident::rust_snake(&device.name)));
            std::fs::write(&path, source).map_err(|error| BuildError::Io { path, error })?;
        }
        Ok(())
    }
}
