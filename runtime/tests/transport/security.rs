//! TLS is verified by default: a broker whose certificate a private CA signed is refused until
//! that CA is configured. (The API key's absence from retained messages and logs is checked in
//! `tests/secret_logs.rs`, a test binary of its own.)

use lua_device::{Config, Device};
use lua_testkit::tls::{self, Certificates};

use crate::support::*;

/// Connect a device to `url` with an optional CA; the first connection's result.
async fn connect_tls(url: &str, ca_pem: Option<Vec<u8>>) -> Result<(), lua_device::Error> {
    let mut config = Config::new(AGENT, API_KEY, "dev-tls").with_url(url);
    if let Some(pem) = ca_pem {
        config = config.with_ca_pem(pem);
    }
    let handle = Device::builder(config).connect().await?;
    handle.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_by_default_and_the_configured_ca_is_trusted() {
    let certs = Certificates::generate().unwrap();
    let (_broker, tls_port) = tls::broker(&certs).unwrap();
    let url = format!("mqtts://localhost:{tls_port}");
    let ca = std::fs::read(certs.path("ca.pem")).unwrap();

    // Default configuration: the Mozilla roots, which did not sign this broker.
    let err = connect_tls(&url, None).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // Another CA than the one that signed the broker.
    let other = std::fs::read(certs.path("other-ca.pem")).unwrap();
    let err = connect_tls(&url, Some(other)).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // The right CA but an address the certificate does not name.
    let by_ip = format!("mqtts://127.0.0.1:{tls_port}");
    let err = connect_tls(&by_ip, Some(ca.clone())).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // The CA that signed it: connected, registered, shut down cleanly.
    connect_tls(&url, Some(ca)).await.unwrap();
}
