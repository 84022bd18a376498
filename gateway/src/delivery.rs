//! The broker-to-client direction of the front door: every PUBLISH the broker delivers is
//! read again, and what the client may not see is withheld: registrations (they carry API
//! keys, and wildcard subscriptions such as `lua/devices/{agentId}/#` match them) and
//! anything outside the client's topics.
//!
//! A withheld QoS 1 PUBLISH is acknowledged to the broker by the door, as the client would
//! have, so the broker's in-flight window never fills with messages nobody will ack. rumqttd
//! 0.20 drops a connection whose PUBACKs come out of delivery order, so the door passes every
//! PUBACK, the client's and its own, through [`Acks`], which releases them in order.
//! Subscriptions are granted at most QoS 1 (see `front_door::confine`), so no QoS 2
//! exchange is ever withheld halfway.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use lua_device::topic::{self, Suffix};
use rumqttc::mqttbytes::v4::{Packet, PubAck, Publish};
use rumqttc::mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::frame::{encode, parse, read_frame, Frame};
use crate::keys::is_public_status;
use crate::principal::Principal;

/// The QoS 1 deliveries of one connection awaiting their PUBACK to the broker, in delivery
/// order, each with whether it is acknowledged yet.
#[derive(Default)]
pub(crate) struct Acks {
    pending: VecDeque<(u16, bool)>,
}

impl Acks {
    fn delivered(&mut self, pkid: u16, acked: bool) {
        self.pending.push_back((pkid, acked));
    }

    /// The client acknowledged `pkid`; `false` when no delivery awaits that ack.
    fn acked(&mut self, pkid: u16) -> bool {
        match self
            .pending
            .iter_mut()
            .find(|(id, done)| *id == pkid && !done)
        {
            Some(entry) => {
                entry.1 = true;
                true
            }
            None => false,
        }
    }

    /// The acks the broker may have now: the acknowledged deliveries at the head.
    fn ready(&mut self) -> Vec<u16> {
        let mut ready = Vec::new();
        while let Some(&(pkid, true)) = self.pending.front() {
            ready.push(pkid);
            self.pending.pop_front();
        }
        ready
    }
}

/// Send the broker the PUBACKs that are due, in order. The broker's socket is locked first,
/// so that two callers never write their turns in the wrong order.
async fn release<W: AsyncWrite + Unpin>(
    acks: &Mutex<Acks>,
    to_broker: &tokio::sync::Mutex<W>,
) -> std::io::Result<()> {
    let mut broker = to_broker.lock().await;
    let ready = acks.lock().expect("acks").ready();
    for pkid in ready {
        broker
            .write_all(&encode(Packet::PubAck(PubAck::new(pkid))))
            .await?;
    }
    Ok(())
}

/// The client's PUBACK of `pkid`, passed to the broker in delivery order. Unknown ids (a
/// duplicate ack) are dropped: the broker would end the connection over them.
pub(crate) async fn client_acked<W: AsyncWrite + Unpin>(
    pkid: u16,
    acks: &Mutex<Acks>,
    to_broker: &tokio::sync::Mutex<W>,
) -> std::io::Result<()> {
    if !acks.lock().expect("acks").acked(pkid) {
        tracing::debug!(pkid, "dropped a PUBACK that acknowledges no delivery");
        return Ok(());
    }
    release(acks, to_broker).await
}

/// Relay the broker's packets to the client until either side ends, withholding the PUBLISH
/// packets it may not see.
pub(crate) async fn deliver<R, W>(
    principal: Principal,
    mut from_broker: R,
    to_broker: Arc<tokio::sync::Mutex<W>>,
    acks: Arc<Mutex<Acks>>,
    to_client: mpsc::Sender<bytes::Bytes>,
    max_packet: usize,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(4096);
    // The broker sends only what passed the door, and the gateway's own small messages.
    while let Ok(Some(Frame::Whole(frame))) =
        read_frame(&mut from_broker, &mut buf, max_packet).await
    {
        if frame[0] >> 4 == 3 {
            let Ok(Packet::Publish(publish)) = parse(&frame, max_packet) else {
                break;
            };
            let shown = deliverable(&principal, &publish);
            if !shown {
                tracing::debug!(client = %principal.label(), topic = %publish.topic, "withheld");
            }
            if publish.qos != QoS::AtMostOnce {
                acks.lock().expect("acks").delivered(publish.pkid, !shown);
            }
            if !shown {
                if release(&acks, &to_broker).await.is_err() {
                    break;
                }
                continue;
            }
        }
        if to_client.send(frame).await.is_err() {
            break;
        }
    }
}

/// Whether the broker's PUBLISH may reach the client.
fn deliverable(principal: &Principal, publish: &Publish) -> bool {
    if !principal.may_subscribe(&publish.topic) {
        return false;
    }
    match topic::parse(&publish.topic) {
        Some(t) if t.suffix == Suffix::Status => is_public_status(&publish.payload),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_leave_in_delivery_order() {
        let mut acks = Acks::default();
        acks.delivered(1, false);
        acks.delivered(2, true);
        acks.delivered(3, false);
        assert!(acks.ready().is_empty(), "1 is not acknowledged yet");
        assert!(acks.acked(3));
        assert!(acks.ready().is_empty());
        assert!(acks.acked(1));
        assert_eq!(acks.ready(), [1, 2, 3]);
        assert!(!acks.acked(1), "a duplicate ack");
    }
}
