//! The dev gateway's CDN over real sockets: the official Python client uploads and downloads,
//! and raw HTTP clients try what a careless or hostile one would (a wrong key, a file over the
//! cap, a body cut short or stalled, malformed multipart, too many uploads at once).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use luagen_gateway::{CdnConfig, Gateway, GatewayConfig, KeyPolicy, Keys};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENT: &str = "agent-1";
const KEY: &str = "key-good-0123";

async fn gateway_with(cdn: impl FnOnce(&mut CdnConfig)) -> Gateway {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut config = GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(AGENT, KEY)));
    config.tcp = None;
    config.ws = None;
    cdn(config.cdn.as_mut().expect("the CDN is on by default"));
    Gateway::start(config).await.expect("the gateway starts")
}

fn addr(gw: &Gateway) -> String {
    gw.cdn_url()
        .unwrap()
        .trim_start_matches("http://")
        .to_string()
}

/// Files in the CDN's folder, finished or partial.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn multipart(filename: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "luagen-test-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload_head(key: &str, content_type: &str, length: usize) -> String {
    format!(
        "POST /upload HTTP/1.1\r\nHost: cdn\r\nAuthorization: Bearer {key}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// Send `request` whole and read the answer: its status, headers and body.
async fn http(addr: &str, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_answer(stream).await
}

async fn read_answer(mut stream: TcpStream) -> (u16, String, Vec<u8>) {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a full head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn message(body: &[u8]) -> String {
    let json: Value = serde_json::from_slice(body).expect("a JSON error body");
    json["message"].as_str().expect("a message").to_string()
}

async fn upload(addr: &str, key: &str, data: &[u8]) -> (u16, Vec<u8>) {
    let (ct, body) = multipart("data.bin", "application/octet-stream", data);
    let mut request = upload_head(key, &ct, body.len()).into_bytes();
    request.extend_from_slice(&body);
    let (status, _, body) = http(addr, &request).await;
    (status, body)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The official client (`lua_device.cdn.CDN`) uploads a file and downloads it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_uploads_and_downloads() {
    let python = lua_testkit::deps::python_venv().expect("the Python venv");
    let gw = gateway_with(|_| {}).await;
    let url = gw.cdn_url().unwrap();
    let scratch = std::env::temp_dir().join(format!("luagen-cdn-py-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let data = pattern(300_000);
    std::fs::write(scratch.join("in.png"), &data).unwrap();
    let script = r#"
import asyncio, json, sys
from lua_device.cdn import CDN
async def main(url, key, folder):
    cdn = CDN(key, cdn_url=url)
    data = open(folder + "/in.png", "rb").read()
    up = await cdn.upload(data, "photo.png", "image/png")
    back = await cdn.download(up.file_id)
    open(folder + "/out.png", "wb").write(back)
    try:
        await CDN("key-wrong", cdn_url=url).upload(b"x", "x.txt", "text/plain")
        refused = None
    except RuntimeError as e:
        refused = str(e)
    print(json.dumps({"fileId": up.file_id, "mediaType": up.media_type,
                      "extension": up.extension, "url": up.url,
                      "public": cdn.get_url(up.file_id), "refused": refused}))
asyncio.run(main(*sys.argv[1:]))
"#;
    let out = tokio::task::spawn_blocking({
        let scratch = scratch.clone();
        move || {
            Command::new(python)
                .arg("-c")
                .arg(script)
                .arg(&url)
                .arg(KEY)
                .arg(&scratch)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = result["fileId"].as_str().unwrap();
    assert!(
        luagen_gateway::cdn::is_file_id(id) && id.ends_with(".png"),
        "{result}"
    );
    assert_eq!(result["mediaType"], "image/png");
    assert_eq!(result["extension"], "png");
    assert_eq!(result["url"], format!("{}/{id}", gw.cdn_url().unwrap()));
    assert_eq!(std::fs::read(scratch.join("out.png")).unwrap(), data);
    assert!(
        result["refused"]
            .as_str()
            .is_some_and(|m| m.contains("unknown API key")),
        "{result}"
    );
    // The stored content type is served back.
    let (status, head, body) = http(
        &addr(&gw),
        format!("GET /{id} HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/png"),
        "{head}"
    );
    assert_eq!(body, data);
    assert_eq!(files_in(gw.cdn_dir().unwrap()), vec![id.to_string()]);
    let _ = std::fs::remove_dir_all(scratch);
}

#[tokio::test]
async fn refusals_carry_their_status_and_a_message() {
    let gw = gateway_with(|c| c.max_file_bytes = 1 << 20).await;
    let addr = addr(&gw);

    let (status, body) = upload(&addr, "key-wrong", b"abc").await;
    assert_eq!(status, 401);
    let shown = message(&body);
    assert!(
        shown.contains("unknown API key") && !shown.contains("key-wrong"),
        "{shown}"
    );

    let (status, _, body) = http(
        &addr,
        b"POST /upload HTTP/1.1\r\nHost: cdn\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 401);
    assert!(message(&body).contains("Authorization: Bearer"));

    let (status, body) = upload(&addr, KEY, &pattern((1 << 20) + 1)).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(message(&body).contains("1048576"));
    let (status, _) = upload(&addr, KEY, &pattern(1 << 20)).await;
    assert_eq!(status, 200, "exactly the cap is accepted");

    for (ct, body, expected) in [
        ("text/plain", &b"hello"[..], "multipart/form-data"),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno closing boundary",
            "ended early",
        ),
        (
            "multipart/form-data; boundary=xyz",
            b"garbage without a boundary",
            "incomplete multipart stream",
        ),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--xyz--\r\n",
            "no part named `file`",
        ),
    ] {
        let mut request = upload_head(KEY, ct, body.len()).into_bytes();
        request.extend_from_slice(body);
        let (status, _, answer) = http(&addr, &request).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        let shown = message(&answer);
        assert!(shown.contains(expected), "{shown}");
    }

    for path in [
        "/0123456789abcdef0123456789abcdef.png",
        "/../../etc/passwd",
        "/",
    ] {
        let (status, _, answer) = http(
            &addr,
            format!("GET {path} HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status, 404, "{path}");
        assert!(message(&answer).contains("no file"));
    }
    // Only the one good upload is stored: no partial file stayed behind.
    assert_eq!(files_in(gw.cdn_dir().unwrap()).len(), 1);
}

/// A client that closes mid-body, or stalls, leaves no file; the server goes on serving, and
/// uploads beyond the bound wait for none of it.
#[tokio::test]
async fn cut_and_stalled_uploads_leave_nothing() {
    let gw = gateway_with(|c| {
        c.idle_timeout = Duration::from_millis(800);
        c.max_uploads = 1;
    })
    .await;
    let addr = addr(&gw);
    let dir = gw.cdn_dir().unwrap().to_path_buf();
    let (ct, body) = multipart("big.bin", "application/octet-stream", &pattern(1 << 20));
    let head = upload_head(KEY, &ct, body.len());

    // Cut: half the body, then the socket closes.
    let mut cut = TcpStream::connect(&addr).await.unwrap();
    cut.write_all(head.as_bytes()).await.unwrap();
    cut.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(cut);

    // Stalled: half the body, then silence with the socket open.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    let until_empty = std::time::Instant::now();
    loop {
        // The cut upload's permit is released once the server saw the close.
        let (status, _) = upload(&addr, KEY, b"probe").await;
        if status == 200 || until_empty.elapsed() > Duration::from_secs(5) {
            assert_eq!(status, 200);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        files_in(&dir).len(),
        2,
        "the probe and the stalled upload's partial file"
    );
    let (status, answer) = upload(&addr, KEY, b"second").await;
    assert_eq!(status, 503, "one upload at a time here");
    assert!(message(&answer).contains("in progress"));
    let (status, _, answer) = read_answer(stalled).await;
    assert_eq!(status, 408);
    assert!(message(&answer).contains("no bytes for"));
    let left = files_in(&dir);
    assert_eq!(left.len(), 1, "only the probe: {left:?}");
    let (status, _) = upload(&addr, KEY, b"after").await;
    assert_eq!(status, 200, "the server keeps serving");
}

mod rust_client {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use lua_device::cdn::{Cdn, CdnError, Progress};
    use lua_testkit::tls::Certificates;
    use luagen_gateway::TlsFiles;

    use super::*;

    #[tokio::test]
    async fn uploads_downloads_and_names_urls() {
        let gw = gateway_with(|_| {}).await;
        let cdn = Cdn::new(KEY, gw.cdn_url().unwrap()).unwrap();
        let data = pattern(10_000);
        let up = cdn
            .upload(data.clone(), "note.txt", "text/plain")
            .await
            .unwrap();
        assert_eq!(
            (up.media_type.as_str(), up.extension.as_str()),
            ("text/plain", "txt")
        );
        assert_eq!(up.url, format!("{}/{}", gw.cdn_url().unwrap(), up.file_id));
        assert_eq!(cdn.url(&up.file_id), up.url);
        assert_eq!(cdn.download(&up.file_id).await.unwrap(), data);
        match cdn.download("0123456789abcdef0123456789abcdef.txt").await {
            Err(CdnError::Status {
                status: 404,
                message,
            }) => {
                assert!(message.contains("no file"))
            }
            other => panic!("{other:?}"),
        }
        let stranger = Cdn::new("key-wrong", gw.cdn_url().unwrap()).unwrap();
        match stranger.upload(b"x".to_vec(), "x.txt", "text/plain").await {
            Err(CdnError::Unauthorized(message)) => assert!(message.contains("unknown API key")),
            other => panic!("{other:?}"),
        }
    }

    /// 5 MB streamed from a file, with progress; over the cap is `TooLarge`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_a_file_with_progress() {
        let gw = gateway_with(|c| c.max_file_bytes = 6_000_000).await;
        let cdn = Cdn::new(KEY, gw.cdn_url().unwrap()).unwrap();
        let dir = std::env::temp_dir().join(format!("luagen-cdn-rs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("frame.raw");
        let data = pattern(5_000_000);
        std::fs::write(&path, &data).unwrap();

        let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
        let started = Instant::now();
        let up = cdn
            .upload_file_with_progress(&path, "application/octet-stream", {
                let seen = Arc::clone(&seen);
                move |p| seen.lock().unwrap().push(p)
            })
            .await
            .unwrap();
        let took = started.elapsed();
        eprintln!("5 MB streamed upload: {took:?}");
        let seen = seen.lock().unwrap().clone();
        assert!(seen.len() > 10, "{} progress reports", seen.len());
        assert!(seen.windows(2).all(|w| w[0].sent < w[1].sent));
        let last = seen.last().unwrap();
        assert_eq!(
            (last.sent, last.total, last.fraction()),
            (5_000_000, 5_000_000, 1.0)
        );
        assert_eq!((up.bytes, up.extension.as_str()), (5_000_000, "raw"));
        assert_eq!(cdn.download(&up.file_id).await.unwrap(), data);

        std::fs::write(&path, pattern(6_000_001)).unwrap();
        match cdn.upload_file(&path, "application/octet-stream").await {
            Err(CdnError::TooLarge(message)) => assert!(message.contains("6000000")),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A server that reads a little of the request and closes: an error, not a hang.
    #[tokio::test]
    async fn an_interrupted_upload_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                drop(stream);
            }
        });
        let cdn = Cdn::new(KEY, format!("http://{addr}")).unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            cdn.upload(pattern(2_000_000), "big.bin", "application/octet-stream"),
        )
        .await
        .expect("no hang");
        assert!(matches!(result, Err(CdnError::Io(_))), "{result:?}");
    }

    /// `https://` with the gateway's TLS: verified against the test CA, refused without it.
    #[tokio::test]
    async fn https_is_verified_like_the_mqtt_transport() {
        let certs = Certificates::generate().unwrap();
        let mut config = GatewayConfig::ephemeral(KeyPolicy::Keys(Keys::single(AGENT, KEY)));
        config.tcp = None;
        config.ws = None;
        config.tls = Some(TlsFiles {
            cert: certs.path("server.pem"),
            key: certs.path("server.key"),
        });
        let gw = Gateway::start(config).await.unwrap();
        let url = gw.cdn_url().unwrap();
        assert!(url.starts_with("https://"), "{url}");
        // The test certificate names localhost, not 127.0.0.1.
        let url = url.replace("127.0.0.1", "localhost");
        let ca = std::fs::read(certs.path("ca.pem")).unwrap();
        let cdn = Cdn::with_ca_pem(KEY, &url, Some(&ca)).unwrap();
        let up = cdn
            .upload(b"over tls".to_vec(), "tls.txt", "text/plain")
            .await
            .unwrap();
        assert_eq!(cdn.download(&up.file_id).await.unwrap(), b"over tls");
        let untrusting = Cdn::new(KEY, &url).unwrap();
        let refused = untrusting
            .upload(b"x".to_vec(), "x.txt", "text/plain")
            .await;
        assert!(matches!(refused, Err(CdnError::Tls(_))), "{refused:?}");
    }
}
