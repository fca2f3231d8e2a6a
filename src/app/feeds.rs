//! Many feeds on one screen: what tells them apart (the FEED column), the header's summary of
//! them, and the feeds pane (`F`), which lists every feed with its health.

use chrono::{DateTime, Utc};

use super::FeedState;
use super::view::contains_folded;
use crate::ec2::FeedInfo;

/// What tells one feed from the others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedName {
    /// The profile (or account) when feeds differ in it, else empty.
    pub who: String,
    /// The region when feeds differ in it, else empty.
    pub region: String,
    /// The whole label: profile, account and region (search, toasts, the pane).
    pub full: String,
}

impl FeedName {
    /// Names for these feeds: only the parts that vary among them.
    pub fn for_feeds(feeds: &[&FeedInfo]) -> Vec<Self> {
        let who = |f: &FeedInfo| f.profile.clone().or_else(|| f.account.clone()).unwrap_or_else(|| "default".into());
        let region = |f: &FeedInfo| f.region.clone().unwrap_or_else(|| "no region".into());
        let varies = |k: &dyn Fn(&FeedInfo) -> String| feeds.iter().any(|f| k(f) != k(feeds[0]));
        let (by_who, by_region) = (varies(&who), varies(&region));
        feeds
            .iter()
            .map(|f| Self {
                who: if by_who || !by_region { who(f) } else { String::new() },
                region: if by_region { region(f) } else { String::new() },
                full: f.label(),
            })
            .collect()
    }

    /// The names of a column of width `w`: one way for all, so the regions read alike (their
    /// codes for every row as soon as one row needs its code).
    pub fn column(names: &[FeedName], w: usize) -> Vec<String> {
        let whole = |n: &FeedName| match (n.who.is_empty(), n.region.is_empty()) {
            (true, _) => n.region.clone(),
            (false, true) => n.who.clone(),
            (false, false) => format!("{} {}", n.who, n.region),
        };
        match names.iter().all(|n| crate::text::width(&whole(n)) <= w) {
            true => names.iter().map(whole).collect(),
            false => names.iter().map(|n| FeedName { region: region_code(&n.region), ..n.clone() }.fit(w)).collect(),
        }
    }

    /// The name in at most `w` cells: the region is never cut (it shortens to its code, such
    /// as `use1`, first); the profile gives way in its middle, with `…`.
    pub fn fit(&self, w: usize) -> String {
        let width = crate::text::width;
        let joined = |who: &str, region: &str| match (who.is_empty(), region.is_empty()) {
            (true, _) => region.to_string(),
            (false, true) => who.to_string(),
            (false, false) => format!("{who} {region}"),
        };
        let whole = joined(&self.who, &self.region);
        if width(&whole) <= w {
            return whole;
        }
        let code = region_code(&self.region);
        let short = joined(&self.who, &code);
        if width(&short) <= w || self.who.is_empty() {
            return short;
        }
        let room = w.saturating_sub(width(&code) + usize::from(!code.is_empty()));
        joined(&cut_middle(&self.who, room), &code)
    }

    /// The widest this name is shown.
    pub fn width(&self) -> usize {
        crate::text::width(&self.fit(usize::MAX))
    }

    /// The whole label in at most `w` cells: cut in the middle of the profile, so that names
    /// that share a long beginning stay apart, and never in the region.
    pub fn fit_full(&self, w: usize) -> String {
        let full = &self.full;
        if crate::text::width(full) <= w {
            return full.clone();
        }
        // The label ends " · region": keep that whole, cut what comes before it.
        let (head, tail) =
            full.rsplit_once(" · ").map_or((full.as_str(), String::new()), |(h, t)| (h, format!(" · {t}")));
        let room = w.saturating_sub(crate::text::width(&tail));
        format!("{}{tail}", cut_middle(head, room))
    }
}

