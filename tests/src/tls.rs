//! A private certificate authority and a mosquitto with a TLS listener signed by it, for the
//! tests that prove devices verify the broker: refused without the CA, accepted with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::mosquitto::{Mosquitto, Options};
use crate::ports::free_port;

/// A test CA, a server certificate it signed for `localhost` (not for 127.0.0.1), and an
/// unrelated CA, made with openssl in a temp directory removed on drop.
pub struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    pub fn generate() -> Result<Self> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lua-testkit-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let certs = Self { dir };
        certs.make()?;
        Ok(certs)
    }

    fn openssl(&self, args: &[&str]) -> Result<()> {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running openssl (cargo xtask deps installs it)")?;
        if !status.success() {
            bail!("openssl {args:?} failed");
        }
        Ok(())
    }

    fn make(&self) -> Result<()> {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, subject) in [("ca", "/CN=luagen test CA"), ("other-ca", "/CN=not the CA")] {
            let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            args.extend([
                "-keyout",
                key.as_str(),
                "-out",
                pem.as_str(),
                "-days",
                "2",
                "-subj",
                subject,
            ]);
            self.openssl(&args)?;
        }
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        self.openssl(&args)?;
        std::fs::write(self.dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n")?;
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ])?;
        self.openssl(&["x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der"])
    }

    /// A file of the set: `ca.pem`, `ca.der`, `other-ca.pem`, `server.pem`, `server.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// mosquitto.conf lines for a TLS listener on `port` serving the server certificate.
    pub fn listener(&self, port: u16) -> Vec<String> {
        vec![
            format!("listener {port} 127.0.0.1"),
            format!("cafile {}", self.path("ca.pem").display()),
            format!("certfile {}", self.path("server.pem").display()),
            format!("keyfile {}", self.path("server.key").display()),
        ]
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A broker with its usual plain listener plus a TLS listener; `(broker, tls_port)`.
pub fn broker(certs: &Certificates) -> Result<(Mosquitto, u16)> {
    let tls_port = free_port();
    let mut extra_config = certs.listener(tls_port);
    // Started as root, mosquitto drops to its own user, which cannot read our key.
    extra_config.push("user root".into());
    let broker = Mosquitto::start_with(Options {
        extra_config,
        ..Default::default()
    })?;
    Ok((broker, tls_port))
}
