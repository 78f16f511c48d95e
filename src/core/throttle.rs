//! When a state is worth publishing: on change, at most every `min_interval`, and again after
//! `heartbeat` so consumers see the value is still current.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub min_interval_ms: u64,
    pub heartbeat_ms: u64,
}

impl Policy {
    /// The shortest gap after which a change goes out. A change that comes a little early
    /// (a fifth of the interval, at most 250 ms) is on time: a meter that sends once a second
    /// keeps a clock of its own, and with `min_interval: 1` its readings must neither wait nor
    /// be replaced by the next one.
    fn change_gap_ms(self) -> u64 {
        let slack = (self.min_interval_ms / 5).min(250);
        self.min_interval_ms - slack
    }
}

/// Paces commands to a device: refuses one that comes less than `min_ms` after the last one
/// let through, saying how long to wait.
pub fn pace(last_ms: &mut Option<u64>, min_ms: u64, now_ms: u64) -> Result<(), String> {
    if let Some(last) = *last_ms {
        let since = now_ms.saturating_sub(last);
        if since < min_ms {
            return Err(format!(
                "changed {} s ago; wait {} s more (min_change_interval)",
                since / 1000,
                (min_ms - since).div_ceil(1000)
            ));
        }
    }
    *last_ms = Some(now_ms);
    Ok(())
}

/// The publish history of one state topic.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    last: Option<(String, u64)>,
    /// A changed value held back by the minimum interval, published by a later tick.
    pending: Option<String>,
}

impl Throttle {
    /// Offers a fresh value; returns the payload to publish now, if any.
    pub fn offer(&mut self, payload: String, now_ms: u64, policy: Policy) -> Option<String> {
        let due = match &self.last {
            None => true,
            Some((last, at)) => {
                let since = now_ms.saturating_sub(*at);
                if *last != payload {
                    since >= policy.change_gap_ms()
                } else {
                    since >= policy.heartbeat_ms
                }
            }
        };
        if due {
            self.pending = None;
            self.last = Some((payload.clone(), now_ms));
            Some(payload)
        } else {
            let changed = self.last.as_ref().is_some_and(|(last, _)| *last != payload);
            self.pending = changed.then_some(payload);
            None
        }
    }

    /// A held-back value whose minimum interval has passed, so the last change is never lost.
    pub fn flush(&mut self, now_ms: u64, policy: Policy) -> Option<String> {
        let (_, at) = self.last.as_ref()?;
        if now_ms.saturating_sub(*at) < policy.change_gap_ms() {
            return None;
        }
        let payload = self.pending.take()?;
        self.last = Some((payload.clone(), now_ms));
        Some(payload)
    }

    /// When the held-back value falls due, if one is held back.
    pub fn due_ms(&self, policy: Policy) -> Option<u64> {
        self.pending.as_ref()?;
        let (_, at) = self.last.as_ref()?;
        Some(at.saturating_add(policy.change_gap_ms()))
    }

    /// The latest value, published or held back, for republishing after a reconnect.
    pub fn current(&self) -> Option<&str> {
        self.pending
            .as_deref()
            .or(self.last.as_ref().map(|(p, _)| p.as_str()))
    }

    /// Forgets the value, so it is neither republished nor held back; true if there was one.
    pub fn clear(&mut self) -> bool {
        let had = self.current().is_some();
        self.last = None;
        self.pending = None;
        had
    }

    /// Marks the current value as published at `now_ms` (after a full republish).
    pub fn republished(&mut self, now_ms: u64) {
        if let Some(p) = self.pending.take() {
            self.last = Some((p, now_ms));
        } else if let Some((_, at)) = self.last.as_mut() {
            *at = now_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        min_interval_ms: 1_000,
        heartbeat_ms: 60_000,
    };

    #[test]
    fn changes_are_rate_limited_but_never_lost() {
        let mut t = Throttle::default();
        assert_eq!(t.offer("1".into(), 0, P).as_deref(), Some("1"));
        assert_eq!(t.offer("2".into(), 400, P), None);
        assert_eq!(t.offer("3".into(), 700, P), None);
        assert_eq!(t.flush(750, P), None);
        assert_eq!(t.flush(800, P).as_deref(), Some("3"));
        assert_eq!(t.flush(5_000, P), None);
    }

    #[test]
    fn a_reading_a_little_early_is_on_time() {
        let mut t = Throttle::default();
        t.offer("1".into(), 0, P);
        // The meter's next reading, 12 ms before the second is full.
        assert_eq!(t.offer("2".into(), 988, P).as_deref(), Some("2"));
        // A fifth early at most, and never more than 250 ms.
        assert_eq!(t.offer("3".into(), 988 + 799, P), None);
        let slow = Policy {
            min_interval_ms: 10_000,
            heartbeat_ms: 60_000,
        };
        let mut t = Throttle::default();
        t.offer("1".into(), 0, slow);
        assert_eq!(t.offer("2".into(), 9_700, slow), None);
        assert_eq!(t.due_ms(slow), Some(9_750));
    }

    #[test]
    fn unchanged_values_wait_for_the_heartbeat() {
        let mut t = Throttle::default();
        t.offer("7".into(), 0, P);
        assert_eq!(t.offer("7".into(), 59_999, P), None);
        assert_eq!(t.offer("7".into(), 60_000, P).as_deref(), Some("7"));
    }

    #[test]
    fn returning_to_the_published_value_cancels_the_pending_one() {
        let mut t = Throttle::default();
        t.offer("1".into(), 0, P);
        t.offer("2".into(), 100, P);
        t.offer("1".into(), 200, P);
        assert_eq!(t.flush(2_000, P), None);
        assert_eq!(t.current(), Some("1"));
    }
}
