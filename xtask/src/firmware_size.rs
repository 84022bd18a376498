//! Pico W firmware size, as `arm-none-eabi-size` reports it: the greenhouse device over plain
//! MQTT and as a default project builds it (the hosted gateway: WebSocket over TLS 1.3 or 1.2,
//! public chains checked against the default trust store), and synthetic devices of growing
//! size for the cost of one more command.
//!
//! "App flash" is everything in flash but the CYW43439 firmware and CLM blobs, which every
//! Pico W image carries whatever its application; the blob sizes are read from the
//! cyw43-firmware crate the build used.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use lua_testkit::{deps, thumbv6m};
use luagen::board::{Board, PICO_2_W, PICO_W};
use luagen::emit::pico_w::PicoWProject;

use crate::report::Table;

const GOAL_FLASH: u64 = 100 * 1024;
const GOAL_RAM: u64 = 64 * 1024;
/// The default project, with TLS and WebSocket (issue 15's budget).
const GOAL_TLS_FLASH: u64 = 256 * 1024;
const GOAL_TLS_RAM: u64 = 128 * 1024;

/// Synthetic catalogue sizes for the per-command slope.
const SLOPE: [usize; 2] = [1, 21];

pub fn table() -> Result<Table> {
    let route = thumbv6m::any()?;
    let root = deps::workspace_root().join("target/bench-firmware");
    let target_dir = root.join("target");
    let greenhouse = deps::workspace_root().join("manifests/greenhouse-sensor.yaml");
    let greenhouse = std::fs::read_to_string(&greenhouse)?;
    let on = |board: &'static Board, route: &thumbv6m::Route, name: &str, text: &str, hosted| {
        build(board, route, &root, &target_dir, name, text, hosted)
    };
    let mut builds: Vec<(String, Result<Size>)> = vec![
        (
            "greenhouse-sensor".into(),
            on(&PICO_W, &route, "greenhouse", &greenhouse, false),
        ),
        (
            "greenhouse-sensor, default project (wss:// + TLS, default roots)".into(),
            on(&PICO_W, &route, "greenhouse-wss", &greenhouse, true),
        ),
    ];
    for commands in SLOPE {
        let text = lua_testkit::synthetic::manifest(commands);
        let name = format!("synthetic-{commands}");
        builds.push((
            format!("synthetic, {commands} commands"),
            on(&PICO_W, &route, &name, &text, false),
        ));
    }
    // The Pico 2 W by Debian's rustc-web (rustup's thumbv8m target is not on a fresh machine).
    let debian = thumbv6m::route(thumbv6m::Kind::Debian);
    for (label, name, hosted) in [
        ("greenhouse-sensor", "greenhouse-pico-2-w", false),
        (
            "greenhouse-sensor, default project",
            "greenhouse-wss-pico-2-w",
            true,
        ),
    ] {
        let size = match &debian {
            Ok(route) => on(&PICO_2_W, route, name, &greenhouse, hosted),
            Err(e) => Err(anyhow::anyhow!("no Debian route: {e:#}")),
        };
        builds.push((format!("{label} on the {}", PICO_2_W.title), size));
    }
    // Read after the builds: only then is the crate surely in cargo's registry.
    let blobs = cyw43_blob_bytes()?;

    let mut table = Table::new(
        "Pico W firmware (thumbv6m-none-eabi, release, arm-none-eabi-size)",
        &[
            "firmware",
            "commands",
            "app flash KiB",
            "image flash KiB",
            "static RAM KiB",
        ],
    );
    for (label, size) in &builds {
        match size {
            Ok(size) => table.row(size.row(label, blobs)),
            Err(e) => table.row([label.clone(), format!("failed: {e:#}")]),
        }
    }
    if let (_, Ok(size)) = &builds[0] {
        table.note(format!(
            "greenhouse: {:.1} KiB app flash (goal <= {} KiB), {:.1} KiB static RAM (goal <= {} KiB)",
            kib(size.flash - blobs),
            GOAL_FLASH / 1024,
            kib(size.ram),
            GOAL_RAM / 1024
        ));
    }
    if let (_, Ok(size)) = &builds[1] {
        table.note(format!(
            "default project: {:.1} KiB app flash (goal <= {} KiB), {:.1} KiB static RAM (goal <= {} KiB)",
            kib(size.flash - blobs),
            GOAL_TLS_FLASH / 1024,
            kib(size.ram),
            GOAL_TLS_RAM / 1024
        ));
    }
    if let [(_, Ok(a)), (_, Ok(b))] = &builds[2..4] {
        table.note(format!(
            "each added command costs {} bytes of flash (synthetic commands: five-field input with bounds, pattern, enum, $ref and array; a boolean output)",
            (b.flash as i64 - a.flash as i64) / (b.commands as i64 - a.commands as i64)
        ));
    }
    table.note(format!(
        "app flash excludes the CYW43439 firmware + CLM blobs ({blobs} bytes) every Pico W image carries"
    ));
    table.note(format!(
        "the {} rows: {} ({}, {}), the same project with its board value and chip module, built by Debian's rustc-web",
        PICO_2_W.title, PICO_2_W.chip.name, PICO_2_W.chip.core, PICO_2_W.chip.triple
    ));
    Ok(table)
}

