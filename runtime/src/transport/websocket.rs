//! MQTT over WebSocket as a byte stream, for the relay's side of `ws://` and `wss://`.
//!
//! The handshake is rumqttc's own: the broker URL with its path, subprotocol `mqtt` (which
//! tungstenite checks the broker echoes back). What comes back is the WebSocket's binary
//! messages read and written as one stream, so the relay's packet loop runs unchanged.

use std::io;

use async_tungstenite::tokio::{client_async_with_config, TokioAdapter};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Error as WsError;
use tokio::io::{AsyncRead, AsyncWrite};
use ws_stream_tungstenite::WsStream;

use super::url::BrokerUrl;

/// Open the WebSocket to `url` over `stream` (TCP, or TLS for `wss://`).
pub(crate) async fn open<S>(url: &BrokerUrl, stream: S) -> io::Result<WsStream<TokioAdapter<S>>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut request = url
        .websocket_url()
        .into_client_request()
        .map_err(io_error)?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    // tungstenite holds each message whole before the relay sees its bytes, and ends the
    // connection on one past its limits (64 MiB by default): the broker would send it again
    // at every reconnection. Without limits, an oversized command is held once, up to MQTT's
    // own bound of 256 MiB, and then cut down like any other.
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let (socket, _response) = client_async_with_config(request, stream, Some(config))
        .await
        .map_err(io_error)?;
    Ok(WsStream::new(socket))
}

/// Refused, reset and TLS failures keep their kind; an HTTP answer other than the upgrade
/// (404, 401...) or a missing `mqtt` subprotocol says so in its message.
fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        e => io::Error::other(format!("WebSocket handshake: {e}")),
    }
}
