//! MQTT packets as the gateway's relays read and write them: raw frames off a stream (a
//! packet over the limit reported from its fixed header alone, never read into memory), and
//! rumqttc's packets parsed from and encoded to them.

use anyhow::{bail, Result};
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::Packet;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A packet as read: whole, or announced larger than the limit (nothing of it read past its
/// fixed header).
pub(crate) enum Frame {
    Whole(Bytes),
    TooLarge { byte1: u8, len: usize },
}

/// The next MQTT packet, raw, of at most `max` bytes after its fixed header; `None` at end of
/// stream. A larger one is reported from its fixed header alone.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Frame>> {
    loop {
        match rumqttc::mqttbytes::check(buf.iter(), max) {
            Ok(header) => {
                return Ok(Some(Frame::Whole(
                    buf.split_to(header.frame_length()).freeze(),
                )))
            }
            Err(rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(len)) => {
                return Ok(Some(Frame::TooLarge { byte1: buf[0], len }))
            }
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => bail!("malformed MQTT packet: {e:?}"),
        }
        if r.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

pub(crate) fn parse(frame: &Bytes, max: usize) -> Result<Packet> {
    let mut bytes = BytesMut::from(&frame[..]);
    Packet::read(&mut bytes, max).map_err(|e| anyhow::anyhow!("malformed MQTT packet: {e:?}"))
}

pub(crate) fn encode(packet: Packet) -> Bytes {
    let mut out = BytesMut::new();
    packet
        .write(&mut out, usize::MAX)
        .expect("packets the door builds always encode");
    out.freeze()
}
