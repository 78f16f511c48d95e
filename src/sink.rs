//! The edges' way into the core: the channel that carries their events, and the clock that
//! stamps them, the only place the bridge reads time.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::model::{Event, Now};

/// Where decoded events go, with the clock that stamps them.
#[derive(Clone)]
pub struct Sink {
    pub events: mpsc::Sender<Event>,
    pub clock: Clock,
}

impl Sink {
    /// Sends events to the core; false when the core has stopped.
    pub async fn send_all(&self, out: &mut Vec<Event>) -> bool {
        for e in out.drain(..) {
            if self.events.send(e).await.is_err() {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    /// Simulated milliseconds per real one: 1, or more for a day in fast motion.
    speed: u32,
    /// The Unix time the clock starts at, when it is not the real one.
    origin_unix_ms: Option<i64>,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
            speed: 1,
            origin_unix_ms: None,
        }
    }

    /// A clock that starts at `origin_unix_ms` and runs `speed` times as fast as the real one
    /// (the demo's day in fast motion): every rule that waits or counts time sees it the same.
    pub fn fast(origin_unix_ms: i64, speed: u32) -> Self {
        Self {
            start: Instant::now(),
            speed: speed.max(1),
            origin_unix_ms: Some(origin_unix_ms),
        }
    }

    /// The instant of a monotonic time from [`Clock::now`], for sleeping until it.
    pub fn instant(&self, mono_ms: u64) -> Instant {
        self.start + std::time::Duration::from_millis(mono_ms / u64::from(self.speed))
    }

    pub fn now(&self) -> Now {
        let mono_ms = self.start.elapsed().as_millis() as u64 * u64::from(self.speed);
        let unix_ms = match self.origin_unix_ms {
            Some(origin) => origin + mono_ms as i64,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        };
        Now {
            mono_ms,
            unix_ms,
            utc_offset_s: utc_offset(unix_ms / 1000),
        }
    }
}

/// The local time zone's offset from UTC at `unix_s`, from the C library (TZ, /etc/localtime).
#[cfg(unix)]
fn utc_offset(unix_s: i64) -> i32 {
    let t = unix_s as libc::time_t;
    // SAFETY: localtime_r only writes the tm we own; a zeroed tm is a valid initial value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok { tm.tm_gmtoff as i32 } else { 0 }
}

#[cfg(not(unix))]
fn utc_offset(_unix_s: i64) -> i32 {
    0
}
