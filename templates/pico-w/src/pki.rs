//! The broker's certificate chain, checked against a store of trust anchors (`tls` feature).
//!
//! The anchors are one byte slice of concatenated DER certificates: the default store or the
//! CA of `LUA_MQTT_CA`, as build.rs writes them. From the leaf, a path is built through the
//! intermediates the server sent (in any order, unrelated extras skipped) to an anchor whose
//! subject is the certificate's issuer and whose key verifies its signature. Intermediates must
//! be CAs allowed to sign certificates; the leaf must name the host in subjectAltName (its
//! common name only when it has no subjectAltName); dates are checked once the clock is known.
//!
//! Signatures: RSA 2048-4096 bits (PKCS#1 v1.5 with SHA-256/384/512, PSS with the parameters
//! the certificate gives), ECDSA P-256 and P-384 with SHA-256/384. [`verify_signature`] checks
//! the server's handshake signature for TLS 1.3 (`tls.rs`) and TLS 1.2 alike.
//!
//! Everything read here comes from the network: the DER reader checks every length against
//! what is left, the work is bounded (path depth, signature checks), and nothing panics.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Why a chain or a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub enum PkiError {
    /// The server sent no certificate.
    NoCertificate,
    /// DER that does not parse as a certificate (or key, or signature).
    Malformed,
    /// An algorithm, curve or signature scheme this firmware does not verify.
    UnsupportedAlgorithm,
    /// An RSA key outside 2048-4096 bits.
    BadKeySize,
    /// A signature that does not verify.
    BadSignature,
    /// No path from the leaf to a trust anchor.
    UnknownIssuer,
    /// An issuer that may not issue certificates (basicConstraints, keyUsage, pathLen).
    NotCa,
    /// The leaf is not for a TLS server (extendedKeyUsage, keyUsage, or it is a CA).
    WrongUsage,
    /// A critical extension this firmware does not understand.
    UnknownCriticalExtension,
    /// The leaf does not name the host.
    NameMismatch,
    /// A certificate's notAfter is past.
    Expired,
    /// A certificate's notBefore is to come.
    NotYetValid,
    /// More certificates than a path may take, or more signature checks than it may cost.
    TooMuch,
}

/// The leaf's public key, owned, for the server's handshake signature.
#[derive(Clone, Debug)]
pub enum ServerKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::PublicKey),
}

/// Intermediates a path may hold between the leaf and its anchor.
const MAX_INTERMEDIATES: usize = 6;
/// Certificates a server may send: embedded-tls keeps at most 16.
const MAX_CHAIN: usize = 16;
/// Signature checks one chain may cost: an RSA-4096 check is tens of milliseconds on the
/// Cortex-M0+, and a hostile server could offer many look-alike issuers.
const MAX_SIGNATURE_CHECKS: u32 = 16;

/// Say why the broker at `host` was refused, where its owner looks: the chip's log, or stderr
/// in luagen's host tests. Both TLS versions report through here.
pub fn log_refusal(host: &str, e: PkiError) {
    #[cfg(target_os = "none")]
    defmt::warn!("broker {} refused: {}", host, e);
    #[cfg(not(target_os = "none"))]
    std::eprintln!("pki: {e:?} ({host})");
}

/// Verify the server's `chain` (`chain[0]` the leaf, then the rest as sent) for `host` against
/// `anchors` (concatenated DER certificates), at `now_s` (Unix seconds; `None` while the clock
/// is unknown: dates are then not checked). Returns the leaf's key.
pub fn verify_chain(
    anchors: &[u8],
    chain: &[&[u8]],
    host: &str,
    now_s: Option<u64>,
) -> Result<ServerKey, PkiError> {
    let leaf_der = *chain.first().ok_or(PkiError::NoCertificate)?;
    if chain.len() > MAX_CHAIN {
        return Err(PkiError::TooMuch);
    }
    let leaf = Cert::parse(leaf_der)?;
    if !leaf.names(host.as_bytes())? {
        return Err(PkiError::NameMismatch);
    }
    leaf.check_dates(now_s)?;
    // A CA certificate serving TLS is refused unless it is itself an anchor: a self-signed
    // broker certificate given as LUA_MQTT_CA.
    if leaf.ca && !anchors_hold(anchors, leaf_der) {
        return Err(PkiError::WrongUsage);
    }
    if leaf.unknown_critical {
        return Err(PkiError::UnknownCriticalExtension);
    }
    // keyUsage, when present, must allow the handshake signature (ECDHE in TLS 1.2 and 1.3).
    if leaf
        .key_usage
        .is_some_and(|bits| bits & KU_DIGITAL_SIGNATURE == 0)
    {
        return Err(PkiError::WrongUsage);
    }
    if !leaf.serves_tls()? {
        return Err(PkiError::WrongUsage);
    }
    let key = public_key(leaf.key_alg, leaf.key)?;
    let mut budget = MAX_SIGNATURE_CHECKS;
    path(&leaf, chain, 1, 0, anchors, now_s, &mut budget)?;
    Ok(key)
}

