#![cfg_attr(not(feature = "std"), no_std)]
//! Runtime for Lua AI agent devices over MQTT.
