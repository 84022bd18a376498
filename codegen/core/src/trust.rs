//! The default trust store of the firmware targets: the root certificates a device trusts when
//! the user configured no CA of their own (`LUA_MQTT_CA` on the Pico W, `ca.der` on
//! MicroPython).
//!
//! The certificates come from the `webpki-root-certs` crate (Mozilla's root program, whole DER
//! certificates, published by the rustls project), so refreshing the store is a version bump of
//! that crate in the workspace `Cargo.toml`. Only the roots named in [`ROOTS`] are taken,
//! the public CAs hosted MQTT gateways are issued from, because the whole set does not fit:
//! in 1.0.12 it is 112 roots, 118,538 bytes of DER (the selection: 11 roots, 8,978 bytes),
//! too much beside a TLS stack in a Pico W's 256 KiB application budget, and MicroPython's
//! mbedtls keeps every loaded root parsed, which on its unix port held 302 KiB for the whole
//! set and 25 KiB for the selection (heaptrack), against the ~190 KB heap of a Pico W. Both
//! targets get the same bytes, [`roots_der`], as `roots.der`.

/// The roots of the default store, by the common name in their subject, in the order they are
/// written: Let's Encrypt, Amazon, Google Trust Services, DigiCert.
///
/// `GTS Root R2` is not here: Mozilla removed it from its TLS set in April 2026
/// (webpki-root-certs 1.0.7), and a root Mozilla does not trust for servers is not one a
/// device should trust either. `tests::gts_root_r2_is_gone_from_mozilla` notices if it returns.
pub const ROOTS: &[&str] = &[
    "ISRG Root X1",
    "ISRG Root X2",
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "GTS Root R1",
    "GTS Root R3",
    "GTS Root R4",
    "DigiCert Global Root G2",
    "DigiCert Global Root G3",
];

/// The file both firmware projects carry the store in: the DER certificates of [`ROOTS`], one
/// after another (each is a self-delimiting DER SEQUENCE, so no separator is needed).
pub const FILE: &str = "roots.der";

/// One root of Mozilla's set: its subject's common name (if it has one) and its DER bytes.
pub struct Root {
    pub common_name: Option<String>,
    pub der: &'static [u8],
}

/// Every root of the pinned Mozilla set.
pub fn mozilla() -> Vec<Root> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| {
            let der: &'static [u8] = c.as_ref();
            Root {
                common_name: subject_common_name(der),
                der,
            }
        })
        .collect()
}

