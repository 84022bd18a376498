//! Public-CA-shaped certificate chains and a mosquitto serving each of them over TLS and over
//! TLS WebSocket, with the protocol versions pinned, for the tests that prove a device reaches
//! a hosted gateway whatever chain and TLS version it presents.
//!
//! The chains are the shapes public CAs issue today, made with openssl:
//! - [`Chain::Rsa`]: RSA-4096 root, RSA-3072 intermediate signed with RSA-PSS/SHA-256, RSA-2048
//!   leaf signed with PKCS#1 v1.5/SHA-384 (as under ISRG Root X1 or Amazon Root CA 1);
//! - [`Chain::P384`]: P-384 root signing a P-256 leaf with ECDSA/SHA-384 (ISRG Root X2, GTS R4);
//! - [`Chain::P256`]: P-256 root and leaf, ECDSA/SHA-256;
//!
//! and three that must be refused: [`Chain::WrongName`] (a valid P-256 leaf for another host),
//! [`Chain::Expired`] (a P-256 leaf whose dates ended in 2021) and, as the CA to trust instead of
//! the right one, [`Pki::other_root`]. Every leaf names `localhost` (not 127.0.0.1): a client
//! must connect by that name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::mosquitto::{Mosquitto, Options};
use crate::ports::free_port;

/// The host name every leaf certificate is issued to.
pub const HOST: &str = "localhost";

/// One server certificate chain and the root that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chain {
    Rsa,
    P384,
    P256,
    WrongName,
    Expired,
}

impl Chain {
    /// The chains a client must accept, each under its own root.
    pub const GOOD: [Chain; 3] = [Chain::Rsa, Chain::P384, Chain::P256];
    /// Every chain a broker serves.
    pub const ALL: [Chain; 5] = [
        Chain::Rsa,
        Chain::P384,
        Chain::P256,
        Chain::WrongName,
        Chain::Expired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Chain::Rsa => "rsa",
            Chain::P384 => "p384",
            Chain::P256 => "p256",
            Chain::WrongName => "wrong-name",
            Chain::Expired => "expired",
        }
    }

    /// The directory (under [`Pki::dir`]) of the root that issued this chain.
    fn root(self) -> &'static str {
        match self {
            Chain::Rsa => "rsa",
            Chain::P384 => "p384",
            Chain::P256 | Chain::WrongName | Chain::Expired => "p256",
        }
    }
}

/// TLS versions a broker offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 and 1.3, as openssl offers by default.
    Both,
    Tls12Only,
    Tls13Only,
}

impl Versions {
    pub const ALL: [Versions; 3] = [Versions::Both, Versions::Tls12Only, Versions::Tls13Only];

    pub fn name(self) -> &'static str {
        match self {
            Versions::Both => "TLS 1.2+1.3",
            Versions::Tls12Only => "TLS 1.2 only",
            Versions::Tls13Only => "TLS 1.3 only",
        }
    }
}

/// How a listener carries MQTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// `mqtts://`: MQTT over TLS.
    Tls,
    /// `wss://`: MQTT over WebSocket over TLS (subprotocol `mqtt`, any path).
    Wss,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Tls, Transport::Wss];

    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Tls => "mqtts",
            Transport::Wss => "wss",
        }
    }
}

