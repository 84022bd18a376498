//! The Pico W firmware's certificate verification on the host: `templates/pico-w/src/pki.rs`
//! and `tls.rs` (and build.rs's CA conversion) compiled as they are into a tokio probe, against
//! mosquitto serving the public-CA-shaped chains of `lua_testkit::pki` (RSA-4096 root, PSS
//! intermediate, RSA-2048 leaf; P-384 root over a P-256 leaf; P-256) with TLS 1.3 only and with
//! 1.2 and 1.3 both offered; trusting each chain's own root and a bundle of every root plus an
//! unrelated one. The unrelated root alone, a wrong name, an expired leaf (real dates and a
//! clock moved past the end) are refused. A broker offering TLS 1.2 only is reached by the
//! fallback to `tls12.rs`, which verifies with the same `pki.rs`.
//!
//! Then the verifier alone, on chains openssl makes here for each rule (a non-CA or
//! non-certificate-signing issuer, a path length exceeded, a client-only leaf, wildcard, common
//! name and IP names, PSS with SHA-384, a P-384 leaf), known-answer handshake signatures for
//! every scheme the TLS 1.2 helper will ask for, and hostile DER: every truncation and byte
//! mutation of real chains, random bytes, huge lengths, wrong OIDs. Never a panic.
//!
//! `LUAGEN_SKIP_FIRMWARE_BUILD=1` skips it, loudly.

mod probe;

use std::path::{Path, PathBuf};
use std::process::Command;

use lua_testkit::pki::{Chain, Pki, PkiBroker, Transport, Versions};

const PROBE_MAIN: &str = r#"
#[path = "TEMPLATES/src/pki.rs"]
mod pki;
#[path = "TEMPLATES/src/tls.rs"]
mod tls;
#[path = "TEMPLATES/src/tls12.rs"]
mod tls12;
#[allow(dead_code)]
#[path = "TEMPLATES/build.rs"]
mod build_script;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_io_async_07::{Read, Write};

static NOW: AtomicU64 = AtomicU64::new(0);

struct Clock;

impl embedded_tls::TlsClock for Clock {
    fn now() -> Option<u64> {
        Some(NOW.load(Ordering::Relaxed))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The certificates of a PEM or DER file, as build.rs converts them (concatenated DER).
fn store(path: &str) -> Vec<u8> {
    build_script::ca_der(&std::fs::read(path).unwrap()).unwrap()
}

/// Concatenated DER split into certificates.
fn split(mut der: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (head, len) = match der {
            [0x30, 0x82, hi, lo, ..] => (4, (*hi as usize) << 8 | *lo as usize),
            [0x30, 0x81, n, ..] => (3, *n as usize),
            [0x30, n, ..] => (2, *n as usize),
            _ => panic!("not DER"),
        };
        out.push(der[..head + len].to_vec());
        der = &der[head + len..];
    }
    out
}

fn clock(arg: &str) -> Option<u64> {
    match arg {
        "unknown" => None,
        offset => Some(now().saturating_add_signed(offset.parse().unwrap())),
    }
}

fn key_kind(key: &pki::ServerKey) -> &'static str {
    match key {
        pki::ServerKey::Rsa(_) => "Rsa",
        pki::ServerKey::P256(_) => "P256",
        pki::ServerKey::P384(_) => "P384",
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "connect" => connect(&args[2..], true),
        "handshake" => connect(&args[2..], false),
        "verify" => verify(&args[2..]),
        "sig" => sig(&args[2..]),
        "hostile" => hostile(&args[2..]),
        other => panic!("unknown mode {other}"),
    }
}

/// `verify HOST ANCHORS CHAIN CLOCK`: `ok KEY` or `err: ERROR`.
fn verify(args: &[String]) {
    let anchors = store(&args[1]);
    let chain = split(&store(&args[2]));
    let chain: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
    match pki::verify_chain(&anchors, &chain, &args[0], clock(&args[3])) {
        Ok(key) => println!("ok {}", key_kind(&key)),
        Err(e) => println!("err: {e:?}"),
    }
}

