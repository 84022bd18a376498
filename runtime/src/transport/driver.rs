//! The task that drives the MQTT event loop: connection sequence, routing of incoming
//! messages, reconnection and graceful shutdown.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    Disconnect, Event, EventLoop, LastWill, MqttOptions, NetworkOptions, Outgoing, Packet, PubAck,
    Publish, QoS, Request, Subscribe, SubscribeFilter, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, oneshot};

use crate::backoff::{Backoff, BackoffPolicy};
use crate::message::{Connected, ServerError, TriggerAck, TriggerResult};
use crate::session::{self, Identity, Publication, Qos, Step, Subscription};
use crate::topic::{self, Suffix, Topics};
use crate::Dispatch;

use super::backlog::{Backlog, Held};
use super::clock::{monotonic_ms, now_iso, random_u32};
use super::context::Context;
use super::relay::Relay;
use super::url::{BrokerUrl, Scheme};
use super::{commands, tls, Config, DeviceEvent, Error};

/// rumqttc options for the protocol's CONNECT: client id, username, API key as password,
/// persistent session, 60 s keep alive, retained offline will. With a `relay`, rumqttc reaches
/// the broker through it.
pub(crate) fn mqtt_options(
    config: &Config,
    url: &BrokerUrl,
    topics: &Topics,
    relay: Option<&Relay>,
) -> Result<MqttOptions, Error> {
    let client_id = topic::client_id(&config.agent_id, &config.device_name);
    let mut options = match (relay, url.scheme) {
        (Some(relay), _) => {
            let mut options = MqttOptions::new(client_id, relay.path(), 0);
            #[cfg(unix)]
            options.set_transport(Transport::Unix);
            options
        }
        (None, Scheme::Tcp | Scheme::Tls) => {
            MqttOptions::new(client_id, url.host.clone(), url.port)
        }
        (None, Scheme::Ws | Scheme::Wss) => {
            MqttOptions::new(client_id, url.websocket_url(), url.port)
        }
    };
    match (relay, url.scheme) {
        (Some(_), _) | (None, Scheme::Tcp) => {}
        (None, Scheme::Tls) => {
            let tls = tls::client_config(config.ca_pem.as_deref())?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
        }
        (None, Scheme::Ws) => {
            options.set_transport(Transport::Ws);
        }
        (None, Scheme::Wss) => {
            let tls = tls::client_config(config.ca_pem.as_deref())?;
            options.set_transport(Transport::wss_with_config(TlsConfiguration::Rustls(tls)));
        }
    }
    options
        .set_credentials(
            topic::username(&config.agent_id, &config.device_name),
            config.api_key.clone(),
        )
        .set_clean_session(false)
        // The driver acknowledges commands as its queue takes them (see `backlog`).
        .set_manual_acks(true)
        .set_keep_alive(config.keep_alive)
        .set_max_packet_size(config.max_packet_size, config.max_packet_size)
        .set_inflight(config.max_inflight.max(1))
        .set_last_will(last_will(topics));
    Ok(options)
}

/// TCP_NODELAY on: responses are small and latency-bound, and Nagle's algorithm meeting the
/// broker's delayed ACK otherwise holds each one back for tens of milliseconds.
pub(crate) fn network_options() -> NetworkOptions {
    let mut options = NetworkOptions::new();
    options.set_tcp_nodelay(true);
    options
}

fn last_will(topics: &Topics) -> LastWill {
    let will = session::offline_status(topics, &now_iso());
    LastWill::new(will.topic, will.payload, QoS::AtLeastOnce, true)
}

fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

pub(crate) fn to_publish(p: Publication) -> Publish {
    let mut publish = Publish::new(p.topic, qos(p.qos), p.payload);
    publish.retain = p.retain;
    publish
}

