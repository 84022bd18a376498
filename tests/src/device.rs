//! A device under test is just a process: it gets its identity and broker through environment
//! variables, prints `ready` once connected and registered, and disconnects gracefully on
//! SIGTERM. Any implementation (CPython, Rust, MicroPython on the unix port) fits.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Who the device is and where it connects.
#[derive(Clone, Debug)]
pub struct DeviceEnv {
    pub agent_id: String,
    pub api_key: String,
    pub mqtt_url: String,
    pub manifest: Option<PathBuf>,
}

impl DeviceEnv {
    /// Fill the contract's variables into `cmd`.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("LUA_AGENT_ID", &self.agent_id)
            .env("LUA_API_KEY", &self.api_key)
            .env("LUA_MQTT_URL", &self.mqtt_url);
        match &self.manifest {
            Some(path) => cmd.env("LUA_MANIFEST", path),
            None => cmd.env_remove("LUA_MANIFEST"),
        };
    }
}

/// How to start one implementation of a device.
#[derive(Clone, Debug)]
pub struct DeviceLauncher {
    /// Shown in transcripts and failure messages.
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
}

impl DeviceLauncher {
    /// A launcher running `program args...`.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>, args: &[&str]) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The command with the contract's variables filled in.
    pub fn command(&self, env: &DeviceEnv) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        env.apply(&mut cmd);
        cmd
    }

    /// Start the device; its stdout is watched for `ready`, and both streams are kept for
    /// diagnostics (MicroPython's `print` logs go to stdout, the Rust devices' to stderr).
    pub fn spawn(&self, env: &DeviceEnv) -> Result<RunningDevice> {
        let mut child = self
            .command(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        let (lines_tx, lines) = mpsc::channel();
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn({
            let output = output.clone();
            move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    {
                        let mut output = output.lock().expect("output lock");
                        output.push_str(&line);
                        output.push('\n');
                    }
                    // The receiver lives as long as the RunningDevice: a failed send means
                    // nobody will wait on a line again, and the log above still keeps it.
                    let _ = lines_tx.send(line);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr is piped");
        std::thread::spawn({
            let stderr = stderr.clone();
            let output = output.clone();
            move || collect(pipe, &stderr, &output)
        });
        Ok(RunningDevice {
            name: self.name.clone(),
            child,
            lines,
            stderr,
            output,
        })
    }
}

/// A started device process; killed (SIGKILL) on drop if still running.
pub struct RunningDevice {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    output: Arc<Mutex<String>>,
}

impl RunningDevice {
    /// The process id, for signals and `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until the device prints `ready`.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim() == "ready" => return Ok(()),
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "{} did not print `ready` within {timeout:?}{}",
                        self.name,
                        self.stderr_tail()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!(
                        "{} exited ({status}) before `ready`{}",
                        self.name,
                        self.stderr_tail()
                    )
                }
            }
        }
    }

    /// Wait until the device prints a line containing `needle` (after `ready`: a log line).
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(_) => continue,
                Err(_) => bail!("{} printed no `{needle}` within {timeout:?}", self.name),
            }
        }
    }

    /// Send SIGTERM (graceful disconnect) and wait for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.signal(libc::SIGTERM)?;
        self.wait_exit(timeout)
    }

    /// Send SIGKILL: the device vanishes without a word, as on a power loss.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        self.signal(libc::SIGKILL)?;
        self.wait_exit(Duration::from_secs(10))
    }

    /// Resident set size in KiB, read from `/proc/PID/status`.
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS in /proc/{}/status", self.pid()))
    }

    /// What the device wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Everything the device wrote so far, stdout and stderr, in the order it was read: the
    /// log to search for what happened and to show when a test fails.
    pub fn output(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }

    fn stderr_tail(&self) -> String {
        // Give the reader threads a moment to drain what a crashing process just wrote.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.output();
        if out.trim().is_empty() {
            String::new()
        } else {
            let tail: Vec<&str> = out.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("\n--- {} output ---\n{}", self.name, tail.join("\n"))
        }
    }

    fn signal(&self, signal: libc::c_int) -> Result<()> {
        let pid = libc::pid_t::try_from(self.pid())?;
        // SAFETY: kill(2) on the PID of a child we spawned and have not yet reaped.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} still running {timeout:?} after the signal{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RunningDevice {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(mut pipe: ChildStderr, stderr: &Mutex<String>, output: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        stderr.lock().expect("stderr lock").push_str(&text);
        output.lock().expect("output lock").push_str(&text);
    }
}
