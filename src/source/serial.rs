//! SML from a serial port: an IR reading head on USB, or an RS-485 adapter.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio_serial::{DataBits, Parity, StopBits};

use super::alarm::Alarm;
use super::{Line, MeterDecoder, SILENCE, Wording, keep_reading};
use crate::config::SerialFormat;
use crate::sink::Sink;

/// How much later than the line's pace the last pieces of a frame may come before the reader
/// takes what is there: a USB adapter holds bytes for up to 16 ms.
const LATE: Duration = Duration::from_millis(50);

pub async fn run(
    id: &str,
    port: &str,
    baud: u32,
    format: SerialFormat,
    mut decoder: MeterDecoder,
    sink: Sink,
) {
    let (bits, parity) = match format {
        SerialFormat::EightN1 => (DataBits::Eight, Parity::None),
        SerialFormat::SevenE1 => (DataBits::Seven, Parity::Even),
    };
    let words = Wording {
        what: "the serial port",
        open_hint: "Is the reading head plugged in and the path right? In the add-on, pick the \
                    device under Configuration.",
        silent_hint: "Check that the reading head sits on the meter's optical interface and that \
                      the meter's IR output is on.",
    };
    let open = || async {
        let native = tokio_serial::new(port, baud)
            .data_bits(bits)
            .parity(parity)
            .stop_bits(StopBits::One)
            .open_native()
            .map_err(std::io::Error::from)?;
        // SAFETY: the descriptor was just released by the port that opened it and has no other
        // owner; the File closes it.
        let file = unsafe { File::from_raw_fd(native.into_raw_fd()) };
        Port::new(file, baud)
    };
    keep_reading(id, port, words, open, &mut decoder, &sink).await;
}

/// A serial port that wakes its reader only when there is something worth reading.
///
/// A terminal wakes whoever watches it for every piece that arrives, so while the rest of a
/// frame is on the line the port is not watched at all: the reader sleeps for the time those
/// bytes take at the line's speed, and usually finds the frame complete when it wakes. When the
/// last pieces are late (a USB adapter holds bytes for up to 16 ms), the terminal's VMIN (with
/// VTIME 0) sets how many bytes must be in before the port counts as readable, so the reader
/// wakes once more, when the frame is complete; changing VMIN wakes a waiting reader, so
/// lowering it never strands bytes. A frame shorter than the last ones is read when the sleep
/// ends, as late as the bytes it lacks would have taken. The port is watched for reading only: a terminal is always
/// writable, and with write interest every piece would wake the runtime anyway.
struct Port {
    /// Empty only while the reader sleeps through a frame.
    fd: Option<AsyncFd<File>>,
    /// The VMIN in force; `None` once the port refused it (then every piece wakes the reader).
    vmin: Option<u8>,
    /// One byte on the line: a start bit, 7 or 8 data bits, parity or not, a stop bit.
    byte_time: Duration,
    alarm: Alarm,
    /// Whether the reader slept through the current frame already.
    slept: bool,
}

impl Port {
    fn new(file: File, baud: u32) -> std::io::Result<Self> {
        let fd = file.as_raw_fd();
        // SAFETY: plain fcntl calls on a descriptor `file` owns.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Self {
            fd: Some(watch(file)?),
            vmin: Some(1),
            byte_time: Duration::from_secs(10) / baud.max(1),
            alarm: Alarm::new()?,
            slept: false,
        })
    }

    fn fd(&self) -> std::io::Result<&AsyncFd<File>> {
        self.fd
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the serial port was lost while asleep"))
    }

    fn set_vmin(&mut self, want: usize) -> std::io::Result<()> {
        let Some(current) = self.vmin else {
            return Ok(());
        };
        let vmin = want.clamp(1, u8::MAX as usize) as u8;
        if vmin == current {
            return Ok(());
        }
        let fd = self.fd()?.as_raw_fd();
        // SAFETY: `fd` is the open descriptor `self.fd` owns; termios is plain data that
        // tcgetattr fills in completely before it is read.
        let set = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            libc::tcgetattr(fd, &mut t) == 0 && {
                t.c_cc[libc::VMIN] = vmin;
                t.c_cc[libc::VTIME] = 0;
                libc::tcsetattr(fd, libc::TCSANOW, &t) == 0
            }
        };
        if set {
            self.vmin = Some(vmin);
        } else {
            let e = std::io::Error::last_os_error();
            tracing::debug!("The serial port does not take VMIN ({e}); reading each piece.");
            self.vmin = None;
        }
        Ok(())
    }
}

fn watch(file: File) -> std::io::Result<AsyncFd<File>> {
    // SAFETY: the File owns the descriptor and neither closes nor replaces it while the
    // AsyncFd holds it.
    Ok(unsafe { AsyncFd::register_with_interest(file, Interest::READABLE)? })
}

impl Line for Port {
    async fn gather(&mut self, want: usize) -> std::io::Result<Duration> {
        if want <= 1 {
            self.slept = false;
            self.set_vmin(1)?;
            return Ok(SILENCE);
        }
        if self.slept {
            // Slept through the frame and it is not complete: the last pieces are late.
            self.set_vmin(want)?;
            return Ok(LATE);
        }
        // Whatever is in when the sleep ends is read at once, also a frame that came shorter.
        self.set_vmin(1)?;
        let file = self.fd.take().map(AsyncFd::into_inner);
        let slept = self.alarm.sleep(self.byte_time * want as u32).await;
        self.fd = file.map(watch).transpose()?;
        slept?;
        self.slept = true;
        Ok(SILENCE)
    }
}

impl AsyncRead for Port {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd()?.poll_read_ready(cx))?;
            let (n, drained) = drain(guard.get_inner(), buf.initialize_unfilled())?;
            if drained {
                guard.clear_ready();
            }
            if n > 0 || !drained {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
        }
    }
}

/// Reads until the port has nothing more, and says whether it ran dry (rather than filling
/// `buf` or reaching the end). While VMIN is above 64 Linux hands out at most 64 bytes per
/// read, so one read per wake-up would leave most of a frame for further rounds.
fn drain(mut file: &File, buf: &mut [u8]) -> std::io::Result<(usize, bool)> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => return Ok((n, false)),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok((n, true)),
            // What was read is handed out first; the error comes back on the next read.
            Err(_) if n > 0 => return Ok((n, false)),
            Err(e) => return Err(e),
        }
    }
    Ok((n, false))
}
