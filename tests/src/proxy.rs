//! A TCP proxy between a device and the broker that forwards bytes unchanged and feeds the
//! MQTT 3.1.1 packets it sees to a [`Recorder`].

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use bytes::BytesMut;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::mqttbytes::Error as CodecError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::recorder::{Direction, Event, Recorder};

/// Large enough for any packet of the protocol; a bigger one is recorded as undecodable.
const MAX_PACKET: usize = 16 * 1024 * 1024;

/// A listening proxy; dropping it stops accepting (open connections end with their peers).
pub struct RecordingProxy {
    port: u16,
    accept: JoinHandle<()>,
}

impl RecordingProxy {
    /// Listen on a free loopback port and relay every connection to `127.0.0.1:broker_port`.
    pub async fn start(broker_port: u16, recorder: Recorder) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let accept = tokio::spawn(accept_loop(listener, broker_port, recorder));
        Ok(Self { port, accept })
    }

    /// The port devices connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:{port}`, the URL handed to the device.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, broker_port: u16, recorder: Recorder) {
    let next = AtomicUsize::new(0);
    while let Ok((device, _)) = listener.accept().await {
        let connection = next.fetch_add(1, Ordering::Relaxed);
        let Ok(broker) = TcpStream::connect(("127.0.0.1", broker_port)).await else {
            recorder.event(
                connection,
                Direction::DeviceToBroker,
                Event::Undecodable("proxy could not reach the broker".into()),
            );
            continue;
        };
        let _ = device.set_nodelay(true);
        let _ = broker.set_nodelay(true);
        let (device_rx, device_tx) = device.into_split();
        let (broker_rx, broker_tx) = broker.into_split();
        let pump = Pump {
            connection,
            recorder: recorder.clone(),
        };
        tokio::spawn(
            pump.clone()
                .run(device_rx, broker_tx, Direction::DeviceToBroker),
        );
        tokio::spawn(pump.run(broker_rx, device_tx, Direction::BrokerToDevice));
    }
}

#[derive(Clone)]
struct Pump {
    connection: usize,
    recorder: Recorder,
}

impl Pump {
    /// Forward first, decode after, so recording never delays or alters the stream.
    async fn run(self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf, direction: Direction) {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut pending = BytesMut::new();
        let mut decoding = true;
        loop {
            let n = match from.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if to.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            if decoding {
                pending.extend_from_slice(&chunk[..n]);
                decoding = self.decode(&mut pending, direction);
            }
        }
        self.recorder
            .event(self.connection, direction, Event::Closed);
        let _ = to.shutdown().await;
    }

    /// Record every complete packet in `pending`; false once the codec gave up on the stream.
    fn decode(&self, pending: &mut BytesMut, direction: Direction) -> bool {
        loop {
            match Packet::read(pending, MAX_PACKET) {
                Ok(packet) => self.recorder.packet(self.connection, direction, packet),
                Err(CodecError::InsufficientBytes(_)) => return true,
                Err(e) => {
                    self.recorder.event(
                        self.connection,
                        direction,
                        Event::Undecodable(e.to_string()),
                    );
                    return false;
                }
            }
        }
    }
}