fn to_request(step: Step) -> Request {
    match step {
        Step::Subscribe(subs) => Request::Subscribe(Subscribe::new_many(
            subs.into_iter()
                .map(|Subscription { topic, qos: q }| SubscribeFilter::new(topic, qos(q))),
        )),
        Step::Publish(p) => Request::Publish(to_publish(p)),
    }
}

/// Where the post-CONNACK sequence stands. Its three requests are put at the front of
/// rumqttc's pending queue, which the event loop sends before anything else, so they are the
/// next three outgoing SUBSCRIBE/PUBLISH events and the third one's packet id is the
/// registration's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Registering {
    Idle,
    Sending { seen: u8 },
    AwaitingAck(u16),
    Done,
}

pub(crate) async fn run<D: Dispatch>(
    mut eventloop: EventLoop,
    ctx: Arc<Context<D>>,
    policy: BackoffPolicy,
    mut shutdown_rx: mpsc::Receiver<oneshot::Sender<()>>,
    ready: oneshot::Sender<Result<(), Error>>,
) {
    let mut ready = Some(ready);
    let mut backoff = Backoff::new(policy);
    let mut registering = Registering::Idle;
    let mut ever_registered = false;
    let mut backlog = Backlog::new(ctx.max_held_bytes);
    let mut redelivering = false;
    let mut acks = Vec::new();
    loop {
        redelivering |= pump(&ctx, &mut backlog, &mut eventloop, redelivering, &mut acks);
        send_acks(&mut eventloop, &mut acks).await;
        let event = tokio::select! {
            biased;
            request = shutdown_rx.recv() => {
                graceful_shutdown(&mut eventloop, &ctx, registering == Registering::Done).await;
                // Closing rumqttc's socket lets the relay forward its DISCONNECT and close;
                // only then may the caller (and the process) go.
                drop(eventloop);
                if let Some(relay) = &ctx.relay {
                    relay.drain(Duration::from_secs(2)).await;
                }
                finish(&ctx, request);
                return;
            }
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let identity = Identity {
                    topics: ctx.topics(),
                    api_key: &ctx.api_key,
                    group: ctx.group.as_deref(),
                };
                let steps =
                    session::after_connack(&identity, ctx.dispatcher.commands(), &now_iso());
                for step in steps.into_iter().rev() {
                    eventloop.pending.push_front(to_request(step));
                }
                registering = Registering::Sending { seen: 0 };
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid) | Outgoing::Publish(pkid))) => {
                if let Registering::Sending { seen } = registering {
                    registering = if seen == 2 {
                        Registering::AwaitingAck(pkid)
                    } else {
                        Registering::Sending { seen: seen + 1 }
                    };
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack)))
                if registering == Registering::AwaitingAck(ack.pkid) =>
            {
                registering = Registering::Done;
                backoff.connected(monotonic_ms());
                ctx.handle.inner.registered.store(true, Ordering::SeqCst);
                tracing::info!(topic = ctx.topics().prefix(), "registered");
                ctx.emit(if ever_registered {
                    DeviceEvent::Reconnected
                } else {
                    DeviceEvent::Connected
                });
                ever_registered = true;
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                receive(&ctx, &mut backlog, publish);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) if redelivering => {
                // The session stays (clean session false, no will): connect again at once.
                tracing::info!("reconnecting for the commands held without their payload");
                backlog.clear();
                eventloop.clean();
                redelivering = false;
                registering = Registering::Idle;
                ctx.handle.inner.registered.store(false, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(e) => {
                // The broker delivers again whatever was not acknowledged.
                backlog.clear();
                redelivering = false;
                let was_registered = registering == Registering::Done;
                registering = Registering::Idle;
                ctx.handle.inner.registered.store(false, Ordering::SeqCst);
                if !ever_registered {
                    if let Some(ready) = ready.take() {
                        // Through the relay, rumqttc saw only its socket close: say why.
                        let e = match ctx.relay.as_ref().and_then(Relay::take_failure) {
                            Some(failure) => rumqttc::ConnectionError::Io(failure),
                            None => e,
                        };
                        let _ = ready.send(Err(Error::Connect(Box::new(e))));
                        finish(&ctx, None);
                        return;
                    }
                }
                if was_registered {
                    tracing::warn!(error = %e, "connection lost");
                    backoff.disconnected(monotonic_ms());
                    ctx.emit(DeviceEvent::Disconnected {
                        reason: e.to_string(),
                    });
                }
                // The will's timestamp should say when the device was last seen.
                eventloop
                    .mqtt_options
                    .set_last_will(last_will(ctx.topics()));
                let delay = Duration::from_millis(backoff.next_delay(random_u32()));
                tracing::debug!(?delay, "reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    request = shutdown_rx.recv() => {
                        finish(&ctx, request);
                        return;
                    }
                }
            }
        }
    }
}

