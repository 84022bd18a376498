//! TLS to the broker (`tls` feature): TLS 1.3 with embedded-tls, and TLS 1.2 (`tls12.rs`) for
//! brokers that refuse 1.3. Either way the broker's certificate chain is verified by `pki.rs`
//! against the trust anchors embedded at build time (the default store, or `LUA_MQTT_CA`), its
//! name against the URL's host, and its validity dates against the clock once SNTP has set it.
//!
//! Nothing here depends on embassy: luagen's host tests compile this file as it is and run it
//! against mosquitto over tokio (every chain shape, wrong CA, wrong name, expired).

use core::cell::RefCell;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};

use embedded_io_async as io06;
use embedded_io_async_07 as io;
use embedded_tls::alert::AlertDescription;
use embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    CryptoRngCore, FlushPolicy, TlsClock, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsReader, TlsVerifier, TlsWriter,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use crate::pki::{self, PkiError, ServerKey};
use crate::tls12;

/// A whole TLS record (16 KiB of plaintext and its overhead): embedded-tls decrypts records in
/// one piece, and a server need not honour a smaller maximum fragment length.
pub const READ_BUFFER: usize = 16_640;
/// Outgoing records; a larger MQTT packet goes out as several records.
pub const WRITE_BUFFER: usize = 4_096;

pub type Suite = Aes128GcmSha256;

/// Randomness for the key exchange: ChaCha20 seeded with SHA-256 of 256 raw bytes, because the
/// RP2040's ring-oscillator bits are weak and correlated one by one.
pub fn rng(mut entropy: impl FnMut(&mut [u8])) -> ChaCha20Rng {
    let mut raw = [0u8; 256];
    entropy(&mut raw);
    ChaCha20Rng::from_seed(Sha256::digest(raw).into())
}

/// The server's proof of identity, checked by `pki.rs`: the chain in its Certificate message,
/// then its CertificateVerify signature over the transcript with the leaf's key.
struct Verifier<'a, C: TlsClock> {
    anchors: &'a [u8],
    host: &'a str,
    /// The leaf's key and the transcript up to the Certificate message, between the two.
    pending: Option<(ServerKey, Sha256)>,
    /// Set only by a CertificateVerify that checked out after a chain that did.
    verified: bool,
    clock: PhantomData<C>,
}

impl<C: TlsClock> Verifier<'_, C> {
    fn refuse(&self, e: PkiError, as_tls: TlsError) -> TlsError {
        pki::log_refusal(self.host, e);
        as_tls
    }
}

impl<C: TlsClock> TlsVerifier<Suite> for Verifier<'_, C> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        // The name comes from the same configuration as `host`; anything else is a bug.
        if hostname == self.host {
            Ok(())
        } else {
            Err(TlsError::InvalidCertificate)
        }
    }

    fn verify_certificate(
        &mut self,
        transcript: &Sha256,
        cert: CertificateRef,
    ) -> Result<(), TlsError> {
        self.verified = false;
        self.pending = None;
        let mut chain: [&[u8]; 16] = [&[]; 16];
        let mut n = 0;
        for entry in cert.entries.iter() {
            let (CertificateEntryRef::X509(der), Some(slot)) = (entry, chain.get_mut(n)) else {
                return Err(TlsError::InvalidCertificate);
            };
            *slot = der;
            n += 1;
        }
        let key = pki::verify_chain(self.anchors, &chain[..n], self.host, C::now())
            .map_err(|e| self.refuse(e, TlsError::InvalidCertificate))?;
        self.pending = Some((key, transcript.clone()));
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef) -> Result<(), TlsError> {
        // A CertificateVerify without a verified chain before it proves nothing.
        let (key, transcript) = self.pending.take().ok_or(TlsError::InvalidHandshake)?;
        let scheme = verify.signature_scheme.as_u16();
        if !pki::tls13_allows(&key, scheme) {
            return Err(self.refuse(
                PkiError::UnsupportedAlgorithm,
                TlsError::InvalidSignatureScheme,
            ));
        }
        // RFC 8446 4.4.3: 64 spaces, the context string, a zero byte, the transcript hash.
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let mut message = [0x20u8; 64 + CONTEXT.len() + 32];
        message[64..64 + CONTEXT.len()].copy_from_slice(CONTEXT);
        message[64 + CONTEXT.len()..].copy_from_slice(&transcript.finalize());
        pki::verify_signature(&key, scheme, &message, verify.signature)
            .map_err(|e| self.refuse(e, TlsError::InvalidSignature))?;
        self.verified = true;
        Ok(())
    }
}

