//! A camera whose `snapshot` command returns a file the way every Lua device should: the
//! bytes go to the Lua CDN with the device's own API key, and the answer carries the public
//! URL (`format: uri` in `camera.yaml`) with the `fileId`, media type and size. MQTT payloads
//! stay small (the agent downloads the picture only if it wants it) and the URL can be handed
//! on as it is.
//!
//! The picture is made in code (a PPM, the simplest image format there is) so the example
//! runs anywhere; a real camera uploads what its sensor gives.

use std::sync::atomic::{AtomicU32, Ordering};

use lua_device::cdn::Cdn;
use lua_device::{lua_device, CommandError, Config, DeviceHandle, Error};

/// The device name in `camera.yaml`.
pub const DEVICE_NAME: &str = "camera";
/// The picture's size in pixels.
pub const WIDTH: usize = 64;
/// The picture's size in pixels.
pub const HEIGHT: usize = 48;
/// The picture's media type.
pub const MEDIA_TYPE: &str = "image/x-portable-pixmap";

/// The camera: where its pictures go, and how many it took.
pub struct Camera {
    cdn: Cdn,
    shots: AtomicU32,
}

#[lua_device("camera.yaml")]
impl Camera {
    async fn snapshot(&self) -> Result<SnapshotOutput, CommandError> {
        let n = self.shots.fetch_add(1, Ordering::Relaxed);
        let picture = frame(n);
        let upload = self
            .cdn
            .upload(picture, &format!("snapshot-{n}.ppm"), MEDIA_TYPE)
            .await
            // The agent sees why (an unknown key, a full CDN...), never the key itself.
            .map_err(|e| CommandError::handler(format!("uploading the snapshot: {e}")))?;
        Ok(SnapshotOutput {
            url: upload.url,
            file_id: upload.file_id,
            media_type: upload.media_type,
            bytes: upload.bytes as _,
        })
    }
}

/// Connect and register the camera on `config`; its pictures go to `config.cdn_url` with
/// `config.api_key`.
pub async fn connect(config: Config) -> Result<DeviceHandle, Error> {
    let cdn = Cdn::from_config(&config).map_err(|e| Error::Config(e.to_string()))?;
    let camera = Camera {
        cdn,
        shots: AtomicU32::new(0),
    };
    camera.connect(config).await.map(|device| device.0)
}

/// Picture number `n`: a binary PPM of a gradient whose colours move with `n`.
pub fn frame(n: u32) -> Vec<u8> {
    let mut ppm = format!("P6\n{WIDTH} {HEIGHT}\n255\n").into_bytes();
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            ppm.extend_from_slice(&[(x * 4) as u8, (y * 5) as u8, (n as usize * 40 % 256) as u8]);
        }
    }
    ppm
}
