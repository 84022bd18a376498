//! The Pico W firmware's CDN upload on the host: `templates/pico-w/src/cdn/http.rs` (the
//! multipart request with its exact Content-Length, the bounded answer, the errors), with
//! `ws.rs`'s link traits, `tls.rs` and build.rs's URL and CA parsing, compiled as they are
//! into a small tokio program, against the dev gateway's CDN (`luagen dev --cdn-listen`).
//!
//! - `http://`: a 300 KB buffer up and back (the CDN's `GET /{fileId}`) byte for byte; a wrong
//!   key refused as `Unauthorized` in the CDN's words; an upload cut mid-body by a proxy
//!   reported as an error, not a hang.
//! - `https://` over the firmware's TLS with a test CA (`lua_testkit::tls`): the upload goes
//!   through; with a CA that did not sign the CDN's certificate it is refused (`Tls`).
//!
//! `LUAGEN_SKIP_FIRMWARE_BUILD=1` skips it, loudly.

mod probe;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lua_testkit::ports::free_port;
use lua_testkit::tls::Certificates;

const KEY: &str = "pico-cdn-key-5d0e94b7";

const PROBE_MAIN: &str = r#"
extern crate alloc;

#[path = "TEMPLATES/src/ws.rs"]
#[allow(dead_code)]
mod ws;
#[path = "TEMPLATES/src/cdn/http.rs"]
mod http;
#[path = "TEMPLATES/src/tls.rs"]
#[allow(dead_code)]
mod tls;
#[path = "TEMPLATES/src/tls12.rs"]
#[allow(dead_code)]
mod tls12;
#[allow(dead_code)]
#[path = "TEMPLATES/src/pki.rs"]
mod pki;
#[allow(dead_code)]
#[path = "TEMPLATES/build.rs"]
mod build_script;

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use embedded_io_adapters::tokio_1::FromTokio;
use http::CdnError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws::{Rx, Tx};

struct TcpRx(tokio::net::tcp::OwnedReadHalf);
struct TcpTx(tokio::net::tcp::OwnedWriteHalf);

impl Rx for TcpRx {
    type Error = CdnError;
    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, CdnError> {
        self.0.read(buf).await.map_err(|_| CdnError::Io)
    }
}

impl Tx for TcpTx {
    type Error = CdnError;
    async fn write(&mut self, data: &[u8]) -> Result<(), CdnError> {
        self.0.write_all(data).await.map_err(|_| CdnError::Io)
    }
    async fn flush(&mut self) -> Result<(), CdnError> {
        Ok(())
    }
}

// As the firmware's cdn.rs has them.
struct Tls<T>(T);

impl<'a, S: embedded_io_async_07::Read + 'a> Rx for Tls<tls::LinkReader<'a, S>> {
    type Error = CdnError;
    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, CdnError> {
        embedded_io_async_07::Read::read(&mut self.0, buf).await.map_err(|_| CdnError::Tls)
    }
}

impl<'a, S: embedded_io_async_07::Write + 'a> Tx for Tls<tls::LinkWriter<'a, S>> {
    type Error = CdnError;
    async fn write(&mut self, data: &[u8]) -> Result<(), CdnError> {
        embedded_io_async_07::Write::write_all(&mut self.0, data).await.map_err(|_| CdnError::Tls)
    }
    async fn flush(&mut self) -> Result<(), CdnError> {
        embedded_io_async_07::Write::flush(&mut self.0).await.map_err(|_| CdnError::Tls)
    }
}

struct Clock;

impl embedded_tls::TlsClock for Clock {
    fn now() -> Option<u64> {
        Some(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs())
    }
}

async fn upload(cdn: &build_script::Cdn, key: &str, file: &[u8], ca: Option<&str>) -> Result<http::Upload, CdnError> {
    let mut random = [0u8; 12];
    let boundary = loop {
        getrandom::getrandom(&mut random).unwrap();
        if let Some(b) = http::boundary(random, file) {
            break b;
        }
    };
    let request = http::Request {
        host: &cdn.host,
        port: cdn.port,
        tls: cdn.tls,
        path: &cdn.upload_path,
        api_key: key,
        filename: "reading \"1\".bin",
        content_type: "application/octet-stream",
        boundary: &boundary,
    };
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", cdn.port)).await.map_err(|_| CdnError::Io)?;
    let (r, w) = stream.into_split();
    if !cdn.tls {
        return http::exchange(&mut TcpRx(r), &mut TcpTx(w), &request, file).await;
    }
    let ca = build_script::ca_der(&std::fs::read(ca.unwrap()).unwrap()).unwrap();
    let (r, w) = (RefCell::new(FromTokio::new(r)), RefCell::new(FromTokio::new(w)));
    let rng = tls::rng(|bytes| getrandom::getrandom(bytes).unwrap());
    let (mut read, mut write) = (vec![0; tls::READ_BUFFER], vec![0; tls::WRITE_BUFFER]);
    let mut link = tls::connect::<_, Clock>(
        tls::Duplex::new(&r, &w), &cdn.host, &ca, rng, &mut read, &mut write,
    )
    .await
    .map_err(|_| CdnError::Tls)?;
    let (reader, writer) = link.split();
    http::exchange(&mut Tls(reader), &mut Tls(writer), &request, file).await
}

