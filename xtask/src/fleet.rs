//! The fleet curve for `cargo xtask soak` and `cargo xtask bench`.

use anyhow::{bail, Result};

use crate::report::Table;

pub fn curve(_broker_url: Option<&str>) -> Result<Table> {
    bail!("the fleet harness lands with examples/fleet")
}