struct Provider<'a, C: TlsClock> {
    rng: ChaCha20Rng,
    verifier: Verifier<'a, C>,
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

/// Set once a broker refused TLS 1.3 and took 1.2, so that reconnects during this boot go
/// straight to 1.2 (a load and a store: thumbv6m has no compare-and-swap, and none is needed).
static USE_TLS12: AtomicBool = AtomicBool::new(false);

/// Whether this boot's handshakes start with TLS 1.2.
pub fn uses_tls12() -> bool {
    USE_TLS12.load(Ordering::Relaxed)
}

/// The TLS handshake over `socket`, in the version this boot settled on (1.3 until a broker
/// refuses it). An error means the broker was not proven to be `host` under `anchors`, and
/// nothing was sent; [`Error::Fallback`] asks the caller to reconnect at once, for TLS 1.2.
/// `C` is the wall clock for validity dates (`None` while unknown).
pub async fn connect<'b, S, C>(
    socket: S,
    host: &str,
    anchors: &[u8],
    rng: ChaCha20Rng,
    read: &'b mut [u8],
    write: &'b mut [u8],
) -> Result<Link<'b, S>, Error>
where
    S: io::Read + io::Write + 'b,
    C: TlsClock,
{
    if !uses_tls12() {
        return match connect13::<S, C>(socket, host, anchors, rng, read, write).await {
            Ok(link) => Ok(Link::Tls13(link)),
            Err(e) if refuses_tls13(&e) => {
                USE_TLS12.store(true, Ordering::Relaxed);
                Err(Error::Fallback(e))
            }
            Err(e) => Err(Error::Tls13(e)),
        };
    }
    match tls12::connect(socket, host, anchors, C::now(), rng, read, write).await {
        Ok(link) => Ok(Link::Tls12(link)),
        Err(e) => {
            // The sentinel: the broker speaks 1.3, so the refusal that led here was forged or
            // is gone. A refusal of 1.2 itself: the broker moved on to 1.3 only. Either way the
            // next attempt, after the usual backoff, is 1.3 again.
            if matches!(
                e,
                tls12::Error::Downgrade
                    | tls12::Error::Version
                    | tls12::Error::Alert(40)
                    | tls12::Error::Alert(70)
            ) {
                USE_TLS12.store(false, Ordering::Relaxed);
            }
            Err(Error::Tls12(e))
        }
    }
}

/// How a TLS-1.2-only server answers embedded-tls's ClientHello: OpenSSL sends
/// protocol_version (it reads supported_versions and finds no 1.2 in it), other stacks
/// handshake_failure (no common cipher suite); one that answered with a 1.2 ServerHello would
/// name a suite embedded-tls does not know.
fn refuses_tls13(e: &TlsError) -> bool {
    matches!(
        e,
        TlsError::HandshakeAborted(
            _,
            AlertDescription::ProtocolVersion | AlertDescription::HandshakeFailure
        ) | TlsError::InvalidCipherSuite
    )
}

/// Why a handshake or session failed.
#[derive(Debug)]
pub enum Error {
    Tls13(TlsError),
    Tls12(tls12::Error),
    /// The broker refused TLS 1.3 this way; reconnect now, this boot uses TLS 1.2 from here on.
    Fallback(TlsError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tls13(e) => write!(f, "TLS 1.3: {e:?}"),
            Error::Tls12(e) => write!(f, "TLS 1.2: {e}"),
            Error::Fallback(e) => write!(f, "TLS 1.3 refused ({e:?}): falling back to TLS 1.2"),
        }
    }
}

impl core::error::Error for Error {}

impl io::Error for Error {
    fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Tls13(e) | Error::Fallback(e) => io::Error::kind(e),
            Error::Tls12(e) => io::Error::kind(e),
        }
    }
}

