//! SML transport layer (escape sequences, padding, checksum) as a push-based state machine.
//!
//! Bytes go in as they arrive from a serial port, socket or file; complete frames and errors come
//! out. Nothing here blocks, allocates per byte, or knows where the bytes came from. The framer
//! tolerates what real meters send and sml-rs 0.4.0 rejects: Kermit checksums and four padding
//! bytes. After any error it searches the rejected bytes for the next start sequence, so a frame
//! that lost bytes does not take the following good frame down with it.

use super::crc::{self, Checksum};

const ESCAPE: [u8; 4] = [0x1b; 4];
const START: [u8; 8] = [0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01];
const END_MARK: u8 = 0x1a;

/// Frames larger than this are garbage: real meters send well under 2 KiB.
pub const MAX_FRAME: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The unescaped SML messages with padding removed.
    pub payload: Vec<u8>,
    pub checksum: Checksum,
    pub padding: u8,
    /// Bytes on the wire, start and end sequences and escapes included.
    pub wire_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("skipped {0} bytes that were not part of a frame")]
    Skipped(usize),
    #[error("checksum mismatch (frame of {len} bytes, sent {sent:#06x}, X.25 {x25:#06x})")]
    Checksum { len: usize, sent: u16, x25: u16 },
    #[error("invalid escape sequence at byte {at} of the frame")]
    InvalidEscape { at: usize },
    #[error("frame longer than {MAX_FRAME} bytes")]
    TooLong,
    #[error("frame restarted after {len} bytes without an end sequence")]
    Restarted { len: usize },
}

impl FrameError {
    /// Bytes lost to this error, for the `skipped_bytes` of `sml decode`.
    pub fn lost_bytes(&self) -> usize {
        match *self {
            FrameError::Skipped(n) => n,
            FrameError::Checksum { len, .. } | FrameError::Restarted { len } => len,
            FrameError::InvalidEscape { at } => at,
            FrameError::TooLong => MAX_FRAME,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    Frame(Frame),
    Error(FrameError),
}

#[derive(Debug, Default)]
pub struct Framer {
    /// Raw bytes of the frame being assembled, starting with the start sequence.
    raw: Vec<u8>,
    in_frame: bool,
    /// Bytes seen while hunting for a start sequence, reported once a frame starts.
    skipped: usize,
    /// The last up to 7 bytes seen while hunting, so a start sequence split across pushes is found.
    tail: Vec<u8>,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and calls `out` for each complete frame or error, in stream order.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut impl FnMut(FrameEvent)) {
        while !bytes.is_empty() {
            if self.in_frame {
                bytes = self.extend_frame(bytes, out);
            } else {
                bytes = self.hunt(bytes);
            }
        }
    }

    /// Reports what is left at the end of the input: a partial frame or unframed bytes.
    pub fn finish(&mut self, out: &mut impl FnMut(FrameEvent)) {
        let lost = self.skipped + self.tail.len() + self.raw.len();
        if lost > 0 {
            out(FrameEvent::Error(FrameError::Skipped(lost)));
        }
        *self = Self::default();
    }

    /// Bytes of the frame being assembled so far, or `None` between frames.
    pub fn frame_so_far(&self) -> Option<usize> {
        self.in_frame.then_some(self.raw.len())
    }

    /// Drops any partial frame, e.g. after the connection that delivered it was lost.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn hunt<'b>(&mut self, bytes: &'b [u8]) -> &'b [u8] {
        // Join the saved tail with the start of the new bytes to find a split start sequence.
        let probe_len = bytes.len().min(START.len() - 1);
        let mut joined = std::mem::take(&mut self.tail);
        let tail_len = joined.len();
        joined.extend_from_slice(&bytes[..probe_len]);
        if let Some(pos) = find(&joined, &START) {
            self.skipped += pos;
            self.begin_frame();
            // The part of the start sequence that came from the new bytes is consumed here.
            return &bytes[pos + START.len() - tail_len..];
        }
        if let Some(pos) = find(bytes, &START) {
            self.skipped += tail_len + pos;
            self.begin_frame();
            return &bytes[pos + START.len()..];
        }
        // Keep the last 7 bytes (possibly the beginning of a start sequence) for the next push.
        let all = tail_len + bytes.len();
        let keep = all.min(START.len() - 1);
        self.skipped += all - keep;
        joined.truncate(tail_len);
        joined.extend_from_slice(bytes);
        self.tail = joined.split_off(joined.len() - keep);
        &[]
    }

