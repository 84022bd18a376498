//! The Pico W firmware's MQTT over WebSocket on the host: `templates/pico-w/src/ws.rs` (the
//! upgrade, the framed reader and writer), the vendored `lua_device::ws` and `mqtt` core of a
//! generated project, build.rs's URL parsing and `src/tls.rs`, compiled as they are into a small
//! tokio program, against a real mosquitto's WebSocket listeners.
//!
//! - `ws://` through a reframing proxy: the broker's frames are cut and merged at random (an
//!   MQTT packet over many frames and many fragments of one message, several packets in one
//!   frame), with pings between fragments that the probe must answer with matching pongs, and
//!   at the end a close the probe must answer and report.
//! - `ws://` straight to mosquitto, and `wss://` over the firmware's TLS (a P-256 chain for
//!   `localhost` made by openssl, `lua_testkit::tls`).
//!
//! Each connects, gets its CONNACK, and subscribes and publishes in one frame (several packets)
//! and one packet over three frames, and reads its 20 KB, 3 KB and 5-byte messages back intact.
//! `LUAGEN_SKIP_FIRMWARE_BUILD=1` skips it, loudly.

mod probe;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROBE_MAIN: &str = r#"
extern crate alloc;

#[path = "TEMPLATES/src/ws.rs"]
mod ws;
#[path = "TEMPLATES/src/tls.rs"]
mod tls;
#[path = "TEMPLATES/src/tls12.rs"]
mod tls12;
#[allow(dead_code)]
#[path = "TEMPLATES/src/pki.rs"]
mod pki;
#[allow(dead_code)]
#[path = "TEMPLATES/build.rs"]
mod build_script;

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_io_adapters::tokio_1::FromTokio;
use lua_device::mqtt::{Client, Connect, Incoming};
use lua_device::session::{Publication, Qos, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws::{Rx, Tx};

#[derive(Debug)]
#[allow(dead_code)]
struct Fail(String);

struct TcpRx(tokio::net::tcp::OwnedReadHalf);
struct TcpTx(tokio::net::tcp::OwnedWriteHalf);

impl Rx for TcpRx {
    type Error = Fail;
    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Fail> {
        self.0.read(buf).await.map_err(|e| Fail(e.to_string()))
    }
}

impl Tx for TcpTx {
    type Error = Fail;
    async fn write(&mut self, data: &[u8]) -> Result<(), Fail> {
        self.0.write_all(data).await.map_err(|e| Fail(e.to_string()))
    }
    async fn flush(&mut self) -> Result<(), Fail> {
        Ok(())
    }
}

// As the firmware's connection.rs has them.
impl<'a, S: embedded_io_async_07::Read + 'a> Rx for tls::LinkReader<'a, S> {
    type Error = Fail;
    async fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Fail> {
        embedded_io_async_07::Read::read(self, buf).await.map_err(|e| Fail(format!("{e:?}")))
    }
}

impl<'a, S: embedded_io_async_07::Write + 'a> Tx for tls::LinkWriter<'a, S> {
    type Error = Fail;
    async fn write(&mut self, data: &[u8]) -> Result<(), Fail> {
        embedded_io_async_07::Write::write_all(self, data).await.map_err(|e| Fail(format!("{e:?}")))
    }
    async fn flush(&mut self) -> Result<(), Fail> {
        embedded_io_async_07::Write::flush(self).await.map_err(|e| Fail(format!("{e:?}")))
    }
}

struct Clock;

impl embedded_tls::TlsClock for Clock {
    fn now() -> Option<u64> {
        Some(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs())
    }
}

fn mask() -> [u8; 4] {
    let mut m = [0u8; 4];
    getrandom::getrandom(&mut m).unwrap();
    m
}