fn finish<D>(ctx: &Context<D>, request: Option<oneshot::Sender<()>>) {
    ctx.handle.inner.registered.store(false, Ordering::SeqCst);
    ctx.handle.inner.finished.send_replace(true);
    ctx.handle.inner.emit(DeviceEvent::Stopped);
    if let Some(done) = request {
        let _ = done.send(());
    }
}

/// Retained offline status, its PUBACK, then DISCONNECT; bounded by the shutdown timeout.
///
/// Commands that arrive meanwhile are not acknowledged: the broker keeps them for the
/// device's next session.
async fn graceful_shutdown<D>(eventloop: &mut EventLoop, ctx: &Context<D>, connected: bool) {
    ctx.handle.inner.registered.store(false, Ordering::SeqCst);
    if !connected {
        return;
    }
    let offline = session::offline_status(ctx.topics(), &now_iso());
    eventloop
        .pending
        .push_front(Request::Publish(to_publish(offline)));
    let acked = tokio::time::timeout(ctx.shutdown_timeout, async {
        let mut pkid = None;
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Publish(p))) if pkid.is_none() => pkid = Some(p),
                Ok(Event::Incoming(Packet::PubAck(ack))) if Some(ack.pkid) == pkid => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    if acked != Ok(true) {
        tracing::warn!("offline status not acknowledged; the last will covers it");
    }
    eventloop
        .pending
        .push_front(Request::Disconnect(Disconnect));
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// A PUBLISH from the broker: commands join the line for the queue; anything else is handled
/// now and only its PUBACK waits its turn.
fn receive<D: Dispatch>(ctx: &Arc<Context<D>>, backlog: &mut Backlog, publish: Publish) {
    let command = ctx.topics().suffix_of(&publish.topic) == Some(Suffix::Command);
    if command && publish.retain {
        // Left by someone on the broker, delivered again at every subscription: running it
        // would repeat it at every start. Its payload may hold anything: not logged.
        tracing::warn!(
            bytes = publish.payload.len(),
            "ignored a retained command message"
        );
        backlog.push_ack(&publish);
    } else if command {
        backlog.push_command(publish);
    } else {
        backlog.push_ack(&publish);
        route(ctx, publish);
    }
}

/// Take, in arrival order, what the queue has room for: its PUBACKs go into `acks` and its
/// commands start. Returns true when a command held without its payload reached the front:
/// the driver then disconnects so that the broker delivers it again.
fn pump<D: Dispatch>(
    ctx: &Arc<Context<D>>,
    backlog: &mut Backlog,
    eventloop: &mut EventLoop,
    redelivering: bool,
    acks: &mut Vec<u16>,
) -> bool {
    if redelivering {
        return false;
    }
    loop {
        let permit = match backlog.front() {
            None => return false,
            Some(Held::Ack(_)) => None,
            Some(Held::Command(publish)) => match ctx.queue.try_take(publish.payload.len()) {
                Some(permit) => Some(permit),
                None => return false,
            },
            Some(Held::Dropped) => {
                if ctx.queue.taken().0 > 0 {
                    return false;
                }
                eventloop.pending.push_back(Request::Disconnect(Disconnect));
                return true;
            }
        };
        match backlog.pop() {
            Some(Held::Ack(pkid)) => acks.push(pkid),
            Some(Held::Command(publish)) => {
                if publish.pkid != 0 {
                    acks.push(publish.pkid);
                }
                let permit = permit.expect("a command in line took a permit");
                commands::accept(ctx, &publish.payload, permit);
            }
            _ => unreachable!("the front was just read"),
        }
    }
}

/// Write `acks` straight to the connection they belong to. Not through rumqttc's request
/// queues: its pending queue goes before them (retransmissions first, one at a time),
/// and a PUBACK late by a reconnection would acknowledge the redelivered message instead.
/// A write that fails leaves them unsent; the next poll sees the broken connection.
async fn send_acks(eventloop: &mut EventLoop, acks: &mut Vec<u16>) {
    if acks.is_empty() {
        return;
    }
    if let Some(network) = eventloop.network.as_mut() {
        for pkid in acks.iter() {
            if network
                .write(Packet::PubAck(PubAck::new(*pkid)))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), network.flush()).await;
    }
    acks.clear();
}

