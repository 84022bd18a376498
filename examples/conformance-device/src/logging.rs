//! Logging for the fixture devices: `RUST_LOG` as `target=level` directives (default `warn`).
//!
//! `Targets` rather than `EnvFilter`: `EnvFilter`'s span and field filters bring a regex
//! engine with its Unicode tables, ~450 KiB of the conformance device's binary and ~150 KiB
//! of its resident memory, for directives these devices never need.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Log to stderr; an unreadable `RUST_LOG` falls back to `warn`.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}