/// `probe URL [CA_FILE] [expect-close]`: exit 0 after the round trip (and the close, when
/// expected), 1 with the reason otherwise.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let broker = build_script::broker(&args[1]);
    let expect_close = args.iter().any(|a| a == "expect-close");
    let connect = || tokio::net::TcpStream::connect(("127.0.0.1", broker.port));
    let result = if broker.tls {
        let ca = build_script::ca_der(&std::fs::read(&args[2]).unwrap()).unwrap();
        // As connection.rs does: a broker that refuses TLS 1.3 is reached again at once with 1.2.
        let mut attempt = 0;
        loop {
            let (r, w) = connect().await.unwrap().into_split();
            let (r, w) = (RefCell::new(FromTokio::new(r)), RefCell::new(FromTokio::new(w)));
            let rng = tls::rng(|bytes| getrandom::getrandom(bytes).unwrap());
            let (mut read, mut write) = (vec![0; tls::READ_BUFFER], vec![0; tls::WRITE_BUFFER]);
            match tls::connect::<_, Clock>(
                tls::Duplex::new(&r, &w), &broker.host, &ca, rng, &mut read, &mut write,
            )
            .await
            {
                Ok(mut link) => {
                    println!("tls up");
                    let (reader, writer) = link.split();
                    break session(reader, writer, &broker, expect_close).await;
                }
                Err(tls::Error::Fallback(e)) if attempt == 0 => {
                    println!("fallback to TLS 1.2: {e:?}");
                    attempt += 1;
                }
                Err(e) => {
                    println!("refused: {e:?}");
                    std::process::exit(2);
                }
            }
        }
    } else {
        let (r, w) = connect().await.unwrap().into_split();
        session(TcpRx(r), TcpTx(w), &broker, expect_close).await
    };
    match result {
        Ok(()) => println!("done"),
        Err(e) => {
            println!("failed: {e}");
            std::process::exit(1);
        }
    }
}

async fn send<W: Tx>(writer: &mut W, out: &mut Vec<u8>) -> Result<(), String>
where
    W::Error: std::fmt::Debug,
{
    if !out.is_empty() {
        writer.write(out).await.map_err(|e| format!("write: {e:?}"))?;
        writer.flush().await.map_err(|e| format!("flush: {e:?}"))?;
        out.clear();
    }
    Ok(())
}

