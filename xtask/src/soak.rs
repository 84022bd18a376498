//! `cargo xtask soak [broker-url]`: the fault runs (nothing lost, nothing run twice) and the
//! fleet curve, each printed as a table. Nothing here is asserted on time: a fault run fails
//! only on a lost or doubled command, a fleet run only when devices cannot come online.

use anyhow::Result;

use crate::{faults, fleet};

pub fn run(broker_url: Option<&str>) -> Result<()> {
    for table in faults::run()? {
        table.print();
    }
    fleet::curve(broker_url)?.print();
    Ok(())
}
