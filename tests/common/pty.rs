//! Pseudo-terminals standing in for serial ports.

use std::io::Write;
use std::time::Duration;

/// A pseudo-terminal pair; the bridge opens the slave by path like a USB reading head.
pub struct Pty {
    pub master: std::fs::File,
    _slave: std::fs::File,
    pub path: String,
}

impl Pty {
    /// Writes on a thread of its own: the pty buffer holds only a few KiB and the bridge that
    /// drains it runs on this test's runtime.
    pub async fn write(&self, bytes: Vec<u8>, chunk: usize) {
        let mut master = self.master.try_clone().unwrap();
        tokio::task::spawn_blocking(move || {
            for c in bytes.chunks(chunk) {
                master.write_all(c).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
        .await
        .unwrap();
    }

    /// Writes at the pace of a line at `baud` (10 bits a byte), in the `piece`-byte chunks a USB
    /// adapter hands over, each when its last byte would have arrived.
    pub async fn write_paced(&self, bytes: Vec<u8>, piece: usize, baud: u32) {
        let mut master = self.master.try_clone().unwrap();
        tokio::task::spawn_blocking(move || {
            let byte = Duration::from_secs(10) / baud;
            let start = std::time::Instant::now();
            let mut sent = 0;
            for c in bytes.chunks(piece) {
                sent += c.len();
                let due = start + byte * sent as u32;
                std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
                master.write_all(c).unwrap();
            }
        })
        .await
        .unwrap();
    }
}

pub fn pty() -> Pty {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: openpty writes two fds and a NUL-terminated name into buffers we own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            name.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: the name buffer was NUL-terminated by openpty.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: both fds were just opened and are owned by nothing else.
    unsafe {
        Pty {
            master: std::fs::File::from_raw_fd(master),
            _slave: std::fs::File::from_raw_fd(slave),
            path,
        }
    }
}