async fn session<R: Rx<Error = Fail>, W: Tx<Error = Fail>>(
    mut reader: R,
    mut writer: W,
    broker: &build_script::Broker,
    expect_close: bool,
) -> Result<(), String> {
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce).unwrap();
    let target = (broker.host.as_str(), broker.port, broker.tls, broker.path.as_str());
    ws::upgrade(&mut reader, &mut writer, target, nonce)
        .await
        .map_err(|e| format!("upgrade: {e:?}"))?;
    println!("upgraded at {}", broker.path);
    let writer = Mutex::<NoopRawMutex, _>::new(writer);
    let mut reader = ws::WsReader::new(reader, &writer, mask);
    let mut writer = ws::WsWriter::new(&writer, mask);

    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let mut client = Client::new(60, 64 * 1024);
    let mut out = Vec::new();
    let id = format!("probe-{}", std::process::id());
    client.connect(
        &Connect {
            client_id: &id,
            username: None,
            password: None,
            keep_alive_s: 60,
            clean_session: true,
            will: None,
        },
        now(),
        &mut out,
    );
    send(&mut writer, &mut out).await?;

    let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mid: Vec<u8> = (0..3_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut wanted = vec![
        ("probe/small".to_string(), b"hello".to_vec()),
        ("probe/big".to_string(), big.clone()),
        ("probe/mid".to_string(), mid.clone()),
    ];
    let mut connected = false;
    let mut buf = [0u8; 256];
    let deadline = Duration::from_secs(20);
    let work = async {
        while !wanted.is_empty() {
            let n = reader.recv(&mut buf).await.map_err(|e| format!("recv: {e:?}"))?;
            if n == 0 {
                return Err("the broker closed the connection".to_string());
            }
            let events = client.receive(&buf[..n], now(), &mut out).map_err(|e| e.to_string())?;
            send(&mut writer, &mut out).await?;
            for event in events {
                match event {
                    Incoming::Connected { .. } if !connected => {
                        connected = true;
                        println!("connack");
                        // Several packets in one frame: SUBSCRIBE and two PUBLISHes.
                        client.subscribe(
                            &[Subscription { topic: "probe/#".into(), qos: Qos::AtLeastOnce }],
                            now(),
                            &mut out,
                        );
                        for (topic, payload, qos) in [
                            ("probe/small", b"hello".to_vec(), Qos::AtMostOnce),
                            ("probe/big", big.clone(), Qos::AtLeastOnce),
                        ] {
                            client.publish(
                                &Publication { topic: topic.into(), payload, qos, retain: false },
                                now(),
                                &mut out,
                            );
                        }
                        send(&mut writer, &mut out).await?;
                        // One packet over three frames.
                        client.publish(
                            &Publication {
                                topic: "probe/mid".into(),
                                payload: mid.clone(),
                                qos: Qos::AtLeastOnce,
                                retain: false,
                            },
                            now(),
                            &mut out,
                        );
                        let third = out.len() / 3;
                        for part in [&out[..third], &out[third..2 * third], &out[2 * third..]] {
                            writer.write(part).await.map_err(|e| format!("write: {e:?}"))?;
                        }
                        writer.flush().await.map_err(|e| format!("flush: {e:?}"))?;
                        out.clear();
                    }
                    Incoming::Message { topic, payload, .. } => {
                        let Some(at) = wanted.iter().position(|(t, _)| *t == topic) else {
                            return Err(format!("unexpected message on {topic}"));
                        };
                        if wanted[at].1 != payload {
                            return Err(format!("{topic}: payload differs ({} bytes)", payload.len()));
                        }
                        println!("message {topic} {} bytes", payload.len());
                        wanted.remove(at);
                    }
                    _ => {}
                }
            }
        }
        Ok::<(), String>(())
    };
    tokio::time::timeout(deadline, work).await.map_err(|_| "timed out".to_string())??;
    println!("roundtrip ok");
    client.publish(
        &Publication { topic: "probe/done".into(), payload: b"bye".to_vec(), qos: Qos::AtMostOnce, retain: false },
        now(),
        &mut out,
    );
    send(&mut writer, &mut out).await?;
    if expect_close {
        let closing = async {
            loop {
                match reader.recv(&mut buf).await {
                    Ok(0) => return Err("the connection ended without a close frame".to_string()),
                    Ok(n) => {
                        client.receive(&buf[..n], now(), &mut out).map_err(|e| e.to_string())?;
                    }
                    Err(ws::Error::Closed(close)) => {
                        println!("closed {:?} {:?}", close.code, close.reason());
                        return Ok(());
                    }
                    Err(e) => return Err(format!("recv: {e:?}")),
                }
            }
        };
        tokio::time::timeout(deadline, closing).await.map_err(|_| "no close".to_string())??;
    }
    Ok(())
}
"#;

/// Generate a Pico W project (for its vendored `lua-device`) and build the probe against it.
fn probe() -> PathBuf {
    // The `tls` feature's crates, as the template lists them, and what ws.rs needs.
    let deps = format!(
        "{}\n{}",
        probe::tls_dependencies(&["embedded-io-async", "embassy-sync"]),
        probe::vendored_lua_device("ws-probe-project")
    );
    probe::Probe::build("pico-w-ws-probe", PROBE_MAIN, &deps, "").binary
}

