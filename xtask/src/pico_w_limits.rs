//! The largest command the Pico W core answers, with its data and with the size error: the
//! sans-IO MQTT stack the firmware runs (`lua_device::mqtt`), at the firmware's packet limit
//! and read size, over TCP to mosquitto with the testkit's gateway sending. Also the most the
//! client buffered while a command streamed past: what the chip would have had to hold.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lua_device::dedup::DedupConfig;
use lua_device::mqtt::{Client, DeviceConfig, DeviceSession, Inbound, Incoming};
use lua_device::session::Step;
use lua_testkit::gateway::Gateway;
use lua_testkit::Mosquitto;
use serde_json::json;

use crate::report::Table;

/// `MAX_PACKET_BYTES` and the connection's read size (`INBOX_BYTES`) in the firmware.
const MAX_PACKET: usize = 2048;
const READ: usize = 512;
const PREFIX: &str = "lua/devices/agent-1/pico-01/";
const WAIT: Duration = Duration::from_secs(30);

struct Device {
    socket: TcpStream,
    client: Client,
    session: DeviceSession,
    out: Vec<u8>,
    start: Instant,
    /// The most bytes the client held for an incomplete packet.
    peak_buffered: usize,
}

impl Device {
    fn connect(port: u16) -> Result<Device> {
        let socket = TcpStream::connect(("127.0.0.1", port))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut d = Device {
            socket,
            client: Client::new(60, MAX_PACKET),
            session: DeviceSession::new(DeviceConfig {
                agent_id: "agent-1",
                device_name: "pico-01",
                api_key: "k3y",
                group: None,
                dedup: DedupConfig {
                    max_entries: 32,
                    max_bytes: 8192,
                    ttl_ms: 300_000,
                },
            }),
            out: Vec::new(),
            start: Instant::now(),
            peak_buffered: 0,
        };
        let will = d.session.will_payload("2025-01-15T10:30:00.000Z");
        d.client.connect(&d.session.connect(&will), 0, &mut d.out);
        d.flush()?;
        d.pump_until(|e| matches!(e, Incoming::Connected { .. }))?;
        for step in d.session.after_connack("[]", "2025-01-15T10:30:00.000Z") {
            match step {
                Step::Subscribe(subs) => d.client.subscribe(&subs, 0, &mut d.out),
                Step::Publish(p) => d.client.publish(&p, 0, &mut d.out),
            }
        }
        d.flush()?;
        Ok(d)
    }

    fn flush(&mut self) -> Result<()> {
        self.socket.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// Read and handle until an event matches `done`; echo runs as the firmware's dispatch.
    fn pump_until(&mut self, done: impl Fn(&Incoming) -> bool) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; READ];
        while Instant::now() < deadline {
            let n = match self.socket.read(&mut buf) {
                Ok(0) => bail!("broker closed the connection"),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            let now = self.start.elapsed().as_millis() as u64;
            let events = self
                .client
                .receive(&buf[..n], now, &mut self.out)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            self.peak_buffered = self.peak_buffered.max(self.client.buffered());
            let mut hit = false;
            for e in &events {
                hit |= done(e);
                match self.session.on_incoming(e, now) {
                    Inbound::Run(c) => {
                        for p in self
                            .session
                            .complete(&c.command_id, Ok(Some(c.payload)), now)
                        {
                            self.client.publish(&p, now, &mut self.out);
                        }
                    }
                    Inbound::Publish(p) => self.client.publish(&p, now, &mut self.out),
                    _ => {}
                }
            }
            self.flush()?;
            if hit {
                return Ok(());
            }
        }
        bail!("nothing matched within {WAIT:?}")
    }
}

fn command(id: &str, size: usize) -> String {
    let frame = json!({"commandId": id, "command": "echo", "payload": ""}).to_string();
    let filler = "x".repeat(size - frame.len());
    json!({"commandId": id, "command": "echo", "payload": filler}).to_string()
}

fn is_command(e: &Incoming) -> bool {
    match e {
        Incoming::Message { topic, .. } => topic.ends_with("/command"),
        Incoming::TooLarge(s) => s.topic.ends_with("/command"),
        _ => false,
    }
}

pub fn tables(runtime: &tokio::runtime::Runtime, broker: &Mosquitto) -> Result<Vec<Table>> {
    runtime.block_on(measure(broker))
}

async fn measure(broker: &Mosquitto) -> Result<Vec<Table>> {
    let mut gw = Gateway::connect(broker.port(), "bench-limits", &[format!("{PREFIX}#")]).await?;
    let mut device = Device::connect(broker.port())?;
    let largest = MAX_PACKET - 2 - (PREFIX.len() + "command".len()) - 2;
    let mut table = Table::new(
        format!(
            "Pico W core: commands around its limit (MAX_PACKET_BYTES {MAX_PACKET}, reads of {READ} bytes, topic {PREFIX}command)"
        ),
        &["command bytes", "answer", "peak bytes buffered", "ms"],
    );
    for (i, size) in [largest, largest + 1, 1 << 20, 3_000_000, 16_000_000]
        .into_iter()
        .enumerate()
    {
        let id = format!("c{i}");
        device.peak_buffered = 0;
        let started = Instant::now();
        gw.publish(&format!("{PREFIX}command"), command(&id, size))
            .await?;
        device.pump_until(is_command)?;
        let answer = gw
            .expect("response", WAIT, |d| {
                d.topic.ends_with("/response") && d.json()["commandId"] == id.as_str()
            })
            .await?
            .json();
        let ms = started.elapsed().as_millis();
        let what = if answer["success"] == true {
            format!(
                "data ({} bytes echoed)",
                answer["data"].as_str().map_or(0, str::len)
            )
        } else {
            format!("error: {}", answer["error"].as_str().context("no error")?)
        };
        table.row([
            size.to_string(),
            what,
            device.peak_buffered.to_string(),
            ms.to_string(),
        ]);
    }
    table.note(format!(
        "largest answered with data: {largest} bytes of JSON; larger ones, up to MQTT's 268,435,455, \
         are read through with fixed memory and answered with the size error"
    ));
    Ok(vec![table])
}
