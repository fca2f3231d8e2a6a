//! Property tests of what reads user input for profiles and settings: `--profile` patterns,
//! the AWS files' section headers, the config file and region names. Each is total: any input
//! gives an answer, never a panic.

use std::path::Path;

use amiwatch::profiles::{glob_match, section_names};
use proptest::prelude::*;

/// The plain definition, by recursion: slow, and obviously right.
fn reference(p: &[char], n: &[char]) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => reference(&p[1..], n) || (!n.is_empty() && reference(p, &n[1..])),
        (Some(_), None) => false,
        (Some('?'), Some(_)) => reference(&p[1..], &n[1..]),
        (Some(c), Some(d)) => c == d && reference(&p[1..], &n[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matching_agrees_with_the_definition(p in "[ab*?]{0,8}", n in "[ab]{0,10}") {
        let (pc, nc): (Vec<char>, Vec<char>) = (p.chars().collect(), n.chars().collect());
        prop_assert_eq!(glob_match(&p, &n), reference(&pc, &nc), "pattern {:?} name {:?}", p, n);
    }

    #[test]
    fn any_name_matches_itself_star_and_its_question_marks(n in any::<String>(), mask in any::<u64>()) {
        prop_assert!(glob_match("*", &n));
        if !n.contains(['*', '?']) {
            prop_assert!(glob_match(&n, &n));
        }
        // Each character replaced by ? (by the mask), or kept: still a match.
        let masked: String = n.chars().enumerate().map(|(i, c)| if mask >> (i % 64) & 1 == 1 || c == '*' { '?' } else { c }).collect();
        prop_assert!(glob_match(&masked, &n), "{:?} vs {:?}", masked, n);
        let prefix: String = n.chars().take(3).map(|c| if c == '*' { '?' } else { c }).collect();
        let starred = format!("{}*", prefix);
        prop_assert!(glob_match(&starred, &n));
    }

    #[test]
    fn a_plain_name_matches_only_itself(a in "[^*?]{0,12}", b in any::<String>()) {
        prop_assert_eq!(glob_match(&a, &b), a == b);
    }

    #[test]
    fn arbitrary_patterns_and_names_never_panic(p in any::<String>(), n in any::<String>()) {
        let _ = glob_match(&p, &n);
    }

    #[test]
    fn section_headers_are_read_from_any_text(text in any::<String>(), config in any::<bool>()) {
        for name in section_names(&text, config) {
            prop_assert!(!name.is_empty() && text.contains(&name));
        }
    }

    #[test]
    fn a_config_file_of_any_text_is_read_or_refused_with_its_path(text in any::<String>()) {
        let cmd = amiwatch::cli::command();
        if let Err(e) = amiwatch::config::parse(Path::new("/c.toml"), &text, &cmd) {
            prop_assert!(e.0.starts_with("/c.toml"), "{}", e.0);
        }
    }

    #[test]
    fn a_config_file_of_arbitrary_settings_is_total(key in "[a-z-]{1,16}", value in any::<String>(), n in any::<i64>()) {
        let cmd = amiwatch::cli::command();
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"").replace(|c: char| c.is_control(), "");
        for text in [format!("{key} = \"{quoted}\""), format!("{key} = {n}"), format!("{key} = [\"{quoted}\", {n}]")] {
            if let Err(e) = amiwatch::config::parse(Path::new("/c.toml"), &text, &cmd) {
                prop_assert!(e.0.starts_with("/c.toml line 1"), "{}: {}", text, e.0);
            }
        }
    }

    #[test]
    fn any_region_name_is_checked_without_panic(r in any::<String>()) {
        let _ = amiwatch::regions::check(&r);
    }
}