/// Run the probe; (exit code, stdout).
fn run(probe: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(probe).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = output.status.code().unwrap_or_else(|| {
        panic!(
            "the probe crashed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        code,
        format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
    )
}

/// What the reframing proxy saw the client send.
#[derive(Default)]
struct Seen {
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    /// Client data frames, all masked (an unmasked one fails the test).
    data_frames: usize,
    unmasked: usize,
    close_reply: Option<Vec<u8>>,
    /// Frames the proxy sent that carried bytes of two MQTT packets or more, and MQTT packets
    /// it spread over two frames or more: both must happen for the test to mean anything.
    merged_frames: usize,
    split_packets: usize,
    fragmented_messages: usize,
}

/// A tiny deterministic generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The head of an HTTP message, up to its blank line, read from `from` and written to `to`.
fn relay_head(from: &mut TcpStream, to: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        from.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    to.write_all(&head).unwrap();
}

/// One WebSocket frame off `stream`: (first byte, unmasked payload, mask present).
fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>, bool)> {
    let mut h = [0u8; 2];
    stream.read_exact(&mut h).ok()?;
    let mut len = u64::from(h[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        stream.read_exact(&mut b).ok()?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        stream.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b);
    }
    let masked = h[1] & 0x80 != 0;
    let mut mask = [0u8; 4];
    if masked {
        stream.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).ok()?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some((h[0], payload, masked))
}

/// An unmasked server frame.
fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    if payload.len() < 126 {
        f.push(payload.len() as u8);
    } else if payload.len() <= 0xffff {
        f.push(126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

/// Where MQTT packets end in `stream` (each end's offset), as far as whole packets go.
fn packet_ends(stream: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    loop {
        let (mut len, mut shift, mut i) = (0usize, 0, at + 1);
        loop {
            let Some(&b) = stream.get(i) else {
                return ends;
            };
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        if i + len > stream.len() {
            return ends;
        }
        at = i + len;
        ends.push(at);
    }
}

/// A proxy between the probe and mosquitto's WebSocket listener that re-frames everything the
/// broker sends (see the module doc) and checks everything the probe sends; returns its port.
fn reframing_proxy(broker_port: u16, seen: Arc<Mutex<Seen>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", broker_port)).unwrap();
        relay_head(&mut client, &mut server);
        relay_head(&mut server, &mut client);
        let (done_tx, done_rx) = mpsc::channel::<()>();

        // Probe to broker: data frames pass as they are; pongs and the close reply stop here.
        let (mut c_in, mut s_out, seen_up) = (
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            seen.clone(),
        );
        std::thread::spawn(move || {
            let mut raw = Vec::new();
            while let Some((first, payload, masked)) = read_frame(&mut c_in) {
                let mut s = seen_up.lock().unwrap();
                if !masked {
                    s.unmasked += 1;
                }
                match first & 0x0f {
                    0xA => s.pongs.push(payload),
                    0x8 => {
                        s.close_reply = Some(payload);
                        return;
                    }
                    _ => {
                        s.data_frames += 1;
                        raw.extend_from_slice(&payload);
                        if raw.windows(10).any(|w| w == b"probe/done") {
                            let _ = done_tx.send(());
                        }
                        // Re-masked by nobody: mosquitto reads unmasked client frames too.
                        let mut frame = server_frame(first, &payload);
                        frame[1] |= 0x80;
                        let at = frame.len() - payload.len();
                        frame.splice(at..at, [0u8; 4]);
                        s_out.write_all(&frame).unwrap();
                    }
                }
            }
        });

        // Broker to probe: the stream re-cut into frames of random sizes.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut batches = 0usize;
        let mut stream = Vec::new();
        let mut sent = 0usize;
        server
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        loop {
            if done_rx.try_recv().is_ok() {
                let mut body = 1001u16.to_be_bytes().to_vec();
                body.extend_from_slice(b"proxy going away");
                client.write_all(&server_frame(0x88, &body)).unwrap();
                return;
            }
            match server.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    continue;
                }
                Err(_) if pending.is_empty() => continue,
                Err(_) => {}
            }
            // Whatever the broker sent in the last quiet spell: unwrap its frames.
            let mut at = 0;
            while pending.len() - at >= 2 {
                let mut p = &pending[at..];
                let Some((first, payload, _)) = read_frame_from(&mut p) else {
                    break;
                };
                assert_eq!(first & 0x0f, 0x2, "mosquitto sends binary frames");
                at = pending.len() - p.len();
                stream.extend_from_slice(&payload);
            }
            pending.drain(..at);
            let ends = packet_ends(&stream);
            let mut cuts = Vec::new();
            let mut pos = sent;
            while pos < stream.len() {
                // A long first frame: the packets that came together share it.
                let size = match if cuts.is_empty() { 2 } else { rng.below(3) } {
                    0 => 1 + rng.below(8),
                    1 => 20 + rng.below(300),
                    _ => 1000 + rng.below(9000),
                } as usize;
                pos = (pos + size).min(stream.len());
                cuts.push(pos);
            }
            let mut out = Vec::new();
            let mut s = seen.lock().unwrap();
            let mut from = sent;
            // Every other batch of several frames is one fragmented message, the first one too.
            let fragmented = cuts.len() > 1 && batches.is_multiple_of(2);
            batches += usize::from(cuts.len() > 1);
            for (i, &to) in cuts.iter().enumerate() {
                let last = i + 1 == cuts.len();
                let first = match (fragmented, i == 0, last) {
                    (false, _, _) => 0x82,
                    (true, true, _) => 0x02,
                    (true, false, false) => 0x00,
                    (true, false, true) => 0x80,
                };
                out.extend(server_frame(first, &stream[from..to]));
                let inside = ends.iter().filter(|&&e| e > from && e < to).count();
                if inside >= 1 {
                    s.merged_frames += 1;
                }
                if rng.below(3) == 0 {
                    let ping: Vec<u8> = (0..rng.below(126)).map(|_| rng.below(256) as u8).collect();
                    out.extend(server_frame(0x89, &ping));
                    s.pings.push(ping);
                }
                from = to;
            }
            s.split_packets += ends
                .iter()
                .zip(std::iter::once(&0).chain(ends.iter()))
                .filter(|(&end, &start)| end > sent && cuts.iter().any(|&c| c > start && c < end))
                .count();
            if fragmented {
                s.fragmented_messages += 1;
            }
            drop(s);
            sent = stream.len();
            client.write_all(&out).unwrap();
        }
    });
    port
}