/// `sig ANCHORS CHAIN SCHEME MESSAGE SIGNATURE`: the chain verifies, then its leaf's key checks
/// the signature.
fn sig(args: &[String]) {
    let anchors = store(&args[0]);
    let chain = split(&store(&args[1]));
    let chain: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
    let scheme = u16::from_str_radix(args[2].trim_start_matches("0x"), 16).unwrap();
    let message = std::fs::read(&args[3]).unwrap();
    let signature = std::fs::read(&args[4]).unwrap();
    let key = pki::verify_chain(&anchors, &chain, "localhost", Some(now()))
        .expect("the signer's chain verifies");
    match pki::verify_signature(&key, scheme, &message, &signature) {
        Ok(()) => println!("ok"),
        Err(e) => println!("err: {e:?}"),
    }
    // Any change to the signature or the message fails, and odd lengths fail cleanly.
    for i in 0..signature.len() {
        let mut bad = signature.clone();
        bad[i] ^= 0x01;
        assert!(pki::verify_signature(&key, scheme, &message, &bad).is_err(), "byte {i}");
    }
    let mut other = message.clone();
    other.push(0);
    assert!(pki::verify_signature(&key, scheme, &other, &signature).is_err());
    for len in [0, 1, 63, 64, 71, 103, 255, 256, 257, 384, 511, 512, 513, 4096] {
        for fill in [0x00, 0xff, 0x30] {
            let junk = vec![fill; len];
            assert!(pki::verify_signature(&key, scheme, &message, &junk).is_err());
        }
    }
    for scheme in [0x0201, 0x0203, 0x0603, 0x0807, 0x0809, 0xffff, 0x0000] {
        assert_eq!(
            pki::verify_signature(&key, scheme, &message, &signature),
            Err(pki::PkiError::UnsupportedAlgorithm)
        );
    }
}

/// A tiny deterministic generator for junk.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as u8
    }
}

/// `hostile ANCHORS CHAIN [ANCHORS CHAIN]...`: each chain verifies as it is; no truncation or
/// byte mutation of any of its certificates does, random and oversized DER neither, and none
/// of it (nor a damaged anchor store) panics.
fn hostile(args: &[String]) {
    let at = Some(now());
    let mut checked = 0usize;
    for pair in args.chunks(2) {
        let anchors = store(&pair[0]);
        let chain = split(&store(&pair[1]));
        let refs: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
        pki::verify_chain(&anchors, &refs, "localhost", at).expect("the chain as made verifies");
        for (which, original) in chain.iter().enumerate() {
            for len in 0..original.len() {
                let mut c = refs.clone();
                c[which] = &original[..len];
                assert!(pki::verify_chain(&anchors, &c, "localhost", at).is_err());
                checked += 1;
            }
            for i in 0..original.len() {
                for v in [0x00, 0xff, original[i] ^ 0x01, 0x80, 0x84, 0x7f] {
                    if v == original[i] {
                        continue;
                    }
                    let mut m = original.clone();
                    m[i] = v;
                    let mut c = refs.clone();
                    c[which] = &m;
                    let r = pki::verify_chain(&anchors, &c, "localhost", at);
                    assert!(r.is_err(), "certificate {which} byte {i} set to {v:#04x} verified");
                    checked += 1;
                }
            }
        }
        // A damaged store: no panic, whatever it decides.
        for len in (0..anchors.len()).step_by(3) {
            let _ = pki::verify_chain(&anchors[..len], &refs, "localhost", at);
            let mut m = anchors.clone();
            m[len] ^= 0x80;
            let _ = pki::verify_chain(&m, &refs, "localhost", at);
            checked += 2;
        }
    }
    let anchors = store(&args[0]);
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let len = usize::from(rng.next()) * (1 + round % 5);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.next()).collect();
        if round % 2 == 0 && junk.len() > 4 {
            junk[0] = 0x30;
            junk[1] = 0x80 | (rng.next() % 5);
        }
        assert!(pki::verify_chain(&anchors, &[&junk], "localhost", at).is_err());
        assert!(pki::verify_chain(&junk, &[&junk], "localhost", at).is_err());
        checked += 2;
    }
    for junk in [
        &[][..],
        &[0x30],
        &[0x30, 0x80, 0x00, 0x00],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x83, 0xff, 0xff, 0xff, 0x30],
        &[0x30, 0x89, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x82, 0xff],
        &[0x1f, 0x81, 0x01, 0x00],
        &[0x30, 0x03, 0x30, 0x01],
    ] {
        assert_eq!(
            pki::verify_chain(&anchors, &[junk], "localhost", at).err(),
            Some(pki::PkiError::Malformed)
        );
    }
    assert_eq!(
        pki::verify_chain(&anchors, &[], "localhost", at).err(),
        Some(pki::PkiError::NoCertificate)
    );
    let many = vec![&[0x30u8, 0x00][..]; 17];
    assert_eq!(
        pki::verify_chain(&anchors, &many, "localhost", at).err(),
        Some(pki::PkiError::TooMuch)
    );

    let names = [
        ("localhost", "localhost", true),
        ("LocalHost", "localhost", true),
        ("localhost.", "localhost", true),
        ("*.example.com", "mqtt.example.com", true),
        ("*.example.com", "MQTT.Example.COM", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", "a.b.example.com", false),
        ("*.example.com", ".example.com", false),
        ("*.com", "example.com", false),
        ("m*.example.com", "mqtt.example.com", false),
        ("mqtt.*.com", "mqtt.example.com", false),
        ("*.*.example.com", "a.b.example.com", false),
        ("**.example.com", "a.example.com", false),
        ("*", "localhost", false),
        ("", "", false),
        ("example.com", "*.example.com", false),
        ("example.com", "example.org", false),
    ];
    for (pattern, host, expected) in names {
        assert_eq!(
            pki::dns_match(pattern.as_bytes(), host.as_bytes()),
            expected,
            "{pattern} for {host}"
        );
    }
    println!("hostile: {checked} refused, no panic");
}

