//! Raw bytes on a device's topics, through the same sans-IO session the Pico W firmware and
//! the host tests drive, into a typed device generated from the every-shape manifest: never a
//! panic; a message with a string `commandId` is always answered (a response or an error),
//! exactly once, and a redelivery replays the same answer. The bytes also go through the MQTT
//! packet decoder, which must return a packet, "need more" or an error.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use lua_device::dedup::DedupConfig;
use lua_device::mqtt::{codec, DeviceConfig, DeviceSession, Inbound};
use lua_device::topic::Suffix;
use lua_device::transport::Shared;
use lua_device::{lua_device, CommandError, Dispatch};
use serde_json::Value;

struct Shapes;

#[lua_device("../codegen/core/tests/corpus/valid/every-shape.yaml")]
impl Shapes {
    async fn configure(&self, input: ConfigureInput) -> Result<ConfigureOutput, CommandError> {
        Ok(ConfigureOutput {
            applied: input.enabled,
        })
    }

    async fn echo_text(&self, input: EchoTextInput) -> Result<EchoTextOutput, CommandError> {
        Ok(EchoTextOutput(input.0))
    }

    async fn reset(&self) {}
}

/// Generated handlers here never wait, so one poll finishes them.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a handler of this device never waits"),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode(data);

    let mut session = DeviceSession::new(DeviceConfig {
        agent_id: "agent",
        device_name: "shapes-device",
        api_key: "fuzz-key",
        group: None,
        dedup: DedupConfig::default(),
    });
    for suffix in Suffix::ALL {
        if suffix != Suffix::Command {
            let topic = session.topics().topic(suffix);
            let _ = session.on_message(&topic, data, 0);
        }
    }
    let command_topic = session.topics().topic(Suffix::Command);
    let id = serde_json::from_slice::<Value>(data).ok().and_then(|v| {
        v.get("commandId")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let answer = match session.on_message(&command_topic, data, 0) {
        Inbound::Run(command) => {
            let device = ShapesDeviceDevice(ShapesDeviceState(Shared::new(Shapes)));
            let result = ready(device.dispatch(&command.command, command.payload));
            let published = session.complete(&command.command_id, result, 1);
            assert_eq!(published.len(), 1, "one response per command");
            published.into_iter().next().unwrap()
        }
        Inbound::Publish(publication) => publication,
        Inbound::Ignored => {
            assert!(id.is_none(), "a command with an id went unanswered");
            return;
        }
        other => panic!("a command message became {other:?}"),
    };
    let response: Value = serde_json::from_slice(&answer.payload).expect("responses are JSON");
    assert_eq!(response["commandId"].as_str(), id.as_deref());
    match response["success"] {
        Value::Bool(true) => assert!(response.get("error").is_none()),
        Value::Bool(false) => assert!(response["error"].is_string()),
        _ => panic!("success is not a boolean: {response}"),
    }
    // A redelivery gets the first answer, byte for byte, and runs nothing.
    match session.on_message(&command_topic, data, 2) {
        Inbound::Publish(again) => assert_eq!(again.payload, answer.payload),
        other => panic!("a redelivered command became {other:?}"),
    }
});