    fn begin_frame(&mut self) {
        self.raw.clear();
        self.raw.extend_from_slice(&START);
        self.in_frame = true;
        self.tail.clear();
    }

    /// Consumes bytes of the current frame; returns the unconsumed rest.
    fn extend_frame<'b>(&mut self, bytes: &'b [u8], out: &mut impl FnMut(FrameEvent)) -> &'b [u8] {
        let mut rest = bytes;
        while let Some((&b, r)) = rest.split_first() {
            rest = r;
            self.raw.push(b);
            let len = self.raw.len();
            // A start sequence at any offset means this frame lost bytes (its escapes are no
            // longer aligned) and a new frame begins; without this check a frame missing one
            // byte would swallow every following frame until the alignment happened to return.
            if b == 0x01 && len >= 16 && self.raw[len - 8..] == START && !self.is_literal(len - 8) {
                self.fail(FrameError::Restarted { len: len - 8 }, out);
                return rest;
            }
            // Escape sequences are aligned to 4-byte words counted from the start sequence.
            if len % 4 != 0 || len < 16 {
                continue;
            }
            let word: [u8; 4] = self.raw[len - 4..].try_into().unwrap_or_default();
            let prev: [u8; 4] = self.raw[len - 8..len - 4].try_into().unwrap_or_default();
            if prev != ESCAPE || !self.escape_opens_at(len - 8) {
                if len > MAX_FRAME {
                    self.fail(FrameError::TooLong, out);
                    return rest;
                }
                continue;
            }
            if word == ESCAPE {
                continue; // an escaped literal 1b1b1b1b: the next word is data again
            }
            if word[0] == END_MARK {
                self.complete(out);
                return rest;
            }
            self.fail(FrameError::InvalidEscape { at: len - 8 }, out);
            return rest;
        }
        rest
    }

    /// Whether an aligned start sequence at `pos` is really data: the second half of an escaped
    /// literal 1b1b1b1b followed by a data word of ones.
    fn is_literal(&self, pos: usize) -> bool {
        pos % 4 == 0 && !self.escape_opens_at(pos)
    }

    /// Whether the escape word at `pos` starts an escape sequence rather than being the second
    /// half of an escaped literal (1b1b1b1b 1b1b1b1b).
    fn escape_opens_at(&self, pos: usize) -> bool {
        let mut count = 0;
        let mut p = pos;
        while p >= 12 && self.raw[p - 4..p] == ESCAPE {
            count += 1;
            p -= 4;
        }
        count % 2 == 0
    }

    fn complete(&mut self, out: &mut impl FnMut(FrameEvent)) {
        let len = self.raw.len();
        let sent = u16::from_be_bytes([self.raw[len - 2], self.raw[len - 1]]);
        let padding = self.raw[len - 3];
        let Some(checksum) = crc::identify(&self.raw[..len - 2], sent) else {
            let x25 = crc::x25(&self.raw[..len - 2]);
            self.fail(FrameError::Checksum { len, sent, x25 }, out);
            return;
        };
        self.skipped_report(out);
        let payload = unescape(&self.raw[8..len - 8], padding);
        self.raw.clear();
        self.in_frame = false;
        out(FrameEvent::Frame(Frame {
            payload,
            checksum,
            padding,
            wire_len: len,
        }));
    }

    fn skipped_report(&mut self, out: &mut impl FnMut(FrameEvent)) {
        if self.skipped > 0 {
            out(FrameEvent::Error(FrameError::Skipped(self.skipped)));
            self.skipped = 0;
        }
    }

    /// Reports `err` and rescans the rejected bytes (minus the first) for a later start
    /// sequence, which is where the next good frame begins when bytes went missing.
    fn fail(&mut self, err: FrameError, out: &mut impl FnMut(FrameEvent)) {
        self.skipped_report(out);
        out(FrameEvent::Error(err));
        let raw = std::mem::take(&mut self.raw);
        self.in_frame = false;
        self.tail.clear();
        match find(&raw[1..], &START) {
            Some(pos) => self.push(&raw[1 + pos..], out),
            // The rejected bytes are already counted by `err`; only a possible beginning of the
            // next start sequence is kept.
            None => self.tail = raw[raw.len() - start_prefix_len(&raw)..].to_vec(),
        }
    }
}