/// `connect PORT HOST ANCHORS CLOCK`: exit 0 with the CONNACK and a publish that came back
/// through the broker, 2 when TLS refused. `handshake ...`: the TLS handshake alone.
#[tokio::main(flavor = "current_thread")]
async fn connect(args: &[String], mqtt: bool) {
    let port: u16 = args[0].parse().unwrap();
    let anchors = store(&args[2]);
    NOW.store(clock(&args[3]).unwrap(), Ordering::Relaxed);
    // As connection.rs does: a broker that refuses TLS 1.3 is reached again at once with 1.2.
    for attempt in 0..2 {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (r, w) = stream.into_split();
        let (r, w) = (RefCell::new(FromTokio::new(r)), RefCell::new(FromTokio::new(w)));
        let rng = tls::rng(|bytes| getrandom::getrandom(bytes).unwrap());
        let (mut read, mut write) = (vec![0; tls::READ_BUFFER], vec![0; tls::WRITE_BUFFER]);
        match tls::connect::<_, Clock>(
            tls::Duplex::new(&r, &w),
            &args[1],
            &anchors,
            rng,
            &mut read,
            &mut write,
        )
        .await
        {
            Ok(link) => return session(link, mqtt).await,
            Err(tls::Error::Fallback(e)) if attempt == 0 => println!("fallback to TLS 1.2: {e:?}"),
            Err(e) => {
                println!("refused: {e:?}");
                std::process::exit(2);
            }
        }
    }
    unreachable!("the second attempt returns or exits");
}

async fn session<S>(mut link: tls::Link<'_, S>, mqtt: bool)
where
    S: embedded_io_async_07::Read + embedded_io_async_07::Write + Copy,
{
    if !mqtt {
        println!("handshake: ok");
        return;
    }
    let (mut reader, mut writer) = link.split();
    // MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, client id "probe".
    let connect = [
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 5, b'p', b'r', b'o', b'b', b'e',
    ];
    writer.write_all(&connect).await.unwrap();
    writer.flush().await.unwrap();
    let mut connack = [0u8; 4];
    reader.read_exact(&mut connack).await.unwrap();
    println!("connack: {connack:02x?}");
    // SUBSCRIBE probe/echo (id 1, QoS 0), then PUBLISH to it: the broker sends it back.
    let subscribe = [
        0x82, 15, 0, 1, 0, 10, b'p', b'r', b'o', b'b', b'e', b'/', b'e', b'c', b'h', b'o', 0,
    ];
    writer.write_all(&subscribe).await.unwrap();
    writer.flush().await.unwrap();
    let mut suback = [0u8; 5];
    reader.read_exact(&mut suback).await.unwrap();
    assert_eq!(suback, [0x90, 3, 0, 1, 0], "SUBACK");
    let publish = [
        0x30, 16, 0, 10, b'p', b'r', b'o', b'b', b'e', b'/', b'e', b'c', b'h', b'o', b'h', b'e',
        b'l', b'l',
    ];
    writer.write_all(&publish).await.unwrap();
    writer.flush().await.unwrap();
    let mut echo = [0u8; 18];
    reader.read_exact(&mut echo).await.unwrap();
    assert_eq!(echo, publish, "the publish as it came back");
    println!("echo: ok");
}
"#;

/// Build the probe (host) and return its binary. Optimised, or the mutation sweep takes
/// minutes; the dev profile keeps the overflow checks, so arithmetic that overflows on hostile
/// input panics here.
fn probe() -> PathBuf {
    let deps = probe::tls_dependencies(&["embedded-io-async"]);
    let profile = "\n[profile.dev]\nopt-level = 1\n\n[profile.dev.package.\"*\"]\nopt-level = 2\n";
    probe::Probe::build("pico-w-pki-probe", PROBE_MAIN, &deps, profile).binary
}

/// Run the probe: (exit code, stdout, stderr).
fn run(probe: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(probe).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("the probe crashed: {args:?}\n{stderr}"));
    (code, stdout, stderr)
}