/// Verify the server's handshake `signature` over `message` with `key`, for the TLS
/// SignatureScheme `scheme`: 0x0401/0x0501/0x0601 rsa_pkcs1_sha256/384/512, 0x0804/0x0805/
/// 0x0806 rsa_pss_rsae_sha256/384/512, 0x0403 ecdsa_secp256r1_sha256, 0x0503
/// ecdsa_secp384r1_sha384. As TLS 1.2 reads the ECDSA code points, the hash is bound and the
/// curve is the key's; TLS 1.3's stricter pairing is the caller's (`tls.rs`).
pub fn verify_signature(
    key: &ServerKey,
    scheme: u16,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    let alg = match scheme {
        0x0401 => SigAlg::Rsa(Padding::Pkcs1, Hash::Sha256),
        0x0501 => SigAlg::Rsa(Padding::Pkcs1, Hash::Sha384),
        0x0601 => SigAlg::Rsa(Padding::Pkcs1, Hash::Sha512),
        0x0804 => SigAlg::Rsa(Padding::Pss(32), Hash::Sha256),
        0x0805 => SigAlg::Rsa(Padding::Pss(48), Hash::Sha384),
        0x0806 => SigAlg::Rsa(Padding::Pss(64), Hash::Sha512),
        0x0403 => SigAlg::Ecdsa(Hash::Sha256),
        0x0503 => SigAlg::Ecdsa(Hash::Sha384),
        _ => return Err(PkiError::UnsupportedAlgorithm),
    };
    verify_signed(key, alg, message, signature)
}

/// From `cert` up to an anchor, through the certificates of `chain` not yet in the path
/// (`used`, a bit per index). `depth` counts the intermediates below `cert`.
fn path(
    cert: &Cert,
    chain: &[&[u8]],
    used: u32,
    depth: usize,
    anchors: &[u8],
    now_s: Option<u64>,
    budget: &mut u32,
) -> Result<(), PkiError> {
    let mut refusal = PkiError::UnknownIssuer;
    let note = |refusal: &mut PkiError, e: PkiError| {
        if *refusal == PkiError::UnknownIssuer {
            *refusal = e;
        }
    };
    let mut store = Der::new(anchors);
    while let Ok((_, _, der)) = store.any() {
        // An anchor this firmware cannot read is one it cannot use, not a reason to refuse.
        let Ok(anchor) = Cert::parse(der) else {
            continue;
        };
        if anchor.subject != cert.issuer {
            continue;
        }
        match signed_by(cert, &anchor, budget) {
            Ok(()) => return Ok(()),
            Err(PkiError::TooMuch) => return Err(PkiError::TooMuch),
            Err(e) => note(&mut refusal, e),
        }
    }
    if depth >= MAX_INTERMEDIATES {
        return Err(PkiError::TooMuch);
    }
    for (i, der) in chain.iter().enumerate().skip(1) {
        if used & (1 << i) != 0 {
            continue;
        }
        // The server may send certificates that belong to no path; they are skipped.
        let Ok(issuer) = Cert::parse(der) else {
            continue;
        };
        if issuer.subject != cert.issuer {
            continue;
        }
        let tried = issuer
            .may_issue(depth, now_s)
            .and_then(|()| signed_by(cert, &issuer, budget))
            .and_then(|()| {
                path(
                    &issuer,
                    chain,
                    used | 1 << i,
                    depth + 1,
                    anchors,
                    now_s,
                    budget,
                )
            });
        match tried {
            Ok(()) => return Ok(()),
            Err(PkiError::TooMuch) => return Err(PkiError::TooMuch),
            Err(e) => note(&mut refusal, e),
        }
    }
    Err(refusal)
}

/// Whether `cert`'s signature verifies under `issuer`'s key.
fn signed_by(cert: &Cert, issuer: &Cert, budget: &mut u32) -> Result<(), PkiError> {
    *budget = budget.checked_sub(1).ok_or(PkiError::TooMuch)?;
    let key = public_key(issuer.key_alg, issuer.key)?;
    verify_signed(&key, sig_alg(cert.sig_alg)?, cert.tbs, cert.signature)
}

/// Whether `anchors` holds exactly the certificate `der`.
fn anchors_hold(anchors: &[u8], der: &[u8]) -> bool {
    let mut store = Der::new(anchors);
    while let Ok((_, _, anchor)) = store.any() {
        if anchor == der {
            return true;
        }
    }
    false
}

// ---- signatures ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The digest of `message`, in the first `len` bytes of the array.
    fn digest(self, message: &[u8]) -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        let len = match self {
            Hash::Sha256 => copy(&mut out, &Sha256::digest(message)),
            Hash::Sha384 => copy(&mut out, &Sha384::digest(message)),
            Hash::Sha512 => copy(&mut out, &Sha512::digest(message)),
        };
        (out, len)
    }
}

