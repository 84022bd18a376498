//! The Pico W firmware's TLS on the host: `templates/pico-w/src/tls.rs` (the handshake, the
//! certificate verifier's set-up, the split socket adapter) and build.rs's CA conversion,
//! compiled as they are into a small tokio program, against a real mosquitto TLS listener
//! with certificates made by openssl (`lua_testkit::tls`). The right CA connects and gets a CONNACK through the
//! split connection, as the firmware's session does; a wrong CA, a wrong host name and a clock
//! past the certificate's expiry are each refused.
//!
//! The probe's dependency lines are taken from the generated Cargo.toml, so the host runs the
//! versions the chip does (without defmt). `LUAGEN_SKIP_FIRMWARE_BUILD=1` skips it, loudly.

mod probe;

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// `probe PORT HOST CA_FILE CLOCK_OFFSET_S`: exit 0 with the CONNACK, 2 when TLS refused.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args[1].parse().unwrap();
    let ca = build_script::ca_der(&std::fs::read(&args[3]).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    NOW.store(now.saturating_add_signed(args[4].parse().unwrap()), Ordering::Relaxed);

    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (r, w) = stream.into_split();
    let (r, w) = (RefCell::new(FromTokio::new(r)), RefCell::new(FromTokio::new(w)));
    let rng = tls::rng(|bytes| getrandom::getrandom(bytes).unwrap());
    let (mut read, mut write) = (vec![0; tls::READ_BUFFER], vec![0; tls::WRITE_BUFFER]);
    let mut link = match tls::connect::<_, Clock>(
        tls::Duplex::new(&r, &w),
        &args[2],
        &ca,
        rng,
        &mut read,
        &mut write,
    )
    .await
    {
        Ok(link) => link,
        Err(tls::Error::Tls13(e)) => {
            println!("refused: {e:?}");
            std::process::exit(2);
        }
        Err(e) => {
            println!("refused: {e}");
            std::process::exit(2);
        }
    };
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
}
"#;

/// Build the probe (host) and return its binary.
fn probe() -> PathBuf {
    let deps = probe::tls_dependencies(&["embedded-io-async"]);
    probe::Probe::build("pico-w-tls-probe", PROBE_MAIN, &deps, "").binary
}

/// Run the probe; (exit code, stdout).
fn run(probe: &Path, port: u16, host: &str, ca: &Path, clock_offset_s: i64) -> (i32, String) {
    let output = Command::new(probe)
        .args([
            port.to_string(),
            host.to_string(),
            ca.display().to_string(),
            clock_offset_s.to_string(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.code().is_some(),
        "the probe crashed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap(), stdout)
}

#[test]
fn firmware_tls_connects_only_to_the_verified_broker() {
    if probe::skip("the Pico W TLS host test") {
        return;
    }
    // ca, other-ca, and the broker's certificate for localhost signed by ca.
    let certs = lua_testkit::tls::Certificates::generate().unwrap();
    let (broker, port) = lua_testkit::tls::broker(&certs).unwrap();
    let probe = probe();

    // The CA that signed the broker, as PEM and as DER: TLS up, and MQTT through it.
    for ca in ["ca.pem", "ca.der"] {
        let (code, out) = run(&probe, port, "localhost", &certs.path(ca), 0);
        assert_eq!(code, 0, "{ca}: {out}");
        assert!(out.contains("connack: [20, 02, 00, 00]"), "{ca}: {out}");
    }
    // Each of these changes one thing from the good case, and each is refused in the handshake.
    let refusals = [
        (
            "a CA that did not sign the broker",
            "localhost",
            "other-ca.pem",
            0,
        ),
        (
            "a host the certificate does not name",
            "127.0.0.1",
            "ca.pem",
            0,
        ),
        (
            "a clock past the certificate's expiry",
            "localhost",
            "ca.pem",
            10 * 86_400,
        ),
        (
            "a clock before the certificate's start",
            "localhost",
            "ca.pem",
            -86_400,
        ),
    ];
    for (what, host, ca, offset) in refusals {
        let (code, out) = run(&probe, port, host, &certs.path(ca), offset);
        assert_eq!(code, 2, "{what}: not refused: {out}");
        assert!(out.contains("refused: InvalidCertificate"), "{what}: {out}");
    }
    drop(broker);
}
