//! The one-line bars: header, summary, warning and footer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::format::{ago, duration_short};
use super::line;
use super::theme::Theme;
use crate::app::view::{SortKey, StateFilter};
use crate::app::{App, Mode};
use crate::text::{safe, truncate, width};

/// Name, source, freshness, polling sign, interval.
pub fn header(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let mut right = Vec::new();
    // The store quota: how full the (fullest) feed is; marked when EC2 refuses exports now.
    // The fullest feed's name gives way first when the source needs the room.
    if let Some((text, fullest, full)) = app.in_flight_parts() {
        let source_w = width(&app.source) + 12;
        let named = fullest.map(|n| format!("{text} (fullest: {})", safe(&n)));
        let text = match named {
            Some(t) if width(&t) + 45 + source_w <= usize::from(area.width) => t,
            _ => text,
        };
        match full {
            true => {
                right.push(Span::styled(text, theme.warning()));
                right.push(Span::styled(" ⚠ full", theme.warning()));
            }
            false => right.push(Span::raw(text)),
        }
        right.push(Span::styled(" · ", theme.dim()));
    }
    if app.poll.polling {
        right.push(Span::styled("⟳ polling ", theme.key()));
    }
    match app.poll.fetched_at {
        Some(at) => right.push(Span::raw(format!("updated {}", ago(app.now, at)))),
        None => right.push(Span::styled("waiting for data", theme.dim())),
    }
    if let Some(n) = app.poll.next_in {
        right.push(Span::styled(format!(" · every {}", duration_short(n.as_secs() as i64)), theme.dim()));
        if app.poll.slowed {
            right.push(Span::styled(" (slowed: EC2 throttled)", theme.warning()));
        }
    }
    right.push(Span::raw(" "));
    let right_w: usize = right.iter().map(|s| width(&s.content)).sum();
    let left_room = usize::from(area.width).saturating_sub(right_w + 1);
    let failing = match app.poll.failing {
        n if n > 0 && app.multi_feed() => format!(" · {n} failing"),
        _ => String::new(),
    };
    let source = format!(" amiwatch  {}{failing}", safe(&app.source));
    let source = truncate(&source, left_room).into_owned();
    let pad = usize::from(area.width).saturating_sub(width(&source) + right_w);
    let (name, rest) = match source.strip_prefix(" amiwatch") {
        Some(rest) => (" amiwatch", rest),
        None => ("", source.as_str()),
    };
    let mut spans =
        vec![Span::styled(name.to_string(), theme.title()), Span::raw(rest.to_string()), Span::raw(" ".repeat(pad))];
    spans.extend(right);
    line(frame, area, Line::from(spans));
}

/// How the summary line gives way when it does not fit, first to last: the state labels
/// shorten, then the word "overall" goes, then the overall percentage. The counts and
/// "all done" stay; only a screen too narrow for them cuts the line, with an ellipsis.
const SUMMARY_STEPS: [(bool, Overall); 4] =
    [(false, Overall::Word), (true, Overall::Word), (true, Overall::Bare), (true, Overall::None)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overall {
    Word,
    Bare,
    None,
}

/// The export plan's line: how many AMIs stand where, and the quota.
pub fn plan(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let Some(p) = &app.plan else { return };
    let room = usize::from(area.width).saturating_sub(1);
    let mut text = p.line.clone();
    if p.done {
        text.push_str(" · done: q quits");
    }
    let style = if p.done { theme.state(Some(&crate::task::TaskState::Completed)) } else { theme.dim() };
    line(frame, area, Line::from(vec![Span::raw(" "), Span::styled(truncate(&text, room).into_owned(), style)]));
}

/// A state's label on a narrow summary line.
fn short_label(f: StateFilter) -> &'static str {
    match f {
        StateFilter::All => "All",
        StateFilter::InProgress => "Run",
        StateFilter::Completed => "Done",
        StateFilter::Failed => "Fail",
        StateFilter::Queued => "Queue",
    }
}

/// Counts per state as tabs, the active one marked, and the overall progress.
pub fn summary(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let room = usize::from(area.width);
    let spans = SUMMARY_STEPS
        .iter()
        .map(|&(short, overall)| summary_spans(app, theme, short, overall))
        .find(|s| s.iter().map(|s| width(&s.content)).sum::<usize>() <= room);
    let spans = spans.unwrap_or_else(|| {
        let text: String = summary_spans(app, theme, true, Overall::None).iter().map(|s| s.content.as_ref()).collect();
        vec![Span::raw(truncate(&text, room).into_owned())]
    });
    line(frame, area, Line::from(spans));
}

