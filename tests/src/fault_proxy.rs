//! A TCP proxy between a device and the broker that breaks its connections on purpose.
//!
//! Each relayed connection lives for a random time drawn from [`FaultPlan::lifetime`], then is
//! cut one of three ways: a clean close (FIN), a reset (RST), or mid-packet (the next chunk in
//! either direction is forwarded only in part before the reset), which is the case that finds
//! codecs and sessions that trust a packet to arrive whole. The randomness comes from a seed,
//! so a failing run is repeatable by its seed.
//!
//! Faults can be paused ([`FaultProxy::set_faults`]) so a test can let the last commands of a
//! run settle over a stable link and then count what arrived.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How connections are broken.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// How long a connection lives before it is cut, drawn uniformly from this range.
    pub lifetime: Range<Duration>,
    /// Share of cuts (0.0..=1.0) that truncate the next chunk mid-packet before resetting.
    pub mid_packet: f64,
    /// Share of the remaining cuts that reset instead of closing cleanly.
    pub reset: f64,
    /// Seed of every random choice; print it with a failure to replay the run.
    pub seed: u64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_millis(200)..Duration::from_millis(1500),
            mid_packet: 0.4,
            reset: 0.5,
            seed: 0x5eed_1ab5,
        }
    }
}

/// How a connection was ended by the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    Close,
    Reset,
    MidPacket,
}

/// What the proxy did, for the test's report.
#[derive(Default, Debug)]
pub struct FaultStats {
    connections: AtomicUsize,
    cuts: AtomicUsize,
    mid_packet_cuts: AtomicUsize,
}

impl FaultStats {
    /// Connections relayed so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Connections the proxy cut (any way).
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::Relaxed)
    }

    /// Cuts that truncated a chunk in flight.
    pub fn mid_packet_cuts(&self) -> usize {
        self.mid_packet_cuts.load(Ordering::Relaxed)
    }
}

/// A listening fault proxy; dropping it stops accepting and ends every relayed connection.
pub struct FaultProxy {
    port: u16,
    seed: u64,
    faults: Arc<AtomicBool>,
    stats: Arc<FaultStats>,
    accept: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl FaultProxy {
    /// Listen on a free loopback port and relay every connection to `127.0.0.1:broker_port`,
    /// breaking them as `plan` says. Faults start enabled.
    pub async fn start(broker_port: u16, plan: FaultPlan) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let faults = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(FaultStats::default());
        let (stop, stopped) = watch::channel(false);
        let seed = plan.seed;
        let accept = tokio::spawn(accept_loop(
            listener,
            broker_port,
            plan,
            Shared {
                faults: faults.clone(),
                stats: stats.clone(),
                stopped,
            },
        ));
        Ok(Self {
            port,
            seed,
            faults,
            stats,
            accept,
            stop,
        })
    }

