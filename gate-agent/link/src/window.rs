//! The in-flight window of one MQTT connection: which publishes were handed
//! to rumqttc, which packet id each got, and which outbox item a PUBACK
//! acknowledges.
//!
//! Layer: sans-IO bookkeeping, fed with rumqttc's events by the link task.
//! It knows nothing about the store or the network.
//!
//! How the correlation works: the link is the only publisher on a
//! connection, and rumqttc takes requests from its channel in order and emits
//! exactly one `Outgoing::Publish(pkid)` (or `Outgoing::AwaitAck(pkid)` on a
//! packet-id collision, then `Outgoing::Publish(pkid)` when it is resolved)
//! per QoS 1 publish, in that order. So the n-th such event belongs to the
//! n-th publish handed over: a FIFO of tags, then a map pkid -> tag until the
//! PUBACK. Each connection uses a fresh rumqttc event loop, so rumqttc never
//! re-sends a publish of an earlier connection behind our back.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// What a publish was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// An outbox item (deleted from the outbox when acknowledged).
    Outbox { id: i64, bytes: usize },
    /// A publish not from the outbox (status, sync request).
    Direct,
}

/// A correlation failure: rumqttc and the window disagree, which would be a
/// bug. The link drops the connection; everything unacked is re-sent.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("rumqttc sent publish pkid {0} that the link did not hand over")]
    UnexpectedSend(u16),
    #[error("PUBACK for pkid {0}, which is not in flight")]
    UnknownAck(u16),
}

/// Limits of the window.
#[derive(Clone, Copy, Debug)]
pub struct WindowLimits {
    /// Outbox items in flight at most.
    pub items: usize,
    /// Outbox payload bytes in flight at most (one item may exceed it alone).
    pub bytes: usize,
    /// Direct publishes in flight at most.
    pub direct: usize,
}

/// The in-flight window of one connection.
#[derive(Debug)]
pub struct Window {
    limits: WindowLimits,
    /// Handed to rumqttc, packet id not yet known.
    unsent: VecDeque<Tag>,
    /// Sent (and when, as the link task saw it), waiting for the PUBACK.
    by_pkid: HashMap<u16, (Tag, Instant)>,
    /// A publish rumqttc parked on a packet-id collision.
    collided: Option<(u16, Tag)>,
    /// Highest outbox id handed over on this connection.
    cursor: Option<i64>,
    outbox_items: usize,
    outbox_bytes: usize,
    direct: usize,
}

impl Window {
    pub fn new(limits: WindowLimits) -> Self {
        Self {
            limits,
            unsent: VecDeque::new(),
            by_pkid: HashMap::new(),
            collided: None,
            cursor: None,
            outbox_items: 0,
            outbox_bytes: 0,
            direct: 0,
        }
    }

    /// The highest outbox id handed over on this connection (peek after it).
    pub fn cursor(&self) -> Option<i64> {
        self.cursor
    }

    /// Start the next read from the oldest item again.
    pub fn reset_cursor(&mut self) {
        self.cursor = None;
    }

    /// Direct publishes in flight.
    pub fn direct_in_flight(&self) -> usize {
        self.direct
    }

    /// Outbox items in flight.
    pub fn in_flight(&self) -> usize {
        self.outbox_items
    }

    /// Free outbox slots.
    pub fn room(&self) -> usize {
        self.limits.items.saturating_sub(self.outbox_items)
    }

    /// Whether an outbox item of `bytes` may be handed over now.
    pub fn fits(&self, bytes: usize) -> bool {
        self.outbox_items < self.limits.items
            && (self.outbox_items == 0
                || self.outbox_bytes.saturating_add(bytes) <= self.limits.bytes)
    }

    /// Whether a direct publish may be handed over now.
    pub fn direct_room(&self) -> bool {
        self.direct < self.limits.direct
    }

    /// A publish was handed to rumqttc.
    pub fn handed(&mut self, tag: Tag) {
        match tag {
            Tag::Outbox { id, bytes } => {
                self.outbox_items += 1;
                self.outbox_bytes = self.outbox_bytes.saturating_add(bytes);
                self.cursor = Some(self.cursor.map_or(id, |c| c.max(id)));
            }
            Tag::Direct => self.direct += 1,
        }
        self.unsent.push_back(tag);
    }

    /// An outbox item was skipped without publishing (dropped as poison):
    /// move the cursor past it.
    pub fn skip(&mut self, id: i64) {
        self.cursor = Some(self.cursor.map_or(id, |c| c.max(id)));
    }