/// Length of the longest suffix of `bytes` that is a proper prefix of the start sequence.
fn start_prefix_len(bytes: &[u8]) -> usize {
    (1..START.len())
        .rev()
        .find(|&n| n <= bytes.len() && bytes[bytes.len() - n..] == START[..n])
        .unwrap_or(0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Removes escape doubling and trailing zero padding. Padding is only stripped when it is all
/// zeros, because the checksum already proved the bytes intact and the parser skips fill bytes.
fn unescape(body: &[u8], padding: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if i % 4 == 0 && body[i..].starts_with(&[0x1b; 8]) {
            out.extend_from_slice(&ESCAPE);
            i += 8;
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    let pad = usize::from(padding).min(out.len());
    if out[out.len() - pad..].iter().all(|&b| b == 0) {
        out.truncate(out.len() - pad);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(payload: &[u8]) -> Vec<u8> {
        let mut raw = START.to_vec();
        for chunk in payload.chunks(4) {
            raw.extend_from_slice(chunk);
            if chunk == ESCAPE {
                raw.extend_from_slice(&ESCAPE);
            }
        }
        let pad = (4 - payload.len() % 4) % 4;
        raw.extend(std::iter::repeat_n(0, pad));
        raw.extend_from_slice(&ESCAPE);
        raw.extend_from_slice(&[END_MARK, pad as u8]);
        let c = crc::x25(&raw);
        raw.extend_from_slice(&c.to_be_bytes());
        raw
    }

    fn collect(chunks: &[&[u8]]) -> Vec<FrameEvent> {
        let mut f = Framer::new();
        let mut ev = Vec::new();
        for c in chunks {
            f.push(c, &mut |e| ev.push(e));
        }
        f.finish(&mut |e| ev.push(e));
        ev
    }

    #[test]
    fn a_frame_split_at_every_byte_is_found_whole() {
        let payload = [1u8, 2, 3, 4, 0x1b, 0x1b, 0x1b, 0x1b, 5, 6];
        let bytes = frame_bytes(&payload);
        let mut garbage = vec![0xaa, 0x1b, 0x1b];
        garbage.extend_from_slice(&bytes);
        let chunks: Vec<&[u8]> = garbage.chunks(1).collect();
        let ev = collect(&chunks);
        assert_eq!(ev[0], FrameEvent::Error(FrameError::Skipped(3)));
        match &ev[1] {
            FrameEvent::Frame(f) => assert_eq!(f.payload, payload),
            other => panic!("expected a frame, got {other:?}"),
        }
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn a_truncated_frame_does_not_hide_the_next_one() {
        let good = frame_bytes(&[9, 8, 7, 6, 5]);
        let mut stream = good[..13].to_vec(); // cut off mid-frame, then the next frame starts
        stream.extend_from_slice(&good);
        let ev = collect(&[&stream]);
        let frames = ev
            .iter()
            .filter(|e| matches!(e, FrameEvent::Frame(_)))
            .count();
        assert_eq!(frames, 1, "{ev:?}");
        assert!(ev.iter().any(|e| matches!(e, FrameEvent::Error(_))));
    }

    #[test]
    fn a_corrupted_frame_is_reported_and_the_next_decodes() {
        let good = frame_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let mut bad = good.clone();
        bad[10] ^= 0xff;
        let ev = collect(&[&bad, &good]);
        assert!(matches!(
            ev[0],
            FrameEvent::Error(FrameError::Checksum { .. })
        ));
        assert!(matches!(ev[1], FrameEvent::Frame(_)));
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn endless_garbage_is_counted_not_buffered() {
        let junk = vec![0x55u8; 100_000];
        let mut f = Framer::new();
        let mut ev = Vec::new();
        f.push(&junk, &mut |e| ev.push(e));
        assert!(ev.is_empty());
        assert!(f.tail.len() < 8 && f.raw.is_empty());
        f.finish(&mut |e| ev.push(e));
        assert_eq!(ev, vec![FrameEvent::Error(FrameError::Skipped(100_000))]);
    }
}