/// The roots of [`ROOTS`] from Mozilla's set, in that order, or the names it no longer has.
pub fn select(names: &[&str]) -> Result<Vec<&'static [u8]>, Vec<String>> {
    let set = mozilla();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        let matches: Vec<&Root> = set
            .iter()
            .filter(|r| r.common_name.as_deref() == Some(*name))
            .collect();
        match matches.as_slice() {
            [one] => found.push(one.der),
            [] => missing.push(format!("{name} (not in the set)")),
            _ => missing.push(format!("{name} ({} roots carry that name)", matches.len())),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

/// The contents of [`FILE`]: the [`ROOTS`] as concatenated DER.
///
/// # Panics
///
/// When a new `webpki-root-certs` lacks one of [`ROOTS`]: a generator that silently shipped a
/// smaller store would strand devices behind that CA, so the version bump must decide (the
/// unit tests run this first).
pub fn roots_der() -> Vec<u8> {
    store(ROOTS)
}

fn store(names: &[&str]) -> Vec<u8> {
    match select(names) {
        Ok(roots) => roots.concat(),
        Err(missing) => panic!(
            "the default trust store is incomplete: webpki-root-certs no longer has {}; \
             update luagen's trust::ROOTS deliberately",
            missing.join(", ")
        ),
    }
}

/// A DER element at the start of `input`: (tag, contents, the rest). Short and long lengths up
/// to 4 bytes; anything else (or a length past the input) is `None`.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The first common name (OID 2.5.4.3) of a certificate's subject.
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (SEQUENCE, cert, _) = element(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut fields = tbs;
    // version [0] (optional), serial, signature algorithm, issuer, validity, then the subject.
    if fields.first() == Some(&0xa0) {
        fields = element(fields)?.2;
    }
    for _ in 0..4 {
        fields = element(fields)?.2;
    }
    let (SEQUENCE, mut name, _) = element(fields)? else {
        return None;
    };
    while !name.is_empty() {
        let (_, mut set, rest) = element(name)?;
        name = rest;
        while !set.is_empty() {
            let (_, attribute, rest) = element(set)?;
            set = rest;
            let (_, oid, value) = element(attribute)?;
            if oid == CN {
                let (tag, text, _) = element(value)?;
                // BMPString (0x1e) is UTF-16; every other string type here is ASCII or UTF-8.
                return Some(if tag == 0x1e {
                    let units: Vec<u16> = text
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16_lossy(&units)
                } else {
                    String::from_utf8_lossy(text).into_owned()
                });
            }
        }
    }
    None
}

/// The certificates of a concatenated-DER store: each whole, or an error saying where not.
pub fn split(store: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut certs = Vec::new();
    let mut rest = store;
    while !rest.is_empty() {
        let at = store.len() - rest.len();
        match element(rest) {
            Some((0x30, _, tail)) => {
                certs.push(&rest[..rest.len() - tail.len()]);
                rest = tail;
            }
            _ => return Err(format!("no whole DER certificate at byte {at}")),
        }
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_store_holds_every_named_root_once_in_order() {
        let store = roots_der();
        let certs = split(&store).unwrap();
        let names: Vec<String> = certs
            .iter()
            .map(|c| subject_common_name(c).unwrap())
            .collect();
        assert_eq!(names, ROOTS);
        // The list, spelled out here rather than derived from ROOTS, so that shrinking
        // ROOTS fails this test too.
        for name in [
            "ISRG Root X1",
            "ISRG Root X2",
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "GTS Root R1",
            "GTS Root R3",
            "GTS Root R4",
            "DigiCert Global Root G2",
            "DigiCert Global Root G3",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} is missing");
        }
        // Each is a self-signed root: its issuer is its subject.
        for cert in certs {
            let (_, c, _) = element(cert).unwrap();
            let (_, tbs, _) = element(c).unwrap();
            let mut f = element(tbs).unwrap().2; // past version
            f = element(f).unwrap().2; // serial
            f = element(f).unwrap().2; // algorithm
            let (_, issuer, rest) = element(f).unwrap();
            let (_, subject, _) = element(element(rest).unwrap().2).unwrap();
            assert_eq!(issuer, subject);
        }
    }

    /// Mozilla dropped it (see [`ROOTS`]); if a refresh brings it back, add it back.
    #[test]
    fn gts_root_r2_is_gone_from_mozilla() {
        assert_eq!(
            select(&["GTS Root R2"]),
            Err(vec!["GTS Root R2 (not in the set)".to_string()])
        );
    }

    #[test]
    #[should_panic(expected = "webpki-root-certs no longer has Nobody's Root CA (not in the set)")]
    fn a_root_the_set_lacks_stops_the_generator() {
        store(&["ISRG Root X1", "Nobody's Root CA"]);
    }

    /// The numbers behind choosing a subset (see the module's documentation).
    #[test]
    fn the_store_is_a_small_part_of_mozillas_set() {
        let set = mozilla();
        let whole: usize = set.iter().map(|r| r.der.len()).sum();
        let ours = roots_der().len();
        eprintln!(
            "Mozilla set: {} roots, {whole} bytes of DER; default store: {} roots, {ours} bytes",
            set.len(),
            ROOTS.len()
        );
        assert!(set.len() > 100 && whole > 100_000, "{} {whole}", set.len());
        assert!(ours < 12 * 1024, "the default store grew to {ours} bytes");
        // Every root of the set parses far enough to have a subject.
        assert!(set.iter().filter(|r| r.common_name.is_some()).count() > 100);
    }

    #[test]
    fn split_refuses_what_is_not_whole_certificates() {
        let store = roots_der();
        assert!(split(&store[..store.len() - 1]).is_err());
        assert!(split(&[0x31, 0x00]).is_err());
        assert_eq!(split(&[]).unwrap().len(), 0);
        assert!(subject_common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