fn route<D: Dispatch>(ctx: &Arc<Context<D>>, publish: Publish) {
    let Some(suffix) = ctx.topics().suffix_of(&publish.topic) else {
        return;
    };
    let text = || String::from_utf8_lossy(&publish.payload).into_owned();
    match suffix {
        // Commands go through `pump`.
        Suffix::Command => {}
        Suffix::TriggerAck => match serde_json::from_slice::<TriggerAck>(&publish.payload) {
            Ok(ack) => {
                if let Some(waiting) = ctx.handle.inner.ack_slot.lock().expect("ack slot").take() {
                    let _ = waiting.send(ack.clone());
                }
                ctx.emit(DeviceEvent::TriggerAck(ack));
            }
            Err(e) => tracing::warn!(error = %e, "unreadable trigger_ack"),
        },
        Suffix::TriggerResult => match serde_json::from_slice::<TriggerResult>(&publish.payload) {
            Ok(result) => {
                for callback in ctx
                    .trigger_results
                    .get(&result.trigger_name)
                    .into_iter()
                    .flatten()
                {
                    let value = result.result.clone();
                    if catch_unwind(AssertUnwindSafe(|| callback(value))).is_err() {
                        tracing::error!(trigger = %result.trigger_name, "trigger_result callback panicked");
                    }
                }
                ctx.emit(DeviceEvent::TriggerResult {
                    trigger_name: result.trigger_name,
                    result: result.result,
                });
            }
            Err(e) => tracing::warn!(error = %e, "unreadable trigger_result"),
        },
        Suffix::Error => {
            let raw = text();
            let error = serde_json::from_slice::<ServerError>(&publish.payload).unwrap_or_default();
            tracing::warn!(code = ?error.code, message = ?error.message, "server error");
            ctx.emit(DeviceEvent::ServerError { error, raw });
        }
        Suffix::Connected => {
            let confirmed =
                serde_json::from_slice::<Connected>(&publish.payload).unwrap_or_default();
            ctx.emit(DeviceEvent::GatewayConfirmed {
                message: confirmed.message,
            });
        }
        _ => {}
    }
}

/// The relay that cuts oversized commands down (see `relay`), for every scheme.
pub(crate) fn relay(config: &Config, url: &BrokerUrl) -> Result<Option<Relay>, Error> {
    let tls = match url.scheme {
        Scheme::Tcp | Scheme::Ws => None,
        Scheme::Tls | Scheme::Wss => Some(tls::client_config(config.ca_pem.as_deref())?),
    };
    match Relay::start(url.clone(), tls, config.max_packet_size) {
        Ok(relay) => Ok(Some(relay)),
        Err(e) => {
            // Still a device, only one an oversized command can wedge again.
            tracing::warn!(error = %e, "no relay for oversized commands; connecting directly");
            Ok(None)
        }
    }
}
