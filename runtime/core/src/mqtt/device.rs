//! The Lua device protocol (PROTOCOL.md) over a [`super::Client`]: identity, last will,
//! what each incoming message means, and the responses a command owes, deduplicated by the
//! [`Ledger`].

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::client::Incoming;
use super::codec::{Connect, Will};
use super::oversized::Skipped;
use crate::dedup::DedupConfig;
use crate::dispatch::{CommandError, CommandResult};
use crate::ledger::{Admission, Ledger};
use crate::message::{Command, Connected, Response, ServerError, TriggerAck, TriggerResult};
use crate::session::{self, Identity, Publication, Qos, Step};
use crate::topic::{self, Suffix, Topics};
use crate::value::Value;

/// The keep-alive every device asks for, in seconds.
pub const KEEP_ALIVE_S: u16 = 60;
/// The heartbeat period, in milliseconds.
pub const HEARTBEAT_MS: u64 = 30_000;

/// Who the device is.
#[derive(Clone)]
pub struct DeviceConfig<'a> {
    /// The agent the device belongs to.
    pub agent_id: &'a str,
    /// The device name (lowercase words joined by hyphens).
    pub device_name: &'a str,
    /// The API key: the MQTT password and the registration's `apiKey`, nowhere else.
    pub api_key: &'a str,
    /// Optional group.
    pub group: Option<&'a str>,
    /// Bounds of the idempotency cache; size them for the device's RAM.
    pub dedup: DedupConfig,
}

/// What an incoming message asks of the device.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound {
    /// A new command: run it, then call [`DeviceSession::complete`].
    Run(Command),
    /// Publish this now (a cached response to a duplicate, or an error for a bad command).
    Publish(Publication),
    /// The gateway's receipt of a trigger.
    TriggerAck(TriggerAck),
    /// What the agent made of a trigger.
    TriggerResult(TriggerResult),
    /// A server-side error to surface (never a reason to stop).
    ServerError(ServerError),
    /// The gateway confirmed the connection.
    Connected(Connected),
    /// A retained message on the command topic: never run (it would run again at every
    /// start), only logged; the client has acknowledged it.
    RetainedCommand,
    /// Nothing to do (a duplicate of a running command, a pong, an unknown topic).
    Ignored,
}

/// The device side of the protocol, across reconnections.
pub struct DeviceSession {
    topics: Topics,
    status_topic: String,
    client_id: String,
    username: String,
    api_key: String,
    group: Option<String>,
    ledger: Ledger,
}