/// Every root of the kit and the unrelated one, in one PEM bundle.
fn bundle(pki: &Pki) -> PathBuf {
    let path = pki.dir().join("bundle.pem");
    let mut pem = Vec::new();
    for chain in Chain::GOOD {
        pem.extend(std::fs::read(pki.root_pem(chain)).unwrap());
    }
    pem.extend(std::fs::read(pki.other_root().0).unwrap());
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn firmware_tls13_reaches_every_public_chain_shape_and_refuses_the_rest() {
    if probe::skip("the Pico W PKI host test") {
        return;
    }
    let probe = probe();
    let pki = Pki::generate().unwrap();
    let bundle = bundle(&pki);
    let bundle = bundle.to_str().unwrap();
    let other = pki.other_root().0;
    for versions in [Versions::Tls13Only, Versions::Both, Versions::Tls12Only] {
        let broker = PkiBroker::start(&pki, versions).unwrap();
        let port = |chain| broker.port(chain, Transport::Tls).to_string();
        for chain in Chain::GOOD {
            let own = pki.root_pem(chain);
            for anchors in [own.to_str().unwrap(), bundle] {
                let what = format!("{chain:?} over {} trusting {anchors}", versions.name());
                let (code, out, err) = run(
                    &probe,
                    &["connect", &port(chain), "localhost", anchors, "0"],
                );
                assert_eq!(code, 0, "{what}: {out}{err}");
                assert!(out.contains("connack: [20, 02, 00, 00]"), "{what}: {out}");
                assert!(out.contains("echo: ok"), "{what}: {out}");
                // Only a broker without TLS 1.3 costs a second handshake, in TLS 1.2.
                assert_eq!(
                    out.contains("fallback to TLS 1.2"),
                    versions == Versions::Tls12Only,
                    "{what}: {out}"
                );
            }
        }
        // Refused alike over TLS 1.3 and, after the fallback, over TLS 1.2.
        let refusals = [
            (Chain::Rsa, other.to_str().unwrap(), "0", "UnknownIssuer"),
            (Chain::P384, other.to_str().unwrap(), "0", "UnknownIssuer"),
            (Chain::P256, other.to_str().unwrap(), "0", "UnknownIssuer"),
            (Chain::WrongName, bundle, "0", "NameMismatch"),
            (Chain::Expired, bundle, "0", "Expired"),
            // The kit's certificates are valid for 30 days from today.
            (Chain::P256, bundle, "3456000", "Expired"),
            (Chain::Rsa, bundle, "3456000", "Expired"),
            (Chain::P384, bundle, "-86400", "NotYetValid"),
        ];
        for (chain, anchors, clock, why) in refusals {
            let what = format!(
                "{chain:?} over {} trusting {anchors}, clock {clock}",
                versions.name()
            );
            let (code, out, err) = run(
                &probe,
                &["connect", &port(chain), "localhost", anchors, clock],
            );
            assert_eq!(code, 2, "{what}: not refused: {out}{err}");
            let refusal = match versions {
                Versions::Tls12Only => "refused: Tls12(Certificate)",
                _ => "refused: Tls13(InvalidCertificate)",
            };
            assert!(out.contains(refusal), "{what}: {out}");
            assert!(err.contains(&format!("pki: {why}")), "{what}: {err}");
        }
        drop(broker);
    }
}

/// `openssl` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate `name.pem` for a new `key` (`ec:CURVE` or `rsa:BITS`), subject `subject`,
/// extensions `ext`, signed by `issuer` (`cert.pem`, `key`) with `sign` options.
fn issue(
    dir: &Path,
    name: &str,
    key: &str,
    subject: &str,
    issuer: (&Path, &Path),
    ext: &str,
    sign: &[&str],
) {
    let keyfile = format!("{name}.key");
    let opt = match key.split_once(':') {
        Some(("rsa", bits)) => ("RSA", format!("rsa_keygen_bits:{bits}")),
        Some(("ec", curve)) => ("EC", format!("ec_paramgen_curve:{curve}")),
        _ => panic!("{key}"),
    };
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            opt.0,
            "-pkeyopt",
            &opt.1,
            "-out",
            &keyfile,
        ],
    );
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req", "-new", "-key", &keyfile, "-subj", subject, "-out", &csr,
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), format!("[v3]\n{ext}\n")).unwrap();
    let mut args = vec![
        "x509".to_string(),
        "-req".into(),
        "-in".into(),
        csr,
        "-CA".into(),
        issuer.0.display().to_string(),
        "-CAkey".into(),
        issuer.1.display().to_string(),
        "-set_serial".into(),
        "7".into(),
        "-days".into(),
        "30".into(),
        "-extfile".into(),
        format!("{name}.ext"),
        "-extensions".into(),
        "v3".into(),
        "-out".into(),
        format!("{name}.pem"),
    ];
    args.extend(sign.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(dir, &args);
}