    /// `Outgoing::Publish(pkid)`: the packet went out with this id, `at`.
    pub fn on_sent(&mut self, pkid: u16, at: Instant) -> Result<(), WindowError> {
        let tag = match self.collided.take() {
            Some((p, tag)) if p == pkid => tag,
            other => {
                self.collided = other;
                self.unsent
                    .pop_front()
                    .ok_or(WindowError::UnexpectedSend(pkid))?
            }
        };
        self.by_pkid.insert(pkid, (tag, at));
        Ok(())
    }

    /// `Outgoing::AwaitAck(pkid)`: rumqttc parked the next publish because
    /// `pkid` is still in flight; it sends it when that PUBACK arrives.
    pub fn on_collision(&mut self, pkid: u16) -> Result<(), WindowError> {
        let tag = self
            .unsent
            .pop_front()
            .ok_or(WindowError::UnexpectedSend(pkid))?;
        self.collided = Some((pkid, tag));
        Ok(())
    }

    /// `Incoming::PubAck(pkid)`: returns what was acknowledged, and when it
    /// was sent.
    pub fn on_puback(&mut self, pkid: u16) -> Result<(Tag, Instant), WindowError> {
        let (tag, sent) = self
            .by_pkid
            .remove(&pkid)
            .ok_or(WindowError::UnknownAck(pkid))?;
        match tag {
            Tag::Outbox { bytes, .. } => {
                self.outbox_items = self.outbox_items.saturating_sub(1);
                self.outbox_bytes = self.outbox_bytes.saturating_sub(bytes);
            }
            Tag::Direct => self.direct = self.direct.saturating_sub(1),
        }
        Ok((tag, sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(items: usize, bytes: usize) -> Window {
        Window::new(WindowLimits {
            items,
            bytes,
            direct: 2,
        })
    }
    fn ob(id: i64) -> Tag {
        Tag::Outbox { id, bytes: 10 }
    }

    #[test]
    fn fifo_correlation_with_direct_publishes() {
        let mut win = w(4, 1000);
        win.handed(ob(1));
        win.handed(Tag::Direct);
        win.handed(ob(2));
        assert_eq!(win.cursor(), Some(2));
        assert_eq!(win.in_flight(), 2);
        // rumqttc numbers packets 1, 2, 3 in order.
        win.on_sent(1, Instant::now()).unwrap();
        win.on_sent(2, Instant::now()).unwrap();
        win.on_sent(3, Instant::now()).unwrap();
        // Acks in any order map back to the right items.
        assert_eq!(win.on_puback(3).unwrap().0, ob(2));
        assert_eq!(win.on_puback(1).unwrap().0, ob(1));
        assert_eq!(win.on_puback(2).unwrap().0, Tag::Direct);
        assert_eq!(win.in_flight(), 0);
        assert_eq!(
            win.on_puback(2).map(|(tag, _)| tag),
            Err(WindowError::UnknownAck(2))
        );
    }

    #[test]
    fn pkid_reuse_after_ack() {
        let mut win = w(2, 1000);
        win.handed(ob(1));
        win.on_sent(1, Instant::now()).unwrap();
        assert_eq!(win.on_puback(1).unwrap().0, ob(1));
        win.handed(ob(2));
        win.on_sent(1, Instant::now()).unwrap();
        assert_eq!(win.on_puback(1).unwrap().0, ob(2));
    }

    #[test]
    fn collision_resolves_to_parked_publish() {
        let mut win = w(4, 1000);
        for id in 1..=3 {
            win.handed(ob(id));
        }
        win.on_sent(1, Instant::now()).unwrap();
        win.on_sent(2, Instant::now()).unwrap();
        // Publish of item 3 collides with pkid 1 still in flight.
        win.on_collision(1).unwrap();
        // PUBACK 1 arrives, then rumqttc sends the parked publish as pkid 1.
        assert_eq!(win.on_puback(1).unwrap().0, ob(1));
        win.on_sent(1, Instant::now()).unwrap();
        assert_eq!(win.on_puback(1).unwrap().0, ob(3));
        assert_eq!(win.on_puback(2).unwrap().0, ob(2));
    }

    #[test]
    fn unexpected_send_is_an_error() {
        let mut win = w(4, 1000);
        assert_eq!(
            win.on_sent(5, Instant::now()),
            Err(WindowError::UnexpectedSend(5))
        );
    }

    #[test]
    fn limits() {
        let mut win = w(2, 25);
        assert!(win.fits(1_000), "one item may exceed the byte budget alone");
        win.handed(ob(1));
        assert!(win.fits(15));
        assert!(!win.fits(16), "byte budget");
        win.handed(ob(2));
        assert!(!win.fits(1), "item budget");
        assert_eq!(win.room(), 0);
        assert!(win.direct_room());
        win.handed(Tag::Direct);
        win.handed(Tag::Direct);
        assert!(!win.direct_room());
        win.skip(7);
        assert_eq!(win.cursor(), Some(7));
    }
}
