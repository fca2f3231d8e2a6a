//! Small text helpers shared by the screen, the one-shot outputs and `--wait`: showing text
//! from the API safely (control characters, terminal escape sequences and bidirectional
//! overrides never reach a terminal as such), widths, short durations, a stable hash.

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// Whether a character must not be written to a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}' | '\u{061C}'          // directional marks
            | '\u{202A}'..='\u{202E}'                       // embeddings and overrides
            | '\u{2066}'..='\u{2069}'                       // isolates
            | '\u{2028}' | '\u{2029}'                       // line and paragraph separators
        )
}

/// The text with every unsafe character shown as a visible escape (`\u{1b}`), borrowed when
/// there is nothing to change.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Display width in terminal cells.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Cuts `s` to at most `max` cells, ending with `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    Cow::Owned(out)
}

/// `45s`, `12m`, `2h 14m`, `3d 4h`.
pub fn duration_short(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `s` in lines of at most `width` cells, broken at spaces; a word wider than a line is cut
/// into pieces (a character wider than the line stands alone). Never an empty list.
pub fn wrap_words(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        for piece in pieces(word, width) {
            if !line.is_empty() && self::width(&line) + 1 + self::width(&piece) > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&piece);
        }
    }
    lines.push(line);
    lines
}

/// `word` cut into pieces of at most `width` cells.
fn pieces(word: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in word.chars() {
        if !cur.is_empty() && self::width(&cur) + c.width().unwrap_or(0) > width {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// FNV-1a: a stable, allocation-free 64-bit hash of a string (seeds, lookup keys).
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_spaces_and_long_words_are_cut() {
        assert_eq!(wrap_words("aws ec2 create --region eu-west-1", 14), ["aws ec2 create", "--region", "eu-west-1"]);
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("", 4), [""]);
    }

    proptest::proptest! {
        #[test]
        fn wrapping_is_total_keeps_every_word_and_fits(s in "[a-z \u{4e00}-\u{4e10}]{0,80}", w in 0usize..30) {
            let lines = wrap_words(&s, w);
            proptest::prop_assert!(!lines.is_empty());
            for l in &lines {
                // Over the width only where a single character is wider than the line.
                proptest::prop_assert!(width(l) <= w.max(1) || l.chars().count() == 1, "{l:?} in {w}");
            }
            let words: String = s.split(' ').collect();
            let back: String = lines.join("").split(' ').collect();
            proptest::prop_assert_eq!(back, words);
        }
    }

    #[test]
    fn escapes_never_pass_through() {
        let evil = "bucket\u{1b}[2J\u{7}\r\n\u{202E}gnp.exe\u{9b}31m";
        let s = safe(evil);
        assert!(!s.chars().any(is_unsafe), "{s}");
        assert!(s.contains("\\u{1b}[2J"));
        assert!(s.contains("\\u{202e}"));
        assert!(matches!(safe("plain-bucket.name"), Cow::Borrowed(_)));
    }

    #[test]
    fn truncate_counts_cells() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本語です", 5), "日本…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_short(42), "42s");
        assert_eq!(duration_short(125), "2m");
        assert_eq!(duration_short(2 * 3600 + 14 * 60 + 5), "2h 14m");
        assert_eq!(duration_short(3 * 86_400 + 4 * 3600), "3d 4h");
        assert_eq!(duration_short(-5), "0s");
    }
}
