//! The edge's clock: the only place the bridge reads time.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::core::Now;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> Now {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Now {
            mono_ms: self.start.elapsed().as_millis() as u64,
            unix_ms,
        }
    }
}
