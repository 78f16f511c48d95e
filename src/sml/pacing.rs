//! How many bytes a reader should gather before it wakes, from the lengths of recent frames.
//!
//! A meter on a 9600-baud line sends a frame of 200 to 700 bytes once a second, and a USB
//! reading head hands it over in 16-byte pieces: waking for every piece costs about 16 wake-ups
//! per frame. Meters repeat the same frame layout, so after the first piece of a frame the
//! rest is as long as it was last time (or as one of the last few, for meters that alternate
//! two layouts); a reader that asks its line for exactly that many bytes wakes twice per frame
//! and still sees the last byte the moment it arrives.

/// How many recent frame lengths are remembered: enough for meters that alternate layouts.
const REMEMBERED: usize = 4;

#[derive(Debug, Default, Clone)]
pub struct Pacing {
    /// Lengths on the wire of the last frames, newest last.
    recent: Vec<usize>,
}

impl Pacing {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the length on the wire of a frame that just completed.
    pub fn frame_seen(&mut self, len: usize) {
        if self.recent.len() == REMEMBERED {
            self.recent.remove(0);
        }
        self.recent.push(len);
    }

    /// Bytes to wait for before reading, given how many bytes of a frame are in (`None` between
    /// frames). Between frames it is one: the start of a frame is not predictable, and it
    /// starts the clock for the rest. Within a frame it is what the shortest remembered frame
    /// that is still longer would need; with none, one.
    pub fn wait_for(&self, in_frame: Option<usize>) -> usize {
        let Some(got) = in_frame else { return 1 };
        self.recent
            .iter()
            .filter(|&&len| len > got)
            .map(|len| len - got)
            .min()
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_frames_and_before_the_first_frame_one_byte_wakes() {
        let mut p = Pacing::new();
        assert_eq!(p.wait_for(None), 1);
        assert_eq!(p.wait_for(Some(16)), 1);
        p.frame_seen(252);
        assert_eq!(p.wait_for(None), 1);
    }

    #[test]
    fn within_a_frame_the_rest_of_the_last_frame_is_awaited() {
        let mut p = Pacing::new();
        p.frame_seen(252);
        assert_eq!(p.wait_for(Some(16)), 236);
        assert_eq!(p.wait_for(Some(251)), 1);
        // Longer than every frame so far: piece by piece until the end shows.
        assert_eq!(p.wait_for(Some(252)), 1);
        assert_eq!(p.wait_for(Some(300)), 1);
    }

    #[test]
    fn alternating_layouts_wait_for_the_next_possible_end() {
        let mut p = Pacing::new();
        p.frame_seen(316);
        p.frame_seen(499);
        assert_eq!(p.wait_for(Some(16)), 300);
        assert_eq!(p.wait_for(Some(316)), 183);
    }

    #[test]
    fn only_the_last_few_lengths_count() {
        let mut p = Pacing::new();
        p.frame_seen(100);
        for _ in 0..REMEMBERED {
            p.frame_seen(252);
        }
        assert_eq!(p.wait_for(Some(16)), 236);
    }
}
