//! Small text helpers for the screen: relative times, durations, progress bars.

use chrono::{DateTime, Utc};

pub use crate::text::duration_short;

/// `2h 14m ago`; `just now` for the last few seconds; `in 3h` for a time in the future (a
/// clock that is off, or a server that says so), which is not "just now".
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    match secs {
        ..-60 => format!("in {}", duration_short(-secs)),
        -60..2 => "just now".into(),
        _ => format!("{} ago", duration_short(secs)),
    }
}

const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// A bar of `width` cells for `pct` percent: the filled part and the empty part, split so
/// the two can be styled apart. Eighth blocks make the edge move smoothly.
pub fn bar(pct: u8, width: usize) -> (String, String) {
    let eighths = usize::from(pct.min(100)) * width * 8 / 100;
    let full = eighths / 8;
    let mut filled = "█".repeat(full);
    let mut used = full;
    if full < width && !eighths.is_multiple_of(8) {
        filled.push(EIGHTHS[eighths % 8]);
        used += 1;
    }
    (filled, "░".repeat(width - used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_future_is_not_just_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc();
        assert_eq!(ago(now, now + chrono::Duration::hours(3)), "in 3h 0m");
        assert_eq!(ago(now, now + chrono::Duration::seconds(5)), "just now");
        assert_eq!(ago(now, now - chrono::Duration::minutes(5)), "5m ago");
    }

    #[test]
    fn bars_have_the_exact_width_and_grow_with_progress() {
        for pct in [0, 1, 17, 50, 99, 100] {
            let (f, e) = bar(pct, 10);
            assert_eq!(f.chars().count() + e.chars().count(), 10, "{pct}");
        }
        assert_eq!(bar(0, 10).0, "");
        assert_eq!(bar(100, 10).0, "██████████");
        assert_eq!(bar(50, 10).0, "█████");
        assert_eq!(bar(55, 10).0, "█████▌");
    }
}
