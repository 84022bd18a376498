//! The generated MicroPython project on the unix port against public-CA-shaped chains
//! (`lua_testkit::pki`): every chain {RSA, P-384, P-256} × transport {mqtts, wss} × broker TLS
//! versions {1.2+1.3, 1.2 only, 1.3 only}, with `ca.der` holding that chain's root; the
//! unrelated root, a wrong name and an expired certificate refused; without `ca.der` the
//! default store `roots.der` is what is trusted (so the test chains, issued by no public CA,
//! are refused: verification stays on).
//!
//! The unix port's `ssl` is the same mbedtls build as the Pico W firmware's (MicroPython's
//! `extmod/mbedtls/mbedtls_config_common.h`, used by both ports): TLS 1.2 only, and no RSA-PSS
//! signatures. The combinations that need them are expected refused, by name, in [`expected`]:
//! a change of MicroPython that lifts either gap makes this test fail until the expectation is
//! updated. The same RSA chain with its intermediate signed PKCS#1 v1.5, as public CAs sign,
//! is answered.

use std::path::Path;
use std::time::Duration;

use lua_testkit::device::DeviceEnv;
use lua_testkit::gateway::Gateway;
use lua_testkit::micropython::{self, conformance_project};
use lua_testkit::pki::{Chain, Pki, PkiBroker, Transport, Versions};
use lua_testkit::session::{self, AGENT_ID, API_KEY};
use lua_testkit::Mosquitto;
use serde_json::json;

/// What the device did with one broker chain.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Connected, registered its commands and answered an echo.
    Answered,
    /// Never connected; the log line said this (a part of it).
    Refused(String),
}

