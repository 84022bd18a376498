//! The Pico W firmware's TLS 1.2 on the host: `templates/pico-w/src/tls12.rs`, `tls.rs` (which
//! tries TLS 1.3 and falls back to 1.2) and `pki.rs`, compiled as they are into a small tokio
//! program, against mosquitto (OpenSSL) with the test kit's chains (`lua_testkit::pki`).
//!
//! - tls12.rs's own unit tests (PRF vectors, hostile server bytes, records) run with
//!   `cargo test` on the same probe crate;
//! - forced TLS 1.2: CONNECT/CONNACK and a publish echoed back through mosquitto, for every
//!   chain the verifier handles and with each cipher suite pinned in turn by the listener's
//!   `ciphers`; a client-certificate request, a 1.3-only broker, a wrong CA and a wrong name
//!   are each refused;
//! - the version choice: against 1.2-only mosquitto the first handshake (1.3) is refused, the
//!   probe reconnects with 1.2, and its second connection goes to 1.2 at once; against a
//!   broker with both versions 1.3 is used.
//!
//! `LUAGEN_SKIP_FIRMWARE_BUILD=1` skips it, loudly.

mod probe;

use std::path::{Path, PathBuf};
use std::process::Command;

use lua_testkit::mosquitto::{Mosquitto, Options};
use lua_testkit::pki::{Chain, Pki, PkiBroker, Transport, Versions};

const PROBE_MAIN: &str = r#"
#[path = "TEMPLATES/src/tls.rs"]
mod tls;
#[path = "TEMPLATES/src/tls12.rs"]
mod tls12;
#[path = "TEMPLATES/src/pki.rs"]
mod pki;

use std::cell::RefCell;

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_io_async_07::{Read, Write};

struct Clock;

impl embedded_tls::TlsClock for Clock {
    fn now() -> Option<u64> {
        Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
    }
}

type Half<T> = RefCell<FromTokio<T>>;
type Socket<'s> = tls::Duplex<'s, FromTokio<tokio::net::tcp::OwnedReadHalf>, FromTokio<tokio::net::tcp::OwnedWriteHalf>>;

async fn tcp(port: u16) -> (Half<tokio::net::tcp::OwnedReadHalf>, Half<tokio::net::tcp::OwnedWriteHalf>) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (r, w) = stream.into_split();
    (RefCell::new(FromTokio::new(r)), RefCell::new(FromTokio::new(w)))
}

fn rng() -> rand_chacha::ChaCha20Rng {
    tls::rng(|bytes| getrandom::getrandom(bytes).unwrap())
}

fn refused(e: impl std::fmt::Display) -> ! {
    println!("refused: {e}");
    std::process::exit(2);
}

/// MQTT through the link as connection.rs drives it: CONNECT/CONNACK, then a publish of
/// `payload` bytes to a topic the probe subscribed to, which mosquitto sends back.
async fn mqtt(link: &mut tls::Link<'_, Socket<'_>>, payload: usize) {
    let (mut reader, mut writer) = link.split();
    let connect = [
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 5, b'p', b'r', b'o', b'b', b'e',
    ];
    writer.write_all(&connect).await.unwrap();
    writer.flush().await.unwrap();
    let mut connack = [0u8; 4];
    reader.read_exact(&mut connack).await.unwrap();
    println!("connack: {connack:02x?}");
    let topic = b"probe/echo";
    let mut subscribe = vec![0x82, 2 + 2 + topic.len() as u8 + 1, 0, 1, 0, topic.len() as u8];
    subscribe.extend_from_slice(topic);
    subscribe.push(0);
    writer.write_all(&subscribe).await.unwrap();
    writer.flush().await.unwrap();
    let mut suback = [0u8; 5];
    reader.read_exact(&mut suback).await.unwrap();
    assert_eq!(suback, [0x90, 3, 0, 1, 0]);
    let body: Vec<u8> = (0..payload).map(|i| (i * 7 + 3) as u8).collect();
    let mut publish = vec![0x30];
    let mut remaining = 2 + topic.len() + body.len();
    loop {
        let byte = (remaining % 128) as u8;
        remaining /= 128;
        publish.push(if remaining > 0 { byte | 0x80 } else { byte });
        if remaining == 0 {
            break;
        }
    }
    publish.extend_from_slice(&[0, topic.len() as u8]);
    publish.extend_from_slice(topic);
    publish.extend_from_slice(&body);
    writer.write_all(&publish).await.unwrap();
    writer.flush().await.unwrap();
    let mut echo = vec![0u8; publish.len()];
    reader.read_exact(&mut echo).await.unwrap();
    assert_eq!(echo, publish, "the echoed PUBLISH differs");
    println!("echo: {payload} bytes");
}

