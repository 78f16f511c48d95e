//! Bytes of one meter in, core events out: framing, decoding and the meter's quirks.

use crate::model::{Event, Now};
use crate::sml::{FrameEvent, Framer, Pacing, QuirkState, Quirks, telegram};

/// Bytes without a single good frame after which a wrong line setting is the likely cause.
const NO_FRAME_HINT_BYTES: usize = 8 * 1024;

pub struct MeterDecoder {
    meter: usize,
    id: String,
    framer: Framer,
    pacing: Pacing,
    quirks: QuirkState,
    frames: u64,
    errors: u64,
    bytes_without_frame: usize,
    hinted: bool,
}

impl MeterDecoder {
    pub fn new(meter: usize, id: &str, quirks: Quirks) -> Self {
        Self {
            meter,
            id: id.to_string(),
            framer: Framer::new(),
            pacing: Pacing::new(),
            quirks: QuirkState::new(quirks),
            frames: 0,
            errors: 0,
            bytes_without_frame: 0,
            hinted: false,
        }
    }

    pub fn push(&mut self, bytes: &[u8], now: Now, out: &mut Vec<Event>) {
        self.bytes_without_frame += bytes.len();
        let mut frames = Vec::new();
        let mut errors = Vec::new();
        self.framer.push(bytes, &mut |e| match e {
            FrameEvent::Frame(f) => frames.push(f),
            FrameEvent::Error(e) => errors.push(e.to_string()),
        });
        self.emit(frames, errors, now, out);
        if !self.hinted && self.frames == 0 && self.bytes_without_frame > NO_FRAME_HINT_BYTES {
            self.hinted = true;
            tracing::warn!(
                meter = %self.id,
                bytes = self.bytes_without_frame,
                "Data arrives but holds no valid SML frame. Check the line settings (most meters \
                 send 9600 baud 8N1, some 7E1) and that the reading head sits straight on the \
                 meter's optical interface."
            );
        }
    }

    /// How many bytes to gather before the next read is worth it; see [`Pacing`].
    pub fn wait_for(&self) -> usize {
        self.pacing.wait_for(self.framer.frame_so_far())
    }

    /// Reports whatever partial frame is left, e.g. at the end of an HTTP body or a file.
    pub fn finish(&mut self, now: Now, out: &mut Vec<Event>) {
        let mut errors = Vec::new();
        self.framer.finish(&mut |e| {
            if let FrameEvent::Error(e) = e {
                errors.push(e.to_string());
            }
        });
        self.emit(Vec::new(), errors, now, out);
    }

    /// Forgets a partial frame after the connection that delivered it broke.
    pub fn reset(&mut self) {
        self.framer.reset();
    }

    fn emit(
        &mut self,
        frames: Vec<crate::sml::Frame>,
        errors: Vec<String>,
        now: Now,
        out: &mut Vec<Event>,
    ) {
        for e in errors {
            self.error(&e);
            out.push(Event::FrameError { meter: self.meter });
        }
        for f in frames {
            self.bytes_without_frame = 0;
            self.pacing.frame_seen(f.wire_len);
            match telegram::decode(&f.payload, Some(f.checksum)) {
                Ok(mut t) => {
                    self.frames += 1;
                    if self.frames == 1 {
                        self.first_telegram(&t);
                    }
                    for w in &t.warnings {
                        tracing::debug!(meter = %self.id, "{w}");
                    }
                    self.quirks.apply(&mut t, now.mono_ms);
                    out.push(Event::Telegram {
                        meter: self.meter,
                        telegram: Box::new(t),
                    });
                }
                Err(e) => {
                    self.error(&e);
                    out.push(Event::FrameError { meter: self.meter });
                }
            }
        }
    }

    fn first_telegram(&self, t: &crate::sml::Telegram) {
        tracing::info!(
            meter = %self.id,
            server_id = %t.server_id_hex(),
            checksum = t.checksum.map_or("none", |c| c.as_str()),
            values = t.readings.len(),
            "First telegram from the meter."
        );
        if self.quirks.dzg_fix_advisable(t) {
            tracing::warn!(
                meter = %self.id,
                "This is a DZG DVS74 in the serial range whose firmware sends 327.68 to 655.35 W \
                 as negative values. If power reads about -300 W while you import, set \
                 dzg_sign_fix: true for this meter."
            );
        }
    }

    fn error(&mut self, e: &str) {
        self.errors += 1;
        // The count is published; the log only says it once in a while.
        if self.errors == 1 || self.errors.is_power_of_two() {
            tracing::warn!(meter = %self.id, errors = self.errors, "SML frame error: {e}.");
        } else {
            tracing::debug!(meter = %self.id, "SML frame error: {e}.");
        }
    }
}
