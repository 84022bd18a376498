//! The Pico W projects really build: every manifest (and the valid corpus) is generated and
//! built for `thumbv6m-none-eabi` by each route this machine has (rustup's target; Debian's
//! rustc-web as apt installs it; the same at the MSRV, unpacked), with the command the
//! generated README gives for that route, `--locked`, and offline once the crates are cached.
//! Its ELF and UF2 are checked. Those are plain builds (`mqtt://`, `--no-default-features`, the
//! only kind the MSRV can build). Two more builds take the greenhouse with the default features
//! to the broker its `.env.example` names (the hosted gateway, `wss://`), trusting the default
//! store `roots.der` and then a CA made by openssl instead, after build.rs has refused the URL
//! without the feature.
//!
//! Slow (a few minutes for each route's first project on two cores, 20-40 s for each next
//! one). A route the machine lacks is skipped with a skip record (`cargo xtask test` lists it
//! as SKIPPED); `LUAGEN_THUMBV6M_ROUTES` forces routes, `LUAGEN_SKIP_FIRMWARE_BUILD=1` skips
//! them all, loudly. `cargo xtask test` runs these tests as a step of their own.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use lua_testkit::thumbv6m::{self, Kind, Wanted};
use luagen::board::{Board, Family, PICO_2_W, PICO_W};
use luagen::emit::pico_w::PicoWProject;
use luagen::emit::pico_w::{lockfile, uf2};

/// The CYW43439 firmware blob the image carries (cyw43-firmware 0.1), not application code.
const CYW43_BLOBS: u64 = 231_077 + 984;
const SENTINEL: &str = "s3cret-sentinel-9f2c";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An ELF32 section: name, address, size, and whether it occupies memory (SHF_ALLOC).
#[derive(Debug)]
struct Section {
    name: String,
    addr: u32,
    size: u32,
    alloc: bool,
    nobits: bool,
}

fn sections(elf: &[u8]) -> Vec<Section> {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    assert_eq!(&elf[..6], b"\x7fELF\x01\x01", "32-bit little-endian ELF");
    assert_eq!(u16_at(18), 40, "e_machine is ARM");
    let (shoff, shentsize, shnum, shstrndx) =
        (u32_at(32) as usize, u16_at(46), u16_at(48), u16_at(50));
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(header(shstrndx) + 16) as usize;
    (0..shnum)
        .map(|i| {
            let h = header(i);
            let name_at = strtab + u32_at(h) as usize;
            let end = elf[name_at..].iter().position(|&b| b == 0).unwrap();
            Section {
                name: String::from_utf8_lossy(&elf[name_at..name_at + end]).into_owned(),
                addr: u32_at(h + 12),
                size: u32_at(h + 20),
                alloc: u32_at(h + 8) & 0x2 != 0,
                nobits: u32_at(h + 4) == 8,
            }
        })
        .collect()
}

/// The names of the functions an ELF links (its `.symtab`, function symbols with a size).
fn functions(elf: &[u8]) -> Vec<String> {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum) = (u32_at(32), u16_at(46), u16_at(48));
    let header = |i: usize| shoff + i * shentsize;
    let Some(symtab) = (0..shnum).map(header).find(|&h| u32_at(h + 4) == 2) else {
        return Vec::new();
    };
    let (offset, size, entsize) = (
        u32_at(symtab + 16),
        u32_at(symtab + 20),
        u32_at(symtab + 36),
    );
    let strtab = u32_at(header(u32_at(symtab + 24)) + 16);
    (offset..offset + size)
        .step_by(entsize)
        .filter(|&sym| elf[sym + 12] & 0xf == 2 && u32_at(sym + 8) > 0)
        .map(|sym| {
            let name = strtab + u32_at(sym);
            let end = elf[name..].iter().position(|&b| b == 0).unwrap();
            String::from_utf8_lossy(&elf[name..name + end]).into_owned()
        })
        .collect()
}

/// Every file under `dir` but the build output and the user's `.env`.
fn tracked_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" {
                tracked_files(&path, out);
            }
        } else if name != ".env" {
            out.push(path);
        }
    }
}

