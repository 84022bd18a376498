//! TLS client settings: the server certificate is always verified.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::Error;

/// A rustls config trusting the Mozilla roots (webpki-roots), or only `ca_pem` when given.
///
/// The ring provider is named explicitly so the result does not depend on which providers
/// other crates in the build happen to enable.
pub(crate) fn client_config(ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
                .collect::<Result<_, _>>()
                .map_err(|e| Error::Config(format!("CA PEM: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config("CA PEM holds no certificate".into()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_build_and_bad_pem_is_a_config_error() {
        assert!(client_config(None).is_ok());
        assert!(matches!(
            client_config(Some(b"not a pem")),
            Err(Error::Config(_))
        ));
    }
}