fn copy(out: &mut [u8; 64], digest: &[u8]) -> usize {
    let len = digest.len().min(out.len());
    out[..len].copy_from_slice(&digest[..len]);
    len
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Padding {
    Pkcs1,
    /// PSS with this salt length; MGF1 uses the message's hash.
    Pss(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SigAlg {
    Rsa(Padding, Hash),
    Ecdsa(Hash),
}

fn verify_signed(
    key: &ServerKey,
    alg: SigAlg,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    match (key, alg) {
        (ServerKey::Rsa(key), SigAlg::Rsa(padding, hash)) => {
            use rsa::traits::PublicKeyParts;
            if signature.len() != key.size() {
                return Err(PkiError::BadSignature);
            }
            let (digest, len) = hash.digest(message);
            let digest = &digest[..len];
            let checked = match padding {
                Padding::Pkcs1 => {
                    let scheme = match hash {
                        Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                        Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                        Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                    };
                    key.verify(scheme, digest, signature)
                }
                Padding::Pss(salt) => {
                    // The salt and the digest must fit the modulus; the rsa crate's own
                    // arithmetic on them must not overflow.
                    if salt > key.size() {
                        return Err(PkiError::BadSignature);
                    }
                    let scheme = match hash {
                        Hash::Sha256 => Pss::new_with_salt::<Sha256>(salt),
                        Hash::Sha384 => Pss::new_with_salt::<Sha384>(salt),
                        Hash::Sha512 => Pss::new_with_salt::<Sha512>(salt),
                    };
                    key.verify(scheme, digest, signature)
                }
            };
            checked.map_err(|_| PkiError::BadSignature)
        }
        (ServerKey::P256(key), SigAlg::Ecdsa(hash)) => {
            let signature =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| PkiError::BadSignature)?;
            let (digest, len) = hash.digest(message);
            key.verify_prehash(&digest[..len], &signature)
                .map_err(|_| PkiError::BadSignature)
        }
        (ServerKey::P384(key), SigAlg::Ecdsa(hash)) => {
            let mut der = Der::new(only(signature, SEQUENCE).map_err(|_| PkiError::BadSignature)?);
            let r = der.expect(INTEGER).and_then(unsigned);
            let s = der.expect(INTEGER).and_then(unsigned);
            let (Ok(r), Ok(s), Ok(())) = (r, s, der.finish()) else {
                return Err(PkiError::BadSignature);
            };
            let (digest, len) = hash.digest(message);
            if key.verify(&digest[..len], r, s) {
                Ok(())
            } else {
                Err(PkiError::BadSignature)
            }
        }
        _ => Err(PkiError::UnsupportedAlgorithm),
    }
}

// ---- object identifiers (content bytes) ----

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
const RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256_CURVE: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_CURVE: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const ANY_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// keyUsage bits, in the first byte of the BIT STRING.
const KU_DIGITAL_SIGNATURE: u8 = 0x80;
const KU_KEY_CERT_SIGN: u8 = 0x04;

// ---- DER ----

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A cursor over DER: every length is checked against what is left.
#[derive(Clone, Copy)]
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: (tag, contents, the whole element).
    fn any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), PkiError> {
        let bytes = self.rest;
        let tag = *bytes.first().ok_or(PkiError::Malformed)?;
        // High tag numbers appear in no field read here.
        if tag & 0x1f == 0x1f {
            return Err(PkiError::Malformed);
        }
        let first = *bytes.get(1).ok_or(PkiError::Malformed)?;
        let (len, head) = match first {
            0..=0x7f => (usize::from(first), 2),
            // Up to three length bytes (16 MiB): indefinite or longer lengths are refused.
            0x81..=0x83 => {
                let n = usize::from(first & 0x7f);
                let len_bytes = bytes.get(2..2 + n).ok_or(PkiError::Malformed)?;
                let len = len_bytes
                    .iter()
                    .fold(0usize, |len, b| len << 8 | usize::from(*b));
                (len, 2 + n)
            }
            _ => return Err(PkiError::Malformed),
        };
        let end = head.checked_add(len).ok_or(PkiError::Malformed)?;
        let (whole, rest) = bytes.split_at_checked(end).ok_or(PkiError::Malformed)?;
        self.rest = rest;
        Ok((tag, whole.get(head..).ok_or(PkiError::Malformed)?, whole))
    }

    /// The contents of the next element, which must have `tag`.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8], PkiError> {
        match self.any()? {
            (t, contents, _) if t == tag => Ok(contents),
            _ => Err(PkiError::Malformed),
        }
    }

    /// The whole next element, which must have `tag`.
    fn expect_whole(&mut self, tag: u8) -> Result<&'a [u8], PkiError> {
        match self.any()? {
            (t, _, whole) if t == tag => Ok(whole),
            _ => Err(PkiError::Malformed),
        }
    }

    /// The contents of the next element if it has `tag`.
    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, PkiError> {
        if self.peek() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn finish(&self) -> Result<(), PkiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(PkiError::Malformed)
        }
    }
}

