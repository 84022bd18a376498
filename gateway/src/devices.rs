//! `luagen devices`: the agent's devices, their groups, status and commands.

use std::time::Duration;

use anyhow::Result;

use crate::directory::{directory_filters, Directory};
use crate::link::{AgentLink, AgentLogin};

/// Read the directory the broker retains for the agent.
pub async fn list(login: &AgentLogin) -> Result<Directory> {
    let (link, mut rx) = AgentLink::connect(login, &directory_filters(&login.agent_id)).await?;
    let directory = Directory::collect(&mut rx, Duration::from_millis(300)).await;
    link.disconnect().await;
    Ok(directory)
}

/// A table: one line per device, online ones first.
pub fn table(directory: &Directory, include_offline: bool) -> String {
    let mut rows: Vec<[String; 4]> = vec![[
        "DEVICE".into(),
        "GROUP".into(),
        "STATUS".into(),
        "COMMANDS".into(),
    ]];
    let mut devices: Vec<_> = directory
        .devices()
        .filter(|d| include_offline || d.online)
        .collect();
    devices.sort_by_key(|d| (!d.online, d.device_name.clone()));
    for d in devices {
        let commands = if d.registered {
            d.command_names().join(", ")
        } else {
            "(no registration seen)".into()
        };
        rows.push([
            d.device_name.clone(),
            d.group.clone().unwrap_or_else(|| "-".into()),
            if d.online { "online" } else { "offline" }.into(),
            commands,
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        out.push_str(&format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    out
}
