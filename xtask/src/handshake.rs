//! The TLS handshake's work on the Cortex-M0+, estimated: the Pico W template's certificate
//! verifier (`src/pki.rs`, copied verbatim) and the ECDHE and AES-GCM crates at the versions
//! its `Cargo.lock` pins, built for `thumbv6m-none-eabi` by Debian's rustc with the firmware's
//! release profile, and run on qemu's micro:bit (nRF51, a Cortex-M0: the same ARMv6-M
//! instruction set as the RP2040's M0+) under `-icount shift=0`, where virtual time advances
//! one nanosecond per executed instruction. The firmware reads the nRF51's 16 MHz TIMER0
//! around each operation, so a tick is 62.5 instructions; a loop of known length checks that.
//!
//! qemu counts instructions, not cycles: the M0+ takes one cycle for most instructions and two
//! for loads, stores and taken branches, so the cycles lie between 1x and 2x the instructions
//! (see [`CPI`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_testkit::pki::{Chain, Pki, HOST};
use lua_testkit::{deps, thumbv6m};

use crate::report::Table;

/// The Debian package with `qemu-system-arm` (7.2 on bookworm).
const QEMU_PACKAGE: &str = "qemu-system-arm";
/// Instructions per tick of TIMER0 (16 MHz) when a tick of virtual time is 1 ns.
const INSTRUCTIONS_PER_TICK: f64 = 1e9 / 16e6;
/// The calibration loop may be off by this share before the run is refused.
const CALIBRATION_TOLERANCE: f64 = 0.01;
/// The RP2040's clock (MHz) for the milliseconds.
const RP2040_MHZ: f64 = 125.0;
/// Cycles per instruction on the M0+: at least one for every instruction; two for loads,
/// stores and taken branches. The upper end counts every instruction as two cycles, which
/// covers a mix of only those; it is exceeded only by multi-register push/pop/ldm/stm and BL,
/// rare in the bignum and field-arithmetic loops that dominate here. Flash wait states are
/// not counted: the RP2040 executes from its 16 KiB XIP cache, which these loops fit.
const CPI: (f64, f64) = (1.0, 2.0);
/// How long qemu may run before the run is refused (the whole program is ~1 s of virtual time).
const QEMU_TIMEOUT: Duration = Duration::from_secs(600);

/// The harness crate, copied into the build directory with the template's files.
const HARNESS: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../handshake/Cargo.toml")),
    ("build.rs", include_str!("../handshake/build.rs")),
    ("memory.x", include_str!("../handshake/memory.x")),
    ("src/main.rs", include_str!("../handshake/src/main.rs")),
];

/// What an operation is, for the table.
const OPERATIONS: &[(&str, &str)] = &[
    (
        "chain-rsa",
        "verify_chain: RSA-2048 leaf <- RSA-3072 intermediate (PKCS#1 SHA-384) <- RSA-4096 root (PSS SHA-256)",
    ),
    (
        "chain-p384",
        "verify_chain: P-256 leaf <- P-384 root (ECDSA SHA-384)",
    ),
    (
        "chain-p256",
        "verify_chain: P-256 leaf <- P-256 root (ECDSA SHA-256)",
    ),
    (
        "sig-rsa-pkcs1-sha256",
        "verify_signature: RSA-2048 PKCS#1 v1.5 SHA-256 (TLS 1.2 ServerKeyExchange)",
    ),
    (
        "sig-rsa-pss-sha256",
        "verify_signature: RSA-2048 PSS SHA-256 (TLS 1.3 CertificateVerify)",
    ),
    (
        "sig-ecdsa-p256-sha256",
        "verify_signature: ECDSA P-256 SHA-256 (CertificateVerify)",
    ),
    (
        "ecdhe-p256-key-share",
        "ECDHE P-256: ephemeral key and its share (p256)",
    ),
    (
        "ecdhe-p256-shared-secret",
        "ECDHE P-256: shared secret (p256)",
    ),
    (
        "aes128gcm-seal-1k",
        "AES-128-GCM: seal a 1 KiB record (aes-gcm)",
    ),
    (
        "aes128gcm-open-1k",
        "AES-128-GCM: open a 1 KiB record (aes-gcm)",
    ),
];