    /// The port devices connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:{port}`, the URL handed to the device.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The seed in use, to print with a failure.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Turn cutting on or off; connections opened while off live until turned on again.
    pub fn set_faults(&self, on: bool) {
        self.faults.store(on, Ordering::SeqCst);
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> &FaultStats {
        &self.stats
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = self.stop.send(true);
    }
}

#[derive(Clone)]
struct Shared {
    faults: Arc<AtomicBool>,
    stats: Arc<FaultStats>,
    stopped: watch::Receiver<bool>,
}

async fn accept_loop(listener: TcpListener, broker_port: u16, plan: FaultPlan, shared: Shared) {
    let mut rng = SplitMix(plan.seed);
    while let Ok((device, _)) = listener.accept().await {
        let Ok(broker) = TcpStream::connect(("127.0.0.1", broker_port)).await else {
            continue; // the device sees its connection refused-by-close, as with a dead broker
        };
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let lifetime = rng.duration(&plan.lifetime);
        let cut = if rng.chance(plan.mid_packet) {
            Cut::MidPacket
        } else if rng.chance(plan.reset) {
            Cut::Reset
        } else {
            Cut::Close
        };
        tokio::spawn(relay(
            device,
            broker,
            lifetime,
            cut,
            rng.next(),
            shared.clone(),
        ));
    }
}

/// Relay one connection until either side closes, the proxy stops, or its cut comes due.
async fn relay(
    device: TcpStream,
    broker: TcpStream,
    lifetime: Duration,
    cut: Cut,
    seed: u64,
    shared: Shared,
) {
    let _ = device.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    if cut != Cut::Close {
        // Zero linger turns the close into an RST, as a dropped WiFi link or NAT timeout would.
        let _ = device.set_zero_linger();
        let _ = broker.set_zero_linger();
    }
    let (device_rx, device_tx) = device.into_split();
    let (broker_rx, broker_tx) = broker.into_split();
    // Both pumps watch `due`; the first to see it during a mid-packet cut truncates.
    let (due_tx, due) = watch::channel(false);
    let truncated = Arc::new(AtomicU64::new(0));
    let up = tokio::spawn(pump(
        device_rx,
        broker_tx,
        due.clone(),
        cut,
        seed,
        truncated.clone(),
    ));
    let down = tokio::spawn(pump(
        broker_rx,
        device_tx,
        due,
        cut,
        seed.rotate_left(17),
        truncated.clone(),
    ));
    let mut stopped = shared.stopped.clone();
    let timer = async {
        // A paused proxy keeps the connection; the clock restarts when faults resume.
        loop {
            tokio::time::sleep(lifetime).await;
            if shared.faults.load(Ordering::SeqCst) {
                break;
            }
        }
    };
    let ended_by_cut = tokio::select! {
        _ = timer => true,
        _ = stopped.wait_for(|s| *s) => false,
        _ = wait_either(&up, &down) => false,
    };
    if ended_by_cut {
        shared.stats.cuts.fetch_add(1, Ordering::Relaxed);
        let _ = due_tx.send(true);
        if cut == Cut::MidPacket {
            // Give traffic a moment to arrive so the cut lands inside a packet; an idle link
            // is simply reset.
            let _ = tokio::time::timeout(Duration::from_millis(500), wait_either(&up, &down)).await;
            if truncated.load(Ordering::Relaxed) > 0 {
                shared.stats.mid_packet_cuts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    up.abort();
    down.abort();
}

async fn wait_either(a: &JoinHandle<()>, b: &JoinHandle<()>) {
    while !a.is_finished() && !b.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut due: watch::Receiver<bool>,
    cut: Cut,
    seed: u64,
    truncated: Arc<AtomicU64>,
) {
    let mut rng = SplitMix(seed);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = due.wait_for(|d| *d), if cut != Cut::MidPacket => return,
        };
        if cut == Cut::MidPacket && *due.borrow() {
            // Forward a strict prefix (possibly empty) and stop: the peer holds half a packet.
            let keep = if n > 1 {
                rng.below(n as u64) as usize
            } else {
                0
            };
            let _ = to.write_all(&chunk[..keep]).await;
            truncated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if to.write_all(&chunk[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// SplitMix64: tiny, seedable, and good enough to pick fault times.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn duration(&mut self, range: &Range<Duration>) -> Duration {
        let lo = range.start.as_micros() as u64;
        let hi = range.end.as_micros().max(range.start.as_micros() + 1) as u64;
        Duration::from_micros(lo + self.below(hi - lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server behind the proxy: bytes pass unchanged until the cut, and the cut comes.
    #[tokio::test]
    async fn relays_then_cuts_within_the_lifetime() {
        let echo = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let echo_port = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let plan = FaultPlan {
            lifetime: Duration::from_millis(300)..Duration::from_millis(301),
            mid_packet: 0.0,
            reset: 0.0,
            seed: 1,
        };
        let proxy = FaultProxy::start(echo_port, plan).await.unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
            .await
            .expect("the proxy never cut the connection");
        assert!(closed.is_ok() && rest.is_empty());
        assert_eq!(proxy.stats().cuts(), 1);
    }

    #[tokio::test]
    async fn paused_faults_keep_connections_alive() {
        let sink = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let sink_port = sink.local_addr().unwrap().port();
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = sink.accept().await {
                held.push(s);
            }
        });
        let plan = FaultPlan {
            lifetime: Duration::from_millis(50)..Duration::from_millis(60),
            ..FaultPlan::default()
        };
        let proxy = FaultProxy::start(sink_port, plan).await.unwrap();
        proxy.set_faults(false);
        let mut client = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(400), client.read(&mut buf)).await;
        assert!(read.is_err(), "a paused proxy cut the connection");
        assert_eq!(proxy.stats().cuts(), 0);
    }

    #[test]
    fn splitmix_is_seeded() {
        let a: Vec<u64> = (0..4).map(|_| SplitMix(7).next()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut r = SplitMix(7);
        assert_ne!(r.next(), r.next());
    }
}