/// One build at a time: each one keeps both cores busy, and two would only thrash.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn firmware_build_by_debian_rustc() {
    every_manifest_builds_by(Kind::Debian);
}

#[test]
fn firmware_build_by_debian_rustc_at_the_msrv() {
    every_manifest_builds_by(Kind::DebianMsrv);
}

#[test]
fn firmware_build_by_rustup() {
    every_manifest_builds_by(Kind::Rustup);
}

/// The Pico 2 W (RP2350, `thumbv8m.main-none-eabihf`): the greenhouse, plain and with TLS,
/// by Debian's rustc-web, the route a fresh machine has (rustup's thumbv8m target cannot be
/// downloaded there). The same project, templates and lock as the Pico W's; only the board
/// value and the chip module differ.
#[test]
fn firmware_build_for_the_pico_2_w_by_debian_rustc() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let what = "the Pico 2 W firmware build by the debian route";
    if std::env::var_os("LUAGEN_SKIP_FIRMWARE_BUILD").is_some() {
        lua_testkit::skips::record(what, "LUAGEN_SKIP_FIRMWARE_BUILD is set");
        return;
    }
    let wanted = thumbv6m::wanted(Kind::Debian);
    if wanted == Wanted::Excluded {
        lua_testkit::skips::record(what, "not named in LUAGEN_THUMBV6M_ROUTES");
        return;
    }
    let route = match thumbv6m::route(Kind::Debian) {
        Ok(route) => route,
        Err(e) if wanted == Wanted::IfAvailable => {
            lua_testkit::skips::record(what, &format!("{e:#}"));
            return;
        }
        Err(e) => panic!("{what} (forced by LUAGEN_THUMBV6M_ROUTES): {e:#}"),
    };
    let root = workspace().join("target/pico-2-w");
    let target_dir = root.join("target");
    let greenhouse = workspace().join("manifests/greenhouse-sensor.yaml");
    let mut report = format!(
        "{} for the {}\nmanifest             commands  app flash  image flash  static RAM  (.data+.bss)  UF2 blocks  build\n",
        route.label(),
        PICO_2_W.title
    );
    for (tls, url) in [
        (false, "mqtt://192.168.1.10:1883"),
        (true, "wss://mqtt.heylua.ai/mqtt"),
    ] {
        let build = Build {
            board: &PICO_2_W,
            route: &route,
            target_dir: &target_dir,
            tls,
            cdn: false,
            offline: false,
        };
        // A unit name with `{uid}`: the chip id is read from OTP on this chip.
        let env = plain_env(&format!(
            "LUA_MQTT_URL={url}\nLUA_DEVICE_NAME=greenhouse-{{uid}}\n"
        ));
        let name = if tls {
            "greenhouse (wss)"
        } else {
            "greenhouse-sensor"
        };
        let dir = root
            .join("projects")
            .join(if tls { "greenhouse-tls" } else { "greenhouse" });
        report.push_str(&build.check(&greenhouse, name, &dir, &env));
    }
    eprintln!("\n{report}");
    std::fs::write(root.join("sizes.txt"), &report).unwrap();
}

