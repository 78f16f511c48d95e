//! The operator's dimming signal: what the sources report, debounced, failing safe.
//!
//! A source is one way the control box's state reaches Stromwart (an MQTT topic from a Shelly
//! input, a Modbus input, an HTTP poll). Its reports pass a debounce: a change counts once it
//! has held for the source's debounce time, so a bouncing relay contact does not start and end
//! a dimming. A source that has not reported for its timeout counts as dimming when it fails
//! safe (the default, as openWB and the EEBus failsafe do): a broken wire or a dead Shelly must
//! not release the devices. A report that is neither on nor off changes nothing and does not
//! count as a sign of life. At start, until each source has reported, the state the bridge
//! stopped in holds, so a bridge restarted while dimmed comes back dimmed.

/// What a source reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Report {
    /// Dim to the minimum power (FNN contact W4 closed, EEBus LPC active).
    Dim,
    Release,
    /// Dim to this many watts (a box that sends a number).
    Limit(u32),
}

/// Reads a payload: one of `dim` or `release` (compared without case), or a number of watts.
pub fn parse(payload: &str, dim: &[String], release: &[String]) -> Result<Report, String> {
    let p = payload.trim();
    if dim.iter().any(|d| d.eq_ignore_ascii_case(p)) {
        return Ok(Report::Dim);
    }
    if release.iter().any(|r| r.eq_ignore_ascii_case(p)) {
        return Ok(Report::Release);
    }
    match p.parse::<f64>() {
        Ok(w) if w.is_finite() && w >= 0.0 && w <= f64::from(u32::MAX) => {
            Ok(Report::Limit(w.round() as u32))
        }
        _ => Err(format!(
            "\"{}\" is neither a dimming payload ({}) nor a release ({}) nor a limit in watts",
            crate::redact::escape_controls(p),
            dim.join(", "),
            release.join(", ")
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    pub name: String,
    /// Silence after which the source counts as failed (`u64::MAX`: never).
    pub timeout_ms: u64,
    /// A failed source counts as dimming.
    pub fail_safe: bool,
    pub debounce_ms: u64,
    /// Payloads that mean "dim" and "release".
    pub dim: Vec<String>,
    pub release: Vec<String>,
    /// An FNN feed-in contact (W3, S2, S1): closed, it limits feed-in to this percentage. It is
    /// shown, not acted on: Stromwart dims consumption only.
    pub feed_in: Option<u8>,
}

/// Why the site is dimmed, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The source at this position reports dimming.
    Source(usize),
    /// The source at this position has not reported within its timeout.
    Silent(usize),
    /// A test started from Home Assistant.
    Test,
    /// The bridge stopped while dimmed and no source has reported since.
    Restored,
    /// Not dimmed.
    Released,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    pub dimmed: bool,
    /// A limit a source sent in watts; `None` means the computed minimum.
    pub limit_w: Option<u32>,
    pub why: Why,
}

#[derive(Debug, Clone)]
struct Source {
    settings: SourceSettings,
    last_seen_ms: Option<u64>,
    /// The report in force after the debounce.
    stable: Option<Report>,
    /// A different report and since when it has held.
    pending: Option<(Report, u64)>,
    /// The sender said it is offline (its availability topic); a failure until it reports.
    down: bool,
}

impl Source {
    fn silent(&self, started_ms: u64, now_ms: u64) -> bool {
        let seen = self.last_seen_ms.unwrap_or(started_ms);
        self.down || now_ms.saturating_sub(seen) > self.settings.timeout_ms
    }
}

#[derive(Debug, Clone)]
pub struct Signal {
    sources: Vec<Source>,
    started_ms: u64,
    restored: bool,
    test_until_ms: Option<u64>,
}

impl Signal {
    /// `was_dimmed`: the state the bridge stopped in.
    pub fn new(sources: Vec<SourceSettings>, was_dimmed: bool, now_ms: u64) -> Self {
        Self {
            sources: sources
                .into_iter()
                .map(|settings| Source {
                    settings,
                    last_seen_ms: None,
                    stable: None,
                    pending: None,
                    down: false,
                })
                .collect(),
            started_ms: now_ms,
            restored: was_dimmed,
            test_until_ms: None,
        }
    }

    /// A report from the source at `source`.
    pub fn report(&mut self, source: usize, report: Report, now_ms: u64) {
        let Some(s) = self.sources.get_mut(source) else {
            return;
        };
        s.last_seen_ms = Some(now_ms);
        s.down = false;
        if s.stable.is_none() || s.settings.debounce_ms == 0 {
            // The first report counts at once: there is nothing to bounce against yet.
            s.stable = Some(report);
            s.pending = None;
        } else if s.stable == Some(report) {
            s.pending = None;
        } else if s.pending.is_none_or(|(p, _)| p != report) {
            s.pending = Some((report, now_ms));
        }
        self.settle(now_ms);
    }

    /// The source at `source` is known to be gone (its sender went offline): it counts as
    /// failed at once, not only after its timeout.
    pub fn lost(&mut self, source: usize) {
        if let Some(s) = self.sources.get_mut(source) {
            s.down = true;
        }
    }

    /// Simulates the signal until `now_ms + duration_ms` (0 ends a test).
    pub fn test(&mut self, duration_ms: u64, now_ms: u64) {
        self.test_until_ms = (duration_ms > 0).then_some(now_ms + duration_ms);
    }

    /// When the state may change without a report (a debounce ending, a source falling silent,
    /// a test ending), so the caller wakes then.
    pub fn next_change(&self) -> Option<u64> {
        let mut at = self.test_until_ms;
        for s in &self.sources {
            let silent = (s.last_seen_ms.unwrap_or(self.started_ms))
                .saturating_add(s.settings.timeout_ms)
                .saturating_add(1);
            let debounced = s.pending.map(|(_, since)| since + s.settings.debounce_ms);
            for t in [Some(silent), debounced].into_iter().flatten() {
                at = Some(at.map_or(t, |a: u64| a.min(t)));
            }
        }
        at
    }

    pub fn state(&mut self, now_ms: u64) -> State {
        self.settle(now_ms);
        if self.test_until_ms.is_some_and(|until| now_ms < until) {
            return State {
                dimmed: true,
                limit_w: None,
                why: Why::Test,
            };
        }
        let mut state = State {
            dimmed: false,
            limit_w: None,
            why: Why::Released,
        };
        let mut limits = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            if s.settings.feed_in.is_some() {
                continue;
            }
            let why = match s.stable {
                _ if s.silent(self.started_ms, now_ms) && s.settings.fail_safe => Why::Silent(i),
                Some(Report::Dim) => Why::Source(i),
                Some(Report::Limit(w)) => {
                    limits.push(w);
                    Why::Source(i)
                }
                _ => continue,
            };
            if !state.dimmed {
                state = State {
                    dimmed: true,
                    limit_w: None,
                    why,
                };
            }
        }
        state.limit_w = limits.into_iter().min();
        let consumption = self.sources.iter().filter(|s| s.settings.feed_in.is_none());
        if !state.dimmed && self.restored && consumption.clone().all(|s| s.stable.is_none()) {
            state.dimmed = true;
            state.why = Why::Restored;
        }
        state
    }

    fn settle(&mut self, now_ms: u64) {
        for s in &mut self.sources {
            if let Some((report, since)) = s.pending {
                if now_ms >= since + s.settings.debounce_ms {
                    s.stable = Some(report);
                    s.pending = None;
                }
            }
        }
        if self
            .sources
            .iter()
            .any(|s| s.settings.feed_in.is_none() && s.stable.is_some())
        {
            self.restored = false;
        }
    }

    /// Whether every source has reported within its timeout (and none said it is offline).
    pub fn reachable(&self, now_ms: u64) -> bool {
        self.sources
            .iter()
            .all(|s| !s.silent(self.started_ms, now_ms))
    }

    /// The feed-in limit the FNN contacts set, in percent: the lowest closed contact's, 100
    /// when all are open; `None` without feed-in contacts or before they reported.
    pub fn feed_in_percent(&self) -> Option<u8> {
        let contacts: Vec<&Source> = self
            .sources
            .iter()
            .filter(|s| s.settings.feed_in.is_some() && s.stable.is_some())
            .collect();
        if contacts.is_empty() {
            return None;
        }
        let closed = contacts
            .iter()
            .filter(|s| s.stable != Some(Report::Release))
            .filter_map(|s| s.settings.feed_in);
        Some(closed.min().unwrap_or(100))
    }

    pub fn source_name(&self, source: usize) -> Option<&str> {
        self.sources.get(source).map(|s| s.settings.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    fn source(timeout_s: u64, debounce_ms: u64) -> SourceSettings {
        SourceSettings {
            name: "box".into(),
            timeout_ms: timeout_s * S,
            fail_safe: true,
            debounce_ms,
            dim: words(&["on"]),
            release: words(&["off"]),
            feed_in: None,
        }
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn payloads_are_dim_release_or_a_limit_and_nothing_else() {
        let (dim, release) = (words(&["ON", "1"]), words(&["OFF", "0"]));
        assert_eq!(parse("on", &dim, &release), Ok(Report::Dim));
        assert_eq!(parse(" OFF\n", &dim, &release), Ok(Report::Release));
        assert_eq!(parse("4200", &dim, &release), Ok(Report::Limit(4200)));
        let err = parse("maybe\u{1b}", &dim, &release).unwrap_err();
        assert!(err.contains("neither a dimming payload (ON, 1)"), "{err}");
        assert!(
            !err.contains('\u{1b}'),
            "control characters are escaped: {err}"
        );
        assert!(parse("-5", &dim, &release).is_err());
    }

    #[test]
    fn a_report_dims_and_a_release_ends_it() {
        let mut s = Signal::new(vec![source(60, 0)], false, 0);
        assert!(!s.state(S).dimmed);
        s.report(0, Report::Dim, 2 * S);
        assert_eq!(s.state(2 * S).why, Why::Source(0));
        s.report(0, Report::Release, 3 * S);
        assert_eq!(s.state(3 * S).why, Why::Released);
    }

    #[test]
    fn a_change_counts_once_it_has_held_for_the_debounce() {
        let mut s = Signal::new(vec![source(60, 500)], false, 0);
        s.report(0, Report::Release, 0);
        s.report(0, Report::Dim, S);
        assert!(!s.state(S + 499).dimmed, "still bouncing");
        assert_eq!(s.next_change(), Some(S + 500));
        assert!(s.state(S + 500).dimmed);
        // A blip shorter than the debounce changes nothing.
        s.report(0, Report::Release, 2 * S);
        s.report(0, Report::Dim, 2 * S + 100);
        assert!(s.state(3 * S).dimmed);
    }

    #[test]
    fn a_silent_source_dims_after_its_timeout_when_it_fails_safe() {
        let mut s = Signal::new(vec![source(60, 0)], false, 0);
        s.report(0, Report::Release, 0);
        assert!(!s.state(60 * S).dimmed);
        assert_eq!(s.next_change(), Some(60 * S + 1));
        assert_eq!(s.state(60 * S + 1).why, Why::Silent(0));
        s.report(0, Report::Release, 70 * S);
        assert!(!s.state(70 * S).dimmed);
        // A source that never reports fails after its timeout from the start, too.
        let mut never = Signal::new(vec![source(60, 0)], false, 0);
        assert!(never.state(61 * S).dimmed);
    }

    #[test]
    fn a_source_whose_sender_went_offline_fails_at_once() {
        let mut s = Signal::new(vec![source(600, 0)], false, 0);
        s.report(0, Report::Release, 0);
        s.lost(0);
        assert_eq!(s.state(S).why, Why::Silent(0));
        s.report(0, Report::Release, 2 * S);
        assert!(!s.state(2 * S).dimmed);
    }

    #[test]
    fn a_silent_source_that_does_not_fail_safe_keeps_its_last_report() {
        let mut settings = source(60, 0);
        settings.fail_safe = false;
        let mut s = Signal::new(vec![settings], false, 0);
        s.report(0, Report::Release, 0);
        assert!(!s.state(600 * S).dimmed);
    }

    #[test]
    fn a_bridge_stopped_while_dimmed_starts_dimmed_until_a_source_says_otherwise() {
        let mut s = Signal::new(vec![source(60, 0)], true, 0);
        assert_eq!(s.state(S).why, Why::Restored);
        s.report(0, Report::Release, 2 * S);
        assert!(!s.state(2 * S).dimmed);
        assert!(!s.state(3 * S).dimmed, "restored only once");
    }

    #[test]
    fn any_source_dims_and_the_lowest_limit_counts() {
        let mut s = Signal::new(vec![source(60, 0), source(60, 0)], false, 0);
        s.report(0, Report::Limit(6000), 0);
        s.report(1, Report::Limit(5000), 0);
        assert_eq!(s.state(S).limit_w, Some(5000));
        s.report(1, Report::Release, 2 * S);
        let state = s.state(2 * S);
        assert_eq!((state.dimmed, state.limit_w), (true, Some(6000)));
    }

    #[test]
    fn a_test_dims_for_its_time() {
        let mut s = Signal::new(vec![source(60, 0)], false, 0);
        s.report(0, Report::Release, 0);
        s.test(30 * S, S);
        assert_eq!(s.state(2 * S).why, Why::Test);
        assert!(!s.state(31 * S).dimmed);
        s.test(30 * S, 40 * S);
        s.test(0, 41 * S);
        assert!(!s.state(42 * S).dimmed, "a test can be ended early");
    }

    #[test]
    fn feed_in_contacts_are_shown_and_never_dim() {
        let contact = |name: &str, percent| SourceSettings {
            name: name.into(),
            feed_in: Some(percent),
            ..source(10, 0)
        };
        let mut s = Signal::new(
            vec![source(60, 0), contact("W3", 0), contact("S2", 30)],
            false,
            0,
        );
        assert_eq!(s.feed_in_percent(), None, "not reported yet");
        s.report(0, Report::Release, 0);
        s.report(1, Report::Release, 0);
        s.report(2, Report::Dim, 0);
        assert_eq!(s.feed_in_percent(), Some(30));
        assert!(!s.state(1000).dimmed, "a feed-in contact does not dim");
        s.report(2, Report::Release, 1000);
        assert_eq!(s.feed_in_percent(), Some(100));
        // A silent feed-in contact does not fail safe into dimming, but the source is unreachable.
        assert!(!s.state(20_000).dimmed);
        assert!(!s.reachable(20_000));
        assert!(s.reachable(5_000));
    }
}