/// The handshakes the sums stand for: (label, operations).
const HANDSHAKES: &[(&str, &[&str])] = &[
    (
        "TLS 1.3 handshake, RSA chain (chain + PSS CertificateVerify + ECDHE)",
        &[
            "chain-rsa",
            "sig-rsa-pss-sha256",
            "ecdhe-p256-key-share",
            "ecdhe-p256-shared-secret",
        ],
    ),
    (
        "TLS 1.3 handshake, P-384 root (chain + P-256 CertificateVerify + ECDHE)",
        &[
            "chain-p384",
            "sig-ecdsa-p256-sha256",
            "ecdhe-p256-key-share",
            "ecdhe-p256-shared-secret",
        ],
    ),
    (
        "TLS 1.3 handshake, P-256 chain (chain + P-256 CertificateVerify + ECDHE)",
        &[
            "chain-p256",
            "sig-ecdsa-p256-sha256",
            "ecdhe-p256-key-share",
            "ecdhe-p256-shared-secret",
        ],
    ),
];

pub fn tables() -> Result<Vec<Table>> {
    let root = deps::workspace_root().join("target/bench-handshake");
    let qemu = qemu()?;
    let route = thumbv6m::route(thumbv6m::Kind::Debian)
        .context("the handshake bench builds with Debian's rustc-web")?;
    let elf = build(&route, &root)?;
    eprintln!("handshake: running {} on qemu...", elf.display());
    let output = run_qemu(&qemu, &elf)?;
    let run = parse(&output)?;
    Ok(vec![table(&run, &route.label())?])
}

/// `qemu-system-arm`, installed from Debian when missing.
fn qemu() -> Result<PathBuf> {
    if let Some(qemu) = deps::find("qemu-system-arm") {
        return Ok(qemu);
    }
    deps::ensure_apt(&[QEMU_PACKAGE])?;
    deps::find("qemu-system-arm").context("qemu-system-arm is installed but not on PATH")
}

/// Write the harness, its data and the template's verifier and lockfile into `root`, and build
/// it; the ELF's path.
fn build(route: &thumbv6m::Route, root: &Path) -> Result<PathBuf> {
    let dir = root.join("harness");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("data"))?;
    for (path, text) in HARNESS {
        std::fs::write(dir.join(path), text)?;
    }
    let template = deps::workspace_root().join("templates/pico-w");
    std::fs::copy(template.join("src/pki.rs"), dir.join("src/pki.rs"))?;
    std::fs::copy(template.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    eprintln!("handshake: making the chains with openssl...");
    let pki = Pki::generate()?;
    write_data(&pki, &dir)?;

    // The firmware's Debian build command, less `--locked`: the harness is another package,
    // so cargo adds its own entry to the lockfile (versions are checked below).
    let readme = std::fs::read_to_string(template.join("README.md.j2"))?;
    let command = route.readme_command(&readme)?;
    if !command.contains(" --locked") {
        bail!("the template's build command has no --locked to drop: {command}");
    }
    let readme = readme.replace(&command, &command.replacen(" --locked", "", 1));
    let target_dir = root.join("target");
    eprintln!("handshake: building the harness ({})...", route.label());
    let output = route
        .build(
            &readme,
            &dir,
            &target_dir,
            &["--target", "thumbv6m-none-eabi"],
            false,
        )?
        .output()
        .context("running the harness build")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        bail!(
            "harness build failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    let ours = std::fs::read_to_string(dir.join("Cargo.lock"))?;
    let theirs = std::fs::read_to_string(template.join("Cargo.lock"))?;
    same_versions(&ours, &theirs)?;
    Ok(target_dir.join("thumbv6m-none-eabi/release/handshake-bench"))
}

/// Every crate both lockfiles hold is at a version the firmware's holds: the harness measures
/// the code the firmware links.
fn same_versions(harness: &str, firmware: &str) -> Result<()> {
    let theirs = locked(firmware);
    let mut drift = Vec::new();
    for (name, versions) in locked(harness) {
        if let Some(pinned) = theirs.get(&name) {
            for v in versions {
                if !pinned.contains(&v) {
                    drift.push(format!("{name} {v} (firmware: {})", pinned.join(", ")));
                }
            }
        }
    }
    if !drift.is_empty() {
        bail!(
            "the harness resolved other versions than the firmware's Cargo.lock: {}",
            drift.join("; ")
        );
    }
    Ok(())
}

/// Name to versions, from a Cargo.lock.
fn locked(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ") {
            if let Some(n) = name.take() {
                out.entry(n)
                    .or_default()
                    .push(v.trim_matches('"').to_string());
            }
        }
    }
    out
}