/// The chains, in a temp directory removed on drop.
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Make every chain (a few seconds: the RSA-4096 key dominates).
    pub fn generate() -> Result<Self> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lua-testkit-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let pki = Self { dir };
        pki.make()?;
        Ok(pki)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root that issued `chain`, PEM.
    pub fn root_pem(&self, chain: Chain) -> PathBuf {
        self.dir.join(chain.root()).join("root.pem")
    }

    /// The root that issued `chain`, DER.
    pub fn root_der(&self, chain: Chain) -> PathBuf {
        self.dir.join(chain.root()).join("root.der")
    }

    /// A root that issued none of the chains (P-256), PEM and DER: `(pem, der)`.
    pub fn other_root(&self) -> (PathBuf, PathBuf) {
        let dir = self.dir.join("other");
        (dir.join("root.pem"), dir.join("root.der"))
    }

    /// What the server presents: the leaf, then any intermediate (PEM).
    pub fn chain_pem(&self, chain: Chain) -> PathBuf {
        self.dir.join(chain.name()).join("chain.pem")
    }

    /// The leaf's private key (PEM).
    pub fn key_pem(&self, chain: Chain) -> PathBuf {
        self.dir.join(chain.name()).join("leaf.key")
    }

    fn openssl(&self, args: &[&str]) -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .context("running openssl (cargo xtask deps installs it)")?;
        if !out.status.success() {
            bail!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// A key: `rsa:BITS` or an EC curve name.
    fn key(&self, path: &str, kind: &str) -> Result<()> {
        match kind.strip_prefix("rsa:") {
            Some(bits) => self.openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                path,
            ]),
            None => self.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{kind}"),
                "-out",
                path,
            ]),
        }
    }

    /// A self-signed root in `dir/` (`root.key`, `root.pem`, `root.der`).
    fn root(&self, dir: &str, key: &str, digest: &str, cn: &str) -> Result<()> {
        std::fs::create_dir_all(self.dir.join(dir))?;
        let k = format!("{dir}/root.key");
        self.key(&k, key)?;
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &k,
            &format!("-{digest}"),
            "-days",
            "30",
            "-subj",
            &format!("/O=luagen tests/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &format!("{dir}/root.pem"),
        ])?;
        self.openssl(&[
            "x509",
            "-in",
            &format!("{dir}/root.pem"),
            "-outform",
            "der",
            "-out",
            &format!("{dir}/root.der"),
        ])
    }

    /// Certificate `dir/{out}.pem` for `dir/{out}.key` (made here), signed by `issuer/` with the
    /// extensions `ext` and `sign` options (`-sha384`, `-sigopt ...`), valid `dates`.
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        dir: &str,
        out: &str,
        key: &str,
        subject: &str,
        issuer: (&str, &str),
        ext: &str,
        sign: &[&str],
        dates: Option<(&str, &str)>,
    ) -> Result<()> {
        std::fs::create_dir_all(self.dir.join(dir))?;
        let k = format!("{dir}/{out}.key");
        self.key(&k, key)?;
        let csr = format!("{dir}/{out}.csr");
        self.openssl(&["req", "-new", "-key", &k, "-subj", subject, "-out", &csr])?;
        let ext_file = format!("{dir}/{out}.ext");
        std::fs::write(self.dir.join(&ext_file), format!("[v3]\n{ext}\n"))?;
        let (issuer_cert, issuer_key) = (
            format!("{}/{}.pem", issuer.0, issuer.1),
            format!("{}/{}.key", issuer.0, issuer.1),
        );
        let pem = format!("{dir}/{out}.pem");
        match dates {
            None => {
                let mut args = vec![
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &issuer_cert,
                    "-CAkey",
                    &issuer_key,
                    "-set_serial",
                    "0x1234",
                    "-days",
                    "30",
                    "-extfile",
                    &ext_file,
                    "-extensions",
                    "v3",
                    "-out",
                    &pem,
                ];
                args.extend_from_slice(sign);
                self.openssl(&args)
            }
            // `openssl x509` cannot date a certificate in the past; `openssl ca` can.
            Some((start, end)) => {
                let db = format!("{dir}/{out}.index");
                std::fs::write(self.dir.join(&db), "")?;
                let conf = format!("{dir}/{out}.ca.cnf");
                std::fs::write(
                    self.dir.join(&conf),
                    format!(
                        "[ca]\ndefault_ca=c\n[c]\ndatabase={db}\nnew_certs_dir={dir}\n\
                         serial={dir}/{out}.serial\ndefault_md=sha256\npolicy=p\n\
                         copy_extensions=none\n[p]\ncommonName=supplied\n\
                         organizationName=optional\n[v3]\n{ext}\n"
                    ),
                )?;
                std::fs::write(self.dir.join(format!("{dir}/{out}.serial")), "1000\n")?;
                self.openssl(&[
                    "ca",
                    "-batch",
                    "-config",
                    &conf,
                    "-in",
                    &csr,
                    "-cert",
                    &issuer_cert,
                    "-keyfile",
                    &issuer_key,
                    "-startdate",
                    start,
                    "-enddate",
                    end,
                    "-extensions",
                    "v3",
                    "-notext",
                    "-out",
                    &pem,
                ])
            }
        }
    }

    fn make(&self) -> Result<()> {
        const LEAF: &str = "basicConstraints=critical,CA:FALSE\n\
                            keyUsage=critical,digitalSignature,keyEncipherment\n\
                            extendedKeyUsage=serverAuth\n\
                            subjectAltName=DNS:localhost";
        const INTERMEDIATE: &str = "basicConstraints=critical,CA:TRUE,pathlen:0\n\
                                    keyUsage=critical,keyCertSign,cRLSign";
        self.root("rsa", "rsa:4096", "sha256", "luagen RSA-4096 root")?;
        self.issue(
            "rsa",
            "intermediate",
            "rsa:3072",
            "/O=luagen tests/CN=luagen RSA intermediate",
            ("rsa", "root"),
            INTERMEDIATE,
            &[
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
            None,
        )?;
        self.issue(
            "rsa",
            "leaf",
            "rsa:2048",
            "/CN=localhost",
            ("rsa", "intermediate"),
            LEAF,
            &["-sha384"],
            None,
        )?;
        self.root("p384", "secp384r1", "sha384", "luagen P-384 root")?;
        let p384_leaf = LEAF.replace("digitalSignature,keyEncipherment", "digitalSignature");
        self.issue(
            "p384",
            "leaf",
            "prime256v1",
            "/CN=localhost",
            ("p384", "root"),
            &p384_leaf,
            &["-sha384"],
            None,
        )?;
        self.root("p256", "prime256v1", "sha256", "luagen P-256 root")?;
        for (dir, name, dates) in [
            ("p256", "DNS:localhost", None),
            ("wrong-name", "DNS:not-this-host.example", None),
            (
                "expired",
                "DNS:localhost",
                Some(("20200101000000Z", "20210101000000Z")),
            ),
        ] {
            let ext = p384_leaf.replace("DNS:localhost", name);
            self.issue(
                dir,
                "leaf",
                "prime256v1",
                "/CN=localhost",
                ("p256", "root"),
                &ext,
                &["-sha256"],
                dates,
            )?;
        }
        self.root("other", "prime256v1", "sha256", "luagen unrelated root")?;
        for chain in Chain::ALL {
            let dir = self.dir.join(chain.name());
            let mut pem = std::fs::read(dir.join("leaf.pem"))?;
            if chain == Chain::Rsa {
                pem.extend(std::fs::read(dir.join("intermediate.pem"))?);
            }
            std::fs::write(dir.join("chain.pem"), pem)?;
        }
        Ok(())
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A mosquitto serving every [`Chain`] on a `mqtts://` and a `wss://` listener each, offering
/// the given TLS [`Versions`], plus its plain listener.
pub struct PkiBroker {
    pub broker: Mosquitto,
    ports: BTreeMap<(Chain, Transport), u16>,
    pub versions: Versions,
}

impl PkiBroker {
    pub fn start(pki: &Pki, versions: Versions) -> Result<Self> {
        // Ten listeners on ports picked beforehand: under a parallel test run another socket
        // can take one first, and mosquitto then exits after its plain listener came up. Such
        // a start is tried again on fresh ports.
        let mut last = None;
        for _ in 0..5 {
            match Self::start_once(pki, versions) {
                Ok(broker) => return Ok(broker),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("tried at least once"))
    }

    fn start_once(pki: &Pki, versions: Versions) -> Result<Self> {
        let mut ports = BTreeMap::new();
        let mut extra_config = vec!["user root".to_string()];
        for chain in Chain::ALL {
            for transport in Transport::ALL {
                let port = free_port();
                ports.insert((chain, transport), port);
                extra_config.push(format!("listener {port} 127.0.0.1"));
                if transport == Transport::Wss {
                    extra_config.push("protocol websockets".into());
                }
                extra_config.push(format!("certfile {}", pki.chain_pem(chain).display()));
                extra_config.push(format!("keyfile {}", pki.key_pem(chain).display()));
            }
        }
        // mosquitto has no per-listener maximum version; openssl's own configuration, which
        // mosquitto loads, pins the whole process.
        let (min, max) = match versions {
            Versions::Both => ("TLSv1.2", "TLSv1.3"),
            Versions::Tls12Only => ("TLSv1.2", "TLSv1.2"),
            Versions::Tls13Only => ("TLSv1.3", "TLSv1.3"),
        };
        let conf = pki.dir().join(format!("openssl-{min}-{max}.cnf"));
        std::fs::write(
            &conf,
            format!(
                "openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\n\
                 MinProtocol = {min}\nMaxProtocol = {max}\n"
            ),
        )?;
        let broker = Mosquitto::start_with(Options {
            extra_config,
            env: vec![("OPENSSL_CONF".into(), conf.display().to_string())],
            ..Default::default()
        })?;
        // The test kit waits for the plain listener; libwebsockets opens its own a little later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for port in ports.values() {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                if std::time::Instant::now() > deadline || !alive(broker.pid()) {
                    bail!("mosquitto did not open its TLS listener on {port}");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Ok(Self {
            broker,
            ports,
            versions,
        })
    }

    pub fn port(&self, chain: Chain, transport: Transport) -> u16 {
        self.ports[&(chain, transport)]
    }

    /// The URL a device is configured with: `mqtts://localhost:PORT` or
    /// `wss://localhost:PORT/mqtt`.
    pub fn url(&self, chain: Chain, transport: Transport) -> String {
        let port = self.port(chain, transport);
        match transport {
            Transport::Tls => format!("mqtts://{HOST}:{port}"),
            Transport::Wss => format!("wss://{HOST}:{port}/mqtt"),
        }
    }
}

/// Whether process `pid` runs (not gone, not a zombie waiting to be reaped).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true; // no procfs: only the deadline tells
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}