/// `probe CDN_URL KEY FILE [CA_FILE]`: `ok ID MEDIA_TYPE EXTENSION`, or `error ...`; `hang`
/// when nothing came of it in 60 s.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cdn = build_script::cdn(&args[1]);
    let file = std::fs::read(&args[3]).unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        upload(&cdn, &args[2], &file, args.get(4).map(String::as_str)),
    )
    .await;
    match outcome {
        Ok(Ok(u)) => println!("ok {} {} {}", u.file_id, u.media_type, u.extension),
        Ok(Err(e)) => println!("error {e:?}"),
        Err(_) => println!("hang"),
    }
}
"#;

/// The probe, built once per test process: the tests run in parallel and would otherwise
/// write the same project and build the same crate at once.
fn probe() -> PathBuf {
    static PROBE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            let deps = [
                probe::tls_dependencies(&["embedded-io-async", "embassy-sync"]),
                probe::vendored_lua_device("cdn-probe-project"),
            ]
            .join("\n");
            probe::Probe::build("pico-w-cdn-probe", PROBE_MAIN, &deps, "").binary
        })
        .clone()
}

/// The probe's one line for an upload of `file` to `url`.
fn run(probe: &Path, url: &str, key: &str, file: &Path, ca: Option<&Path>) -> String {
    let started = Instant::now();
    let mut cmd = Command::new(probe);
    cmd.args([url, key]).arg(file);
    if let Some(ca) = ca {
        cmd.arg(ca);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        output.status.success(),
        "the probe crashed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{url}: {stdout} ({:.1} s)", started.elapsed().as_secs_f64());
    stdout
}

/// `luagen dev` with its CDN on a free port (https with `certs`), killed on drop.
struct DevCdn {
    child: Child,
    port: u16,
}

impl DevCdn {
    fn start(dir: &Path, certs: Option<&Certificates>) -> Self {
        let keys = dir.join("keys");
        std::fs::write(&keys, format!("{KEY}\n")).unwrap();
        let port = free_port();
        let mut cmd = Command::new(lua_testkit::micropython::luagen().unwrap());
        cmd.arg("dev")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--no-ws")
            .arg("--keys")
            .arg(&keys)
            .arg("--cdn-listen")
            .arg(format!("127.0.0.1:{port}"));
        if let Some(certs) = certs {
            cmd.arg("--tls-cert")
                .arg(certs.path("server.pem"))
                .arg("--tls-key")
                .arg(certs.path("server.key"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("luagen dev exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the CDN never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for DevCdn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CDN's `GET /{id}` over plain HTTP: status and body.
fn download(port: u16, id: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..end]).to_string();
    let status = head[9..12].parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, answer[end + 4..].to_vec())
}

/// A proxy to `upstream` that passes `limit` bytes of the client's and then cuts both sides.
fn cutting_proxy(upstream: u16, limit: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut back_from, mut back_to) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut back_from, &mut back_to));
            let mut passed = 0;
            let mut buf = [0u8; 4096];
            while passed < limit {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let n = n.min(limit - passed);
                        if server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        passed += n;
                    }
                }
            }
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    });
    port
}

fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = probe::workspace()
        .join("target/pico-w/cdn-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn firmware_cdn_uploads_over_http_and_reports_refusals_and_cuts() {
    if probe::skip("the Pico W CDN host test") {
        return;
    }
    let dir = scratch("http");
    let cdn = DevCdn::start(&dir, None);
    let probe = probe();
    let url = format!("http://127.0.0.1:{}", cdn.port);
    let data = noise(300_000);
    let file = dir.join("data.bin");
    std::fs::write(&file, &data).unwrap();

    // Up and back, byte for byte.
    let out = run(&probe, &url, KEY, &file, None);
    let id = out
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("upload failed: {out}"))
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let (status, body) = download(cdn.port, &id);
    assert_eq!(status, 200, "GET /{id}");
    assert!(
        body == data,
        "the file came back changed ({} bytes)",
        body.len()
    );

    // A wrong key: refused, in the CDN's words.
    let out = run(&probe, &url, "not-the-key", &file, None);
    assert!(out.starts_with("error Unauthorized(\""), "{out}");
    assert!(!out.contains("Unauthorized(\"\")"), "no message: {out}");

    // Cut mid-body by a proxy: an error, well before the probe's 60 s.
    let proxy = cutting_proxy(cdn.port, 100_000);
    let started = Instant::now();
    let out = run(
        &probe,
        &format!("http://127.0.0.1:{proxy}"),
        KEY,
        &file,
        None,
    );
    assert!(out.starts_with("error "), "a cut upload: {out}");
    assert!(started.elapsed() < Duration::from_secs(30), "{out}");
}

#[test]
fn firmware_cdn_uploads_over_https_with_the_trusted_ca_only() {
    if probe::skip("the Pico W CDN host test over TLS") {
        return;
    }
    let certs = Certificates::generate().unwrap();
    let dir = scratch("https");
    let cdn = DevCdn::start(&dir, Some(&certs));
    let probe = probe();
    let url = format!("https://localhost:{}", cdn.port);
    let file = dir.join("data.bin");
    std::fs::write(&file, noise(50_000)).unwrap();

    let out = run(&probe, &url, KEY, &file, Some(&certs.path("ca.pem")));
    assert!(out.starts_with("ok "), "{out}");
    let out = run(&probe, &url, KEY, &file, Some(&certs.path("other-ca.pem")));
    assert_eq!(out, "error Tls", "a CA that did not sign the CDN");
}
