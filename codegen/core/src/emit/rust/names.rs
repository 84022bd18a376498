//! Names of the device-level items generated beside the payload types.

use proc_macro2::Ident;
use quote::format_ident;

use crate::ident;
use crate::model::Device;
use crate::names::{self, Names};

/// The generated device-level item names, derived from the device name
/// ([`ident::rust_device_items`], which the Rust naming pass keeps free, so no payload type
/// can take one).
#[derive(Clone, Debug)]
pub struct DeviceNames {
    /// `GreenhouseSensorHandler`: the trait with one method per command.
    pub handler_trait: Ident,
    /// `GreenhouseSensorDevice<H>`: the dispatch adapter over a handler.
    pub adapter: Ident,
    /// `GreenhouseSensorTriggers<'_>`: typed trigger senders.
    pub triggers: Ident,
    /// `GreenhouseSensorHandle`: a connected device.
    pub handle: Ident,
    /// `GreenhouseSensorAgent<'_>`: the typed agent-side client.
    pub agent: Ident,
    /// `__lua_device_checks_greenhouse_sensor`: the private module holding the checks.
    pub checks_module: Ident,
    /// `__lua_device_state_greenhouse_sensor`: the macro's wrapper around a user's state.
    pub state_wrapper: Ident,
    /// The payload types' and their members' Rust names (the naming pass, after the items
    /// above).
    pub types: Names,
}

impl DeviceNames {
    pub fn new(device: &Device) -> Self {
        let name = &device.name;
        let types = names::rust(device);
        let [handler_trait, adapter, triggers, handle, agent, state_wrapper] =
            ident::rust_device_items(name).map(|item| format_ident!("{item}"));
        let snake = ident::rust_snake(name);
        Self {
            types,
            handler_trait,
            adapter,
            triggers,
            handle,
            agent,
            checks_module: format_ident!("__lua_device_checks_{snake}"),
            state_wrapper,
        }
    }
}