impl core::fmt::Debug for DeviceSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceSession")
            .field("client_id", &self.client_id)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl DeviceSession {
    /// A session for `config`.
    pub fn new(config: DeviceConfig<'_>) -> Self {
        let topics = Topics::new(config.agent_id, config.device_name);
        Self {
            status_topic: topics.topic(Suffix::Status),
            topics,
            client_id: topic::client_id(config.agent_id, config.device_name),
            username: topic::username(config.agent_id, config.device_name),
            api_key: config.api_key.into(),
            group: config.group.map(Into::into),
            ledger: Ledger::new(config.dedup),
        }
    }

    /// The device's topics.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The last will's payload: offline status stamped `timestamp` (the connect time; the
    /// broker cannot know when the link will die).
    pub fn will_payload(&self, timestamp: &str) -> Vec<u8> {
        session::offline_status(&self.topics, timestamp).payload
    }

    /// CONNECT per PROTOCOL.md: clean session false, 60 s keep-alive, retained QoS 1 will.
    pub fn connect<'a>(&'a self, will_payload: &'a [u8]) -> Connect<'a> {
        Connect {
            client_id: &self.client_id,
            username: Some(&self.username),
            password: Some(self.api_key.as_bytes()),
            keep_alive_s: KEEP_ALIVE_S,
            clean_session: false,
            will: Some(Will {
                topic: &self.status_topic,
                payload: will_payload,
                qos: Qos::AtLeastOnce,
                retain: true,
            }),
        }
    }

    /// Subscribe, retained online status, registration: the steps after every CONNACK.
    /// `commands_json` is the registration's command list as JSON (what luagen computed).
    pub fn after_connack(&self, commands_json: &str, timestamp: &str) -> [Step; 3] {
        let id = Identity {
            topics: &self.topics,
            api_key: &self.api_key,
            group: self.group.as_deref(),
        };
        session::after_connack_json(&id, commands_json, timestamp)
    }

    /// What a message from the client asks for, at monotonic time `now_ms`: a retained
    /// command is never run, a command too large to keep is answered with an error naming the
    /// limit when its `commandId` could be read.
    pub fn on_incoming(&mut self, event: &Incoming, now_ms: u64) -> Inbound {
        match event {
            Incoming::Message {
                topic,
                payload,
                retain,
            } => {
                if *retain && self.is_command(topic) {
                    return Inbound::RetainedCommand;
                }
                self.on_message(topic, payload, now_ms)
            }
            Incoming::TooLarge(skipped) => self.on_too_large(skipped),
            Incoming::Connected { .. } | Incoming::Nothing => Inbound::Ignored,
        }
    }

    fn is_command(&self, topic: &str) -> bool {
        self.topics.suffix_of(topic) == Some(Suffix::Command)
    }

    fn on_too_large(&self, skipped: &Skipped) -> Inbound {
        if !self.is_command(&skipped.topic) {
            return Inbound::Ignored;
        }
        if skipped.retain {
            return Inbound::RetainedCommand;
        }
        match &skipped.found.command_id {
            Some(id) => Inbound::Publish(session::response(
                &self.topics,
                &Response {
                    command_id: id.clone(),
                    success: false,
                    data: None,
                    error: Some(
                        CommandError::too_large(
                            skipped.payload_len as u64,
                            skipped.payload_limit as u64,
                        )
                        .to_string(),
                    ),
                },
            )),
            None => Inbound::Ignored,
        }
    }

    /// What a live (not retained) message on `topic` asks for, at monotonic time `now_ms`.
    pub fn on_message(&mut self, topic: &str, payload: &[u8], now_ms: u64) -> Inbound {
        let Some(suffix) = self.topics.suffix_of(topic) else {
            return Inbound::Ignored;
        };
        match suffix {
            Suffix::Command => self.on_command(payload, now_ms),
            Suffix::TriggerAck => {
                TriggerAck::parse(payload).map_or(Inbound::Ignored, Inbound::TriggerAck)
            }
            Suffix::TriggerResult => {
                TriggerResult::parse(payload).map_or(Inbound::Ignored, Inbound::TriggerResult)
            }
            Suffix::Error => Inbound::ServerError(ServerError::parse(payload)),
            Suffix::Connected => Inbound::Connected(Connected::parse(payload)),
            _ => Inbound::Ignored,
        }
    }

    fn on_command(&mut self, payload: &[u8], now_ms: u64) -> Inbound {
        let command = match Command::parse(payload) {
            Ok(command) => command,
            Err(rejected) => {
                return match rejected.command_id {
                    Some(id) => Inbound::Publish(session::response(
                        &self.topics,
                        &Response::failure(id, &rejected.error),
                    )),
                    None => Inbound::Ignored,
                }
            }
        };
        match self.ledger.admit(&command.command_id, now_ms) {
            Admission::Run => Inbound::Run(command),
            Admission::Replay(json) => Inbound::Publish(session::response_json(&self.topics, json)),
            Admission::Running => Inbound::Ignored,
        }
    }

    /// The response(s) for a finished command: one, plus one per duplicate that arrived
    /// while it ran. The response is cached for later duplicates.
    pub fn complete(
        &mut self,
        command_id: &str,
        result: CommandResult,
        now_ms: u64,
    ) -> Vec<Publication> {
        let json = Response::from_result(command_id, result).to_json();
        let times = self.ledger.complete(command_id, json.clone(), now_ms);
        vec![session::response_json(&self.topics, json); times as usize]
    }

    /// A trigger publication; `payload` `None` sends `{}`.
    pub fn trigger(&self, name: &str, payload: Option<Value>) -> Publication {
        session::trigger(&self.topics, name, payload)
    }

    /// The QoS 0 heartbeat.
    pub fn heartbeat(&self) -> Publication {
        session::heartbeat(&self.topics)
    }

    /// The retained offline status sent before a graceful DISCONNECT.
    pub fn goodbye(&self, timestamp: &str) -> Publication {
        session::offline_status(&self.topics, timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::CommandError;
    use crate::value;

    fn json(text: &str) -> Value {
        value::from_str(text).unwrap()
    }

    fn device() -> DeviceSession {
        DeviceSession::new(DeviceConfig {
            agent_id: "a",
            device_name: "d",
            api_key: "k3y",
            group: Some("g"),
            dedup: DedupConfig {
                max_entries: 8,
                max_bytes: 4096,
                ttl_ms: 1000,
            },
        })
    }

    #[test]
    fn connect_follows_the_protocol() {
        let d = device();
        let will = d.will_payload("T");
        let c = d.connect(&will);
        assert_eq!(c.client_id, "lua-a-d");
        assert_eq!(c.username, Some("a:d"));
        assert_eq!(c.password, Some(&b"k3y"[..]));
        assert!(!c.clean_session);
        assert_eq!(c.keep_alive_s, 60);
        let w = c.will.unwrap();
        assert_eq!(w.topic, "lua/devices/a/d/status");
        assert!(w.retain && w.qos == Qos::AtLeastOnce);
        assert_eq!(w.payload, br#"{"status":"offline","timestamp":"T"}"#);
        assert!(!alloc::format!("{:?}", d.connect(&will)).contains("k3y"));
    }

    #[test]
    fn commands_run_once_and_duplicates_get_the_cached_response() {
        let mut d = device();
        let msg = br#"{"commandId":"c1","command":"echo","payload":{"x":1}}"#;
        let Inbound::Run(cmd) = d.on_message("lua/devices/a/d/command", msg, 0) else {
            panic!("a new id runs")
        };
        assert_eq!(
            (cmd.command.as_str(), cmd.payload.clone()),
            ("echo", json(r#"{"x":1}"#))
        );
        assert_eq!(
            d.on_message("lua/devices/a/d/command", msg, 1),
            Inbound::Ignored
        );
        let out = d.complete("c1", Ok(Some(json("7"))), 2);
        assert_eq!(out.len(), 2, "one answer per delivery");
        assert_eq!(
            out[0].payload,
            br#"{"commandId":"c1","success":true,"data":7}"#
        );
        assert_eq!(out[0].topic, "lua/devices/a/d/response");
        let Inbound::Publish(replay) = d.on_message("lua/devices/a/d/command", msg, 3) else {
            panic!("a duplicate replays")
        };
        assert_eq!(replay, out[0]);
    }

    #[test]
    fn bad_commands_are_answered_when_they_have_an_id() {
        let mut d = device();
        let t = "lua/devices/a/d/command";
        assert_eq!(d.on_message(t, b"nope", 0), Inbound::Ignored);
        let Inbound::Publish(p) = d.on_message(t, br#"{"commandId":"x"}"#, 0) else {
            panic!()
        };
        assert_eq!(
            p.payload,
            br#"{"commandId":"x","success":false,"error":"Malformed command: command is missing"}"#
        );
        let out = d.complete("y", Err(CommandError::unknown("zap")), 0);
        assert_eq!(
            out[0].payload,
            br#"{"commandId":"y","success":false,"error":"Unknown command: zap"}"#
        );
    }

    #[test]
    fn retained_commands_never_run() {
        let mut d = device();
        let msg = br#"{"commandId":"r1","command":"echo"}"#;
        let retained = |retain| Incoming::Message {
            topic: "lua/devices/a/d/command".into(),
            payload: msg.to_vec(),
            retain,
        };
        assert_eq!(d.on_incoming(&retained(true), 0), Inbound::RetainedCommand);
        assert!(
            matches!(d.on_incoming(&retained(false), 0), Inbound::Run(c) if c.command_id == "r1")
        );
        let status = Incoming::Message {
            topic: "lua/devices/a/d/trigger_result".into(),
            payload: br#"{"triggerName":"t","result":1}"#.to_vec(),
            retain: true,
        };
        assert!(
            matches!(d.on_incoming(&status, 0), Inbound::TriggerResult(_)),
            "only commands are refused for being retained"
        );
    }

    #[test]
    fn too_large_commands_are_answered_with_the_limit() {
        let mut d = device();
        let skipped = |topic: &str, id: Option<&str>, retain| {
            Incoming::TooLarge(Skipped {
                topic: topic.into(),
                retain,
                payload_len: 3_000_000,
                payload_limit: 2009,
                found: crate::mqtt::Found {
                    command_id: id.map(Into::into),
                    command: Some("echo".into()),
                },
            })
        };
        let t = "lua/devices/a/d/command";
        let Inbound::Publish(p) = d.on_incoming(&skipped(t, Some("big"), false), 0) else {
            panic!("answered")
        };
        assert_eq!(p.topic, "lua/devices/a/d/response");
        assert_eq!(
            p.payload,
            br#"{"commandId":"big","success":false,"error":"Command too large: 3000000 bytes; this device accepts at most 2009 bytes"}"#
        );
        assert_eq!(d.on_incoming(&skipped(t, None, false), 0), Inbound::Ignored);
        assert_eq!(
            d.on_incoming(&skipped(t, Some("big"), true), 0),
            Inbound::RetainedCommand
        );
        assert_eq!(
            d.on_incoming(
                &skipped("lua/devices/a/d/trigger_result", Some("x"), false),
                0
            ),
            Inbound::Ignored
        );
    }

    #[test]
    fn gateway_messages_are_classified() {
        let mut d = device();
        let p = "lua/devices/a/d/";
        let ack = d.on_message(
            &alloc::format!("{p}trigger_ack"),
            br#"{"triggerId":"t1","received":true}"#,
            0,
        );
        assert!(matches!(ack, Inbound::TriggerAck(a) if a.received && a.trigger_id == "t1"));
        let err = d.on_message(&alloc::format!("{p}error"), b"boom", 0);
        assert_eq!(
            err,
            Inbound::ServerError(ServerError {
                code: None,
                message: Some("boom".into())
            })
        );
        assert!(matches!(
            d.on_message(&alloc::format!("{p}connected"), b"{}", 0),
            Inbound::Connected(_)
        ));
        assert_eq!(
            d.on_message(&alloc::format!("{p}pong"), b"", 0),
            Inbound::Ignored
        );
        assert_eq!(
            d.on_message("lua/devices/a/other/command", b"{}", 0),
            Inbound::Ignored
        );
        let Step::Publish(reg) = &d.after_connack("[]", "T")[2] else {
            panic!()
        };
        assert!(!reg.retain);
    }
}
