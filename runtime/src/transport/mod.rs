//! The std transport: the protocol over rumqttc and tokio.
//!
//! Shaped like rumqtt: [`Device::builder`] collects commands and callbacks, `connect` spawns
//! the task that drives the MQTT event loop, and the returned [`DeviceHandle`] is a cheap
//! clone for triggers, events and shutdown.

mod backlog;
mod clock;
mod commands;
mod config;
mod context;
mod device;
mod driver;
mod dynamic;
mod error;
mod event;
mod handle;
mod relay;
mod shared;
mod tls;
mod url;
#[cfg(unix)]
mod websocket;

pub use config::Config;
pub use device::{Device, DeviceBuilder};
pub use dynamic::DynamicDispatch;
pub use error::Error;
pub use event::DeviceEvent;
pub use handle::DeviceHandle;
pub use shared::Shared;
pub use url::{BrokerUrl, Scheme};

#[cfg(feature = "agent")]
pub(crate) use clock::random_u32;
#[cfg(feature = "agent")]
pub(crate) use driver::network_options;
