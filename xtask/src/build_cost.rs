//! `cargo xtask bench-build`: what `#[lua_device]` costs at build time. The same greenhouse
//! crate is built twice, side by side: once through the macro, once with the macro's
//! expansion pasted in as source (the user's impl block, the generated device and the glue
//! the macro writes for that impl). Both crates compile the same code; only running the
//! macro differs. Dependencies are built first; each sample touches one crate and rebuilds
//! only it, alternating which crate goes first.
//!
//! Both crates use cargo's default dev profile, as a user's would: the macro runs unoptimised.
//! Most of what the macro adds is cargo checking the macro's dependency tree on every build,
//! which is why luagen validates without the `jsonschema` crate and the macro takes luagen
//! without its formatter and firmware emitters (79 packages -> 32).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use luagen::emit::rust::{HandlerShape, Receiver, Returns, RustEmitter};
use proc_macro2::{Ident, Span, TokenStream};

/// Rebuilds of each crate; a rebuild takes ~0.2 s and the machine is shared, so the median of
/// many is needed for a stable ratio.
const SAMPLES: usize = 15;

const HANDLERS: &str = r#"
async fn read(on: bool) -> ReadEnvironmentOutput {
    ReadEnvironmentOutput { temperature: 21.5, humidity: 40, soil_moisture: 30, irrigation_on: on, timestamp: String::new() }
}

#[derive(Default)]
pub struct Greenhouse { on: bool }
"#;

const IMPL: &str = r#"impl Greenhouse {
    async fn read_environment(&self) -> Result<ReadEnvironmentOutput, CommandError> { Ok(read(self.on).await) }
    async fn toggle_irrigation(&mut self, input: ToggleIrrigationInput) -> ToggleIrrigationOutput {
        self.on = input.enabled;
        ToggleIrrigationOutput { irrigation_on: self.on }
    }
}
"#;

pub fn run() -> Result<()> {
    let root = lua_testkit::deps::workspace_root();
    // Beside the rest of the build output (CARGO_TARGET_DIR when set).
    let dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => std::path::absolute(t)?,
        None => root.join("target"),
    }
    .join("bench-build");
    let runtime = root.join("runtime");
    let manifest = root.join("manifests/greenhouse-sensor.yaml");
    let with_macro = format!(
        "use lua_device::{{lua_device, CommandError}};\n{HANDLERS}\n#[lua_device({manifest:?})]\n{IMPL}"
    );
    let pasted = format!(
        "use lua_device::CommandError;\n{HANDLERS}\n{IMPL}\n{}",
        expansion(&manifest)?
    );
    let a = write_crate(
        &dir,
        "with-macro",
        &runtime,
        r#"["std", "macros"]"#,
        &with_macro,
    )?;
    let b = write_crate(&dir, "pasted", &runtime, r#"["std"]"#, &pasted)?;
    let target = dir.join("target");
    eprintln!("building dependencies...");
    build(&a, &target)?;
    build(&b, &target)?;
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        // Alternate the order too, so neither crate always builds right after the other.
        if i % 2 == 0 {
            ta.push(rebuild(&a, &target)?);
            tb.push(rebuild(&b, &target)?);
        } else {
            tb.push(rebuild(&b, &target)?);
            ta.push(rebuild(&a, &target)?);
        }
    }
    let (ma, mb) = (median(&mut ta), median(&mut tb));
    println!(
        "{:<44} {:>10}",
        "crate (greenhouse, incremental rebuild)", "median s"
    );
    println!(
        "{:<44} {:>10.3}",
        "#[lua_device] (macro expands at build)",
        ma.as_secs_f64()
    );
    println!(
        "{:<44} {:>10.3}",
        "macro expansion pasted in (no macro)",
        mb.as_secs_f64()
    );
    println!(
        "\nmacro / pasted: {:.2}x (goal <= 1.2x), {SAMPLES} samples each, alternating",
        ma.as_secs_f64() / mb.as_secs_f64()
    );
    Ok(())
}

/// What `#[lua_device]` expands [`IMPL`] to, besides the impl itself: the device module, the
/// glue around the impl's two handlers (as the macro reads their signatures) and the
/// manifest's `include_bytes!`.
fn expansion(manifest: &Path) -> Result<String> {
    let device = luagen::load_file(manifest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let emitter = RustEmitter::new(&device);
    let ident = |s: &str| Ident::new(s, Span::call_site());
    let handler = |name: &str, receiver, returns| HandlerShape {
        method: ident(name),
        command: name.to_string(),
        receiver,
        is_async: true,
        returns,
        span: Span::call_site(),
    };
    let handlers = [
        handler("read_environment", Receiver::Shared, Returns::Result),
        handler("toggle_irrigation", Receiver::Exclusive, Returns::Value),
    ];
    let mut tokens = emitter.tokens();
    tokens.extend(emitter.impl_glue(&ident("Greenhouse"), &handlers));
    let tracked: TokenStream = format!(
        "const _: &[u8] = include_bytes!({:?});",
        manifest.display().to_string()
    )
    .parse()
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokens.extend(tracked);
    let file: syn::File = syn::parse2(tokens).context("parsing the expansion")?;
    Ok(prettyplease::unparse(&file))
}

fn write_crate(
    dir: &Path,
    name: &str,
    runtime: &Path,
    features: &str,
    lib: &str,
) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::create_dir_all(path.join("src"))?;
    std::fs::write(
        path.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bench-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nlua-device = {{ path = {:?}, default-features = false, features = {features} }}\n\n[workspace]\n",
            runtime.display().to_string()
        ),
    )?;
    std::fs::write(path.join("src/lib.rs"), lib)?;
    Ok(path)
}

fn build(krate: &Path, target: &Path) -> Result<()> {
    let status = Command::new("cargo")
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--quiet"])
        .status()?;
    if !status.success() {
        bail!("building {} failed", krate.display());
    }
    Ok(())
}

fn rebuild(krate: &Path, target: &Path) -> Result<Duration> {
    let lib = krate.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib)?;
    std::fs::write(&lib, text)?;
    let start = Instant::now();
    build(krate, target)?;
    Ok(start.elapsed())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