/// `probe MODE PORTS CA_DER PAYLOAD`: MODE `12` runs TLS 1.2 alone on the one port (exit 2
/// when refused), `auto` the firmware's choice for one connection per comma-separated port, in
/// one process, so that what one connection learnt carries over to the next; `fake12` the
/// firmware's first handshake against a scripted TLS 1.2 server.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ports: Vec<u16> = args[2].split(',').map(|p| p.parse().unwrap()).collect();
    let ca = std::fs::read(&args[3]).unwrap();
    let payload: usize = args[4].parse().unwrap();
    let host = "localhost";
    let (mut read, mut write) = (vec![0; tls::READ_BUFFER], vec![0; tls::WRITE_BUFFER]);
    if args[1] == "fake12" {
        // A TLS 1.2 server that does not read supported_versions: a 1.2 ServerHello.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut header = [0u8; 5];
            stream.read_exact(&mut header).await.unwrap();
            let mut hello = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            stream.read_exact(&mut hello).await.unwrap();
            let mut body = vec![3, 3];
            body.extend_from_slice(&[0x17; 32]);
            body.extend_from_slice(&[0, 0xc0, 0x2b, 0]);
            let mut record = vec![22, 3, 3, 0, body.len() as u8 + 4, 2, 0, 0, body.len() as u8];
            record.extend_from_slice(&body);
            stream.write_all(&record).await.unwrap();
            let _ = stream.read(&mut header).await;
        });
        let (r, w) = tcp(port).await;
        match tls::connect::<_, Clock>(tls::Duplex::new(&r, &w), host, &ca, rng(), &mut read, &mut write).await {
            Err(tls::Error::Fallback(e)) => println!("fallback: {e:?}"),
            Err(e) => refused(e),
            Ok(_) => println!("connected?"),
        }
        return;
    }
    if args[1] == "12" {
        let (r, w) = tcp(ports[0]).await;
        let now = <Clock as embedded_tls::TlsClock>::now();
        let link = tls12::connect(tls::Duplex::new(&r, &w), host, &ca, now, rng(), &mut read, &mut write)
            .await
            .unwrap_or_else(|e| refused(e));
        println!("suite: {:04x}", link.suite());
        mqtt(&mut tls::Link::Tls12(link), payload).await;
        return;
    }
    for (i, port) in ports.iter().enumerate() {
        let connection = i + 1;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (r, w) = tcp(*port).await;
            match tls::connect::<_, Clock>(tls::Duplex::new(&r, &w), host, &ca, rng(), &mut read, &mut write).await {
                Ok(mut link) => {
                    let version = if matches!(link, tls::Link::Tls12(_)) { "1.2" } else { "1.3" };
                    println!("connection {connection}: TLS {version} after {attempts} attempt(s)");
                    mqtt(&mut link, payload).await;
                }
                Err(tls::Error::Fallback(e)) if attempts == 1 => {
                    println!("fallback: {e:?}");
                    continue;
                }
                Err(e) => println!("connection {connection}: refused: {e}"),
            }
            break;
        }
    }
}
"#;

/// Build the probe (host) and return its directory and binary.
fn probe() -> (PathBuf, PathBuf) {
    let deps = probe::tls_dependencies(&["embedded-io-async"]);
    let probe = probe::Probe::build("pico-w-tls12-probe", PROBE_MAIN, &deps, "");
    (probe.dir, probe.binary)
}

