//! What the agent side knows about devices: the emulator's retained directory entries
//! (`luagen/gateway/devices/{agentId}/{deviceName}`, with the registered commands) and, on any
//! broker, the devices' own retained status.

use std::collections::BTreeMap;
use std::time::Duration;

use lua_device::topic::{self, Suffix};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::link::Message;
use crate::principal::DIRECTORY_ROOT;

/// One device as the gateway last saw it. Never holds the API key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRecord {
    /// The device's agent.
    pub agent_id: String,
    /// The device.
    pub device_name: String,
    /// Its group, when it has one.
    pub group: Option<String>,
    /// Whether it is connected now.
    pub online: bool,
    /// Whether a registration (with a valid key) was seen, so `commands` is its manifest.
    pub registered: bool,
    /// The registered commands, as the registration carried them.
    pub commands: Vec<Value>,
    /// When the gateway last heard from it (ISO-8601 UTC).
    pub last_seen: String,
}

impl DeviceRecord {
    /// A device known only by name.
    pub fn new(agent_id: &str, device_name: &str) -> Self {
        Self {
            agent_id: agent_id.into(),
            device_name: device_name.into(),
            group: None,
            online: false,
            registered: false,
            commands: Vec::new(),
            last_seen: String::new(),
        }
    }

    /// The registered definition of `command`.
    pub fn command(&self, command: &str) -> Option<&Value> {
        self.commands
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(command))
    }

    /// Names of the registered commands.
    pub fn command_names(&self) -> Vec<&str> {
        self.commands
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect()
    }
}

/// The retained topic of a device's directory entry.
pub fn directory_topic(agent_id: &str, device_name: &str) -> String {
    format!("{DIRECTORY_ROOT}{agent_id}/{device_name}")
}

/// The subscriptions that fill a [`Directory`] for one agent.
pub fn directory_filters(agent_id: &str) -> Vec<String> {
    vec![
        format!("{DIRECTORY_ROOT}{agent_id}/+"),
        format!("{}{agent_id}/+/status", topic::ROOT),
    ]
}

/// Devices by name.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    devices: BTreeMap<String, DeviceRecord>,
}

impl Directory {
    /// Read retained messages from `rx` until none has arrived for `settle`.
    pub async fn collect(rx: &mut broadcast::Receiver<Message>, settle: Duration) -> Self {
        let mut directory = Self::default();
        while let Ok(Ok(message)) = tokio::time::timeout(settle, rx.recv()).await {
            directory.absorb(&message);
        }
        directory
    }

    /// Take in one message (directory entries and device status; others are ignored).
    pub fn absorb(&mut self, message: &Message) {
        if let Some(rest) = message.topic.strip_prefix(DIRECTORY_ROOT) {
            if rest.split('/').count() != 2 || message.payload.is_empty() {
                return;
            }
            if let Ok(record) = serde_json::from_slice::<DeviceRecord>(&message.payload) {
                self.devices.insert(record.device_name.clone(), record);
            }
            return;
        }
        let Some(t) = topic::parse(&message.topic) else {
            return;
        };
        if t.suffix != Suffix::Status {
            return;
        }
        let Ok(status) = serde_json::from_slice::<Value>(&message.payload) else {
            return;
        };
        let record = self
            .devices
            .entry(t.device_name.to_string())
            .or_insert_with(|| DeviceRecord::new(t.agent_id, t.device_name));
        // The gateway's entry knows better than a retained status once it exists.
        if record.registered {
            return;
        }
        record.online = status.get("status").and_then(Value::as_str) == Some("online");
        if let Some(group) = status.get("group").and_then(Value::as_str) {
            record.group = Some(group.to_string());
        }
        if let Some(ts) = status.get("timestamp").and_then(Value::as_str) {
            record.last_seen = ts.to_string();
        }
    }

    /// A device by name.
    pub fn get(&self, device_name: &str) -> Option<&DeviceRecord> {
        self.devices.get(device_name)
    }

    /// Every known device, by name.
    pub fn devices(&self) -> impl Iterator<Item = &DeviceRecord> {
        self.devices.values()
    }

    /// The devices of `group` that are online now.
    pub fn online_in_group(&self, group: &str) -> Vec<&DeviceRecord> {
        self.devices
            .values()
            .filter(|d| d.online && d.group.as_deref() == Some(group))
            .collect()
    }
}