/// [`read_frame`] over a byte slice.
fn read_frame_from(bytes: &mut &[u8]) -> Option<(u8, Vec<u8>, bool)> {
    let take = |bytes: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if bytes.len() < n {
            return None;
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Some(head.to_vec())
    };
    let mut p = *bytes;
    let h = take(&mut p, 2)?;
    let len = match h[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes(take(&mut p, 2)?.try_into().unwrap())),
        127 => u64::from_be_bytes(take(&mut p, 8)?.try_into().unwrap()),
        n => u64::from(n),
    };
    let payload = take(&mut p, len as usize)?;
    *bytes = p;
    Some((h[0], payload, false))
}

#[test]
fn firmware_websocket_carries_mqtt_through_any_framing() {
    if probe::skip("the Pico W WebSocket host test") {
        return;
    }
    let certs = lua_testkit::tls::Certificates::generate().unwrap();
    let (ws_port, wss_port) = (
        lua_testkit::ports::free_port(),
        lua_testkit::ports::free_port(),
    );
    let mut extra_config = vec![
        "user root".to_string(),
        format!("listener {ws_port} 127.0.0.1"),
        "protocol websockets".into(),
    ];
    extra_config.extend(certs.listener(wss_port));
    extra_config.push("protocol websockets".into());
    let broker = lua_testkit::mosquitto::Mosquitto::start_with(lua_testkit::mosquitto::Options {
        extra_config,
        ..Default::default()
    })
    .unwrap();
    for port in [ws_port, wss_port] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "no listener on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let probe = probe();

    // Straight to mosquitto: ws:// at a path, and wss:// over the firmware's TLS.
    let ws = format!("ws://localhost:{ws_port}/any/path?probe=1");
    let wss = format!("wss://localhost:{wss_port}/mqtt");
    let ca = certs.path("ca.pem").display().to_string();
    for (args, path) in [
        (vec![ws.as_str()], "/any/path?probe=1"),
        (vec![wss.as_str(), ca.as_str()], "/mqtt"),
    ] {
        let (code, out) = run(&probe, &args);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(out.contains(&format!("upgraded at {path}\n")), "{out}");
        for line in [
            "connack",
            "message probe/small 5 bytes",
            "message probe/big 20000 bytes",
            "message probe/mid 3000 bytes",
            "roundtrip ok",
        ] {
            assert!(out.contains(line), "{args:?}: no {line:?} in\n{out}");
        }
        if args.len() == 2 {
            assert!(out.contains("tls up"), "{out}");
        }
    }

    // Through the reframing proxy, with pings and a close.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let proxy = reframing_proxy(ws_port, seen.clone());
    let url = format!("ws://localhost:{proxy}");
    let (code, out) = run(&probe, &[url.as_str(), "-", "expect-close"]);
    assert_eq!(code, 0, "through the proxy: {out}");
    // No path in the URL: the official clients' `/mqtt`.
    assert!(out.contains("upgraded at /mqtt\n"), "{out}");
    assert!(out.contains("roundtrip ok"), "{out}");
    assert!(
        out.contains("closed Some(1001) \"proxy going away\""),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let seen = seen.lock().unwrap();
    eprintln!(
        "proxy: {} client data frames, {} pings, {} pongs, {} frames with several packets, \
         {} packets over several frames, {} fragmented messages",
        seen.data_frames,
        seen.pings.len(),
        seen.pongs.len(),
        seen.merged_frames,
        seen.split_packets,
        seen.fragmented_messages
    );
    assert_eq!(seen.unmasked, 0, "every client frame is masked");
    assert!(
        seen.data_frames >= 5,
        "CONNECT, the batch, three parts, PUBACKs"
    );
    assert!(!seen.pings.is_empty(), "the proxy sent pings");
    // RFC 6455 lets one pong answer the pings read before it: each pong echoes a ping, in
    // order, and the last ping is answered.
    let mut pings = seen.pings.iter();
    assert!(
        seen.pongs.iter().all(|pong| pings.any(|ping| ping == pong)),
        "a pong that echoes no ping, or out of order"
    );
    assert_eq!(
        seen.pongs.last(),
        seen.pings.last(),
        "the last ping unanswered"
    );
    assert_eq!(
        seen.close_reply.as_deref(),
        Some(&1001u16.to_be_bytes()[..]),
        "the close answered with its code"
    );
    assert!(seen.merged_frames > 0, "no frame carried several packets");
    assert!(seen.split_packets > 0, "no packet was split over frames");
    assert!(seen.fragmented_messages > 0, "no fragmented message");
    drop(broker);
}

/// wss:// over the firmware's TLS to every public chain shape (RSA-4096/PSS/RSA-2048, P-384
/// over P-256, P-256) at every TLS version a broker may offer (1.3 only, 1.2 only through the
/// fallback, both), each under its own root; an unrelated root, a wrong name and an expired
/// leaf are refused before a byte of MQTT.
#[test]
fn firmware_wss_reaches_every_public_chain_at_every_tls_version() {
    use lua_testkit::pki::{Chain, Pki, PkiBroker, Transport, Versions};
    if probe::skip("the Pico W wss matrix") {
        return;
    }
    let probe = probe();
    let pki = Pki::generate().unwrap();
    let other = pki.other_root().0;
    for versions in Versions::ALL {
        let broker = PkiBroker::start(&pki, versions).unwrap();
        for chain in Chain::ALL {
            let url = broker.url(chain, Transport::Wss);
            let good = Chain::GOOD.contains(&chain);
            let root = pki.root_pem(chain);
            let what = format!("{chain:?} over wss, {}", versions.name());
            let (code, out) = run(&probe, &[url.as_str(), root.to_str().unwrap()]);
            if good {
                assert_eq!(code, 0, "{what}: {out}");
                for line in [
                    "tls up",
                    "connack",
                    "message probe/big 20000 bytes",
                    "roundtrip ok",
                ] {
                    assert!(out.contains(line), "{what}: no {line:?} in\n{out}");
                }
                assert_eq!(
                    out.contains("fallback to TLS 1.2"),
                    versions == Versions::Tls12Only,
                    "{what}: {out}"
                );
                let (code, out) = run(&probe, &[url.as_str(), other.to_str().unwrap()]);
                assert_eq!(code, 2, "{what}, trusting an unrelated root: {out}");
                assert!(!out.contains("connack"), "{what}: MQTT before the refusal");
            } else {
                assert_eq!(code, 2, "{what}: not refused: {out}");
                assert!(!out.contains("connack"), "{what}: MQTT before the refusal");
            }
        }
    }
}