/// The contents of `bytes`, one element with `tag` and nothing after it.
fn only(bytes: &[u8], tag: u8) -> Result<&[u8], PkiError> {
    let mut der = Der::new(bytes);
    let contents = der.expect(tag)?;
    der.finish()?;
    Ok(contents)
}

/// A BIT STRING's bits, which must fill whole bytes (keys, signatures).
fn whole_bytes(bit_string: &[u8]) -> Result<&[u8], PkiError> {
    match bit_string {
        [0, bits @ ..] => Ok(bits),
        _ => Err(PkiError::Malformed),
    }
}

/// A BOOLEAN's value.
fn boolean(contents: &[u8]) -> Result<bool, PkiError> {
    match contents {
        [0] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(PkiError::Malformed),
    }
}

/// A non-negative INTEGER's magnitude, without leading zero bytes.
fn unsigned(contents: &[u8]) -> Result<&[u8], PkiError> {
    match contents.first() {
        None => Err(PkiError::Malformed),
        Some(b) if b & 0x80 != 0 => Err(PkiError::Malformed),
        Some(_) => {
            let zeros = contents.iter().take_while(|b| **b == 0).count();
            Ok(&contents[zeros..])
        }
    }
}

/// A small non-negative INTEGER (salt lengths, pathLen).
fn small(contents: &[u8]) -> Result<u32, PkiError> {
    let magnitude = unsigned(contents)?;
    if magnitude.len() > 3 {
        return Err(PkiError::Malformed);
    }
    Ok(magnitude.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)))
}

// ---- certificates ----

/// What the checks need from one certificate, borrowed from its DER.
struct Cert<'a> {
    /// The signed part, whole.
    tbs: &'a [u8],
    /// The signature's AlgorithmIdentifier, contents.
    sig_alg: &'a [u8],
    signature: &'a [u8],
    /// Names, whole, compared byte for byte.
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: u64,
    not_after: u64,
    /// The key's AlgorithmIdentifier (contents) and the key's bits.
    key_alg: &'a [u8],
    key: &'a [u8],
    ca: bool,
    path_len: Option<u32>,
    key_usage: Option<u8>,
    /// extendedKeyUsage's purposes (contents), if present.
    eku: Option<&'a [u8]>,
    /// subjectAltName's GeneralNames (contents), if present.
    san: Option<&'a [u8]>,
    unknown_critical: bool,
}

impl<'a> Cert<'a> {
    fn parse(der: &'a [u8]) -> Result<Self, PkiError> {
        let mut outer = Der::new(only(der, SEQUENCE)?);
        let tbs = outer.expect_whole(SEQUENCE)?;
        let sig_alg = outer.expect(SEQUENCE)?;
        let signature = whole_bytes(outer.expect(BIT_STRING)?)?;
        outer.finish()?;

        let mut t = Der::new(only(tbs, SEQUENCE)?);
        let version = match t.optional(0xa0)? {
            Some(v) => match only(v, INTEGER)? {
                [0] => 1,
                [1] => 2,
                [2] => 3,
                _ => return Err(PkiError::Malformed),
            },
            None => 1,
        };
        t.expect(INTEGER)?;
        // The signed copy of the algorithm must be the unsigned one (RFC 5280 4.1.1.2).
        if t.expect(SEQUENCE)? != sig_alg {
            return Err(PkiError::Malformed);
        }
        let issuer = t.expect_whole(SEQUENCE)?;
        let mut validity = Der::new(t.expect(SEQUENCE)?);
        let not_before = time(&mut validity)?;
        let not_after = time(&mut validity)?;
        validity.finish()?;
        let subject = t.expect_whole(SEQUENCE)?;
        let mut spki = Der::new(t.expect(SEQUENCE)?);
        let key_alg = spki.expect(SEQUENCE)?;
        let key = whole_bytes(spki.expect(BIT_STRING)?)?;
        spki.finish()?;
        // issuerUniqueID, subjectUniqueID: read over.
        t.optional(0x81)?;
        t.optional(0x82)?;
        let mut cert = Cert {
            tbs,
            sig_alg,
            signature,
            issuer,
            subject,
            not_before,
            not_after,
            key_alg,
            key,
            ca: false,
            path_len: None,
            key_usage: None,
            eku: None,
            san: None,
            unknown_critical: false,
        };
        if let Some(extensions) = t.optional(0xa3)? {
            if version != 3 {
                return Err(PkiError::Malformed);
            }
            cert.extensions(only(extensions, SEQUENCE)?)?;
        }
        t.finish()?;
        Ok(cert)
    }

