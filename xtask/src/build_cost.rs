//! `cargo xtask bench-build`: what `#[lua_device]` costs at build time. The same greenhouse
//! device is built twice, side by side: once through the macro, once with the generated code
//! pasted in as source (what `luagen rust` prints) and the handler trait implemented by hand.
//! Dependencies are built first; each sample touches the crate and rebuilds only it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const SAMPLES: usize = 5;

const HANDLERS: &str = r#"
async fn read(on: bool) -> ReadEnvironmentOutput {
    ReadEnvironmentOutput { temperature: 21.5, humidity: 40, soil_moisture: 30, irrigation_on: on, timestamp: String::new() }
}
"#;

pub fn run() -> Result<()> {
    let root = lua_testkit::deps::workspace_root();
    let dir = root.join("target/bench-build");
    let runtime = root.join("runtime");
    let manifest = root.join("manifests/greenhouse-sensor.yaml");
    let generated = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["run", "--quiet", "-p", "luagen-cli", "--", "rust"])
        .arg(&manifest)
        .output()
        .context("running luagen rust")?;
    if !generated.status.success() {
        bail!(
            "luagen rust failed: {}",
            String::from_utf8_lossy(&generated.stderr)
        );
    }
    let generated = String::from_utf8(generated.stdout)?;

    let with_macro = format!(
        r#"use lua_device::{{lua_device, CommandError}};
{HANDLERS}
#[derive(Default)]
pub struct Greenhouse {{ on: bool }}
#[lua_device({manifest:?})]
impl Greenhouse {{
    async fn read_environment(&self) -> Result<ReadEnvironmentOutput, CommandError> {{ Ok(read(self.on).await) }}
    async fn toggle_irrigation(&mut self, input: ToggleIrrigationInput) -> ToggleIrrigationOutput {{
        self.on = input.enabled;
        ToggleIrrigationOutput {{ irrigation_on: self.on }}
    }}
}}
"#
    );
    let pasted = format!(
        r#"{generated}
use lua_device::CommandError;
{HANDLERS}
#[derive(Default)]
pub struct Greenhouse {{ on: std::sync::Mutex<bool> }}
impl GreenhouseSensorHandler for Greenhouse {{
    async fn read_environment(&self) -> Result<ReadEnvironmentOutput, CommandError> {{
        let on = *self.on.lock().unwrap();
        Ok(read(on).await)
    }}
    async fn toggle_irrigation(&self, input: ToggleIrrigationInput) -> Result<ToggleIrrigationOutput, CommandError> {{
        *self.on.lock().unwrap() = input.enabled;
        Ok(ToggleIrrigationOutput {{ irrigation_on: input.enabled }})
    }}
}}
"#
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
    for _ in 0..SAMPLES {
        ta.push(rebuild(&a, &target)?);
        tb.push(rebuild(&b, &target)?);
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
        "generated code pasted in (no macro)",
        mb.as_secs_f64()
    );
    println!(
        "\nmacro / pasted: {:.2}x (goal <= 1.2x), {SAMPLES} samples each, alternating",
        ma.as_secs_f64() / mb.as_secs_f64()
    );
    Ok(())
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
