//! A private mosquitto broker per test.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ports::free_port;

/// A mosquitto process bound to a free loopback port, killed when dropped.
pub struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
    options: Options,
}

/// How the broker is configured; the default is anonymous, in-memory, plain TCP.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep sessions and retained messages on disk so a restart loses nothing.
    pub persistence: bool,
    /// Extra lines appended to the generated `mosquitto.conf`.
    pub extra_config: Vec<String>,
    /// Extra environment of the broker process (`OPENSSL_CONF` to pin TLS versions).
    pub env: Vec<(String, String)>,
}

impl Mosquitto {
    /// Start an anonymous, in-memory broker.
    pub fn start() -> Result<Self> {
        Self::start_with(Options::default())
    }

    /// Start a broker with the given options.
    pub fn start_with(options: Options) -> Result<Self> {
        let binary = binary()?;
        let dir = std::env::temp_dir().join(format!(
            "lua-testkit-mosquitto-{}-{}",
            std::process::id(),
            unique()
        ));
        fs::create_dir_all(&dir)?;
        let mut last_err = None;
        for _ in 0..10 {
            let port = free_port();
            match spawn(&binary, &dir, port, &options) {
                Ok(child) => {
                    return Ok(Self {
                        child,
                        port,
                        dir,
                        options,
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("mosquitto did not start")))
    }

    /// The loopback port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill the broker and start it again on the same port with the same options and data
    /// directory: with `persistence` on, sessions and queued messages survive.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let binary = binary()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn(&binary, &self.dir, self.port, &self.options) {
                Ok(child) => {
                    self.child = child;
                    return Ok(());
                }
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Kill the broker (SIGKILL by PID) and wait for it to exit.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Result<PathBuf> {
    crate::deps::find("mosquitto").context(
        "mosquitto is not installed: run `cargo xtask deps` (or install Debian's mosquitto)",
    )
}

fn spawn(binary: &Path, dir: &Path, port: u16, options: &Options) -> Result<Child> {
    let mut conf = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 0\n"
    );
    if options.persistence {
        conf.push_str(&format!(
            "persistence true\npersistence_location {}/\nautosave_interval 1\n",
            dir.display()
        ));
    }
    for line in &options.extra_config {
        conf.push_str(line);
        conf.push('\n');
    }
    let conf_path = dir.join("mosquitto.conf");
    fs::write(&conf_path, conf)?;
    let mut child = Command::new(binary)
        .arg("-c")
        .arg(&conf_path)
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("mosquitto.log"))?)
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let err = fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
            bail!("mosquitto exited with {status}: {err}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    bail!("mosquitto did not listen on 127.0.0.1:{port} within 10 s")
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
