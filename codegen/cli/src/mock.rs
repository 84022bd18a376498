//! `luagen mock device.yaml`: the manifest's device before its hardware exists, on any broker
//! (`luagen dev`, the hosted gateway): it registers the commands, refuses what their
//! `inputSchema` refuses, answers the rest with an example of their `outputSchema` after a
//! latency and with a failure rate of your choosing, and fires triggers when asked (a line on
//! stdin, or every few seconds).

use std::io::BufRead;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use lua_device::Config;
use luagen_gateway::mock::{MockDevice, MockOptions};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::agent_args::run_async;
use crate::report;

#[derive(Args, Debug)]
pub struct MockArgs {
    /// The device manifest.
    manifest: PathBuf,
    /// Broker URL: mqtt://, mqtts://, ws:// or wss:// (the hosted gateway is
    /// wss://mqtt.heylua.ai/mqtt).
    #[arg(long, env = "LUA_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    broker: String,
    /// The agent the device belongs to.
    #[arg(long, env = "LUA_AGENT_ID", default_value = "local")]
    agent_id: String,
    /// The device's API key (its MQTT password; `luagen dev --insecure-any-key` takes any).
    #[arg(long, env = "LUA_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The name the unit runs under (default: the manifest's).
    #[arg(long, env = "LUA_DEVICE_NAME")]
    device_name: Option<String>,
    /// The device's group (default: the manifest's).
    #[arg(long, env = "LUA_DEVICE_GROUP")]
    group: Option<String>,
    /// How long each valid command takes before its answer: MS, or MIN..MAX drawn evenly.
    #[arg(long, value_name = "MS|MIN..MAX", value_parser = latency, default_value = "0")]
    latency: RangeInclusive<Duration>,
    /// The share of valid commands answered with an error instead, from 0 to 1.
    #[arg(long, value_name = "RATE", value_parser = rate, default_value_t = 0.0)]
    failure_rate: f64,
    /// Seeds the latency and failure draws: the same seed, the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fire TRIGGER with its example payload every SECONDS (repeatable).
    #[arg(long, value_name = "TRIGGER=SECONDS", value_parser = every)]
    fire_every: Vec<(String, Duration)>,
}

/// `luagen mock --help`'s account of what `run` returns, and how to drive it.
pub const EXIT_CODES: &str = "\
While it runs, each line on stdin is an order:
  fire TRIGGER [JSON]  fire a trigger, with its example payload or JSON (checked first)
  triggers             list the triggers and their example payloads
It prints `ready` on stdout once registered, and disconnects cleanly on Ctrl-C or SIGTERM.

Exit codes:
  0  stopped with Ctrl-C or SIGTERM
  1  the manifest is invalid (its problems are printed)
  2  usage error, the manifest could not be read, no example fits a schema, or the broker
     refused or could not be reached";