/// `files` concatenated into `name`.
fn cat(dir: &Path, name: &str, files: &[&Path]) -> PathBuf {
    let mut out = Vec::new();
    for f in files {
        out.extend(std::fs::read(f).unwrap());
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn firmware_verifier_applies_each_rule_and_survives_hostile_der() {
    if probe::skip("the Pico W PKI verifier test") {
        return;
    }
    let probe = probe();
    let pki = Pki::generate().unwrap();
    let d = pki.dir().join("rules");
    std::fs::create_dir_all(&d).unwrap();
    let p = |s: &str| d.join(s);
    let kit = |dir: &str, file: &str| pki.dir().join(dir).join(file);
    let (p256_root, p256_key) = (kit("p256", "root.pem"), kit("p256", "root.key"));
    let (rsa_root, p384_root) = (kit("rsa", "root.pem"), kit("p384", "root.pem"));
    const LEAF: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                        extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost";
    let ca = |extra: &str| {
        format!("basicConstraints=critical,CA:TRUE{extra}\nkeyUsage=critical,keyCertSign")
    };

    // Issuers that may not issue: a leaf, a CA without keyCertSign, a pathlen-0 CA with a CA
    // under it.
    let leaf_as_issuer = (kit("p256", "leaf.pem"), kit("p256", "leaf.key"));
    issue(
        &d,
        "under-leaf",
        "ec:prime256v1",
        "/CN=localhost",
        (&leaf_as_issuer.0, &leaf_as_issuer.1),
        LEAF,
        &[],
    );
    issue(
        &d,
        "no-certsign",
        "ec:prime256v1",
        "/CN=no certsign",
        (&p256_root, &p256_key),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature",
        &[],
    );
    issue(
        &d,
        "under-no-certsign",
        "ec:prime256v1",
        "/CN=localhost",
        (&p("no-certsign.pem"), &p("no-certsign.key")),
        LEAF,
        &[],
    );
    issue(
        &d,
        "pathlen0",
        "ec:prime256v1",
        "/CN=pathlen0",
        (&p256_root, &p256_key),
        &ca(",pathlen:0"),
        &[],
    );
    issue(
        &d,
        "below-pathlen0",
        "ec:prime256v1",
        "/CN=below pathlen0",
        (&p("pathlen0.pem"), &p("pathlen0.key")),
        &ca(""),
        &[],
    );
    issue(
        &d,
        "too-deep",
        "ec:prime256v1",
        "/CN=localhost",
        (&p("below-pathlen0.pem"), &p("below-pathlen0.key")),
        LEAF,
        &[],
    );
    issue(
        &d,
        "pathlen1",
        "ec:prime256v1",
        "/CN=pathlen1",
        (&p256_root, &p256_key),
        &ca(",pathlen:1"),
        &[],
    );
    issue(
        &d,
        "below-pathlen1",
        "ec:prime256v1",
        "/CN=below pathlen1",
        (&p("pathlen1.pem"), &p("pathlen1.key")),
        &ca(""),
        &[],
    );
    issue(
        &d,
        "deep-ok",
        "ec:prime256v1",
        "/CN=localhost",
        (&p("below-pathlen1.pem"), &p("below-pathlen1.key")),
        LEAF,
        &[],
    );
    // Leaves: for clients only, wildcard, common name only, SAN without the name, an IP, a CA.
    let leaf = |name: &str, subject: &str, ext: &str| {
        issue(
            &d,
            name,
            "ec:prime256v1",
            subject,
            (&p256_root, &p256_key),
            ext,
            &[],
        );
    };
    leaf(
        "client-only",
        "/CN=localhost",
        &LEAF.replace("serverAuth", "clientAuth"),
    );
    leaf(
        "any-eku",
        "/CN=localhost",
        &LEAF.replace("serverAuth", "clientAuth,anyExtendedKeyUsage"),
    );
    leaf(
        "no-eku",
        "/CN=localhost",
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost",
    );
    leaf(
        "key-agreement-only",
        "/CN=localhost",
        &LEAF.replace("digitalSignature", "keyAgreement"),
    );
    leaf(
        "wildcard",
        "/CN=x",
        &LEAF.replace("DNS:localhost", "DNS:*.example.test"),
    );
    leaf(
        "cn-only",
        "/CN=localhost",
        "basicConstraints=critical,CA:FALSE",
    );
    leaf(
        "san-not-cn",
        "/CN=localhost",
        &LEAF.replace("DNS:localhost", "DNS:other.test"),
    );
    leaf(
        "ip",
        "/CN=x",
        &LEAF.replace("DNS:localhost", "DNS:localhost,IP:127.0.0.1"),
    );
    leaf(
        "ca-leaf",
        "/CN=localhost",
        "basicConstraints=critical,CA:TRUE\nsubjectAltName=DNS:localhost",
    );
    leaf(
        "critical-unknown",
        "/CN=localhost",
        &format!("{LEAF}\n1.2.3.4=critical,ASN1:NULL"),
    );
    leaf(
        "noncritical-unknown",
        "/CN=localhost",
        &format!("{LEAF}\n1.2.3.4=ASN1:NULL"),
    );
    // PSS with SHA-384 and its own salt; a P-384 leaf; an RSA-1024 leaf; an RSA-4096 leaf.
    let (rsa_int, rsa_int_key) = (
        kit("rsa", "intermediate.pem"),
        kit("rsa", "intermediate.key"),
    );
    issue(
        &d,
        "pss384",
        "rsa:2048",
        "/CN=localhost",
        (&rsa_int, &rsa_int_key),
        LEAF,
        &[
            "-sha384",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:20",
        ],
    );
    issue(
        &d,
        "pss-sha1",
        "rsa:2048",
        "/CN=localhost",
        (&rsa_int, &rsa_int_key),
        LEAF,
        &["-sha1", "-sigopt", "rsa_padding_mode:pss"],
    );
    issue(
        &d,
        "sha1",
        "ec:prime256v1",
        "/CN=localhost",
        (&p256_root, &p256_key),
        LEAF,
        &["-sha1"],
    );
    issue(
        &d,
        "p384-leaf",
        "ec:secp384r1",
        "/CN=localhost",
        (&p384_root, &kit("p384", "root.key")),
        LEAF,
        &["-sha384"],
    );
    issue(
        &d,
        "rsa1024",
        "rsa:1024",
        "/CN=localhost",
        (&rsa_int, &rsa_int_key),
        LEAF,
        &["-sha256"],
    );
    issue(
        &d,
        "rsa4096",
        "rsa:4096",
        "/CN=localhost",
        (&rsa_int, &rsa_int_key),
        LEAF,
        &["-sha512"],
    );
    issue(
        &d,
        "p256-sha384",
        "ec:prime256v1",
        "/CN=localhost",
        (&p256_root, &p256_key),
        LEAF,
        &["-sha384"],
    );

    let rsa_chain = |leaf: &str| {
        cat(
            &d,
            &format!("{leaf}-chain.pem"),
            &[&p(&format!("{leaf}.pem")), &rsa_int],
        )
    };
    let bundle = bundle(&pki);
    let unrelated = pki.other_root().0;
    let out_of_order = cat(
        &d,
        "shuffled.pem",
        &[
            &kit("rsa", "leaf.pem"),
            &unrelated,
            &p("cn-only.pem"),
            &rsa_int,
        ],
    );
    let cases: Vec<(&str, PathBuf, PathBuf, &str, &str)> = vec![
        // (host, anchors, chain, clock, expected)
        (
            "localhost",
            bundle.clone(),
            pki.chain_pem(Chain::Rsa),
            "0",
            "ok Rsa",
        ),
        (
            "localhost",
            bundle.clone(),
            pki.chain_pem(Chain::P384),
            "0",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            pki.chain_pem(Chain::P256),
            "0",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            out_of_order.clone(),
            "0",
            "ok Rsa",
        ),
        (
            "localhost",
            rsa_root.clone(),
            pki.chain_pem(Chain::Rsa),
            "unknown",
            "ok Rsa",
        ),
        (
            "localhost",
            bundle.clone(),
            pki.chain_pem(Chain::Expired),
            "unknown",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            pki.chain_pem(Chain::Expired),
            "0",
            "err: Expired",
        ),
        (
            "localhost",
            p256_root.clone(),
            pki.chain_pem(Chain::Rsa),
            "0",
            "err: UnknownIssuer",
        ),
        // The leaf alone: its intermediate is missing.
        (
            "localhost",
            rsa_root.clone(),
            kit("rsa", "leaf.pem"),
            "0",
            "err: UnknownIssuer",
        ),
        (
            "localhost",
            bundle.clone(),
            cat(
                &d,
                "under-leaf-chain.pem",
                &[&p("under-leaf.pem"), &leaf_as_issuer.0],
            ),
            "0",
            "err: NotCa",
        ),
        (
            "localhost",
            bundle.clone(),
            cat(
                &d,
                "ncs-chain.pem",
                &[&p("under-no-certsign.pem"), &p("no-certsign.pem")],
            ),
            "0",
            "err: NotCa",
        ),
        (
            "localhost",
            bundle.clone(),
            cat(
                &d,
                "deep-chain.pem",
                &[
                    &p("too-deep.pem"),
                    &p("pathlen0.pem"),
                    &p("below-pathlen0.pem"),
                ],
            ),
            "0",
            "err: NotCa",
        ),
        (
            "localhost",
            bundle.clone(),
            cat(
                &d,
                "deep-ok-chain.pem",
                &[
                    &p("deep-ok.pem"),
                    &p("pathlen1.pem"),
                    &p("below-pathlen1.pem"),
                ],
            ),
            "0",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            p("client-only.pem"),
            "0",
            "err: WrongUsage",
        ),
        (
            "localhost",
            bundle.clone(),
            p("any-eku.pem"),
            "0",
            "ok P256",
        ),
        ("localhost", bundle.clone(), p("no-eku.pem"), "0", "ok P256"),
        (
            "localhost",
            bundle.clone(),
            p("key-agreement-only.pem"),
            "0",
            "err: WrongUsage",
        ),
        (
            "mqtt.example.test",
            bundle.clone(),
            p("wildcard.pem"),
            "0",
            "ok P256",
        ),
        (
            "example.test",
            bundle.clone(),
            p("wildcard.pem"),
            "0",
            "err: NameMismatch",
        ),
        (
            "a.mqtt.example.test",
            bundle.clone(),
            p("wildcard.pem"),
            "0",
            "err: NameMismatch",
        ),
        (
            "localhost",
            bundle.clone(),
            p("cn-only.pem"),
            "0",
            "ok P256",
        ),
        (
            "LOCALHOST",
            bundle.clone(),
            p("cn-only.pem"),
            "0",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            p("san-not-cn.pem"),
            "0",
            "err: NameMismatch",
        ),
        (
            "other.test",
            bundle.clone(),
            p("san-not-cn.pem"),
            "0",
            "ok P256",
        ),
        ("127.0.0.1", bundle.clone(), p("ip.pem"), "0", "ok P256"),
        (
            "127.0.0.2",
            bundle.clone(),
            p("ip.pem"),
            "0",
            "err: NameMismatch",
        ),
        (
            "127.0.0.1",
            bundle.clone(),
            p("cn-only.pem"),
            "0",
            "err: NameMismatch",
        ),
        (
            "localhost",
            bundle.clone(),
            p("ca-leaf.pem"),
            "0",
            "err: WrongUsage",
        ),
        // A CA certificate the user trusts as it is (a self-signed broker) serves.
        (
            "localhost",
            cat(&d, "ca-leaf-anchor.pem", &[&p("ca-leaf.pem"), &bundle]),
            p("ca-leaf.pem"),
            "0",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            p("critical-unknown.pem"),
            "0",
            "err: UnknownCriticalExtension",
        ),
        (
            "localhost",
            bundle.clone(),
            p("noncritical-unknown.pem"),
            "0",
            "ok P256",
        ),
        (
            "localhost",
            bundle.clone(),
            rsa_chain("pss384"),
            "0",
            "ok Rsa",
        ),
        (
            "localhost",
            bundle.clone(),
            rsa_chain("pss-sha1"),
            "0",
            "err: UnsupportedAlgorithm",
        ),
        (
            "localhost",
            bundle.clone(),
            p("sha1.pem"),
            "0",
            "err: UnsupportedAlgorithm",
        ),
        (
            "localhost",
            bundle.clone(),
            p("p384-leaf.pem"),
            "0",
            "ok P384",
        ),
        (
            "localhost",
            bundle.clone(),
            rsa_chain("rsa1024"),
            "0",
            "err: BadKeySize",
        ),
        (
            "localhost",
            bundle.clone(),
            rsa_chain("rsa4096"),
            "0",
            "ok Rsa",
        ),
        (
            "localhost",
            bundle.clone(),
            p("p256-sha384.pem"),
            "0",
            "ok P256",
        ),
        // A DER root works as well as PEM.
        (
            "localhost",
            pki.root_der(Chain::P384),
            pki.chain_pem(Chain::P384),
            "0",
            "ok P256",
        ),
    ];
    for (host, anchors, chain, clock, expected) in &cases {
        let (code, out, err) = run(
            &probe,
            &[
                "verify",
                host,
                anchors.to_str().unwrap(),
                chain.to_str().unwrap(),
                clock,
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out.trim(),
            *expected,
            "{host} {} {}",
            chain.display(),
            anchors.display()
        );
    }

    // Known-answer handshake signatures, in every scheme verify_signature takes.
    let message = p("message.bin");
    std::fs::write(&message, b"the server's handshake transcript, signed").unwrap();
    let signers = [
        ("p256", "0x0403", vec!["-sha256"]),
        ("p256", "0x0503", vec!["-sha384"]),
        ("p384-leaf", "0x0503", vec!["-sha384"]),
        ("p384-leaf", "0x0403", vec!["-sha256"]),
        ("rsa4096", "0x0401", vec!["-sha256"]),
        ("rsa4096", "0x0501", vec!["-sha384"]),
        ("rsa4096", "0x0601", vec!["-sha512"]),
        (
            "pss384",
            "0x0804",
            vec![
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
        ),
        (
            "pss384",
            "0x0805",
            vec![
                "-sha384",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
        ),
        (
            "pss384",
            "0x0806",
            vec![
                "-sha512",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
        ),
    ];
    for (signer, scheme, opts) in signers {
        let (chain, key) = match signer {
            "p256" => (kit("p256", "leaf.pem"), kit("p256", "leaf.key")),
            "p384-leaf" => (p("p384-leaf.pem"), p("p384-leaf.key")),
            _ => (rsa_chain(signer), p(&format!("{signer}.key"))),
        };
        let signature = p(&format!("{signer}-{scheme}.sig"));
        let mut args = vec!["dgst"];
        args.extend(opts.iter().copied());
        let (key_s, sig_s, msg_s) = (
            key.to_str().unwrap(),
            signature.to_str().unwrap(),
            message.to_str().unwrap(),
        );
        args.extend(["-sign", key_s, "-out", sig_s, msg_s]);
        openssl(&d, &args);
        let (code, out, err) = run(
            &probe,
            &[
                "sig",
                bundle.to_str().unwrap(),
                chain.to_str().unwrap(),
                scheme,
                msg_s,
                sig_s,
            ],
        );
        assert_eq!(code, 0, "{signer} {scheme}: {out}{err}");
        assert_eq!(out.trim(), "ok", "{signer} {scheme}: {err}");
    }
    // A PSS signature is not a PKCS#1 one, nor the other way round.
    let pss = p("pss384-0x0804.sig");
    let pair = rsa_chain("pss384");
    let (b, pair, message, pss) = (
        bundle.to_str().unwrap(),
        pair.to_str().unwrap(),
        message.to_str().unwrap(),
        pss.to_str().unwrap(),
    );
    let (_, out, _) = run(&probe, &["sig", b, pair, "0x0401", message, pss]);
    assert_eq!(out.trim(), "err: BadSignature");
    // An ECDSA scheme with an RSA key.
    let (_, out, _) = run(&probe, &["sig", b, pair, "0x0403", message, pss]);
    assert_eq!(out.trim(), "err: UnsupportedAlgorithm");

    // The server's CertificateVerify in each TLS 1.3 scheme, through embedded-tls, from
    // openssl s_server (mosquitto's leaves are RSA-2048 and P-256 only).
    let servers = [
        ("p384-leaf", None, "ecdsa_secp384r1_sha384"),
        ("p256-sha384", None, "ecdsa_secp256r1_sha256"),
        ("rsa4096", Some(&rsa_int), "rsa_pss_rsae_sha256"),
        ("rsa4096", Some(&rsa_int), "rsa_pss_rsae_sha384"),
        ("rsa4096", Some(&rsa_int), "rsa_pss_rsae_sha512"),
    ];
    for (leaf, intermediate, sigalg) in servers {
        let port = lua_testkit::ports::free_port().to_string();
        let (cert, key) = (p(&format!("{leaf}.pem")), p(&format!("{leaf}.key")));
        let mut server = Command::new("openssl");
        server.args([
            "s_server", "-quiet", "-tls1_3", "-accept", &port, "-sigalgs", sigalg,
        ]);
        server.arg("-cert").arg(&cert).arg("-key").arg(&key);
        if let Some(intermediate) = intermediate {
            server.arg("-cert_chain").arg(intermediate);
        }
        let mut server = server
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s_server did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let args = [
            "handshake",
            &port,
            "localhost",
            bundle.to_str().unwrap(),
            "0",
        ];
        let (code, out, err) = run(&probe, &args);
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(code, 0, "{leaf} {sigalg}: {out}{err}");
        assert!(out.contains("handshake: ok"), "{leaf} {sigalg}: {out}{err}");
    }

    // Hostile DER over a chain of each shape.
    let (code, out, err) = run(
        &probe,
        &[
            "hostile",
            bundle.to_str().unwrap(),
            pki.chain_pem(Chain::Rsa).to_str().unwrap(),
            pki.root_pem(Chain::P384).to_str().unwrap(),
            pki.chain_pem(Chain::P384).to_str().unwrap(),
            bundle.to_str().unwrap(),
            p("p384-leaf.pem").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no panic"), "{out}");
    eprintln!("{}", out.trim());
}
