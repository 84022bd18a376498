//! `cargo xtask soak [broker-url]`: the fault runs (nothing lost, nothing run twice) and the
//! fleet curve, each printed as a table. Nothing here is asserted on time: a fault run fails
//! only on a lost or doubled command, a fleet run only when devices cannot come online.
//! `cargo xtask soak field [minutes]`: the firmware targets left alone (`field_soak`), its
//! table written into BENCHMARKS.md.

use anyhow::{Context, Result};

use crate::{faults, field_soak, fleet, report};

pub fn field(minutes: Option<&str>) -> Result<()> {
    let minutes = minutes
        .map_or(Ok(60), str::parse)
        .context("minutes: a whole number")?;
    let table = field_soak::run(minutes)?;
    table.print();
    let path = lua_testkit::deps::workspace_root().join("BENCHMARKS.md");
    report::update_benchmarks(&path, &[table])?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub fn run(broker_url: Option<&str>) -> Result<()> {
    for table in faults::run()? {
        table.print();
    }
    fleet::curve(broker_url)?.print();
    Ok(())
}
