//! The broker's retained store, read the way any client can: for the checks that no secret
//! is ever retained.

use std::time::Duration;

use anyhow::{bail, Result};

use crate::gateway::Gateway;

/// Every retained message on the broker at `port` (all topics but `$SYS`), as
/// `(topic, payload)`. A fresh client subscribes to `#` and then publishes a marker: the
/// broker sends the retained messages when it handles the subscription, so all of them
/// arrive before the marker comes back.
pub async fn retained_store(port: u16) -> Result<Vec<(String, Vec<u8>)>> {
    let marker = format!("lua-testkit/retained-scan/{}", std::process::id());
    let mut scanner = Gateway::connect(port, "retained-scanner", &["#".into()]).await?;
    scanner.publish(&marker, "end").await?;
    let mut retained = Vec::new();
    loop {
        let d = match scanner.next(Duration::from_secs(10)).await {
            Ok(d) => d,
            Err(e) => bail!("the scan marker did not come back: {e}"),
        };
        if d.topic == marker {
            scanner.disconnect().await;
            return Ok(retained);
        }
        if d.retain {
            retained.push((d.topic, d.payload.to_vec()));
        }
    }
}