/// Generate every manifest's project and build it by `kind`'s route with the README's own
/// command, `--locked`: the first online, the others offline (the kept lock is the same for
/// all, so its crates are cached by then). Then the TLS build, where the route can have it.
fn every_manifest_builds_by(kind: Kind) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let what = format!("the Pico W firmware build by the {} route", kind.name());
    if std::env::var_os("LUAGEN_SKIP_FIRMWARE_BUILD").is_some() {
        lua_testkit::skips::record(&what, "LUAGEN_SKIP_FIRMWARE_BUILD is set");
        return;
    }
    let wanted = thumbv6m::wanted(kind);
    if wanted == Wanted::Excluded {
        lua_testkit::skips::record(&what, "not named in LUAGEN_THUMBV6M_ROUTES");
        return;
    }
    let route = match thumbv6m::route(kind) {
        Ok(route) => route,
        Err(e) if wanted == Wanted::IfAvailable => {
            lua_testkit::skips::record(&what, &format!("{e:#}"));
            return;
        }
        Err(e) => panic!("{what} (forced by LUAGEN_THUMBV6M_ROUTES): {e:#}"),
    };
    eprintln!("thumbv6m route: {}", route.label());
    let root = workspace().join("target/pico-w").join(kind.name());
    let target_dir = root.join("target");
    let mut report = format!(
        "{}\nmanifest             commands  app flash  image flash  static RAM  (.data+.bss)  UF2 blocks  build\n",
        route.label()
    );
    for (i, manifest) in lua_testkit::corpus::valid_manifests().iter().enumerate() {
        let name = manifest.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = root.join("projects").join(&name);
        // One project builds as a unit of many (issue 16): its name completed at boot from
        // the flash chip's unique id, so that code is compiled for the board too.
        let unit = if name == "tricky-names" {
            "LUA_DEVICE_NAME=tricky-{uid}\nLUA_DEVICE_GROUP=field\n"
        } else {
            ""
        };
        let env = plain_env(&format!("LUA_MQTT_URL=mqtt://192.168.1.10:1883\n{unit}"));
        let build = Build {
            board: &PICO_W,
            route: &route,
            target_dir: &target_dir,
            tls: false,
            cdn: false,
            offline: i > 0,
        };
        report.push_str(&build.check(manifest, &name, &dir, &env));
    }
    if route.version >= tls_rustc() {
        report.push_str(&tls_build(&route, &root, &target_dir));
    } else {
        report.push_str(&format!(
            "(no TLS build: the `tls` feature needs rustc {}, see the project's README)\n",
            lockfile::TLS_RUST_VERSION
        ));
    }
    eprintln!("\n{report}");
    std::fs::write(root.join("sizes.txt"), &report).unwrap();
}

/// The oldest rustc of the `tls` feature, as `(major, minor)`.
fn tls_rustc() -> (u32, u32) {
    let (major, minor) = lockfile::TLS_RUST_VERSION.split_once('.').unwrap();
    (major.parse().unwrap(), minor.parse().unwrap())
}

/// The greenhouse with the default features (`tls`) and the default broker URL of its
/// `.env.example` (WebSocket over TLS), trusting the default store and then a CA made by
/// openssl, after build.rs has refused the URL without the feature; the report's row (the
/// user's CA).
fn tls_build(route: &thumbv6m::Route, root: &Path, target_dir: &Path) -> String {
    let greenhouse = workspace().join("manifests/greenhouse-sensor.yaml");
    let dir = root.join("projects/greenhouse-sensor-tls");
    let certs = root.join("tls-ca");
    std::fs::create_dir_all(&certs).unwrap();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        ])
        .args(["-subj", "/CN=luagen test CA"])
        .current_dir(&certs)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (cargo xtask deps)");
    assert!(made.success(), "openssl made no CA");
    let device = luagen::load_file(&greenhouse).unwrap();
    PicoWProject::new(&device)
        .project()
        .unwrap()
        .write(&dir, true)
        .unwrap();
    let example = std::fs::read_to_string(dir.join(".env.example")).unwrap();
    let default_url = example
        .lines()
        .find(|l| l.starts_with("LUA_MQTT_URL="))
        .expect(".env.example names the broker");
    assert_eq!(default_url, "LUA_MQTT_URL=wss://mqtt.heylua.ai/mqtt");
    let tls_url = format!("{default_url}\n");
    // Without the feature: build.rs stops, saying what to do.
    std::fs::write(dir.join(".env"), plain_env(&tls_url)).unwrap();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let output = route
        .build(&readme, &dir, target_dir, &["--no-default-features"], false)
        .unwrap()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a TLS URL built without the feature"
    );
    assert!(
        stderr.contains("this build turned it off"),
        "expected the feature's refusal in\n{stderr}"
    );
    let mut build = Build {
        board: &PICO_W,
        route,
        target_dir,
        tls: true,
        cdn: true,
        offline: false,
    };
    let elf_path = target_dir
        .join(PICO_W.chip.triple)
        .join("release")
        .join(PicoWProject::new(&device).crate_name());
    let carries = |elf: &[u8], der: &[u8]| elf.windows(der.len()).any(|w| w == der);
    let roots = luagen::trust::roots_der();
    // Without LUA_MQTT_CA: the default store, every root of it, as the verifier's anchors;
    // with the `cdn` feature and a handler that uploads (the default https:// CDN, through
    // the same TLS and store), which this row's figures show.
    let cdn_row = build.check(
        &greenhouse,
        "greenhouse (wss, default roots, cdn)",
        &dir,
        &plain_env(&tls_url),
    );
    eprintln!("with the cdn feature: {cdn_row}");
    build.cdn = false;
    assert!(
        carries(&std::fs::read(&elf_path).unwrap(), &roots),
        "the TLS firmware without LUA_MQTT_CA does not carry roots.der"
    );
    let env = plain_env(&format!(
        "{tls_url}LUA_MQTT_CA={}\n",
        certs.join("ca.pem").display()
    ));
    let row = build.check(&greenhouse, "greenhouse (wss)", &dir, &env);
    // The CA is in the image, as DER: what the firmware verifies the broker against.
    let der = std::process::Command::new("openssl")
        .args(["x509", "-in", "ca.pem", "-outform", "der"])
        .current_dir(&certs)
        .output()
        .unwrap()
        .stdout;
    let elf = std::fs::read(&elf_path).unwrap();
    assert!(der.len() > 100, "openssl wrote no DER");
    assert!(
        carries(&elf, &der),
        "the TLS firmware does not carry the CA certificate"
    );
    // The user's CA replaces the default store: not one of its roots is left in the image.
    for root in luagen::trust::split(&roots).unwrap() {
        assert!(
            !carries(&elf, root),
            "LUA_MQTT_CA did not replace roots.der"
        );
    }
    row
}