fn latency(s: &str) -> Result<RangeInclusive<Duration>, String> {
    let ms = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("`{v}` is not a number of milliseconds"))
    };
    let (min, max) = match s.split_once("..") {
        Some((min, max)) => (ms(min)?, ms(max)?),
        None => (ms(s)?, ms(s)?),
    };
    if min > max {
        return Err(format!("{s}: the minimum is above the maximum"));
    }
    Ok(min..=max)
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{s}` is not a share from 0 to 1 (0.1 fails one command in ten)"
        )),
    }
}

fn every(s: &str) -> Result<(String, Duration), String> {
    let (name, secs) = s
        .split_once('=')
        .ok_or_else(|| "expected TRIGGER=SECONDS, e.g. humidity_alert=10".to_string())?;
    match secs.parse::<f64>() {
        Ok(secs) if secs >= 0.1 && secs.is_finite() => {
            Ok((name.to_string(), Duration::from_secs_f64(secs)))
        }
        _ => Err(format!("`{secs}` is not a period in seconds (0.1 or more)")),
    }
}

pub fn run(args: MockArgs) -> ExitCode {
    let device = match luagen::load_file(&args.manifest) {
        Ok(device) => device,
        Err(e) => return report::load_error(&e),
    };
    for (name, _) in &args.fire_every {
        if !device.triggers.iter().any(|t| &t.name == name) {
            eprintln!(
                "error: --fire-every {name}: {} declares no trigger `{name}`",
                args.manifest.display()
            );
            return ExitCode::from(2);
        }
    }
    let name = args
        .device_name
        .clone()
        .unwrap_or_else(|| device.name.clone());
    let mut config = Config::new(args.agent_id.clone(), args.api_key.clone(), name.clone())
        .with_url(&args.broker);
    if let Some(group) = args.group.clone().or_else(|| device.group.clone()) {
        config = config.with_group(group);
    }
    let options = MockOptions {
        latency: args.latency.clone(),
        failure_rate: args.failure_rate,
        seed: args.seed,
    };
    run_async("info,rumqttc=warn", async move {
        let mock = match MockDevice::start_with(&device, config, options).await {
            Ok(mock) => mock,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        };
        // The contract of every device the suite runs: `ready` once registered.
        println!("ready");
        tracing::info!(
            "mock of {} running as {name} on {}; `fire TRIGGER [JSON]` on stdin fires a trigger",
            device.name,
            args.broker
        );
        let orders = stdin_lines();
        tokio::select! {
            r = mock.handle().run_until_shutdown() => {
                if let Err(e) = r {
                    eprintln!("error: {e}");
                }
            }
            () = drive(&mock, orders, &args.fire_every) => {}
        }
        ExitCode::SUCCESS
    })
}

/// Lines from stdin, read on a thread of their own (stdin has no async reader that a closed
/// or absent terminal cannot wedge); the channel closes at end of input.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Fire what stdin orders and what `--fire-every` schedules, until the process stops.
async fn drive(
    mock: &MockDevice,
    mut orders: mpsc::Receiver<String>,
    every: &[(String, Duration)],
) {
    let (tick_tx, mut ticks) = mpsc::channel::<String>(16);
    for (name, period) in every {
        let (tx, name, period) = (tick_tx.clone(), name.clone(), *period);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.tick().await;
            loop {
                interval.tick().await;
                if tx.send(name.clone()).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tick_tx);
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = orders.recv(), if stdin_open => match line {
                Some(line) => order(mock, line.trim()).await,
                // No more input (a pipe closed, no terminal): keep serving commands.
                None => stdin_open = false,
            },
            Some(name) = ticks.recv() => fire(mock, &name, None).await,
            else => std::future::pending::<()>().await,
        }
    }
}

async fn order(mock: &MockDevice, line: &str) {
    let mut words = line.splitn(3, char::is_whitespace);
    match (words.next(), words.next(), words.next()) {
        (None | Some(""), _, _) => {}
        (Some("fire"), Some(name), payload) => {
            let payload = match payload.map(str::trim).filter(|p| !p.is_empty()) {
                None => None,
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        eprintln!("not JSON: {e}");
                        return;
                    }
                },
            };
            fire(mock, name, payload).await;
        }
        (Some("triggers"), _, _) => {
            for name in mock.trigger_names() {
                let example = mock.trigger_payload(name).cloned().unwrap_or_default();
                eprintln!("{name} {example}");
            }
        }
        _ => eprintln!("orders: `fire TRIGGER [JSON]`, `triggers`"),
    }
}

async fn fire(mock: &MockDevice, name: &str, payload: Option<Value>) {
    let payload = match payload.or_else(|| mock.trigger_payload(name).cloned()) {
        Some(p) => p,
        None => {
            let known: Vec<&str> = mock.trigger_names().collect();
            eprintln!(
                "no trigger `{name}`; the manifest has: {}",
                known.join(", ")
            );
            return;
        }
    };
    match mock.fire_with(name, payload.clone()).await {
        Ok(ack) if ack.received => {
            tracing::info!("fired {name} {payload}: acknowledged ({})", ack.trigger_id)
        }
        Ok(ack) => tracing::warn!(
            "fired {name}: the gateway did not take it ({})",
            ack.error.as_deref().unwrap_or("no reason given")
        ),
        Err(e) => tracing::warn!("{e:#}"),
    }
}