/// `s` in at most `w` cells, with `…` in the middle when it is longer: the beginning and the
/// end both stay, where names that share a prefix differ.
pub fn cut_middle(s: &str, w: usize) -> String {
    if crate::text::width(s) <= w {
        return s.to_string();
    }
    if w < 3 {
        return crate::text::truncate(s, w).into_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    let keep = w - 1;
    let (front, back) = (keep - keep / 2, keep / 2);
    let mut out: String = String::new();
    let mut used = 0;
    for &c in &chars {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > front {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for &c in chars.iter().rev() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > back {
            break;
        }
        tail.push(c);
        used += cw;
    }
    out.extend(tail.into_iter().rev());
    out
}

/// A region's short code: `us-east-1` is `use1`, `ap-southeast-2` is `apse2`, `us-gov-west-1`
/// is `usgw1`. Anything else is shortened the same way, part by part; never empty for a
/// non-empty name.
pub fn region_code(region: &str) -> String {
    let mut parts = region.split('-').filter(|p| !p.is_empty());
    let Some(first) = parts.next() else { return region.to_string() };
    let mut code = first.to_string();
    for p in parts {
        let short = match p {
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            p if p.chars().all(|c| c.is_ascii_digit()) => p,
            p => &p[..p.chars().next().map_or(0, char::len_utf8)],
        };
        code.push_str(short);
    }
    code
}

/// The header's name for the feeds: one feed's label; many feeds summarised.
pub fn source(feeds: &[&FeedInfo]) -> String {
    match feeds {
        [] => String::new(),
        [one] => one.long_label(),
        many => {
            let count = |k: &dyn Fn(&FeedInfo) -> Option<String>| {
                many.iter().map(|f| k(f)).collect::<std::collections::BTreeSet<_>>().len()
            };
            let by_account = many.iter().all(|f| f.account.is_some());
            let (who, noun) = match by_account {
                true => (count(&|f| f.account.clone()), "account"),
                false => (count(&|f| f.profile.clone()), "profile"),
            };
            let regions = count(&|f| f.region.clone());
            let plural = |n: usize, w: &str| if n == 1 { format!("1 {w}") } else { format!("{n} {w}s") };
            format!("{} x {} · {} feeds", plural(who, noun), plural(regions, "region"), many.len())
        }
    }
}

/// The order of the feeds pane (`o` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaneSort {
    /// As given on the command line.
    #[default]
    Given,
    /// Failing feeds first.
    Failing,
    /// Most tasks in progress first.
    InProgress,
    /// Most tasks first.
    Tasks,
    /// Most calls a minute first.
    Calls,
    /// Oldest last poll first.
    LastPoll,
}

impl PaneSort {
    pub fn next(self) -> Self {
        match self {
            Self::Given => Self::Failing,
            Self::Failing => Self::InProgress,
            Self::InProgress => Self::Tasks,
            Self::Tasks => Self::Calls,
            Self::Calls => Self::LastPoll,
            Self::LastPoll => Self::Given,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Given => "as given",
            Self::Failing => "failing first",
            Self::InProgress => "most in progress",
            Self::Tasks => "most tasks",
            Self::Calls => "most calls",
            Self::LastPoll => "oldest poll first",
        }
    }
}

/// The feeds pane's own state: its order, its search, and the feed selected in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pane {
    pub sort: PaneSort,
    /// The search as typed.
    pub search: String,
    /// The feed the selection is on (`None`: "All feeds"). Kept by feed, not by line: the
    /// lines move as the feeds' figures change.
    pub selected: Option<usize>,
}

/// One line of the feeds pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneRow {
    pub feed: usize,
    pub tasks: usize,
    pub in_progress: usize,
    pub last_poll: Option<DateTime<Utc>>,
    pub calls: u32,
    pub error: Option<String>,
    /// What its AMIs in progress hold of the store quota, once it has data.
    pub in_flight: Option<super::feed::InFlight>,
}

impl Pane {
    /// Where the selection is among `rows`: 0 for "All feeds", else the selected feed's line
    /// plus one ("All feeds" too when the search hides the feed).
    pub fn position(&self, rows: &[PaneRow]) -> usize {
        self.selected.and_then(|f| rows.iter().position(|r| r.feed == f)).map_or(0, |p| p + 1)
    }

    /// Moves the selection by `n` lines of `rows`.
    pub fn move_by(&mut self, rows: &[PaneRow], n: i64) {
        let at = (self.position(rows) as i64).saturating_add(n).clamp(0, rows.len() as i64) as usize;
        self.selected = at.checked_sub(1).map(|p| rows[p].feed);
    }