struct Size {
    commands: usize,
    flash: u64,
    ram: u64,
}

impl Size {
    fn row(&self, label: &str, blobs: u64) -> Vec<String> {
        vec![
            label.to_string(),
            self.commands.to_string(),
            format!("{:.1}", kib(self.flash - blobs)),
            format!("{:.1}", kib(self.flash)),
            format!("{:.1}", kib(self.ram)),
        ]
    }
}

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// Generate the project for `manifest`, build it (for its default broker, the hosted gateway,
/// when `hosted`; else for a plain `mqtt://` broker without the TLS crates), and size it.
fn build(
    board: &'static Board,
    route: &thumbv6m::Route,
    root: &Path,
    target_dir: &Path,
    name: &str,
    manifest: &str,
    hosted: bool,
) -> Result<Size> {
    eprintln!("firmware: building {name}...");
    let device =
        luagen::load_str(format!("{name}.yaml"), manifest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let project = PicoWProject::new(&device).board(board);
    let dir = root.join("projects").join(name);
    project
        .project()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .write(&dir, true)?;
    let broker = if hosted {
        let example = std::fs::read_to_string(dir.join(".env.example"))?;
        let url = example
            .lines()
            .find(|l| l.starts_with("LUA_MQTT_URL="))
            .context(".env.example names no broker")?;
        format!("{url}\n")
    } else {
        "LUA_MQTT_URL=mqtt://192.168.1.10:1883\n".to_string()
    };
    std::fs::write(
        dir.join(".env"),
        format!(
            "LUA_WIFI_SSID=bench\nLUA_WIFI_PASSWORD=bench-password\nLUA_AGENT_ID=agent-1\nLUA_API_KEY=bench-key\n{broker}"
        ),
    )?;
    let readme = std::fs::read_to_string(dir.join("README.md"))?;
    // `tls` is a default feature: the plain build turns it off.
    let features: &[&str] = if hosted {
        &[]
    } else {
        &["--no-default-features"]
    };
    let output = route
        .build(&readme, &dir, target_dir, features, false)?
        .output()
        .context("running the firmware build")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        bail!(
            "build failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    let elf = target_dir
        .join(board.chip.triple)
        .join("release")
        .join(project.crate_name());
    let (flash, ram) = sections(&elf, board)?;
    Ok(Size {
        commands: device.commands.len(),
        flash,
        ram,
    })
}

/// Flash bytes (every allocated section placed in flash, plus `.data`'s initial image) and
/// static RAM bytes, from `arm-none-eabi-size -A`.
fn sections(elf: &Path, board: &Board) -> Result<(u64, u64)> {
    let memory = &board.chip.memory;
    let flash_range =
        u64::from(memory.flash_origin)..u64::from(memory.flash_origin + memory.flash_bytes);
    let ram_range = u64::from(memory.ram_origin)..u64::from(memory.ram_origin + memory.ram_bytes);
    let output = Command::new("arm-none-eabi-size")
        .args(["-A", "-d"])
        .arg(elf)
        .output()
        .context("running arm-none-eabi-size (binutils-arm-none-eabi)")?;
    if !output.status.success() {
        bail!("arm-none-eabi-size failed on {}", elf.display());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let (mut flash, mut ram) = (0, 0);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, size, addr] = fields[..] else {
            continue;
        };
        let (Ok(size), Ok(addr)) = (size.parse::<u64>(), addr.parse::<u64>()) else {
            continue;
        };
        if flash_range.contains(&addr) {
            flash += size;
        } else if ram_range.contains(&addr) && size > 0 {
            ram += size;
            if name == ".data" {
                flash += size;
            }
        }
    }
    Ok((flash, ram))
}

/// The CYW43439 firmware and CLM blobs of the cyw43-firmware crate in cargo's registry.
fn cyw43_blob_bytes() -> Result<u64> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME")?;
    for index in std::fs::read_dir(home.join("registry/src"))? {
        let index = index?.path();
        for krate in std::fs::read_dir(&index)? {
            let krate = krate?.path();
            let is_firmware = krate
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cyw43-firmware-"));
            if !is_firmware {
                continue;
            }
            let dist = krate.join("dist/cyw43-firmware");
            let fw = std::fs::metadata(dist.join("43439A0.bin"))?.len();
            let clm = std::fs::metadata(dist.join("43439A0_clm.bin"))?.len();
            return Ok(fw + clm);
        }
    }
    bail!("the cyw43-firmware crate is not in cargo's registry (no firmware was built?)")
}
