//! The conformance fixture device on `#[lua_device]`: the same manifest and the same contract
//! as the dynamic-API `conformance-device`, with payload types and checks generated from
//! `manifests/conformance-device.yaml`. The conformance suite runs the same session on both.

#[path = "../fixture.rs"]
mod fixture;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Result;
use lua_device::{lua_device, CommandError, DeviceHandle};

struct Fixture {
    runs: AtomicU64,
    device: Arc<OnceLock<DeviceHandle>>,
}

#[lua_device("../../manifests/conformance-device.yaml")]
impl Fixture {
    fn echo(&self, input: EchoInput) -> EchoOutput {
        EchoOutput(input.0)
    }

    fn fail(&self) -> Result<(), CommandError> {
        Err("deliberate failure".into())
    }

    fn count(&self) -> CountOutput {
        CountOutput {
            count: self.runs.fetch_add(1, Ordering::SeqCst) + 1,
        }
    }

    fn no_output(&self) {}

    async fn fire_trigger(&self, input: FireTriggerInput) -> Result<FireTriggerOutput, String> {
        let device = self.device.get().ok_or("the device is not connected yet")?;
        let alert = Alert {
            level: match input.level {
                FireTriggerInputLevel::Low => AlertLevel::Low,
                FireTriggerInputLevel::High => AlertLevel::High,
            },
        };
        let ack = ConformanceDeviceTriggers(device)
            .alert(&alert)
            .await
            .map_err(|e| e.to_string())?;
        Ok(FireTriggerOutput {
            trigger_id: ack.trigger_id,
            received: ack.received,
        })
    }

    async fn slow(&self, input: SlowInput) -> SlowOutput {
        tokio::time::sleep(Duration::from_millis(input.ms.into())).await;
        SlowOutput {
            slept: input.ms.into(),
        }
    }
}

// One thread: the device is I/O-bound, and a second worker only costs memory (RSS).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    fixture::init_logging();
    let mut config = Fixture::config_from_env()?;
    fixture::heartbeat_from_env(&mut config)?;
    let slot = Arc::new(OnceLock::new());
    let fixture = Fixture {
        runs: AtomicU64::new(0),
        device: slot.clone(),
    };
    let builder = fixture.builder(config);
    let _ = slot.set(builder.handle());
    let device = builder.connect().await?;
    fixture::serve(device).await
}
