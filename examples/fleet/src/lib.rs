//! A fleet: many greenhouse sensors in one process, each its own MQTT session. The device is
//! the typed `#[lua_device]` greenhouse (generated from `manifests/greenhouse-sensor.yaml`),
//! unchanged: a fleet is only many configurations of it.
//!
//! Used by `cargo xtask soak` / `cargo xtask bench` (the fleet curve), and usable on its own
//! against any MQTT 3.1.1 broker, clustered ones included.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use lua_device::{Config, DeviceHandle};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How many devices may be between TCP connect and registered at once. Enough to keep the
/// broker busy, few enough that 10,000 CONNECTs do not overflow its listen backlog (a dropped
/// SYN costs a second-long retransmit) or time out behind each other.
pub const CONNECTING_AT_ONCE: usize = 64;

/// Event stream capacity of a fleet device. Nobody listens to a fleet device's events, and
/// the default 256 slots are allocated up front: ~26 KiB of each device's ~70.
pub const EVENT_CAPACITY: usize = 8;

/// Responses awaiting their PUBACK at once, per device. A fleet device answers a few commands
/// a second; rumqttc's default table of 100 costs ~6 KiB a device.
pub const MAX_INFLIGHT: u16 = 16;

/// Device `index`'s name: `{prefix}-{index}`, lowercase words joined by hyphens as the
/// protocol requires when `prefix` is one.
pub fn device_name(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index}")
}

/// The running devices, in name order.
pub struct Fleet {
    devices: Vec<DeviceHandle>,
}

impl Fleet {
    /// Bring `count` greenhouse sensors online, `base` with each one's own name and the
    /// fleet's small buffers ([`EVENT_CAPACITY`], [`MAX_INFLIGHT`]), at most `connecting` in
    /// the connection handshake at a time. Returns once every device is registered; fails if
    /// any device's first connection fails.
    pub async fn start(
        base: &Config,
        prefix: &str,
        count: usize,
        connecting: usize,
    ) -> Result<Self> {
        let slots = Arc::new(Semaphore::new(connecting.max(1)));
        let mut starting = JoinSet::new();
        for index in 0..count {
            let mut config = base
                .clone()
                .with_event_capacity(EVENT_CAPACITY)
                .with_max_inflight(MAX_INFLIGHT);
            config.device_name = device_name(prefix, index);
            let slots = Arc::clone(&slots);
            starting.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let name = config.device_name.clone();
                let device = greenhouse::connect(config)
                    .await
                    .with_context(|| format!("device {name}"))?;
                Ok::<_, anyhow::Error>((index, device))
            });
        }
        let mut devices: Vec<Option<DeviceHandle>> = vec![None; count];
        while let Some(joined) = starting.join_next().await {
            let (index, device) = joined.context("a device task failed")??;
            devices[index] = Some(device);
        }
        Ok(Self {
            devices: devices.into_iter().flatten().collect(),
        })
    }

    /// The devices, in name order.
    pub fn devices(&self) -> &[DeviceHandle] {
        &self.devices
    }

    /// Disconnect every device gracefully (retained offline status, then DISCONNECT), all at
    /// once: each waits only for its own PUBACK.
    pub async fn shutdown(self) {
        let mut stopping = JoinSet::new();
        for device in self.devices {
            stopping.spawn(async move { device.shutdown().await });
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// Raise this process's soft limit on open files to its hard limit (every device holds a
/// socket) and return the new soft limit. Fails when even the hard limit is below `needed`.
#[cfg(unix)]
pub fn raise_fd_limit(needed: u64) -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of each call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above; the new soft limit does not exceed the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    let soft = limit.rlim_cur;
    if soft < needed {
        bail!("{needed} open files needed, but the hard limit is {soft} (raise it: ulimit -Hn)");
    }
    Ok(soft)
}
