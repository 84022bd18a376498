//! The PKI fixture itself: openssl, a peer nobody wrote here, accepts every good chain under
//! its own root at every pinned version, refuses the bad ones, and sees the versions pinned.

use std::process::{Command, Stdio};

use lua_testkit::pki::{Chain, Pki, PkiBroker, Transport, Versions};

/// `openssl s_client` to `port` trusting `root`, at `version` (`-tls1_2`/`-tls1_3`/none):
/// whether verification succeeded and the handshake completed.
fn s_client(port: u16, root: &std::path::Path, version: Option<&str>) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-CAfile"])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = version {
        cmd.arg(v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Verify return code: 0 (ok)")
}

#[test]
fn chains_and_version_pins_are_what_they_claim() {
    let pki = Pki::generate().unwrap();
    for versions in Versions::ALL {
        let broker = PkiBroker::start(&pki, versions).unwrap();
        for chain in Chain::ALL {
            let port = broker.port(chain, Transport::Tls);
            let good = Chain::GOOD.contains(&chain);
            for (flag, offered) in [
                ("-tls1_2", versions != Versions::Tls13Only),
                ("-tls1_3", versions != Versions::Tls12Only),
            ] {
                let root = pki.root_pem(chain);
                assert_eq!(
                    s_client(port, &root, Some(flag)),
                    good && offered,
                    "{chain:?} {flag} against {}",
                    versions.name()
                );
            }
            if good {
                assert!(!s_client(port, &pki.other_root().0, None), "{chain:?}");
                // The WebSocket listener presents the same chain.
                assert!(s_client(
                    broker.port(chain, Transport::Wss),
                    &pki.root_pem(chain),
                    None
                ));
            }
        }
    }
}