/// A TLS session to the broker, in whichever version it was set up. One lives at a time, in
/// the connection's future; boxing the larger variant would only move it to the heap.
#[allow(clippy::large_enum_variant)]
pub enum Link<'b, S>
where
    S: io::Read + io::Write + 'b,
{
    Tls13(TlsConnection<'b, S, Suite>),
    Tls12(tls12::Connection<'b, S>),
}

impl<'b, S> Link<'b, S>
where
    S: io::Read + io::Write + Clone + 'b,
{
    /// A reader and a writer that work at the same time.
    pub fn split(&mut self) -> (LinkReader<'_, S>, LinkWriter<'_, S>) {
        match self {
            Link::Tls13(c) => {
                let (r, w) = c.split();
                (LinkReader::Tls13(r), LinkWriter::Tls13(w))
            }
            Link::Tls12(c) => {
                let (r, w) = c.split();
                (LinkReader::Tls12(r), LinkWriter::Tls12(w))
            }
        }
    }
}

pub enum LinkReader<'a, S>
where
    S: io::Read + 'a,
{
    Tls13(TlsReader<'a, S, Suite>),
    Tls12(tls12::Reader<'a, S>),
}

pub enum LinkWriter<'a, S>
where
    S: io::Write + 'a,
{
    Tls13(TlsWriter<'a, S, Suite>),
    Tls12(tls12::Writer<'a, S>),
}

impl<'a, S: io::Read + 'a> io::ErrorType for LinkReader<'a, S> {
    type Error = Error;
}

impl<'a, S: io::Write + 'a> io::ErrorType for LinkWriter<'a, S> {
    type Error = Error;
}

impl<'a, S: io::Read + 'a> io::Read for LinkReader<'a, S> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        match self {
            LinkReader::Tls13(r) => r.read(buf).await.map_err(Error::Tls13),
            LinkReader::Tls12(r) => r.read(buf).await.map_err(Error::Tls12),
        }
    }
}

impl<'a, S: io::Write + 'a> io::Write for LinkWriter<'a, S> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        match self {
            LinkWriter::Tls13(w) => w.write(buf).await.map_err(Error::Tls13),
            LinkWriter::Tls12(w) => w.write(buf).await.map_err(Error::Tls12),
        }
    }

    async fn flush(&mut self) -> Result<(), Error> {
        match self {
            LinkWriter::Tls13(w) => w.flush().await.map_err(Error::Tls13),
            LinkWriter::Tls12(w) => w.flush().await.map_err(Error::Tls12),
        }
    }
}

/// The TLS 1.3 handshake over `socket`: an error (`InvalidCertificate`, `InvalidSignature`,
/// ...) means the broker was not proven to be `host` under `anchors`, and nothing was sent.
async fn connect13<'b, S, C>(
    socket: S,
    host: &str,
    anchors: &[u8],
    rng: ChaCha20Rng,
    read: &'b mut [u8],
    write: &'b mut [u8],
) -> Result<TlsConnection<'b, S, Suite>, TlsError>
where
    S: io::Read + io::Write + 'b,
    C: TlsClock,
{
    // RSA schemes too: public CAs' RSA chains end in RSA leaves, which sign with PSS.
    let config = TlsConfig::new()
        .with_server_name(host)
        .enable_rsa_signatures();
    let mut provider = Provider::<C> {
        rng,
        verifier: Verifier {
            anchors,
            host,
            pending: None,
            verified: false,
            clock: PhantomData,
        },
    };
    let mut tls = TlsConnection::new(socket, read, write);
    // Hand records to the TCP stack without waiting for the peer's ACK, like plain TCP does.
    tls.set_flush_policy(FlushPolicy::Relaxed);
    tls.open(TlsContext::new(&config, &mut provider)).await?;
    // embedded-tls accepts a Finished that no Certificate and CertificateVerify preceded; a
    // server that skipped them proved nothing, so the session ends before a byte is sent.
    if !provider.verifier.verified {
        let _ = provider
            .verifier
            .refuse(PkiError::NoCertificate, TlsError::InvalidCertificate);
        return Err(TlsError::InvalidCertificate);
    }
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