/// Run the probe; (exit code, stdout).
fn run(probe: &Path, mode: &str, ports: &str, ca: &Path, payload: usize) -> (i32, String) {
    let output = Command::new(probe)
        .args([
            mode.to_string(),
            ports.to_string(),
            ca.display().to_string(),
            payload.to_string(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("the probe crashed: {stderr}"));
    (code, format!("{stdout}{stderr}"))
}

/// The chains the firmware must reach over TLS 1.2, each under its own root.
fn chains() -> Vec<Chain> {
    Chain::GOOD.to_vec()
}

/// A mosquitto with one mqtts listener per entry: (chain, `ciphers` for TLS 1.2, extra lines).
fn pinned_broker(pki: &Pki, listeners: &[(Chain, &str, &[&str])]) -> (Mosquitto, Vec<u16>) {
    let mut extra_config = vec!["user root".to_string()];
    let mut ports = Vec::new();
    for (chain, ciphers, extra) in listeners {
        let port = lua_testkit::ports::free_port();
        ports.push(port);
        extra_config.push(format!("listener {port} 127.0.0.1"));
        extra_config.push(format!("certfile {}", pki.chain_pem(*chain).display()));
        extra_config.push(format!("keyfile {}", pki.key_pem(*chain).display()));
        if !ciphers.is_empty() {
            extra_config.push(format!("ciphers {ciphers}"));
        }
        extra_config.extend(extra.iter().map(|l| l.to_string()));
    }
    // TLS 1.2 only, as PkiBroker pins it: a broker with 1.3 would mark its random.
    let conf = pki.dir().join("openssl-pinned-suites.cnf");
    std::fs::write(
        &conf,
        "openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\n\
         MinProtocol = TLSv1.2\nMaxProtocol = TLSv1.2\n",
    )
    .unwrap();
    let broker = Mosquitto::start_with(Options {
        extra_config,
        env: vec![("OPENSSL_CONF".into(), conf.display().to_string())],
        ..Default::default()
    })
    .unwrap();
    for port in &ports {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "listener {port} never opened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    (broker, ports)
}

#[test]
fn firmware_tls12_and_the_version_fallback() {
    if probe::skip("the Pico W TLS 1.2 host test") {
        return;
    }
    let (dir, probe) = probe();

    // tls12.rs's unit tests, compiled exactly as the probe compiles the file.
    let tests = probe::cargo(&dir, &["test", "--quiet"]);
    let report = String::from_utf8_lossy(&tests.stdout);
    assert!(
        tests.status.success(),
        "tls12.rs unit tests failed\n{report}\n{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    assert!(report.contains("test result: ok"), "{report}");

    let pki = Pki::generate().unwrap();
    // Over 16 KiB: several records each way (the write buffer holds 4 KiB).
    let payload = 20_000;
    let only12 = PkiBroker::start(&pki, Versions::Tls12Only).unwrap();
    let both = PkiBroker::start(&pki, Versions::Both).unwrap();

    for chain in chains() {
        let what = chain.name();
        let root = pki.root_der(chain);
        // TLS 1.2 alone, against a 1.2-only broker: up, and MQTT through it.
        let port = only12.port(chain, Transport::Tls);
        let (code, out) = run(&probe, "12", &port.to_string(), &root, payload);
        assert_eq!(code, 0, "{what}, TLS 1.2: {out}");
        assert!(out.contains("connack: [20, 02, 00, 00]"), "{what}: {out}");
        assert!(
            out.contains(&format!("echo: {payload} bytes")),
            "{what}: {out}"
        );
        // The firmware's choice: 1.3 refused, 1.2 at once; the next connection starts at 1.2.
        let (code, out) = run(&probe, "auto", &format!("{port},{port}"), &root, payload);
        assert_eq!(code, 0, "{what}, auto: {out}");
        assert!(out.contains("fallback: HandshakeAborted"), "{what}: {out}");
        assert!(
            out.contains("connection 1: TLS 1.2 after 2 attempt(s)"),
            "{what}: {out}"
        );
        assert!(
            out.contains("connection 2: TLS 1.2 after 1 attempt(s)"),
            "{what}: {out}"
        );
        assert_eq!(out.matches(&format!("echo: {payload} bytes")).count(), 2);

        // A broker with both versions: TLS 1.2 sees the downgrade sentinel, the firmware 1.3.
        let port = both.port(chain, Transport::Tls);
        let (code, out) = run(&probe, "12", &port.to_string(), &root, payload);
        assert_eq!(code, 2, "{what}, TLS 1.2 to a 1.3 server: {out}");
        assert!(out.contains("refused: downgrade sentinel"), "{what}: {out}");
        let (code, out) = run(&probe, "auto", &format!("{port},{port}"), &root, payload);
        assert_eq!(code, 0, "{what}, auto: {out}");
        assert!(!out.contains("fallback"), "{what}: {out}");
        assert!(
            out.contains("connection 1: TLS 1.3 after 1"),
            "{what}: {out}"
        );
        assert!(
            out.contains("connection 2: TLS 1.3 after 1"),
            "{what}: {out}"
        );
        assert_eq!(out.matches(&format!("echo: {payload} bytes")).count(), 2);
    }

    // Remembered 1.2, then a broker that speaks 1.3 (upgraded, or the first refusal was
    // forged): the sentinel ends that attempt and the next one is 1.3 again.
    let ports = format!(
        "{},{},{}",
        only12.port(Chain::P256, Transport::Tls),
        both.port(Chain::P256, Transport::Tls),
        both.port(Chain::P256, Transport::Tls)
    );
    let (code, out) = run(&probe, "auto", &ports, &pki.root_der(Chain::P256), 10);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("connection 1: TLS 1.2 after 2"), "{out}");
    assert!(
        out.contains("connection 2: refused: TLS 1.2: downgrade sentinel"),
        "{out}"
    );
    assert!(out.contains("connection 3: TLS 1.3 after 1"), "{out}");

    // A 1.2 server that answers embedded-tls's ClientHello with a 1.2 ServerHello (OpenSSL
    // sends protocol_version instead): embedded-tls names the suite unknown, which falls back.
    let (code, out) = run(&probe, "fake12", "0", &pki.root_der(Chain::P256), 0);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("fallback: InvalidCipherSuite"), "{out}");

    // Refused in the TLS 1.2 handshake: a CA that did not sign the broker, a name not certified.
    let port = only12.port(Chain::P256, Transport::Tls).to_string();
    let (code, out) = run(&probe, "12", &port, &pki.other_root().1, 10);
    assert_eq!(code, 2, "other CA: {out}");
    assert!(
        out.contains("refused: certificate chain not verified"),
        "{out}"
    );
    let port = only12.port(Chain::WrongName, Transport::Tls).to_string();
    let (code, out) = run(&probe, "12", &port, &pki.root_der(Chain::WrongName), 10);
    assert_eq!(code, 2, "wrong name: {out}");
    assert!(
        out.contains("refused: certificate chain not verified"),
        "{out}"
    );
    drop((only12, both));

    // A 1.3-only broker refuses TLS 1.2 with protocol_version, and the firmware uses 1.3.
    let only13 = PkiBroker::start(&pki, Versions::Tls13Only).unwrap();
    let port = only13.port(Chain::P256, Transport::Tls);
    let (code, out) = run(
        &probe,
        "12",
        &port.to_string(),
        &pki.root_der(Chain::P256),
        10,
    );
    assert_eq!(code, 2, "1.3-only: {out}");
    assert!(out.contains("refused: alert 70 from the server"), "{out}");
    let (code, out) = run(
        &probe,
        "auto",
        &port.to_string(),
        &pki.root_der(Chain::P256),
        10,
    );
    assert!(out.contains("connection 1: TLS 1.3 after 1"), "{out}");
    assert_eq!(code, 0, "{out}");
    drop(only13);

    // Each suite pinned in turn on a 1.2-only broker; and one that wants a client certificate.
    let mut listeners: Vec<(Chain, &str, &[&str])> = Vec::new();
    let mut expected = Vec::new();
    for chain in chains() {
        let suites: &[(&str, u16)] = if chain == Chain::Rsa {
            &[
                ("ECDHE-RSA-AES128-GCM-SHA256", 0xc02f),
                ("ECDHE-RSA-AES256-GCM-SHA384", 0xc030),
            ]
        } else {
            &[
                ("ECDHE-ECDSA-AES128-GCM-SHA256", 0xc02b),
                ("ECDHE-ECDSA-AES256-GCM-SHA384", 0xc02c),
            ]
        };
        for (name, code) in suites {
            listeners.push((chain, name, &[]));
            expected.push((chain, *code));
        }
    }
    let cafile = format!("cafile {}", pki.root_pem(Chain::P256).display());
    let client_auth = ["require_certificate true", cafile.as_str()];
    listeners.push((Chain::P256, "", &client_auth));
    let (broker, ports) = pinned_broker(&pki, &listeners);
    for ((chain, suite), port) in expected.iter().zip(&ports) {
        let (code, out) = run(
            &probe,
            "12",
            &port.to_string(),
            &pki.root_der(*chain),
            payload,
        );
        assert_eq!(code, 0, "{} {suite:04x}: {out}", chain.name());
        assert!(out.contains(&format!("suite: {suite:04x}")), "{out}");
        assert!(out.contains(&format!("echo: {payload} bytes")), "{out}");
    }
    let port = ports.last().unwrap().to_string();
    let (code, out) = run(&probe, "12", &port, &pki.root_der(Chain::P256), 10);
    assert_eq!(code, 2, "client certificate: {out}");
    assert!(
        out.contains("refused: server asked for a client certificate"),
        "{out}"
    );
    drop(broker);
}