/// What stock MicroPython can do with `chain` served at `versions`, and why not.
fn expected(chain: Chain, versions: Versions) -> Expected {
    match (chain, versions) {
        // MicroPython's mbedtls configuration has no MBEDTLS_SSL_PROTO_TLS1_3: the broker
        // answers the TLS 1.2 ClientHello with a protocol_version alert.
        (_, Versions::Tls13Only) => Expected::Refused(NO_TLS13),
        // Nor MBEDTLS_PKCS1_V21: the intermediate's RSA-PSS signature is an unknown algorithm.
        (Chain::Rsa, _) => Expected::Refused(NO_RSA_PSS),
        (Chain::P384 | Chain::P256, _) => Expected::Answered,
        (Chain::WrongName, _) => Expected::Refused(WRONG_NAME),
        (Chain::Expired, _) => Expected::Refused(EXPIRED),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expected {
    Answered,
    Refused(&'static str),
}

/// mbedtls's words for each refusal, as the device logs them.
const NO_TLS13: &str = "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE";
const NO_RSA_PSS: &str = "MBEDTLS_ERR_X509_INVALID_ALG";
const UNTRUSTED: &str = "not correctly signed by the trusted CA";
const WRONG_NAME: &str = "Common Name (CN) does not match";
const EXPIRED: &str = "validity has expired";

fn topic(suffix: &str) -> String {
    format!("{}{suffix}", session::prefix())
}

/// Run the project in `dir` against `url` until it answers an echo or logs why it cannot
/// connect; every line it logged about TLS comes back too.
async fn attempt(
    broker: &Mosquitto,
    dir: &Path,
    url: String,
    n: usize,
) -> anyhow::Result<(Outcome, Vec<String>)> {
    let mut gateway = Gateway::connect(
        broker.port(),
        &format!("tls-gateway-{n}"),
        &[topic("status"), topic("response")],
    )
    .await?;
    let launcher = micropython::device_with_heap(dir, micropython::PICO_W_HEAP)?;
    let env = DeviceEnv {
        agent_id: AGENT_ID.into(),
        api_key: API_KEY.into(),
        mqtt_url: url,
        manifest: None,
    };
    let mut device = launcher.spawn(&env)?;
    let mut log = Vec::new();
    let verdict = loop {
        let line =
            tokio::task::block_in_place(|| device.wait_line("[lua] ", Duration::from_secs(20)))?;
        log.push(line.clone());
        if line.contains("connection failed:") {
            break Some(line);
        }
        if line.contains("connected to ") {
            break None;
        }
    };
    let outcome = match verdict {
        Some(line) => {
            let _ = tokio::task::block_in_place(|| device.kill());
            // Nothing of the device reached the broker: no live status, no registration.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let live: Vec<String> = gateway
                .drain()
                .into_iter()
                .filter(|d| !d.retain)
                .map(|d| d.topic)
                .collect();
            anyhow::ensure!(live.is_empty(), "refused, yet the broker saw {live:?}");
            Outcome::Refused(line)
        }
        None => {
            let registration = gateway
                .expect("the registration", Duration::from_secs(10), |d| {
                    !d.retain && d.topic == topic("status") && d.json()["commands"].is_array()
                })
                .await?;
            anyhow::ensure!(
                registration.json()["commands"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["name"] == "echo")),
                "registration without echo: {}",
                registration.json()
            );
            // More than one of the device's outgoing TLS records (mbedtls's 4 KiB buffer).
            let big = "t".repeat(6_000);
            let id = format!("tls-{n}");
            gateway
                .publish(
                    &topic("command"),
                    json!({"commandId": id, "command": "echo", "payload": {"big": big}})
                        .to_string(),
                )
                .await?;
            let response = gateway
                .expect("the echo", Duration::from_secs(10), |d| {
                    d.topic == topic("response") && d.json()["commandId"] == id.as_str()
                })
                .await?
                .json();
            anyhow::ensure!(
                response["success"] == true && response["data"]["big"] == big.as_str(),
                "echo answered {}",
                response.to_string().chars().take(200).collect::<String>()
            );
            let status = tokio::task::block_in_place(|| device.terminate(Duration::from_secs(10)))?;
            anyhow::ensure!(status.success(), "the device exited with {status}");
            Outcome::Answered
        }
    };
    gateway.disconnect().await;
    Ok((outcome, log))
}

/// `ca.der` in the project: `Some(der)` written, `None` removed (the default store).
fn set_ca(dir: &Path, der: Option<&Path>) {
    let target = dir.join("ca.der");
    match der {
        Some(der) => {
            std::fs::copy(der, &target).unwrap();
        }
        None => {
            let _ = std::fs::remove_file(&target);
        }
    }
}

/// The one line saying what was trusted, checked against what should be.
fn assert_trusted(log: &[String], what: &str, case: &str) {
    let line = log
        .iter()
        .find(|l| l.contains("TLS: trusting "))
        .unwrap_or_else(|| panic!("{case}: no line says what is trusted: {log:?}"));
    assert!(line.ends_with(what), "{case}: {line}");
}

/// Roots in a concatenated-DER file (each `30 82 <len>`).
fn der_count(store: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = store;
    while let [0x30, 0x82, hi, lo, ..] = rest {
        rest = &rest[4 + (usize::from(*hi) << 8 | usize::from(*lo))..];
        n += 1;
    }
    assert!(rest.is_empty(), "roots.der is not whole DER certificates");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chain_transport_and_tls_version_on_the_unix_port() {
    lua_testkit::require_micropython!("every chain transport and tls version on the unix port");
    let pki = Pki::generate().unwrap();
    let dir = conformance_project().unwrap();
    std::fs::write(dir.join("config.py"), "TLS_VERIFY = True\n").unwrap();
    let roots = der_count(&std::fs::read(dir.join("roots.der")).unwrap());
    assert!(roots >= 11, "{roots} roots");
    let mut n = 0;
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for versions in Versions::ALL {
        let broker = PkiBroker::start(&pki, versions).unwrap();
        for chain in Chain::ALL {
            for transport in Transport::ALL {
                n += 1;
                let case = format!(
                    "{} over {} ({})",
                    chain.name(),
                    transport.scheme(),
                    versions.name()
                );
                let url = broker.url(chain, transport);
                set_ca(&dir, Some(&pki.root_der(chain)));
                let (outcome, log) = attempt(&broker.broker, &dir, url.clone(), n)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: {e:#}"));
                // ca.der, one certificate, replaces the default store.
                assert_trusted(&log, "trusting 1 certificate(s) of ca.der", &case);
                let want = expected(chain, versions);
                let ok = match (&outcome, want) {
                    (Outcome::Answered, Expected::Answered) => true,
                    (Outcome::Refused(line), Expected::Refused(why)) => {
                        line.contains("TLS handshake with localhost failed") && line.contains(why)
                    }
                    _ => false,
                };
                table.push(format!("{case}: {outcome:?}"));
                if !ok {
                    wrong.push(format!("{case}: expected {want:?}, got {outcome:?}"));
                }

                // Trusting the wrong roots is refused whatever the version: checked once.
                if versions != Versions::Both || !Chain::GOOD.contains(&chain) {
                    continue;
                }
                // The unrelated root in ca.der: the broker's chain does not lead to it.
                n += 1;
                let case = format!("{case} trusting the unrelated root");
                set_ca(&dir, Some(&pki.other_root().1));
                let (outcome, _) = attempt(&broker.broker, &dir, url.clone(), n)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: {e:#}"));
                let want = if chain == Chain::Rsa {
                    NO_RSA_PSS // the chain fails to parse before trust is asked
                } else {
                    UNTRUSTED
                };
                if !matches!(&outcome, Outcome::Refused(l) if l.contains(want)) {
                    wrong.push(format!(
                        "{case}: expected refused ({want}), got {outcome:?}"
                    ));
                }
                table.push(format!("{case}: {outcome:?}"));
                // No ca.der: the default store, which issued none of the test chains.
                n += 1;
                let case = format!(
                    "{} over {} with the default store",
                    chain.name(),
                    transport.scheme()
                );
                set_ca(&dir, None);
                let (outcome, log) = attempt(&broker.broker, &dir, url, n)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: {e:#}"));
                assert_trusted(
                    &log,
                    &format!("trusting {roots} certificate(s) of roots.der"),
                    &case,
                );
                if !matches!(&outcome, Outcome::Refused(l) if l.contains(want) && l.contains("roots.der"))
                {
                    wrong.push(format!(
                        "{case}: expected refused ({want}), got {outcome:?}"
                    ));
                }
                table.push(format!("{case}: {outcome:?}"));
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // Every good chain the firmware can verify was answered over both transports.
    let answered = table.iter().filter(|l| l.ends_with("Answered")).count();
    assert_eq!(answered, 2 * 2 * 2, "{table:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What is trusted cannot be used: the device says which file and why, and never connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_trust_file_is_named() {
    lua_testkit::require_micropython!("an unusable trust file is named");
    let pki = Pki::generate().unwrap();
    let broker = PkiBroker::start(&pki, Versions::Both).unwrap();
    let url = broker.url(Chain::P256, Transport::Tls);
    let dir = conformance_project().unwrap();
    std::fs::write(dir.join("config.py"), "TLS_VERIFY = True\n").unwrap();
    let pem = std::fs::read(pki.root_pem(Chain::P256)).unwrap();
    let cases: [(&str, Option<&[u8]>, bool, &str); 3] = [
        // PEM, which stock MicroPython does not read, under the DER name.
        ("PEM", Some(&pem), true, "ca.der: certificate 1 is not DER"),
        ("empty", Some(b""), true, "ca.der holds no certificate"),
        (
            "nothing",
            None,
            false,
            "needs the broker's CA certificate in ca.der or luagen's roots.der",
        ),
    ];
    for (n, (what, ca, roots, says)) in cases.into_iter().enumerate() {
        match ca {
            Some(bytes) => std::fs::write(dir.join("ca.der"), bytes).unwrap(),
            None => set_ca(&dir, None),
        }
        if !roots {
            std::fs::remove_file(dir.join("roots.der")).unwrap();
        }
        let (outcome, _) = attempt(&broker.broker, &dir, url.clone(), n).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Refused(l) if l.contains(says)),
            "{what}: {outcome:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Loading the default store on a Pico W-sized heap (`-X heapsize=192K`): every root goes in,
/// and the Python heap keeps no copy of the file (each root is read only as it is loaded).
/// What mbedtls keeps of the parsed roots is outside this heap on the unix port (libc's
/// malloc) and inside it on the Pico W (MicroPython's rp2 port routes mbedtls's allocations to
/// its heap); the README gives that cost, measured with heaptrack.
#[test]
fn the_default_store_loads_root_by_root_on_a_pico_w_heap() {
    lua_testkit::require_micropython!("the default store loads root by root on a pico w heap");
    let dir = conformance_project().unwrap();
    let roots = der_count(&std::fs::read(dir.join("roots.der")).unwrap());
    std::fs::write(
        dir.join("_luagen_heap.py"),
        "import gc, ssl, lua_connect\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n\
         gc.collect(); before = gc.mem_free()\n\
         n = lua_connect._trust(ctx, 'roots.der')\n\
         gc.collect(); print(n, before - gc.mem_free())\n",
    )
    .unwrap();
    let out = std::process::Command::new(micropython::venv_tool("micropython").unwrap())
        .args(["-X", &format!("heapsize={}", micropython::PICO_W_HEAP)])
        .arg("_luagen_heap.py")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (n, kept) = stdout.trim().split_once(' ').unwrap();
    assert_eq!(n.parse::<usize>().unwrap(), roots);
    let kept: i64 = kept.parse().unwrap();
    let store = std::fs::metadata(dir.join("roots.der")).unwrap().len();
    eprintln!("{roots} roots ({store} bytes of DER) loaded; the Python heap kept {kept} bytes");
    // The largest root alone is ~1.4 KB: keeping the file, or a root, would show.
    assert!(kept < 1024, "the Python heap kept {kept} bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The RSA chain as public CAs sign it (ISRG Root X1, Amazon Root CA 1): the fixture's RSA-4096
/// root, RSA-3072 intermediate and RSA-2048 leaf, the intermediate signed again with PKCS#1
/// v1.5/SHA-256 instead of RSA-PSS. Answered over both transports: the RSA refusal of the
/// matrix is the PSS signature alone, not RSA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_chain_signed_as_public_cas_sign_is_answered() {
    lua_testkit::require_micropython!("an rsa chain signed as public cas sign is answered");
    let pki = Pki::generate().unwrap();
    let rsa = pki.dir().join("rsa");
    // Same key, subject and serial as the PSS-signed one, so the leaf verifies under it.
    let signed = std::process::Command::new("openssl")
        .args(["x509", "-req", "-in", "intermediate.csr", "-CA", "root.pem"])
        .args(["-CAkey", "root.key", "-set_serial", "0x1234", "-days", "30"])
        .args([
            "-extfile",
            "intermediate.ext",
            "-extensions",
            "v3",
            "-sha256",
        ])
        .args(["-out", "intermediate-pkcs1.pem"])
        .current_dir(&rsa)
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let mut chain = std::fs::read(rsa.join("leaf.pem")).unwrap();
    chain.extend(std::fs::read(rsa.join("intermediate-pkcs1.pem")).unwrap());
    std::fs::write(rsa.join("chain-pkcs1.pem"), chain).unwrap();
    let (tls, wss) = (
        lua_testkit::ports::free_port(),
        lua_testkit::ports::free_port(),
    );
    let mut extra_config = vec!["user root".to_string()];
    for (port, websockets) in [(tls, false), (wss, true)] {
        extra_config.push(format!("listener {port} 127.0.0.1"));
        if websockets {
            extra_config.push("protocol websockets".into());
        }
        extra_config.push(format!(
            "certfile {}",
            rsa.join("chain-pkcs1.pem").display()
        ));
        extra_config.push(format!("keyfile {}", rsa.join("leaf.key").display()));
    }
    let broker = Mosquitto::start_with(lua_testkit::mosquitto::Options {
        extra_config,
        ..Default::default()
    })
    .unwrap();
    for port in [tls, wss] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "no listener on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let dir = conformance_project().unwrap();
    std::fs::write(dir.join("config.py"), "TLS_VERIFY = True\n").unwrap();
    set_ca(&dir, Some(&pki.root_der(Chain::Rsa)));
    for (n, url) in [
        format!("mqtts://localhost:{tls}"),
        format!("wss://localhost:{wss}/mqtt"),
    ]
    .into_iter()
    .enumerate()
    {
        let (outcome, _) = attempt(&broker, &dir, url.clone(), n).await.unwrap();
        assert_eq!(outcome, Outcome::Answered, "{url}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
