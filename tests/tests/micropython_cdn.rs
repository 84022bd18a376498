//! `lua_cdn` of the generated MicroPython project on the unix port with a Pico W's heap
//! (`-X heapsize=192K`), against the dev gateway's CDN (`luagen dev --cdn-listen`): a 5 MB
//! file up from disk and back byte for byte, a wrong key refused in the CDN's words, an upload
//! cut mid-body by a proxy reported as an error (not a hang), and an https:// upload trusting a
//! test CA through `ca.der` (and refused with the default store). The 5 MB file is 26 times
//! the heap: it goes through one 4 KB buffer, and the test records the peak heap the upload
//! used (`gc.mem_alloc()` sampled at every chunk).

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lua_testkit::fault_proxy::{FaultPlan, FaultProxy};
use lua_testkit::micropython::{self, conformance_project, PICO_W_HEAP};
use lua_testkit::ports::free_port;
use lua_testkit::tls::Certificates;
use serde_json::Value;

const KEY: &str = "cdn-test-key-8f3a61c2";

/// `luagen dev` with its CDN on a free port, killed on drop.
struct DevCdn {
    child: Child,
    port: u16,
    _keys: PathBuf,
}

impl DevCdn {
    /// Plain http://, or https:// with `certs`' server certificate for `localhost`.
    fn start(certs: Option<&Certificates>) -> Self {
        let keys = micropython::scratch_dir("cdn-keys").unwrap().join("keys");
        std::fs::write(&keys, format!("{KEY}\n")).unwrap();
        let port = free_port();
        let mut cmd = Command::new(micropython::luagen().unwrap());
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
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("luagen dev exited with {status}:\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "the CDN never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _keys: keys,
        }
    }
}

impl Drop for DevCdn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The conformance project with `CDN_URL` set, and the device's key in `secrets.py`.
fn project(cdn_url: &str, key: &str) -> PathBuf {
    let dir = conformance_project().unwrap();
    std::fs::write(
        dir.join("config.py"),
        format!("AGENT_ID = \"agent\"\nCDN_URL = \"{cdn_url}\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("secrets.py"), format!("API_KEY = \"{key}\"\n")).unwrap();
    dir
}

/// What a script run on the unix port with a Pico W's heap printed, within `limit`.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    /// The JSON the script printed after `RESULT `.
    fn result(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no RESULT line:\n{}\n{}", self.stdout, self.stderr));
        serde_json::from_str(line).unwrap()
    }
}

fn run(dir: &Path, script: &str, limit: Duration) -> Run {
    std::fs::write(dir.join("_cdn_test.py"), script).unwrap();
    let start = Instant::now();
    let mut child = Command::new(micropython::venv_tool("micropython").unwrap())
        .args(["-X", &format!("heapsize={PICO_W_HEAP}"), "_cdn_test.py"])
        .current_dir(dir)
        .env_remove("LUA_API_KEY")
        .env_remove("LUA_CDN_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }),
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the script still ran after {limit:?} (a hang):\n{}",
                readers.0.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        ok: status.success(),
        stdout: readers.0.join().unwrap(),
        stderr: readers.1.join().unwrap(),
        took: start.elapsed(),
    }
}

/// `n` bytes no compressor or lucky boundary helps: xorshift64.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// FNV-1a 64 of `bytes`, to name a file's contents in the report.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Upload `name` (a file in the project) and download it back as `back.bin`; the script
/// prints the answer, the time and the heap: the module's cost once imported, and the most
/// allocated during the upload (sampled at every chunk, collected every 16th, over what was
/// allocated before the import).
const ROUND_TRIP: &str = r#"import gc, json, time
gc.collect()
base = gc.mem_alloc()
import lua_cdn
gc.collect()
module = gc.mem_alloc() - base
peak = [0, 0, 0]
def progress(sent, size):
    peak[2] += 1
    if peak[2] % 16 == 0:
        gc.collect()
        peak[1] = max(peak[1], gc.mem_alloc() - base)
    peak[0] = max(peak[0], gc.mem_alloc() - base)