/// The chains as DER, the signatures openssl makes with the leaves' keys, and `src/data.rs`
/// that includes them.
fn write_data(pki: &Pki, dir: &Path) -> Result<()> {
    let data = dir.join("data");
    let mut rust = String::from("// @generated by `cargo xtask bench handshake`.\n");
    rust.push_str(&format!("pub const HOST: &str = {HOST:?};\n"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    rust.push_str(&format!("pub const NOW: u64 = {now};\n"));
    // What a TLS 1.3 server signs in CertificateVerify: 64 spaces, the context, a zero byte,
    // and the transcript hash (any 32 bytes here).
    let mut message = vec![b' '; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\0");
    message.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    std::fs::write(data.join("cv.bin"), &message)?;
    rust.push_str("pub const CERTIFICATE_VERIFY: &[u8] = include_bytes!(\"../data/cv.bin\");\n");
    for (chain, name) in [
        (Chain::Rsa, "RSA"),
        (Chain::P384, "P384"),
        (Chain::P256, "P256"),
    ] {
        let lower = name.to_lowercase();
        std::fs::copy(pki.root_der(chain), data.join(format!("{lower}-root.der")))?;
        rust.push_str(&format!(
            "pub const {name}_ROOT: &[u8] = include_bytes!(\"../data/{lower}-root.der\");\n"
        ));
        let pem = std::fs::read_to_string(pki.chain_pem(chain))?;
        let mut items = Vec::new();
        for (i, block) in pem_blocks(&pem).into_iter().enumerate() {
            let pem_path = data.join(format!("{lower}-{i}.pem"));
            let der_path = data.join(format!("{lower}-{i}.der"));
            std::fs::write(&pem_path, block)?;
            openssl(&[
                "x509",
                "-in",
                path_str(&pem_path)?,
                "-outform",
                "DER",
                "-out",
                path_str(&der_path)?,
            ])?;
            items.push(format!("include_bytes!(\"../data/{lower}-{i}.der\")"));
        }
        if items.is_empty() {
            bail!("{} holds no certificate", pki.chain_pem(chain).display());
        }
        rust.push_str(&format!(
            "pub const {name}_CHAIN: &[&[u8]] = &[{}];\n",
            items
                .iter()
                .map(|i| format!("{i}.as_slice()"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let key = |chain| pki.key_pem(chain);
    let cv = data.join("cv.bin");
    for (name, chain, extra) in [
        ("RSA_PKCS1", Chain::Rsa, &[][..]),
        (
            "RSA_PSS",
            Chain::Rsa,
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-sigopt",
                "rsa_mgf1_md:sha256",
            ][..],
        ),
        ("P256_ECDSA", Chain::P256, &[][..]),
    ] {
        let out = data.join(format!("{}.sig", name.to_lowercase()));
        let key = key(chain);
        let mut args = vec!["dgst", "-sha256", "-sign", path_str(&key)?];
        args.extend_from_slice(extra);
        args.extend(["-out", path_str(&out)?, path_str(&cv)?]);
        openssl(&args)?;
        rust.push_str(&format!(
            "pub const {name}: &[u8] = include_bytes!(\"../data/{}.sig\");\n",
            name.to_lowercase()
        ));
    }
    std::fs::write(dir.join("src/data.rs"), rust)?;
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM bundle, in order.
fn pem_blocks(pem: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let stop = start + end + END.len();
        blocks.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    blocks
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Run the ELF on the micro:bit machine until it exits; its semihosting output.
fn run_qemu(qemu: &Path, elf: &Path) -> Result<String> {
    let out_path = elf.with_extension("out");
    let out = std::fs::File::create(&out_path)?;
    let mut child = Command::new(qemu)
        .args(["-M", "microbit", "-icount", "shift=0", "-nographic"])
        // The nRF51's 16 KiB cannot hold the firmware's 32 KiB heap; RAM's size changes
        // no instruction.
        .args(["-global", "nrf51-soc.sram-size=262144"])
        .args(["-monitor", "none", "-serial", "null"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting qemu-system-arm")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > QEMU_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("qemu ran past {QEMU_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&out_path)?;
    if !status.success() {
        bail!(
            "qemu exited with {status}: {}",
            text.lines().collect::<Vec<_>>().join(" / ")
        );
    }
    Ok(text)
}

/// What the harness printed.
#[derive(Debug, PartialEq)]
struct Run {
    /// Ticks the calibration loop took, and its instructions.
    calibration: (u64, u64),
    /// Each operation: its ticks, or why it failed.
    ops: Vec<(String, Result<u64, String>)>,
}

impl Run {
    fn instructions(&self, name: &str) -> Option<Result<f64, String>> {
        self.ops.iter().find(|(n, _)| n == name).map(|(_, r)| {
            r.as_ref()
                .map(|&ticks| ticks as f64 * INSTRUCTIONS_PER_TICK)
                .map_err(Clone::clone)
        })
    }
}

/// Parse the harness's lines; a run that faulted, stopped early or printed garbage is an
/// error, an operation that failed is a failed row.
fn parse(output: &str) -> Result<Run> {
    let mut calibration = None;
    let mut ops = Vec::new();
    let mut done = false;
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["calibrate", ticks, instructions] => {
                calibration = Some((number(ticks, line)?, number(instructions, line)?));
            }
            ["op", name, ticks, "ok"] => ops.push((name.to_string(), Ok(number(ticks, line)?))),
            ["op", name, _, "failed", ..] => {
                let why = line.split_once(" failed ").map_or("", |(_, w)| w);
                ops.push((name.to_string(), Err(why.to_string())));
            }
            ["done"] => done = true,
            ["fault", "at", pc] => bail!(
                "the harness faulted at {pc} (after {} operations)",
                ops.len()
            ),
            // qemu's own warnings (e.g. about unimplemented devices) pass through.
            _ if line.starts_with("qemu-system-arm:") => {}
            _ => bail!("unexpected harness output: {line:?}"),
        }
    }
    let calibration = calibration.context("the harness printed no calibration")?;
    if !done {
        bail!("the harness stopped after {} operations", ops.len());
    }
    let measured = calibration.0 as f64 * INSTRUCTIONS_PER_TICK;
    let expected = calibration.1 as f64;
    if ((measured - expected) / expected).abs() > CALIBRATION_TOLERANCE {
        bail!(
            "a loop of {expected} instructions took {} ticks ({measured} instructions): \
             qemu's virtual time is not one nanosecond per instruction",
            calibration.0
        );
    }
    Ok(Run { calibration, ops })
}

fn number(text: &str, line: &str) -> Result<u64> {
    text.parse()
        .with_context(|| format!("not a number in {line:?}"))
}

/// A row: the label, then the instructions, cycles and milliseconds the operations `names`
/// took together, or why one of them has no number.
fn row(run: &Run, label: &str, names: &[&str]) -> Vec<String> {
    let sum: Result<f64, String> = names
        .iter()
        .map(|n| {
            run.instructions(n)
                .unwrap_or_else(|| Err(format!("{n} did not run")))
        })
        .sum();
    match sum {
        Ok(instructions) => {
            let cycles = (instructions * CPI.0, instructions * CPI.1);
            vec![
                label.to_string(),
                format!("{:.2}", instructions / 1e6),
                format!("{:.2} - {:.2}", cycles.0 / 1e6, cycles.1 / 1e6),
                format!(
                    "{:.0} - {:.0}",
                    cycles.0 / (RP2040_MHZ * 1e3),
                    cycles.1 / (RP2040_MHZ * 1e3)
                ),
            ]
        }
        Err(why) => vec![label.to_string(), format!("failed: {why}")],
    }
}

fn table(run: &Run, toolchain: &str) -> Result<Table> {
    let mut table = Table::new(
        "TLS handshake work on the Cortex-M0+, estimated (qemu micro:bit, -icount shift=0)",
        &[
            "operation",
            "M instructions",
            "M cycles (M0+, est.)",
            "ms at 125 MHz (est.)",
        ],
    );
    for (name, label) in OPERATIONS {
        table.row(row(run, label, &[name]));
    }
    for (label, names) in HANDSHAKES {
        table.row(row(run, &format!("**{label}**"), names));
    }
    table.note(format!(
        "the Pico W template's src/pki.rs and the crates at its Cargo.lock's versions, built by {} \
         with the firmware's release profile (opt-level z, fat LTO), run on qemu-system-arm -M microbit \
         (nRF51, Cortex-M0: the RP2040's ARMv6-M instruction set) with -icount shift=0; TIMER0 at 16 MHz \
         read around each operation, 62.5 instructions a tick (a loop of {} instructions read {} ticks)",
        toolchain,
        run.calibration.1,
        run.calibration.0
    ));
    table.note(format!(
        "cycles = instructions x {}-{}: every M0+ instruction takes at least 1 cycle; loads, stores and \
         taken branches take 2 (the upper end counts every instruction so; multi-register push/pop and \
         BL take more, so it is an estimate, not a bound); flash wait states are not counted (code runs \
         from the RP2040's 16 KiB XIP cache; its misses are not modelled); RAM raised to 256 KiB for the firmware's 32 KiB heap",
        CPI.0, CPI.1
    ));
    table.note(
        "chains verified with the clock known (dates checked); signatures over a 130-byte TLS 1.3 \
         CertificateVerify content made by openssl with the leaf's key; TLS 1.2 adds the \
         ServerKeyExchange signature (the PKCS#1 row for an RSA leaf) in place of CertificateVerify",
    );
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "calibrate 32000 2000000\nop chain-rsa 160000 ok\n\
        op chain-p384 0 failed BadSignature\ndone\n";

    #[test]
    fn a_run_is_parsed() {
        let run = parse(GOOD).unwrap();
        assert_eq!(run.calibration, (32000, 2_000_000));
        assert_eq!(
            run.ops,
            vec![
                ("chain-rsa".to_string(), Ok(160000)),
                ("chain-p384".to_string(), Err("BadSignature".to_string())),
            ]
        );
        assert_eq!(run.instructions("chain-rsa"), Some(Ok(10_000_000.0)));
        assert_eq!(run.instructions("nothing"), None);
    }

    #[test]
    fn qemu_warnings_pass_through() {
        let text = format!("qemu-system-arm: warning: something\n{GOOD}");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn a_broken_run_is_refused() {
        // Faulted, stopped early, no calibration, garbage.
        let faulted = "calibrate 32000 2000000\nop chain-rsa 1 ok\nfault at 0x9486\n";
        assert!(parse(faulted).unwrap_err().to_string().contains("faulted"));
        let early = "calibrate 32000 2000000\nop chain-rsa 1 ok\n";
        assert!(parse(early).unwrap_err().to_string().contains("stopped"));
        assert!(parse("op chain-rsa 1 ok\ndone\n").is_err());
        assert!(parse("calibrate 32000 2000000\nop chain-rsa x ok\ndone\n").is_err());
        assert!(parse("calibrate 32000 2000000\nhello\ndone\n").is_err());
    }

    #[test]
    fn a_clock_that_is_not_icount_is_refused() {
        // Real time instead of instructions: the loop reads far more or fewer ticks.
        let e = parse("calibrate 64000 2000000\ndone\n").unwrap_err();
        assert!(e.to_string().contains("not one nanosecond"), "{e}");
        assert!(parse("calibrate 32100 2000000\ndone\n").is_ok());
    }

    #[test]
    fn a_failed_operation_is_a_failed_row_not_a_number() {
        let run = parse(GOOD).unwrap();
        assert_eq!(
            row(&run, "rsa", &["chain-rsa"]),
            ["rsa", "10.00", "10.00 - 20.00", "80 - 160"]
        );
        assert_eq!(
            row(&run, "p384", &["chain-p384"]),
            ["p384", "failed: BadSignature"]
        );
        // A sum with a failed or missing part has no number either.
        assert_eq!(
            row(&run, "sum", &["chain-rsa", "chain-p384"]),
            ["sum", "failed: BadSignature"]
        );
        assert_eq!(
            row(&run, "sum", &["chain-rsa", "ecdhe"]),
            ["sum", "failed: ecdhe did not run"]
        );
    }

    #[test]
    fn drifted_versions_are_refused() {
        let firmware = "[[package]]\nname = \"p256\"\nversion = \"0.13.2\"\n\n[[package]]\nname = \"rsa\"\nversion = \"0.9.10\"\n";
        let same = "[[package]]\nname = \"p256\"\nversion = \"0.13.2\"\n\n[[package]]\nname = \"handshake-bench\"\nversion = \"0.1.0\"\n";
        assert!(same_versions(same, firmware).is_ok());
        let drift = "[[package]]\nname = \"p256\"\nversion = \"0.13.1\"\n";
        let e = same_versions(drift, firmware).unwrap_err().to_string();
        assert!(e.contains("p256 0.13.1 (firmware: 0.13.2)"), "{e}");
    }

    #[test]
    fn pem_bundles_split() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_blocks(pem);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BBB"));
    }
}