    fn extensions(&mut self, mut list: &'a [u8]) -> Result<(), PkiError> {
        let mut seen_basic = false;
        while !list.is_empty() {
            let mut der = Der::new(list);
            let mut ext = Der::new(der.expect(SEQUENCE)?);
            list = der.rest;
            let oid = ext.expect(OID)?;
            let critical = match ext.optional(BOOLEAN)? {
                Some(b) => boolean(b)?,
                None => false,
            };
            let value = ext.expect(OCTET_STRING)?;
            ext.finish()?;
            // A second copy of an extension would let two readers see two certificates.
            match oid {
                BASIC_CONSTRAINTS if !seen_basic => {
                    seen_basic = true;
                    let mut bc = Der::new(only(value, SEQUENCE)?);
                    self.ca = match bc.optional(BOOLEAN)? {
                        Some(b) => boolean(b)?,
                        None => false,
                    };
                    self.path_len = bc.optional(INTEGER)?.map(small).transpose()?;
                    bc.finish()?;
                }
                KEY_USAGE if self.key_usage.is_none() => {
                    let bits = only(value, BIT_STRING)?;
                    if bits.first().is_none_or(|unused| *unused > 7) {
                        return Err(PkiError::Malformed);
                    }
                    self.key_usage = Some(bits.get(1).copied().unwrap_or(0));
                }
                EXT_KEY_USAGE if self.eku.is_none() => self.eku = Some(only(value, SEQUENCE)?),
                SUBJECT_ALT_NAME if self.san.is_none() => self.san = Some(only(value, SEQUENCE)?),
                BASIC_CONSTRAINTS | KEY_USAGE | EXT_KEY_USAGE | SUBJECT_ALT_NAME => {
                    return Err(PkiError::Malformed)
                }
                _ => self.unknown_critical |= critical,
            }
        }
        Ok(())
    }

    fn check_dates(&self, now_s: Option<u64>) -> Result<(), PkiError> {
        match now_s {
            Some(now) if now < self.not_before => Err(PkiError::NotYetValid),
            Some(now) if now > self.not_after => Err(PkiError::Expired),
            _ => Ok(()),
        }
    }