t = time.ticks_ms()
r = lua_cdn.upload(NAME, NAME, TYPE, progress)
up = time.ticks_diff(time.ticks_ms(), t)
gc.collect()
after = gc.mem_alloc() - base
t = time.ticks_ms()
n = lua_cdn.download(r["file_id"], "back.bin")
down = time.ticks_diff(time.ticks_ms(), t)
print("RESULT " + json.dumps({"answer": r, "upload_ms": up, "download_ms": down, "bytes": n,
      "module_heap": module, "peak_heap": peak[0], "peak_live_heap": peak[1],
      "after_heap": after, "heap": gc.mem_alloc() + gc.mem_free(), "url": lua_cdn.url(r["file_id"])}))
"#;

/// Upload `data` as `name` of `media_type` and download it back: the script's result and
/// what it printed.
fn round_trip(
    dir: &Path,
    (name, media_type): (&str, &str),
    data: &[u8],
    cdn_url: &str,
) -> (Value, String) {
    std::fs::write(dir.join(name), data).unwrap();
    let script = ROUND_TRIP
        .replace("NAME", &format!("{name:?}"))
        .replace("TYPE", &format!("{media_type:?}"));
    let out = run(dir, &script, Duration::from_secs(120));
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let result = out.result();
    let back = std::fs::read(dir.join("back.bin")).unwrap();
    assert_eq!(back.len(), data.len());
    assert_eq!(
        fnv(&back),
        fnv(data),
        "the file came back different: {result}"
    );
    assert!(back == data);
    assert!(!dir.join("back.bin.part").exists());
    let id = result["answer"]["file_id"].as_str().unwrap().to_string();
    assert_eq!(result["answer"]["url"], format!("{cdn_url}/{id}"));
    assert_eq!(result["url"], format!("{cdn_url}/{id}"));
    assert_eq!(result["bytes"], data.len());
    assert!(
        !out.stdout.contains(KEY),
        "the key was printed:\n{}",
        out.stdout
    );
    eprintln!(
        "{} bytes (fnv {:016x}) up in {} ms, down in {} ms; heap {}: module {} B, peak during the \
         upload {} B allocated ({} B live), {} B after",
        data.len(),
        fnv(data),
        result["upload_ms"],
        result["download_ms"],
        result["heap"],
        result["module_heap"],
        result["peak_heap"],
        result["peak_live_heap"],
        result["after_heap"]
    );
    (result, out.stdout)
}

