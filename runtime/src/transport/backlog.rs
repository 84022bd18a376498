//! Bounded work in flight: which received messages to acknowledge, and when.
//!
//! The device acknowledges a command only when the work queue (commands acknowledged and not
//! yet answered) has room for it, counted in commands and in payload bytes. Until then the
//! command waits here unacknowledged, and the broker, whose in-flight window it fills, keeps
//! the rest of the backlog in the device's persistent session. MQTT 3.1.1 wants PUBACKs in the
//! order the PUBLISHes arrived, so every acknowledgement, of a command or of any other
//! message, leaves in arrival order from the one line kept here.
//!
//! The window is the broker's (mosquitto: 20 messages, rumqttd: up to 200), so what waits
//! here is bounded in bytes too: past that bound a command's payload is dropped and only its
//! place kept; when it reaches the front the device reconnects, and the broker delivers again
//! everything that was never acknowledged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rumqttc::Publish;

/// The work queue's counts, shared with the command tasks that release them.
#[derive(Debug)]
pub(crate) struct Queue {
    limits: (usize, usize),
    taken: Mutex<(usize, usize)>,
}

impl Queue {
    pub(crate) fn new(max_commands: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            limits: (max_commands.max(1), max_bytes),
            taken: Mutex::new((0, 0)),
        })
    }

    /// A place for a command of `bytes`, if one is free. An empty queue takes any size, so
    /// a command larger than the byte bound still runs, alone.
    pub(crate) fn try_take(self: &Arc<Self>, bytes: usize) -> Option<Permit> {
        let mut taken = self.taken.lock().expect("queue lock");
        let (commands, held) = *taken;
        let fits = commands == 0 || (commands < self.limits.0 && held + bytes <= self.limits.1);
        fits.then(|| {
            *taken = (commands + 1, held + bytes);
            Permit {
                queue: Arc::clone(self),
                bytes,
            }
        })
    }

    /// Commands and bytes taken now.
    pub(crate) fn taken(&self) -> (usize, usize) {
        *self.taken.lock().expect("queue lock")
    }
}

/// One command's place in the queue, given back when dropped (once its response is ready).
#[derive(Debug)]
pub(crate) struct Permit {
    queue: Arc<Queue>,
    bytes: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut taken = self.queue.taken.lock().expect("queue lock");
        taken.0 -= 1;
        taken.1 -= self.bytes;
    }
}

/// A received message whose PUBACK has not been sent.
#[derive(Debug)]
pub(crate) enum Held {
    /// Handled already (not a command, or a retained one); only its PUBACK waits its turn.
    Ack(u16),
    /// A command waiting for room in the queue.
    Command(Publish),
    /// A command whose payload was dropped for room: the broker must send it again.
    Dropped,
}

/// Messages received and not yet acknowledged, in arrival order.
#[derive(Debug)]
pub(crate) struct Backlog {
    line: VecDeque<Held>,
    bytes: usize,
    max_bytes: usize,
}

impl Backlog {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            line: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// A message handled on arrival, whose PUBACK (if any: QoS 0 has none) waits its turn.
    pub(crate) fn push_ack(&mut self, publish: &Publish) {
        if publish.pkid != 0 {
            self.line.push_back(Held::Ack(publish.pkid));
        }
    }

    /// A command: kept whole while the held bytes allow it, else only its place.
    pub(crate) fn push_command(&mut self, publish: Publish) {
        let size = publish.payload.len();
        if self.bytes + size <= self.max_bytes || self.line.is_empty() {
            self.bytes += size;
            self.line.push_back(Held::Command(publish));
        } else {
            tracing::warn!(
                bytes = size,
                "command held without its payload; the broker will send it again"
            );
            self.line.push_back(Held::Dropped);
        }
    }

    pub(crate) fn front(&self) -> Option<&Held> {
        self.line.front()
    }

    pub(crate) fn pop(&mut self) -> Option<Held> {
        let held = self.line.pop_front()?;
        if let Held::Command(publish) = &held {
            self.bytes -= publish.payload.len();
        }
        Some(held)
    }

    /// Forget everything: the connection is gone, and the broker delivers again what was
    /// never acknowledged.
    pub(crate) fn clear(&mut self) {
        self.line.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::QoS;

    fn publish(pkid: u16, bytes: usize) -> Publish {
        let mut p = Publish::new("t", QoS::AtLeastOnce, vec![b'x'; bytes]);
        p.pkid = pkid;
        p
    }

    #[test]
    fn the_queue_counts_commands_and_bytes_and_gives_them_back() {
        let q = Queue::new(2, 100);
        let a = q.try_take(60).expect("room");
        assert!(q.try_take(41).is_none(), "101 bytes");
        let b = q.try_take(40).expect("room");
        assert!(q.try_take(0).is_none(), "two commands");
        drop(a);
        assert_eq!(q.taken(), (1, 40));
        drop(b);
        assert_eq!(q.taken(), (0, 0));
        let huge = q
            .try_take(1000)
            .expect("an empty queue takes any size, alone");
        assert!(q.try_take(0).is_none());
        drop(huge);
    }

    #[test]
    fn the_line_keeps_arrival_order_and_bounds_held_bytes() {
        let mut b = Backlog::new(100);
        b.push_command(publish(1, 80));
        b.push_ack(&publish(2, 0));
        b.push_command(publish(3, 30));
        b.push_ack(&publish(0, 0));
        b.push_command(publish(4, 20));
        assert_eq!(b.line.len(), 4, "QoS 0 has no PUBACK to wait for");
        assert!(matches!(b.pop(), Some(Held::Command(p)) if p.pkid == 1));
        assert!(matches!(b.pop(), Some(Held::Ack(2))));
        assert!(matches!(b.pop(), Some(Held::Dropped)), "80 + 30 > 100");
        assert!(matches!(b.pop(), Some(Held::Command(p)) if p.pkid == 4));
        assert_eq!(b.bytes, 0);
        let mut b = Backlog::new(10);
        b.push_command(publish(5, 50));
        assert!(
            matches!(b.front(), Some(Held::Command(_))),
            "the first in line is always kept whole"
        );
        b.clear();
        assert_eq!((b.line.len(), b.bytes), (0, 0));
    }
}
