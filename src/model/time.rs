//! The clock as the core sees it: passed in with every event, never read.

/// A point in time from the edge: a monotonic clock for intervals and the wall clock for
/// timestamps shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: u64,
    pub unix_ms: i64,
    /// Local time minus UTC, in seconds (3600 in German winter, 7200 in summer), for day
    /// boundaries.
    pub utc_offset_s: i32,
}

#[cfg(test)]
impl Now {
    /// `s` seconds after start, at the Unix epoch, in UTC: for unit tests of the rules.
    pub fn at_s(s: u64) -> Self {
        Self {
            mono_ms: s * 1000,
            unix_ms: 0,
            utc_offset_s: 0,
        }
    }
}

/// Days since 1970 in local time; the offset comes with `now`, so a DST change moves midnight.
pub fn local_day(now: Now) -> i64 {
    (now.unix_ms / 1000 + i64::from(now.utc_offset_s)).div_euclid(86_400)
}

/// Milliseconds since local midnight.
pub fn local_ms_of_day(now: Now) -> u64 {
    (now.unix_ms + i64::from(now.utc_offset_s) * 1000).rem_euclid(86_400_000) as u64
}

/// ISO 8601 in UTC, as Home Assistant's timestamp sensors expect: `2026-11-22T07:30:00+00:00`.
pub fn iso8601(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(1_795_333_500_000), "2026-11-22T07:45:00+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00+00:00");
    }
}
