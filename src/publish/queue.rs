//! The bounded outbox between the video thread and the MQTT connection: pushing never
//! blocks and never grows memory without bound. When full, a superseded counts snapshot
//! goes first (a newer one carries everything it said), then the oldest event; what is
//! dropped is counted so the loss can be reported.

use std::collections::VecDeque;

/// What a queued message is, for eviction and ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Availability, discovery, status: re-created on every connection, never evicted.
    Control,
    /// A counts snapshot: a later one makes it redundant.
    Counts,
    /// A visit event (or anything else that cannot be rebuilt).
    Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

#[cfg(test)]
impl Message {
    /// A message on topic `t` with `text` as its payload (tests).
    pub(crate) fn text(kind: Kind, text: &str) -> Message {
        Message {
            kind,
            topic: "t".into(),
            payload: text.as_bytes().to_vec(),
            retain: false,
        }
    }
}

#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Message>,
    capacity: usize,
    /// Messages lost because the outbox was full (superseded counts included).
    pub dropped: u64,
    /// Of those, visit events (real information lost, not just an older snapshot).
    pub dropped_events: u64,
}

impl Outbox {
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            dropped_events: 0,
        }
    }

    /// Queues `m`, making room first if full. Control messages always fit (there are a
    /// handful per connection) and are never evicted.
    pub fn push(&mut self, m: Message) {
        if m.kind != Kind::Control && self.data_len() >= self.capacity {
            self.evict();
        }
        self.queue.push_back(m);
    }

    /// Puts messages that were sent but not acknowledged back at the head, in order, when
    /// the connection broke: they are resent first (at least once).
    pub fn requeue_front(&mut self, sent: impl DoubleEndedIterator<Item = Message>) {
        for m in sent.rev() {
            self.queue.push_front(m);
        }
        while self.data_len() > self.capacity {
            self.evict();
        }
    }

    /// Control messages queued for a connection that is gone are rebuilt on the next one.
    pub fn forget_control(&mut self) {
        self.queue.retain(|m| m.kind != Kind::Control);
    }

    /// Takes every message but the control ones (to be stored on disk), oldest first.
    pub fn take_data(&mut self) -> Vec<Message> {
        // Called every turn of the MQTT thread: nothing to take allocates nothing.
        if self.data_len() == 0 {
            return Vec::new();
        }
        let (data, control): (Vec<Message>, Vec<Message>) =
            self.queue.drain(..).partition(|m| m.kind != Kind::Control);
        self.queue.extend(control);
        data
    }

    pub fn pop(&mut self) -> Option<Message> {
        self.queue.pop_front()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn data_len(&self) -> usize {
        self.queue
            .iter()
            .filter(|m| m.kind != Kind::Control)
            .count()
    }

    fn evict(&mut self) {
        let victim = self
            .queue
            .iter()
            .position(|m| m.kind == Kind::Counts)
            .or_else(|| self.queue.iter().position(|m| m.kind == Kind::Event));
        if let Some(i) = victim {
            let m = self.queue.remove(i).expect("index from position");
            self.dropped += 1;
            if m.kind == Kind::Event {
                self.dropped_events += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: Kind, text: &str) -> Message {
        Message::text(kind, text)
    }

    fn texts(o: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| o.pop())
            .map(|m| String::from_utf8(m.payload).unwrap())
            .collect()
    }

    #[test]
    fn full_outbox_drops_old_counts_before_events() {
        let mut o = Outbox::new(3);
        o.push(msg(Kind::Counts, "c1"));
        o.push(msg(Kind::Event, "v1"));
        o.push(msg(Kind::Counts, "c2"));
        o.push(msg(Kind::Event, "v2"));
        assert_eq!((o.dropped, o.dropped_events), (1, 0));
        o.push(msg(Kind::Counts, "c3"));
        assert_eq!((o.dropped, o.dropped_events), (2, 0));
        assert_eq!(texts(&mut o), ["v1", "v2", "c3"]);
    }

    #[test]
    fn events_are_dropped_oldest_first_and_counted() {
        let mut o = Outbox::new(2);
        for v in ["v1", "v2", "v3", "v4"] {
            o.push(msg(Kind::Event, v));
        }
        assert_eq!((o.dropped, o.dropped_events), (2, 2));
        assert_eq!(texts(&mut o), ["v3", "v4"]);
    }

    #[test]
    fn control_messages_always_fit_and_unsent_ones_are_forgotten() {
        let mut o = Outbox::new(1);
        o.push(msg(Kind::Event, "v1"));
        o.push(msg(Kind::Control, "online"));
        assert_eq!(o.len(), 2);
        assert_eq!(o.dropped, 0);
        o.forget_control();
        assert_eq!(texts(&mut o), ["v1"]);
    }

    #[test]
    fn unacknowledged_messages_go_back_to_the_head_in_order() {
        let mut o = Outbox::new(10);
        o.push(msg(Kind::Event, "v3"));
        o.requeue_front(vec![msg(Kind::Event, "v1"), msg(Kind::Counts, "c2")].into_iter());
        assert_eq!(texts(&mut o), ["v1", "c2", "v3"]);
    }
}