    /// Whether extendedKeyUsage, if present, allows a TLS server.
    fn serves_tls(&self) -> Result<bool, PkiError> {
        let Some(mut purposes) = self.eku.map(Der::new) else {
            return Ok(true);
        };
        while !purposes.is_empty() {
            let purpose = purposes.expect(OID)?;
            if purpose == SERVER_AUTH || purpose == ANY_EXT_KEY_USAGE {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether this certificate may issue one with `below` intermediates under it, now.
    fn may_issue(&self, below: usize, now_s: Option<u64>) -> Result<(), PkiError> {
        if !self.ca
            || self
                .key_usage
                .is_some_and(|bits| bits & KU_KEY_CERT_SIGN == 0)
            || self
                .path_len
                .is_some_and(|max| usize::try_from(max).is_ok_and(|max| below > max))
        {
            return Err(PkiError::NotCa);
        }
        if self.unknown_critical {
            return Err(PkiError::UnknownCriticalExtension);
        }
        // An intermediate limited to other purposes cannot vouch for a TLS server.
        if !self.serves_tls()? {
            return Err(PkiError::NotCa);
        }
        self.check_dates(now_s)
    }

    /// Whether the certificate names `host`: subjectAltName's dNSName entries (or iPAddress
    /// for an IPv4 literal); the subject's common name only when there is no subjectAltName.
    fn names(&self, host: &[u8]) -> Result<bool, PkiError> {
        let ip = ipv4(host);
        if let Some(san) = self.san {
            let mut names = Der::new(san);
            while !names.is_empty() {
                let (tag, name, _) = names.any()?;
                let found = match (tag, ip) {
                    (0x82, None) => dns_match(name, host),
                    (0x87, Some(ip)) => name == ip,
                    _ => false,
                };
                if found {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        if ip.is_some() {
            return Ok(false);
        }
        let mut rdns = Der::new(only(self.subject, SEQUENCE)?);
        while !rdns.is_empty() {
            let mut rdn = Der::new(rdns.expect(SET)?);
            while !rdn.is_empty() {
                let mut attribute = Der::new(rdn.expect(SEQUENCE)?);
                let oid = attribute.expect(OID)?;
                let (tag, value, _) = attribute.any()?;
                // UTF8String, PrintableString, TeletexString, IA5String.
                if oid == COMMON_NAME
                    && matches!(tag, 0x0c | 0x13 | 0x14 | 0x16)
                    && dns_match(value, host)
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// The four bytes of a dotted IPv4 literal.
fn ipv4(host: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = host.split(|b| *b == b'.');
    for byte in &mut out {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        *byte = u8::try_from(n).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// RFC 6125 matching: case-insensitive, and `*` only as the whole left-most label of a name
/// with at least two more labels (`*.example.com` names `a.example.com`, not `example.com`
/// nor `a.b.example.com`).
pub(crate) fn dns_match(pattern: &[u8], host: &[u8]) -> bool {
    let pattern = pattern.strip_suffix(b".").unwrap_or(pattern);
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() || host.contains(&b'*') {
        return false;
    }
    match pattern.strip_prefix(b"*.") {
        Some(suffix) => {
            if suffix.contains(&b'*') || !suffix.contains(&b'.') {
                return false;
            }
            match host.iter().position(|b| *b == b'.') {
                Some(dot) if dot > 0 => host[dot + 1..].eq_ignore_ascii_case(suffix),
                _ => false,
            }
        }
        None => !pattern.contains(&b'*') && pattern.eq_ignore_ascii_case(host),
    }
}

/// A UTCTime or GeneralizedTime (`...Z`), as Unix seconds (0 for dates before 1970).
fn time(der: &mut Der) -> Result<u64, PkiError> {
    let (tag, text, _) = der.any()?;
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(text, 0)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(text, 0)? * 100 + digits(text, 2)?, &text[4..]),
        _ => return Err(PkiError::Malformed),
    };
    let (month, day) = (digits(rest, 0)?, digits(rest, 2)?);
    let (hour, minute, second) = (digits(rest, 4)?, digits(rest, 6)?, digits(rest, 8)?);
    if rest.get(10) != Some(&b'Z')
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(PkiError::Malformed);
    }
    // Days from the civil date (Howard Hinnant's algorithm), March-based years.
    let (y, m) = if month <= 2 {
        (i64::from(year) - 1, i64::from(month) + 9)
    } else {
        (i64::from(year), i64::from(month) - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Ok(u64::try_from(seconds).unwrap_or(0))
}

/// Two ASCII digits at `at`.
fn digits(text: &[u8], at: usize) -> Result<u32, PkiError> {
    match text.get(at..at + 2) {
        Some([a, b]) if a.is_ascii_digit() && b.is_ascii_digit() => {
            Ok(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        }
        _ => Err(PkiError::Malformed),
    }
}

// ---- keys and algorithms ----

/// The key of a SubjectPublicKeyInfo: its AlgorithmIdentifier's contents and its bits.
fn public_key(alg: &[u8], key: &[u8]) -> Result<ServerKey, PkiError> {
    let mut der = Der::new(alg);
    let oid = der.expect(OID)?;
    match oid {
        RSA_ENCRYPTION => {
            null_or_nothing(&mut der)?;
            let mut rsa_key = Der::new(only(key, SEQUENCE)?);
            let n = unsigned(rsa_key.expect(INTEGER)?)?;
            let e = unsigned(rsa_key.expect(INTEGER)?)?;
            rsa_key.finish()?;
            let bits = match n.first() {
                Some(top) => n.len() * 8 - top.leading_zeros() as usize,
                None => 0,
            };
            if !(2048..=4096).contains(&bits) {
                return Err(PkiError::BadKeySize);
            }
            RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                .map(ServerKey::Rsa)
                .map_err(|_| PkiError::Malformed)
        }
        EC_PUBLIC_KEY => {
            let curve = der.expect(OID)?;
            der.finish()?;
            match curve {
                P256_CURVE => p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .map(ServerKey::P256)
                    .map_err(|_| PkiError::Malformed),
                P384_CURVE => p384::PublicKey::from_sec1(key)
                    .map(ServerKey::P384)
                    .ok_or(PkiError::Malformed),
                _ => Err(PkiError::UnsupportedAlgorithm),
            }
        }
        _ => Err(PkiError::UnsupportedAlgorithm),
    }
}

/// Absent parameters or NULL, and nothing more.
fn null_or_nothing(der: &mut Der) -> Result<(), PkiError> {
    if let Some(null) = der.optional(NULL)? {
        if !null.is_empty() {
            return Err(PkiError::Malformed);
        }
    }
    der.finish()
}

/// A certificate's signature algorithm, from its AlgorithmIdentifier's contents.
fn sig_alg(alg: &[u8]) -> Result<SigAlg, PkiError> {
    let mut der = Der::new(alg);
    let oid = der.expect(OID)?;
    let rsa = |hash| SigAlg::Rsa(Padding::Pkcs1, hash);
    match oid {
        RSA_SHA256 | RSA_SHA384 | RSA_SHA512 => {
            null_or_nothing(&mut der)?;
            Ok(match oid {
                RSA_SHA256 => rsa(Hash::Sha256),
                RSA_SHA384 => rsa(Hash::Sha384),
                _ => rsa(Hash::Sha512),
            })
        }
        ECDSA_SHA256 | ECDSA_SHA384 => {
            der.finish()?;
            Ok(SigAlg::Ecdsa(if oid == ECDSA_SHA256 {
                Hash::Sha256
            } else {
                Hash::Sha384
            }))
        }
        RSA_PSS => {
            let params = der.expect(SEQUENCE)?;
            der.finish()?;
            pss(params)
        }
        _ => Err(PkiError::UnsupportedAlgorithm),
    }
}

/// RSASSA-PSS-params (RFC 4055): the hash (SHA-1, the default, is not accepted), MGF1 with
/// that same hash, the salt length (default 20) and the trailer field (1).
fn pss(params: &[u8]) -> Result<SigAlg, PkiError> {
    let mut der = Der::new(params);
    let hash_alg = der.optional(0xa0)?.ok_or(PkiError::UnsupportedAlgorithm)?;
    let hash = hash_of(only(hash_alg, SEQUENCE)?)?;
    let mgf = der.optional(0xa1)?.ok_or(PkiError::UnsupportedAlgorithm)?;
    let mut mgf = Der::new(only(mgf, SEQUENCE)?);
    if mgf.expect(OID)? != MGF1 || hash_of(mgf.expect(SEQUENCE)?)? != hash {
        return Err(PkiError::UnsupportedAlgorithm);
    }
    mgf.finish()?;
    let salt = match der.optional(0xa2)? {
        Some(salt) => small(only(salt, INTEGER)?)?,
        None => 20,
    };
    if let Some(trailer) = der.optional(0xa3)? {
        if small(only(trailer, INTEGER)?)? != 1 {
            return Err(PkiError::UnsupportedAlgorithm);
        }
    }
    der.finish()?;
    Ok(SigAlg::Rsa(
        Padding::Pss(usize::try_from(salt).map_err(|_| PkiError::Malformed)?),
        hash,
    ))
}

/// A hash AlgorithmIdentifier's contents (parameters absent or NULL).
fn hash_of(alg: &[u8]) -> Result<Hash, PkiError> {
    let mut der = Der::new(alg);
    let hash = match der.expect(OID)? {
        SHA256 => Hash::Sha256,
        SHA384 => Hash::Sha384,
        SHA512 => Hash::Sha512,
        _ => return Err(PkiError::UnsupportedAlgorithm),
    };
    null_or_nothing(&mut der)?;
    Ok(hash)
}

/// The signature schemes TLS 1.3 allows for `key` (RFC 8446 4.2.3: the ECDSA curve is bound
/// to the scheme, and RSA signs with PSS only).
pub fn tls13_allows(key: &ServerKey, scheme: u16) -> bool {
    matches!(
        (key, scheme),
        (ServerKey::Rsa(_), 0x0804..=0x0806)
            | (ServerKey::P256(_), 0x0403)
            | (ServerKey::P384(_), 0x0503)
    )
}

/// ECDSA verification on P-384 (SEC 1 4.1.4), in crypto-bigint's Montgomery arithmetic.
///
/// The `p384` crate's arithmetic is fiat-crypto's straight-line code, about 146 KiB of flash on
/// the Cortex-M0+ (measured), more than the whole TLS stack; these loops take a few KiB.
/// Verification handles only public values, so nothing here needs to run in constant time.
mod p384 {
    use crypto_bigint::modular::constant_mod::Residue;
    use crypto_bigint::{impl_modulus, U384};

    impl_modulus!(
        FieldModulus,
        U384,
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"
    );
    impl_modulus!(
        OrderModulus,
        U384,
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"
    );

    type Fe = Residue<FieldModulus, { U384::LIMBS }>;
    type Scalar = Residue<OrderModulus, { U384::LIMBS }>;

    const P: U384 = U384::from_be_hex(
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    );
    const N: U384 = U384::from_be_hex(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    );
    const B: U384 = U384::from_be_hex(
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
    );
    const GX: U384 = U384::from_be_hex(
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
    );
    const GY: U384 = U384::from_be_hex(
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
    );

    /// A public key: an affine point on the curve, checked.
    #[derive(Clone, Debug)]
    pub struct PublicKey {
        x: U384,
        y: U384,
    }

    /// 48 big-endian bytes as a number: `None` for any other length.
    fn number(bytes: &[u8]) -> Option<U384> {
        (bytes.len() == 48).then(|| U384::from_be_slice(bytes))
    }

    /// Up to 48 big-endian bytes (an INTEGER's magnitude) as a number.
    fn padded(bytes: &[u8]) -> Option<U384> {
        let mut out = [0u8; 48];
        let at = out.len().checked_sub(bytes.len())?;
        out[at..].copy_from_slice(bytes);
        number(&out)
    }

    impl PublicKey {
        /// An uncompressed SEC 1 point (`04 || X || Y`) on the curve.
        pub fn from_sec1(bytes: &[u8]) -> Option<Self> {
            let (x, y) = match bytes {
                [4, rest @ ..] if rest.len() == 96 => (number(&rest[..48])?, number(&rest[48..])?),
                _ => return None,
            };
            if x >= P || y >= P {
                return None;
            }
            let (fx, fy) = (Fe::new(&x), Fe::new(&y));
            let three = Fe::new(&U384::from_u8(3));
            // y^2 = x^3 - 3x + b
            let rhs = fx.square() * fx - three * fx + Fe::new(&B);
            (fy.square() == rhs).then_some(Self { x, y })
        }

        /// Whether (r, s) signs the hash `digest` (its leftmost 384 bits, as SEC 1 reads it).
        pub fn verify(&self, digest: &[u8], r: &[u8], s: &[u8]) -> bool {
            let (Some(r), Some(s)) = (padded(r), padded(s)) else {
                return false;
            };
            if r == U384::ZERO || s == U384::ZERO || r >= N || s >= N {
                return false;
            }
            let e = padded(&digest[..digest.len().min(48)]).unwrap_or(U384::ZERO);
            let (w, invertible) = Scalar::new(&s).invert();
            if !bool::from(invertible) {
                return false;
            }
            let u1 = (Scalar::new(&e) * w).retrieve();
            let u2 = (Scalar::new(&r) * w).retrieve();
            let g = Point::affine(&GX, &GY);
            let q = Point::affine(&self.x, &self.y);
            let both = g.add(&q);
            // Shamir's trick: u1*G + u2*Q in one pass over the bits.
            let mut acc = Point::INFINITY;
            for i in (0..384).rev() {
                acc = acc.double();
                acc = match (u1.bit_vartime(i), u2.bit_vartime(i)) {
                    (true, true) => acc.add(&both),
                    (true, false) => acc.add(&g),
                    (false, true) => acc.add(&q),
                    (false, false) => acc,
                };
            }
            let Some(x) = acc.x() else {
                return false;
            };
            // x < p < 2n: one subtraction reduces it mod n.
            let x = if x >= N { x.wrapping_sub(&N) } else { x };
            x == r
        }
    }

    /// Jacobian coordinates (X/Z^2, Y/Z^3); Z = 0 is the point at infinity.
    #[derive(Clone, Copy)]
    struct Point {
        x: Fe,
        y: Fe,
        z: Fe,
    }

    impl Point {
        const INFINITY: Point = Point {
            x: Fe::ONE,
            y: Fe::ONE,
            z: Fe::ZERO,
        };

        fn affine(x: &U384, y: &U384) -> Self {
            Point {
                x: Fe::new(x),
                y: Fe::new(y),
                z: Fe::ONE,
            }
        }

        fn is_infinity(&self) -> bool {
            self.z == Fe::ZERO
        }

        /// The affine x, or `None` at infinity.
        fn x(&self) -> Option<U384> {
            let (z_inv, invertible) = self.z.invert();
            bool::from(invertible).then(|| (self.x * z_inv.square()).retrieve())
        }

        /// dbl-2001-b (a = -3).
        fn double(&self) -> Self {
            if self.is_infinity() {
                return *self;
            }
            let delta = self.z.square();
            let gamma = self.y.square();
            let beta = self.x * gamma;
            let t = (self.x - delta) * (self.x + delta);
            let alpha = t + t + t;
            let beta4 = beta + beta + beta + beta;
            let x3 = alpha.square() - (beta4 + beta4);
            let z3 = (self.y + self.z).square() - gamma - delta;
            let gamma2 = gamma.square();
            let gamma8 = {
                let g2 = gamma2 + gamma2;
                let g4 = g2 + g2;
                g4 + g4
            };
            let y3 = alpha * (beta4 - x3) - gamma8;
            Point {
                x: x3,
                y: y3,
                z: z3,
            }
        }

        /// add-1998-cmo-2, with the doubling and inverse cases.
        fn add(&self, other: &Self) -> Self {
            if self.is_infinity() {
                return *other;
            }
            if other.is_infinity() {
                return *self;
            }
            let z1z1 = self.z.square();
            let z2z2 = other.z.square();
            let u1 = self.x * z2z2;
            let u2 = other.x * z1z1;
            let s1 = self.y * other.z * z2z2;
            let s2 = other.y * self.z * z1z1;
            let h = u2 - u1;
            let r = s2 - s1;
            if h == Fe::ZERO {
                return if r == Fe::ZERO {
                    self.double()
                } else {
                    Point::INFINITY
                };
            }
            let hh = h.square();
            let hhh = h * hh;
            let v = u1 * hh;
            let x3 = r.square() - hhh - (v + v);
            let y3 = r * (v - x3) - s1 * hhh;
            let z3 = self.z * other.z * h;
            Point {
                x: x3,
                y: y3,
                z: z3,
            }
        }
    }
}
