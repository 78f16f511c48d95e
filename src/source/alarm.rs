//! A one-shot kernel timer (timerfd) for the serial reader's sleeps.
//!
//! tokio's timer wheel wakes once early for a wait beyond 64 ms, to move the timer into a finer
//! slot; a serial reader that sleeps through each frame would pay that wake-up once a second.
//! A timerfd wakes exactly once, at the time asked for.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub struct Alarm(AsyncFd<OwnedFd>);

impl Alarm {
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: timerfd_create returns a new descriptor or -1; a new one has no other owner.
        let fd = unsafe {
            let fd = libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            );
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        // SAFETY: the OwnedFd owns the descriptor and neither closes nor replaces it while the
        // AsyncFd holds it.
        Ok(Self(unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE)?
        }))
    }

    pub async fn sleep(&self, d: Duration) -> std::io::Result<()> {
        // A zero it_value would disarm the timer rather than fire it at once.
        let d = d.max(Duration::from_micros(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        let fd = self.0.as_raw_fd();
        // SAFETY: `spec` is a valid itimerspec and `fd` the timerfd this Alarm owns.
        if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        loop {
            let mut guard = self.0.readable().await?;
            let fired = guard.try_io(|inner| {
                let mut expirations = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a buffer of 8 from the timerfd.
                let n =
                    unsafe { libc::read(inner.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            if let Ok(result) = fired {
                return result;
            }
        }
    }
}
