//! Messages waiting for the broker, at most one per topic.
//!
//! While the broker is away only the latest value of each topic matters, so memory is bounded by
//! the number of topics, not by how long the outage lasts. Order of first arrival is kept, so
//! discovery configs still go out before the states that follow them.

use std::collections::{HashMap, VecDeque};

use crate::message::Message;

#[derive(Debug, Default)]
pub struct Outbox {
    order: VecDeque<String>,
    latest: HashMap<String, Message>,
}

impl Outbox {
    pub fn push(&mut self, msg: Message) {
        if !self.latest.contains_key(&msg.topic) {
            self.order.push_back(msg.topic.clone());
        }
        self.latest.insert(msg.topic.clone(), msg);
    }

    /// Puts a message back at the front after the client could not take it.
    pub fn push_front(&mut self, msg: Message) {
        if !self.latest.contains_key(&msg.topic) {
            self.order.push_front(msg.topic.clone());
            self.latest.insert(msg.topic.clone(), msg);
        }
    }

    pub fn pop(&mut self) -> Option<Message> {
        let topic = self.order.pop_front()?;
        self.latest.remove(&topic)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(topic: &str, payload: &str) -> Message {
        Message::state(topic.into(), payload.into())
    }

    #[test]
    fn keeps_the_latest_value_per_topic_in_first_arrival_order() {
        let mut o = Outbox::default();
        o.push(m("a", "1"));
        o.push(m("b", "1"));
        o.push(m("a", "2"));
        assert_eq!(o.len(), 2);
        assert_eq!(o.pop(), Some(m("a", "2")));
        o.push_front(m("z", "0"));
        assert_eq!(o.pop(), Some(m("z", "0")));
        assert_eq!(o.pop(), Some(m("b", "1")));
        assert!(o.is_empty());
    }
}
