//! Socket tests: a real device and a real agent client talking through a real broker
//! (a private mosquitto per test, or an in-process rumqttd).

mod bad_input;
mod broker_rumqttd;
mod device;
mod faults;
mod limits;
mod security;
mod session;
mod support;
mod websocket;