    /// The feeds the pane lists, searched and sorted. `all_tasks`: count every task, else
    /// each AMI's latest, as the table's tabs do.
    pub fn rows(&self, feeds: &[FeedState], names: &[FeedName], now: DateTime<Utc>, all_tasks: bool) -> Vec<PaneRow> {
        let needle = self.search.to_lowercase();
        let mut rows: Vec<PaneRow> = feeds
            .iter()
            .enumerate()
            .filter(|(n, _)| contains_folded(&names[*n].full, &needle))
            .map(|(n, f)| PaneRow {
                feed: n,
                tasks: f.data.as_ref().map_or(0, |d| if all_tasks { d.tasks().len() } else { d.latest().len() }),
                in_progress: f.data.as_ref().map_or(0, |d| d.in_progress()),
                last_poll: f.fetched_at(),
                calls: f.calls_a_minute(now),
                error: f.failure.as_ref().map(|p| p.summary.clone()),
                in_flight: f.data.as_ref().and_then(|d| d.in_flight),
            })
            .collect();
        use std::cmp::Reverse;
        match self.sort {
            PaneSort::Given => {}
            PaneSort::Failing => rows.sort_by_key(|r| r.error.is_none()),
            PaneSort::InProgress => rows.sort_by_key(|r| Reverse(r.in_progress)),
            PaneSort::Tasks => rows.sort_by_key(|r| Reverse(r.tasks)),
            PaneSort::Calls => rows.sort_by_key(|r| Reverse(r.calls)),
            PaneSort::LastPoll => rows.sort_by_key(|r| r.last_poll),
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info(p: &str, r: &str, a: Option<&str>) -> FeedInfo {
        FeedInfo { profile: Some(p.into()), region: Some(r.into()), account: a.map(Into::into), endpoint: None }
    }

    #[test]
    fn region_codes_are_the_usual_ones() {
        let codes: Vec<String> = [
            "us-east-1",
            "eu-central-1",
            "ap-southeast-2",
            "ap-northeast-3",
            "us-gov-west-1",
            "sa-east-1",
            "il-central-1",
        ]
        .iter()
        .map(|r| region_code(r))
        .collect();
        assert_eq!(codes, ["use1", "euc1", "apse2", "apne3", "usgw1", "sae1", "ilc1"]);
    }

    #[test]
    fn names_keep_only_what_varies_and_never_cut_the_region() {
        let (a, b, c) =
            (info("prod", "us-east-1", None), info("prod", "eu-west-1", None), info("dev", "us-east-1", None));
        let n = FeedName::for_feeds(&[&a, &b]);
        assert_eq!((n[0].fit(40), n[1].fit(40)), ("us-east-1".into(), "eu-west-1".into()));
        let n = FeedName::for_feeds(&[&a, &c]);
        assert_eq!((n[0].fit(40), n[1].fit(40)), ("prod".into(), "dev".into()));
        let long = info("acme-production.AdministratorAccess", "ap-southeast-1", Some("111122223333"));
        let n = FeedName::for_feeds(&[&long, &a]);
        assert_eq!(n[0].fit(60), "acme-production.AdministratorAccess ap-southeast-1");
        assert_eq!(n[0].fit(30), "acme-product…ratorAccess apse1");
        assert_eq!(n[0].fit(12), "acm…ss apse1");
        let readonly = info("acme-production.AdministratorReadOnly", "ap-southeast-1", None);
        let n = FeedName::for_feeds(&[&long, &readonly, &a]);
        let column = FeedName::column(&n, 30);
        assert_ne!(column[0], column[1], "names that share a long beginning stay apart: {column:?}");
        assert!(column.iter().all(|c| c.ends_with("apse1") || c.ends_with("use1")), "codes for all: {column:?}");
        assert!(n[0].full.contains("111122223333"), "the full label has the account");
    }

    #[test]
    fn the_header_summarises_many_feeds() {
        let feeds: Vec<FeedInfo> = (0..20)
            .flat_map(|a| {
                ["us-east-1", "eu-west-1", "ap-south-1"]
                    .map(move |r| info(&format!("p{a}"), r, Some(&format!("{a:012}"))))
            })
            .collect();
        let refs: Vec<&FeedInfo> = feeds.iter().collect();
        assert_eq!(source(&refs), "20 accounts x 3 regions · 60 feeds");
        let two = [info("a", "us-east-1", None), info("b", "us-east-1", None)];
        assert_eq!(source(&[&two[0], &two[1]]), "2 profiles x 1 region · 2 feeds");
    }

    proptest! {
        #[test]
        fn cutting_in_the_middle_is_total_and_fits(s in ".{0,60}", w in 0usize..40) {
            let cut = cut_middle(&s, w);
            prop_assert!(crate::text::width(&cut) <= w.max(crate::text::width(&s).min(w)), "{cut:?} in {w}");
            if crate::text::width(&s) <= w {
                prop_assert_eq!(cut, s);
            }
        }

        #[test]
        fn fitting_is_total_and_fits(who in ".{0,40}", region in ".{0,30}", w in 0usize..60) {
            let name = FeedName { who: who.clone(), region: region.clone(), full: String::new() };
            let s = name.fit(w);
            let code = region_code(&region);
            // It fits unless the region's code alone is wider than the room.
            prop_assert!(crate::text::width(&s) <= w.max(crate::text::width(&code) + 2), "{s:?} in {w}");
            if !region.is_empty() && s != name.fit(usize::MAX) {
                prop_assert!(s.ends_with(&code), "the region's code ends {s:?}");
            }
        }
    }
}
