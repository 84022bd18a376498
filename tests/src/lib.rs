//! Test support shared by every luagen suite.
//!
//! Tests talk to real peers over real sockets: each test starts its own broker on a free
//! loopback port and stops it by PID when it is dropped, so suites run in parallel and leave
//! nothing behind.
//!
//! The conformance kit: a [`device::DeviceLauncher`] starts any implementation as a process,
//! [`session::run`] drives it through the scripted gateway session behind a
//! [`proxy::RecordingProxy`], and the resulting [`transcript::Transcript`]s of two
//! implementations are compared with [`compare::differences`]. [`session::run_plan`] runs the
//! same kind of session derived from any manifest ([`plan::Plan`]).

pub mod compare;
pub mod conformance;
pub mod corpus;
pub mod deps;
pub mod device;
pub mod fault_proxy;
pub mod faults;
pub mod fixtures;
pub mod gateway;
pub mod micropython;
pub mod mosquitto;
pub mod node;
pub mod pki;
pub mod plan;
pub mod plan_facts;
pub mod ports;
pub mod protocol_facts;
pub mod proxy;
pub mod recorder;
pub mod retained;
pub mod schema_instance;
pub mod session;
pub mod session_facts;
pub mod skips;
pub mod synthetic;
pub mod thumbv6m;
pub mod tls;
pub mod transcript;

pub use mosquitto::Mosquitto;