#[test]
fn a_5_mb_file_goes_up_from_disk_and_comes_back_byte_identical() {
    lua_testkit::require_micropython!("lua_cdn: a 5 MB file up and back on a pico w heap");
    let cdn = DevCdn::start(None);
    let url = format!("http://127.0.0.1:{}", cdn.port);
    let dir = project(&url, KEY);
    let data = noise(5 * 1000 * 1000);
    let (result, _) = round_trip(&dir, ("frame.bin", "application/octet-stream"), &data, &url);
    assert_eq!(result["answer"]["extension"], "bin");
    // 26 times the heap went through it: only a buffer's worth of it stayed.
    let live = result["peak_live_heap"].as_u64().unwrap();
    assert!(live < 40_000, "the upload kept {live} bytes live");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_key_is_refused_in_the_cdns_words() {
    lua_testkit::require_micropython!("lua_cdn: a wrong key refused");
    let cdn = DevCdn::start(None);
    let wrong = "api_wrong_key_0123456789abcdef";
    let dir = project(&format!("http://127.0.0.1:{}", cdn.port), wrong);
    std::fs::write(dir.join("big.bin"), noise(2_000_000)).unwrap();
    let out = run(
        &dir,
        r#"import json, lua_cdn
sent = [0]
def progress(n, size):
    sent[0] = n
try:
    lua_cdn.upload("big.bin", "big.bin", "image/jpeg", progress)
    print("RESULT null")
except lua_cdn.CdnError as e:
    print(str(e))
    print("RESULT " + json.dumps({"status": e.status, "message": e.message, "sent": sent[0]}))
"#,
        Duration::from_secs(30),
    );
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let result = out.result();
    assert_eq!(result["status"], 401, "{}", out.stdout);
    let message = result["message"].as_str().unwrap();
    assert!(message.starts_with("unknown API key"), "{message}");
    // The client asks with Expect: 100-continue and the gateway refuses before its go-ahead:
    // not a byte of the file leaves the board.
    assert_eq!(result["sent"], 0, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("CDN upload failed (401): unknown API key"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(wrong) && !out.stderr.contains(wrong),
        "the key was printed:\n{}{}",
        out.stdout,
        out.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_mid_body_is_an_error_not_a_hang() {
    lua_testkit::require_micropython!("lua_cdn: an upload cut mid-body");
    let cdn = DevCdn::start(None);
    // Every connection is cut half a second in, inside a chunk of the body.
    let proxy = FaultProxy::start(
        cdn.port,
        FaultPlan {
            lifetime: Duration::from_millis(500)..Duration::from_millis(501),
            mid_packet: 1.0,
            reset: 1.0,
            seed: 7,
        },
    )
    .await
    .unwrap();
    let dir = project(&format!("http://127.0.0.1:{}", proxy.port()), KEY);
    std::fs::write(dir.join("big.bin"), noise(5_000_000)).unwrap();
    // A board's pace (about 1 MB/s at most): the body is still going when the cut comes.
    let out = tokio::task::block_in_place(|| {
        run(
            &dir,
            r#"import json, time, lua_cdn
sent = [0]
def progress(n, size):
    sent[0] = n
    time.sleep_ms(4)
try:
    lua_cdn.upload("big.bin", "big.bin", "application/octet-stream", progress)
    print("RESULT null")
except lua_cdn.CdnError as e:
    print(str(e))
    print("RESULT " + json.dumps({"status": e.status, "message": e.message, "sent": sent[0]}))
"#,
            Duration::from_secs(60),
        )
    });
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let result = out.result();
    eprintln!("cut after {:?}: {}", out.took, out.stdout.trim());
    assert_eq!(result["status"], 0, "{}", out.stdout);
    let sent = result["sent"].as_u64().unwrap();
    assert!(
        sent > 0 && sent < 5_000_000,
        "the cut was not mid-body: {sent}"
    );
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains(" of 5000000 bytes of the file"),
        "{message}"
    );
    // Within a socket timeout of the cut, not after the CDN's answer wait.
    assert!(out.took < Duration::from_secs(20), "took {:?}", out.took);
    assert!(proxy.stats().cuts() >= 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_https_upload_trusts_the_test_ca_from_ca_der_and_not_without_it() {
    lua_testkit::require_micropython!("lua_cdn: https with ca.der");
    let certs = Certificates::generate().unwrap();
    let cdn = DevCdn::start(Some(&certs));
    let url = format!("https://localhost:{}", cdn.port);
    let dir = project(&url, KEY);
    std::fs::copy(certs.path("ca.der"), dir.join("ca.der")).unwrap();
    let data = noise(300_000);
    let (result, printed) = round_trip(&dir, ("photo.jpg", "image/jpeg"), &data, &url);
    assert_eq!(result["answer"]["media_type"], "image/jpeg", "{result}");
    assert_eq!(result["answer"]["extension"], "jpg", "{result}");
    // The broker's trust code, so the broker's words: ca.der replaces the default store.
    assert!(
        printed.contains("TLS: trusting 1 certificate(s) of ca.der"),
        "{printed}"
    );

    // Without ca.der the default store is trusted, which issued nothing of the test's.
    std::fs::remove_file(dir.join("ca.der")).unwrap();
    let out = run(
        &dir,
        r#"import json, lua_cdn
try:
    lua_cdn.upload(b"hello", "hello.txt", "text/plain")
    print("RESULT null")
except lua_cdn.CdnError as e:
    print("RESULT " + json.dumps({"status": e.status, "message": e.message}))
"#,
        Duration::from_secs(30),
    );
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let result = out.result();
    assert_eq!(result["status"], 0, "{}", out.stdout);
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains("TLS handshake with localhost failed") && message.contains("roots.der"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nothing the device loads imports lua_cdn: only the user's code does.
#[test]
fn no_generated_module_imports_lua_cdn() {
    let templates = lua_testkit::deps::workspace_root().join("templates/micropython");
    let mut seen = 0;
    for entry in std::fs::read_dir(templates).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "lua_cdn.py" || !(name.ends_with(".py") || name.ends_with(".py.j2")) {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("import lua_cdn"), "{name} imports lua_cdn");
    }
    assert!(seen >= 10, "{seen} modules");
}
