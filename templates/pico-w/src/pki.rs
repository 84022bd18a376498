//! TEST-ONLY STAND-IN for the certificate verifier of issue 15 (the real `pki.rs` comes from
//! the pki branch and REPLACES THIS FILE WHOLE when merging). It has the real module's API,
//! `verify_chain` and `verify_signature`, so that `tls12.rs` can be written and tested against
//! it, but it checks far less: a P-256 ECDSA/SHA-256 leaf signed directly by one of the
//! anchors, its subjectAltName dNSName equal to the host, and ECDSA P-256/SHA-256 handshake
//! signatures. No intermediates, no validity dates, no RSA, no P-384. Never ship it.

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

/// The key the server proved it holds: it signs the TLS 1.2 ServerKeyExchange.
pub enum ServerKey {
    P256(VerifyingKey),
}

#[derive(Debug)]
pub enum PkiError {
    Malformed,
    UnknownIssuer,
    BadSignature,
    NameMismatch,
    Unsupported,
}

/// One DER element: (tag, contents, the whole element, what follows it).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Result<Tlv<'_>, PkiError> {
    let (&tag, rest) = input.split_first().ok_or(PkiError::Malformed)?;
    let (&first, rest) = rest.split_first().ok_or(PkiError::Malformed)?;
    let (len, rest) = match first {
        0..=0x7f => (first as usize, rest),
        0x81 => (
            *rest.first().ok_or(PkiError::Malformed)? as usize,
            &rest[1..],
        ),
        0x82 if rest.len() >= 2 => (usize::from(rest[0]) << 8 | usize::from(rest[1]), &rest[2..]),
        _ => return Err(PkiError::Malformed),
    };
    if rest.len() < len {
        return Err(PkiError::Malformed);
    }
    let header = input.len() - rest.len();
    Ok((tag, &rest[..len], &input[..header + len], &rest[len..]))
}

struct Cert<'a> {
    tbs: &'a [u8],
    signature: &'a [u8],
    key: &'a [u8],
    extensions: &'a [u8],
}

fn parse(der: &[u8]) -> Result<Cert<'_>, PkiError> {
    let (_, cert, _, _) = tlv(der)?;
    let (_, tbs_body, tbs, rest) = tlv(cert)?;
    let (_, _, _, rest) = tlv(rest)?; // signatureAlgorithm
    let (_, bits, _, _) = tlv(rest)?;
    let signature = bits.get(1..).ok_or(PkiError::Malformed)?;
    let mut fields = tbs_body;
    let mut skipped = 0;
    // version? serial, signature, issuer, validity, subject: then the key.
    let (tag, _, _, rest) = tlv(fields)?;
    if tag == 0xa0 {
        fields = rest;
    }
    while skipped < 5 {
        fields = tlv(fields)?.3;
        skipped += 1;
    }
    let (_, spki, _, mut rest) = tlv(fields)?;
    let (_, key_bits, _, _) = tlv(tlv(spki)?.3)?;
    let key = key_bits.get(1..).ok_or(PkiError::Malformed)?;
    let mut extensions: &[u8] = &[];
    while !rest.is_empty() {
        let (tag, body, _, next) = tlv(rest)?;
        if tag == 0xa3 {
            extensions = tlv(body)?.1;
        }
        rest = next;
    }
    Ok(Cert {
        tbs,
        signature,
        key,
        extensions,
    })
}

fn names_host(extensions: &[u8], host: &str) -> Result<bool, PkiError> {
    let mut rest = extensions;
    while !rest.is_empty() {
        let (_, ext, _, next) = tlv(rest)?;
        rest = next;
        let (_, oid, _, mut value) = tlv(ext)?;
        if oid != [0x55, 0x1d, 0x11] {
            continue;
        }
        let (tag, _, _, after) = tlv(value)?;
        if tag == 0x01 {
            value = after;
        }
        let (_, san, _, _) = tlv(value)?;
        let (_, mut names, _, _) = tlv(san)?;
        while !names.is_empty() {
            let (tag, name, _, next) = tlv(names)?;
            if tag == 0x82 && name.eq_ignore_ascii_case(host.as_bytes()) {
                return Ok(true);
            }
            names = next;
        }
    }
    Ok(false)
}

pub fn verify_chain(
    anchors: &[u8],
    chain: &[&[u8]],
    host: &str,
    _now_s: Option<u64>,
) -> Result<ServerKey, PkiError> {
    let leaf = parse(chain.first().ok_or(PkiError::Malformed)?)?;
    let signature = Signature::from_der(leaf.signature).map_err(|_| PkiError::Unsupported)?;
    let mut rest = anchors;
    let mut signed = false;
    while !rest.is_empty() && !signed {
        let (_, _, anchor, next) = tlv(rest)?;
        rest = next;
        if let Ok(key) = VerifyingKey::from_sec1_bytes(parse(anchor)?.key) {
            signed = key.verify(leaf.tbs, &signature).is_ok();
        }
    }
    if !signed {
        return Err(PkiError::UnknownIssuer);
    }
    if !names_host(leaf.extensions, host)? {
        return Err(PkiError::NameMismatch);
    }
    let key = VerifyingKey::from_sec1_bytes(leaf.key).map_err(|_| PkiError::Unsupported)?;
    Ok(ServerKey::P256(key))
}

pub fn verify_signature(
    key: &ServerKey,
    scheme: u16,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    let ServerKey::P256(key) = key;
    if scheme != 0x0403 {
        return Err(PkiError::Unsupported);
    }
    let signature = Signature::from_der(signature).map_err(|_| PkiError::BadSignature)?;
    key.verify(message, &signature)
        .map_err(|_| PkiError::BadSignature)
}