/// `.env` with the sentinel secrets and `rest` (the broker lines).
fn plain_env(rest: &str) -> String {
    format!(
        "LUA_WIFI_SSID=lab\nLUA_WIFI_PASSWORD={SENTINEL}\nLUA_AGENT_ID=agent-1\n\
         LUA_API_KEY={SENTINEL}\n{rest}"
    )
}

/// One firmware build for a board by a route: with the default features (`tls`) when `tls`,
/// else `--no-default-features`; without the network when `offline`.
struct Build<'a> {
    board: &'static Board,
    route: &'a thumbv6m::Route,
    target_dir: &'a Path,
    tls: bool,
    /// With the `cdn` feature, and `background` uploading a reading so that it is linked.
    cdn: bool,
    offline: bool,
}

impl Build<'_> {
    /// Generate `manifest` into `dir` with `env` as its `.env`, build it by the README's
    /// command, check the ELF and UF2 and that no tracked file holds a secret; the report's row.
    fn check(&self, manifest: &Path, name: &str, dir: &Path, env: &str) -> String {
        let device = luagen::load_file(manifest).unwrap();
        let board = self.board;
        let pico = PicoWProject::new(&device).board(board);
        pico.project().unwrap().write(dir, true).unwrap();
        // What a user does: secrets in .env, which the generated .gitignore covers.
        std::fs::write(dir.join(".env"), env).unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let features: &[&str] = match (self.tls, self.cdn) {
            (true, true) => &["--features", "cdn"],
            (true, false) => &[],
            (false, true) => &["--no-default-features", "--features", "cdn"],
            (false, false) => &["--no-default-features"],
        };
        if self.cdn {
            let handlers = dir.join("src/handlers.rs");
            let stubs = std::fs::read_to_string(&handlers).unwrap();
            let wait = "        Timer::after_secs(60).await;\n    }\n}";
            assert!(
                stubs.contains(wait),
                "{name}: no background loop to upload from"
            );
            let uploading = stubs.replace(
                wait,
                &format!(
                    "        let _ = crate::cdn::upload(b\"21.5\", \"reading.csv\", \"text/csv\").await;\n{wait}"
                ),
            );
            std::fs::write(&handlers, uploading).unwrap();
        }

        let started = Instant::now();
        let output = self
            .route
            .build(&readme, dir, self.target_dir, features, self.offline)
            .unwrap()
            .output()
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert!(
            output.status.success(),
            "{name}: firmware build by {} failed{}\n{}",
            self.route.label(),
            if self.offline { " (offline)" } else { "" },
            String::from_utf8_lossy(&output.stderr)
        );
        let target_dir = self.target_dir;
        let elf_path = target_dir
            .join(board.chip.triple)
            .join("release")
            .join(pico.crate_name());
        let elf = std::fs::read(&elf_path).unwrap();
        let sections = sections(&elf);
        let find = |n: &str| {
            sections
                .iter()
                .find(|s| s.name == n)
                .unwrap_or_else(|| panic!("{name}: no {n} section"))
        };
        // Where the board record says, so the record is what the linker got.
        let memory = &board.chip.memory;
        let vectors = find(".vector_table");
        assert_eq!(
            vectors.addr,
            board.app_flash().start,
            "{name}: vector table"
        );
        match board.chip.family {
            Family::Rp2040 => {
                let boot2 = find(".boot2");
                assert_eq!(
                    (boot2.addr, boot2.size),
                    (memory.flash_origin, memory.boot2_bytes),
                    "{name}: boot2"
                );
            }
            // The boot ROM finds the IMAGE_DEF block only in the first 4 KiB of flash.
            Family::Rp235x => {
                let block = find(".start_block");
                assert_eq!(block.addr, vectors.addr + vectors.size, "{name}: IMAGE_DEF");
                assert!(
                    block.size > 0 && block.addr + block.size <= memory.flash_origin + 4096,
                    "{name}: the IMAGE_DEF block is not in the first 4 KiB: {block:?}"
                );
            }
        }
        let in_flash: u64 = sections
            .iter()
            .filter(|s| s.alloc && !s.nobits && board.chip.flash_window.contains(&s.addr))
            .map(|s| u64::from(s.size))
            .sum::<u64>()
            + u64::from(find(".data").size);
        let ram: u64 = sections
            .iter()
            .filter(|s| {
                s.alloc
                    && (memory.ram_origin..memory.ram_origin + memory.ram_bytes).contains(&s.addr)
            })
            .map(|s| u64::from(s.size))
            .sum();
        let flash_bytes = u64::from(memory.flash_bytes);
        assert!(
            in_flash < flash_bytes,
            "{name}: {in_flash} bytes do not fit the board's flash"
        );
        assert!(
            ram < u64::from(memory.ram_bytes),
            "{name}: {ram} bytes of static RAM"
        );

        // A plain build formats nothing with `core::fmt` (rule texts, errors and logs are
        // built by the core's own writers): its machinery would cost several KiB of flash.
        if !self.tls {
            let formatting: Vec<String> = functions(&elf)
                .into_iter()
                .filter(|f| f.contains("4core3fmt5write") || f.contains("Formatter3pad"))
                .collect();
            assert!(
                formatting.is_empty(),
                "{name}: the firmware links core::fmt: {formatting:?}"
            );
        }

        let image = uf2::elf_to_uf2(&elf, &board.chip).unwrap();
        let blocks = uf2::parse(&image).unwrap();
        assert!(blocks.iter().all(|b| b.family_id == board.chip.uf2_family));
        assert_eq!(
            blocks[0].address, memory.flash_origin,
            "{name}: the image starts at the start of flash"
        );
        assert!(blocks
            .iter()
            .all(|b| board.chip.flash_window.contains(&b.address)));
        assert!(
            blocks.len() as u64 >= in_flash.div_ceil(256),
            "{name}: every flash byte is in a block"
        );
        assert!((blocks.len() as u64) * 256 < flash_bytes);
        std::fs::write(elf_path.with_extension("uf2"), &image).unwrap();

        // The secrets are in the image (that is the point) but in no file git would track.
        let mut files = Vec::new();
        tracked_files(dir, &mut files);
        for file in files {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !text.contains(SENTINEL),
                "{} holds a secret",
                file.display()
            );
        }

        format!(
            "{name:<20} {:>8}  {:>9}  {:>11}  {:>10}  {:>12}  {:>10}  {seconds:>4.0} s\n",
            device.commands.len(),
            in_flash - CYW43_BLOBS,
            in_flash,
            ram,
            format!("{}+{}", find(".data").size, find(".bss").size),
            blocks.len(),
        )
    }
}
