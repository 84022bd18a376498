//! TLS 1.3 to the broker (embedded-tls, `tls` feature). The broker's certificate chain is
//! verified against the CA embedded at build time (`LUA_MQTT_CA`), its name against the URL's
//! host, and its validity dates against the clock once SNTP has set it.
//!
//! Nothing here depends on embassy: luagen's host tests compile this file as it is and run it
//! against mosquitto over tokio (right CA, wrong CA, wrong name, expired).

use core::cell::RefCell;

use embedded_io_async as io06;
use embedded_io_async_07 as io;
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, FlushPolicy, TlsClock, TlsConfig,
    TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

/// A whole TLS record (16 KiB of plaintext and its overhead): embedded-tls decrypts records in
/// one piece, and a server need not honour a smaller maximum fragment length.
pub const READ_BUFFER: usize = 16_640;
/// Outgoing records; a larger MQTT packet goes out as several records.
pub const WRITE_BUFFER: usize = 4_096;
/// The server's certificate chain, kept from its Certificate to its CertificateVerify message.
const CHAIN_BYTES: usize = 4_096;

pub type Suite = Aes128GcmSha256;

/// Randomness for the key exchange: ChaCha20 seeded with SHA-256 of 256 raw bytes, because the
/// RP2040's ring-oscillator bits are weak and correlated one by one.
pub fn rng(mut entropy: impl FnMut(&mut [u8])) -> ChaCha20Rng {
    let mut raw = [0u8; 256];
    entropy(&mut raw);
    ChaCha20Rng::from_seed(Sha256::digest(raw).into())
}

struct Provider<'a, C: TlsClock> {
    rng: ChaCha20Rng,
    verifier: CertVerifier<'a, Suite, C, CHAIN_BYTES>,
}

impl<C: TlsClock> CryptoProvider for Provider<'_, C> {
    type CipherSuite = Suite;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    // embedded-tls verifies nothing without a verifier, so there is always one.
    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// The TLS handshake over `socket`: an error (`InvalidCertificate`, `InvalidSignature`, ...)
/// means the broker was not proven to be `host` under `ca_der`, and nothing was sent. `C` is the
/// wall clock for validity dates (`None` while unknown).
pub async fn connect<'b, S, C>(
    socket: S,
    host: &str,
    ca_der: &[u8],
    rng: ChaCha20Rng,
    read: &'b mut [u8],
    write: &'b mut [u8],
) -> Result<TlsConnection<'b, S, Suite>, TlsError>
where
    S: io::Read + io::Write + 'b,
    C: TlsClock,
{
    let config = TlsConfig::new().with_server_name(host);
    let provider = Provider::<C> {
        rng,
        verifier: CertVerifier::new(Certificate::X509(ca_der)),
    };
    let mut tls = TlsConnection::new(socket, read, write);
    // Hand records to the TCP stack without waiting for the peer's ACK, like plain TCP does.
    tls.set_flush_policy(FlushPolicy::Relaxed);
    tls.open(TlsContext::new(&config, provider)).await?;
    Ok(tls)
}

/// A socket's reader and writer halves behind one `Copy` handle, which
/// `TlsConnection::split` needs so that reading can go on while the session writes.
pub struct Duplex<'s, R, W> {
    reader: &'s RefCell<R>,
    writer: &'s RefCell<W>,
}

impl<'s, R, W> Duplex<'s, R, W> {
    pub fn new(reader: &'s RefCell<R>, writer: &'s RefCell<W>) -> Self {
        Self { reader, writer }
    }
}

impl<R, W> Clone for Duplex<'_, R, W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, W> Copy for Duplex<'_, R, W> {}

impl<R, W> io::ErrorType for Duplex<'_, R, W> {
    type Error = io::ErrorKind;
}

// Each half of a split connection uses only its own cell (the TLS reader reads, the writer
// writes), so a borrow held across an await never meets another; if it did, that is an error,
// not a panic.
#[allow(clippy::await_holding_refcell_ref)]
impl<R: io06::Read, W> io::Read for Duplex<'_, R, W> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::ErrorKind> {
        let mut reader = self
            .reader
            .try_borrow_mut()
            .map_err(|_| io::ErrorKind::Other)?;
        reader.read(buf).await.map_err(|_| io::ErrorKind::Other)
    }
}

#[allow(clippy::await_holding_refcell_ref)]
impl<R, W: io06::Write> io::Write for Duplex<'_, R, W> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, io::ErrorKind> {
        let mut writer = self
            .writer
            .try_borrow_mut()
            .map_err(|_| io::ErrorKind::Other)?;
        writer.write(buf).await.map_err(|_| io::ErrorKind::Other)
    }

    // The stack sends what it was given on its own; waiting here for the peer's ACK would only
    // slow every message down.
    async fn flush(&mut self) -> Result<(), io::ErrorKind> {
        Ok(())
    }
}