fn summary_spans(app: &App, theme: &Theme, short: bool, overall: Overall) -> Vec<Span<'static>> {
    let c = app.view.counts;
    let mut spans = vec![Span::raw(" ")];
    for (i, f) in StateFilter::ALL.iter().enumerate() {
        // The Queued tab is an export plan's: shown while it has AMIs, or is the one shown.
        if *f == StateFilter::Queued && c.queued == 0 && app.filters.state != StateFilter::Queued {
            continue;
        }
        let name = if short { short_label(*f) } else { f.label() };
        let label = format!(" {} {name} {} ", i + 1, c.of(*f));
        let style = if app.filters.state == *f {
            theme.active_tab()
        } else {
            f.state().map_or(Style::new(), |s| theme.state(Some(&s)))
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    if let Some(p) = c.overall_progress {
        let text = match overall {
            Overall::Word => format!("  overall {p}%"),
            Overall::Bare => format!(" {p}%"),
            Overall::None => String::new(),
        };
        spans.push(Span::styled(text, theme.dim()));
        if let Some(done) = app.view.all_done_at {
            let left = (done - app.now).num_seconds().max(0);
            let sep = if overall == Overall::None { " " } else { " · " };
            spans.push(Span::styled(format!("{sep}all done ~{}", duration_short(left)), theme.dim()));
        }
    }
    spans
}

/// Stale data or a failed poll, with the reason and when it retries.
pub fn warning(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = match (&app.poll.failure, app.poll.fetched_at) {
        (Some(f), at) => {
            let data = at.map_or(String::new(), |at| format!(" · showing data from {}", ago(app.now, at)));
            let retry = (f.retry_at - app.now).num_seconds();
            let when = if retry > 0 { format!("retry in {}", duration_short(retry)) } else { "retrying".into() };
            let times = if f.consecutive > 1 { format!(" ({} times)", f.consecutive) } else { String::new() };
            format!(" ⚠ poll failed {}{times}: {}{data} · {when}", ago(app.now, f.at), safe(&f.summary))
        }
        (None, Some(at)) if app.is_stale() => format!(" ⚠ stale: no new data since {}", ago(app.now, at)),
        // Names missing for a while (a lookup failed; it is asked again): the data is good.
        (None, _) => app
            .names_gap_note()
            .or_else(|| app.names_note.clone())
            .map_or(String::new(), |n| format!(" ⚠ {}", safe(&n))),
    };
    let text = truncate(&text, usize::from(area.width)).into_owned();
    let pad = usize::from(area.width).saturating_sub(width(&text));
    line(frame, area, Line::styled(format!("{text}{}", " ".repeat(pad)), theme.warning()));
}

/// The main view's keys (the feeds pane's dropped with one feed).
const NORMAL_KEYS: &[(&str, &str)] = &[
    ("1-4", "state"),
    ("F", "feeds"),
    ("b", "bucket"),
    ("/", "search"),
    ("o", "sort"),
    ("Enter", "detail"),
    ("r", "refresh"),
    ("?", "help"),
    ("q", "quit"),
];

/// The keys that matter now, and the active filters.
pub fn footer(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let normal: Vec<(&str, &str)>;
    let keys: &[(&str, &str)] = match app.mode {
        Mode::Search => &[("Enter", "keep"), ("Esc", "clear"), ("↑↓", "move")],
        Mode::BucketPicker => &[("↑↓", "move"), ("Enter", "pick"), ("Esc", "cancel")],
        Mode::FeedPicker => &[("↑↓", "move"), ("Enter", "pick"), ("o", "sort"), ("/", "search"), ("Esc", "close")],
        Mode::FeedSearch => &[("Enter", "keep"), ("Esc", "clear"), ("↑↓", "move")],
        Mode::Help => &[("any key", "close")],
        Mode::ConfirmRetry => &[("Enter", "send it once"), ("Esc", "cancel")],
        Mode::Normal if app.detail_open => {
            &[("Esc", "close"), ("↑↓", "move"), ("a", "all tasks"), ("?", "help"), ("q", "quit")]
        }
        // F (the feeds pane) only when there are feeds to tell apart.
        Mode::Normal => {
            normal = NORMAL_KEYS.iter().copied().filter(|(k, _)| *k != "F" || app.multi_feed()).collect();
            &normal
        }
    };
    let mut active = Vec::new();
    if app.filters.state != StateFilter::All {
        active.push(format!("state: {}", app.filters.state.label()));
    }
    if let Some(b) = &app.filters.bucket {
        active.push(format!("bucket: {}", safe(b)));
    }
    if let Some(name) = app.filters.feed.and_then(|f| app.feed_names.get(f)) {
        active.push(format!("feed: {}", safe(&name.full)));
    }
    if !app.search_input.is_empty() && app.mode != Mode::Search {
        active.push(format!("search: \"{}\"", safe(&app.search_input)));
    }
    if app.filters.all_tasks {
        active.push("all tasks".into());
    }
    if app.filters.sort != SortKey::default() || app.filters.reverse {
        active.push(format!("sort: {}", app.sort_label()));
    }
    let filters = active.join(" · ");

    let mut spans = vec![Span::raw(" ")];
    if let Some(toast) = app.current_toast().filter(|_| app.mode == Mode::Normal) {
        let text = truncate(toast, usize::from(area.width).saturating_sub(2)).into_owned();
        line(frame, area, Line::from(vec![Span::raw(" "), Span::styled(text, theme.key())]));
        return;
    }
    if app.mode == Mode::Search {
        spans.push(Span::styled("/", theme.key()));
        spans.push(Span::raw(safe(&app.search_input).into_owned()));
        spans.push(Span::styled("▏", theme.key()));
        spans.push(Span::raw("  "));
    }
    // The filters matter more than a full key list: keys give way first, help and quit last.
    let total = usize::from(area.width);
    let essential: usize = keys.iter().rev().take(2).map(|(k, w)| width(k) + width(w) + 3).sum();
    let mut used: usize = spans.iter().map(|s| width(&s.content)).sum::<usize>() + essential;
    let budget = total.saturating_sub(width(&filters).min(total / 2) + 1);
    for (n, (k, what)) in keys.iter().enumerate() {
        let w = width(k) + width(what) + 3;
        let is_essential = n + 2 >= keys.len();
        if !is_essential {
            if used + w > budget {
                continue;
            }
            used += w;
        }
        spans.push(Span::styled(*k, theme.key()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    let used: usize = spans.iter().map(|s| width(&s.content)).sum();
    let room = total.saturating_sub(used + 1);
    let filters = truncate(&filters, room).into_owned();
    let pad = room.saturating_sub(width(&filters));
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(filters, theme.dim()));
    line(frame, area, Line::from(spans));
}
