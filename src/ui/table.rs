//! The task table: one row per AMI (its latest task), with a progress bar.
//!
//! Only the visible rows are built, so a frame costs the same with 50 tasks or 50,000.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::format::{ago, bar, duration_short};
use super::theme::Theme;
use crate::app::view::StateFilter;
use crate::app::{App, RowRef};
use crate::image::Naming;
use crate::task::StoreTask;
use crate::text::{safe, truncate};

const AMI_W: u16 = 21;
const STATE_W: u16 = 13;
/// The SIZE column (GB), from this wide a screen on.
const SIZE_W: u16 = 5;
const SIZE_FROM: u16 = 100;
const STARTED_W: u16 = 11;
const PCT_W: usize = 5;
const LEFT_W: u16 = 8;
/// LEFT as wide as `starts in ~23h 59m`, when a task waits in the service's queue and the
/// screen has the room.
const LEFT_WIDE: u16 = 18;
/// From this wide, LEFT says `in ~1h 5m` (narrower: `in ~1h`).
const LEFT_MID: u16 = 11;
/// Ten cells of bar and the percentage.
const MIN_BAR: u16 = 10 + PCT_W as u16;

/// The columns that can give way or grow; the marker, AMI ID and STATE are always shown whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Feed,
    Name,
    Bucket,
    Progress,
    Left,
    Started,
    Detail,
}

/// The order columns give way in, first to last, when the screen cannot hold every column at its
/// minimum width: a column that cannot fit goes whole, never squeezed. The progress bar (with
/// its percentage), the AMI ID and the state never go. A new column joins this list.
const GIVE_WAY: [Col; 6] = [Col::Detail, Col::Left, Col::Started, Col::Name, Col::Bucket, Col::Feed];
/// The order the columns that stay grow in, each up to the width it wants; the detail column
/// takes what is left. LEFT grows only to say when a queued task starts.
const GROW: [Col; 5] = [Col::Feed, Col::Name, Col::Bucket, Col::Progress, Col::Left];

/// Widths of the columns shown, `None` for one that gave way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cols {
    /// The feed, with several feeds.
    feed: Option<u16>,
    /// The AMI's name, when any AMI has one.
    name: Option<u16>,
    bucket: Option<u16>,
    bar: u16,
    /// Time left.
    left: Option<u16>,
    /// The start column.
    started: Option<u16>,
    /// Object key or failure reason, when it would be wide enough to read.
    detail: Option<u16>,
}

impl Cols {
    fn get(&self, c: Col) -> Option<u16> {
        match c {
            Col::Feed => self.feed,
            Col::Name => self.name,
            Col::Bucket => self.bucket,
            Col::Progress => Some(self.bar),
            Col::Left => self.left,
            Col::Started => self.started,
            Col::Detail => self.detail,
        }
    }

    fn slot(&mut self, c: Col) -> Option<&mut u16> {
        match c {
            Col::Feed => self.feed.as_mut(),
            Col::Name => self.name.as_mut(),
            Col::Bucket => self.bucket.as_mut(),
            Col::Progress => Some(&mut self.bar),
            Col::Left => self.left.as_mut(),
            Col::Started => self.started.as_mut(),
            Col::Detail => self.detail.as_mut(),
        }
    }

    /// Leaves column `c` out (the progress bar never goes).
    fn give_way(&mut self, c: Col) {
        match c {
            Col::Feed => self.feed = None,
            Col::Name => self.name = None,
            Col::Bucket => self.bucket = None,
            Col::Left => self.left = None,
            Col::Started => self.started = None,
            Col::Detail => self.detail = None,
            Col::Progress => {}
        }
    }

    /// Every cell the table takes: the fixed columns, these, and one space between columns.
    fn width(&self) -> u16 {
        let flexible = [Col::Feed, Col::Name, Col::Bucket, Col::Progress, Col::Left, Col::Started, Col::Detail];
        let shown: Vec<u16> = flexible.iter().filter_map(|c| self.get(*c)).collect();
        // marker, AMI ID, state, and a space after each of them but the last column
        1 + AMI_W + STATE_W + shown.iter().sum::<u16>() + 2 + shown.len() as u16
    }
}

/// The narrowest name column worth showing.
const MIN_NAME: u16 = 12;
/// The narrowest feed column; a label cut shorter ends in `…`.
const MIN_FEED: u16 = 6;
const MIN_BUCKET: u16 = 8;
const MIN_DETAIL: u16 = 16;

/// The widths for a table `total` cells wide. `feed` is the longest feed label (0 with one
/// feed), `longest_bucket` and `longest_name` the longest values (a name of 0: no names),
/// `left` the width LEFT wants ([`LEFT_W`], or [`LEFT_WIDE`] when a task is queued).
fn columns(total: u16, feed: u16, longest_bucket: u16, longest_name: u16, left: u16) -> Cols {
    let min = |c: Col| match c {
        Col::Feed => feed.min(MIN_FEED),
        Col::Name => MIN_NAME,
        Col::Bucket => MIN_BUCKET,
        Col::Progress => MIN_BAR,
        Col::Left => LEFT_W,
        Col::Started => STARTED_W,
        Col::Detail => MIN_DETAIL,
    };
    let want = |c: Col| match c {
        Col::Feed => feed,
        Col::Name => longest_name.clamp(MIN_NAME, 40),
        Col::Bucket => longest_bucket.clamp(12, 30),
        Col::Progress => 30,
        Col::Left => left.max(LEFT_W),
        Col::Started => STARTED_W,
        Col::Detail => MIN_DETAIL,
    };
    let mut cols = Cols {
        feed: (feed > 0).then(|| min(Col::Feed)),
        name: (longest_name > 0).then(|| min(Col::Name)),
        bucket: Some(min(Col::Bucket)),
        bar: min(Col::Progress),
        left: Some(min(Col::Left)),
        started: Some(min(Col::Started)),
        detail: Some(min(Col::Detail)),
    };
    // The detail column is worth its room only beside every other column at the width it wants
    // (the bar at its minimum: it grows last).
    let wanted = |c: &Cols| {
        let mut w = *c;
        for g in GROW.into_iter().filter(|g| !matches!(g, Col::Progress | Col::Left)) {
            if let Some(slot) = w.slot(g) {
                *slot = want(g);
            }
        }
        w.width()
    };
    for c in GIVE_WAY {
        let needed = if c == Col::Detail { wanted(&cols) } else { cols.width() };
        if needed <= total {
            break;
        }
        cols.give_way(c);
    }
    // What is left widens the columns that stay, in order; then the detail column, or the bar.
    for g in GROW {
        let room = total.saturating_sub(cols.width());
        if let Some(slot) = cols.slot(g) {
            *slot += want(g).saturating_sub(*slot).min(room);
        }
    }
    let room = total.saturating_sub(cols.width());
    match cols.detail.as_mut() {
        Some(d) => *d += room,
        None => cols.bar += (40 - cols.bar.min(40)).min(room),
    }
    cols
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    if let Some(msg) = empty_message(app) {
        let p = Paragraph::new(msg).wrap(Wrap { trim: true }).style(theme.dim());
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 1,
            width: area.width.saturating_sub(4),
            height: area.height.saturating_sub(1),
        };
        frame.render_widget(p, inner);
        return;
    }
    let (longest_name, longest) = app.longest_name_and_bucket();
    // With several feeds, a feed column after the AMI ID.
    let names: &[crate::app::feeds::FeedName] = if app.multi_feed() { &app.feed_names } else { &[] };
    let feed_w = names.iter().map(|l| l.width()).max().unwrap_or(0).clamp(0, 28) as u16;
    // The AMI's size (GB) once names are known, on screens wide enough to keep it beside the
    // rest: it takes its room before the other columns share theirs.
    let size_w = if longest_name > 0 && area.width >= SIZE_FROM { SIZE_W } else { 0 };
    let cols = columns(
        area.width.saturating_sub(size_w + u16::from(size_w > 0)),
        feed_w,
        longest.min(usize::from(u16::MAX)) as u16,
        longest_name.min(usize::from(u16::MAX)) as u16,
        if app.any_queued() { LEFT_WIDE } else { LEFT_W },
    );
    let mut header = vec!["", "AMI ID"];
    let mut widths = vec![Constraint::Length(1), Constraint::Length(AMI_W)];
    if let Some(w) = cols.feed {
        header.push("FEED");
        widths.push(Constraint::Length(w));
    }
    if let Some(w) = cols.name {
        header.push("NAME");
        widths.push(Constraint::Length(w));
    }
    if size_w > 0 {
        header.push(" SIZE");
        widths.push(Constraint::Length(size_w));
    }
    if let Some(w) = cols.bucket {
        header.push("BUCKET");
        widths.push(Constraint::Length(w));
    }
    header.push("PROGRESS");
    widths.push(Constraint::Length(cols.bar));
    if let Some(w) = cols.left {
        header.push("LEFT");
        widths.push(Constraint::Length(w));
    }
    header.push("STATE");
    widths.push(Constraint::Length(STATE_W));
    if let Some(w) = cols.started {
        header.push("STARTED");
        widths.push(Constraint::Length(w));
    }
    if let Some(w) = cols.detail {
        header.push("S3 KEY / FAILURE REASON");
        widths.push(Constraint::Length(w));
    }
    // One way for every row: the regions read alike down the column.
    let labels = crate::app::feeds::FeedName::column(names, usize::from(cols.feed.unwrap_or(0)));
    let body_h = usize::from(area.height.saturating_sub(1));
    let rows = app.view.rows.iter().enumerate().skip(app.offset).take(body_h).map(|(n, &i)| {
        let t = app.task(i);
        let mut cells = vec![
            Cell::from(if n == app.selected { "▶" } else { " " }),
            Cell::from(truncate(&safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")), usize::from(AMI_W)).into_owned()),
        ];
        if let Some(w) = cols.feed {
            cells.push(Cell::from(truncate(&safe(&labels[i.feed()]), usize::from(w)).into_owned()));
        }
        if let Some(w) = cols.name {
            cells.push(name_cell(app, i, usize::from(w), theme));
        }
        if size_w > 0 {
            cells.push(Cell::from(app.data(i).size(i.task).map_or(format!("{:>5}", "-"), |gb| format!("{gb:>5}"))));
        }
        if let Some(w) = cols.bucket {
            cells.push(Cell::from(truncate(&safe(t.bucket.as_deref().unwrap_or("-")), usize::from(w)).into_owned()));
        }
        cells.push(Cell::from(progress_line(t, usize::from(cols.bar), theme)));
        if let Some(w) = cols.left {
            cells.push(Cell::from(time_left(app, t, i, usize::from(w))));
        }
        cells.push(Cell::from(state_label(app, t, i, theme)));
        if cols.started.is_some() {
            cells.push(Cell::from(t.start_time.map_or("-".into(), |s| ago(app.now, s))));
        }
        if let Some(w) = cols.detail {
            let text = t.failure_reason.as_deref().or(t.object_key.as_deref()).unwrap_or("-");
            let style = if t.failure_reason.is_some() { theme.state(t.state.as_ref()) } else { theme.dim() };
            cells.push(Cell::from(Span::styled(truncate(&safe(text), usize::from(w)).into_owned(), style)));
        }
        let row = Row::new(cells);
        if n == app.selected { row.style(theme.selected_row()) } else { row }
    });
    // A header cut to its column ends in an ellipsis, as values do.
    let header: Vec<String> = header
        .iter()
        .zip(&widths)
        .map(|(h, w)| match w {
            Constraint::Length(w) => truncate(h, usize::from(*w)).into_owned(),
            _ => (*h).to_string(),
        })
        .collect();
    let table = Table::new(rows, widths).header(Row::new(header).style(theme.header_row())).column_spacing(1);
    frame.render_widget(table, area);
}

/// The AMI's name; `deregistered`, dimmed, when EC2 no longer knows it; blank until asked.
fn name_cell(app: &App, i: RowRef, w: usize, theme: &Theme) -> Cell<'static> {
    match app.naming(i) {
        Some(Naming::Known(info)) => Cell::from(truncate(&safe(&info.display_name()), w).into_owned()),
        Some(Naming::Deregistered) => Cell::from(Span::styled(truncate("(deregistered)", w).into_owned(), theme.dim())),
        None => Cell::from(""),
    }
}

/// `~14m` for a task in progress with an estimate, `?` without one, blank otherwise; for one
/// waiting in the service's queue, when it starts, in the form the column's width `w` holds.
fn time_left(app: &App, t: &StoreTask, i: RowRef, w: usize) -> String {
    if !t.is_in_progress() {
        return String::new();
    }
    if let Some(starts) = app.starts_in(i) {
        return starts_text(starts.num_seconds(), w);
    }
    app.time_left(i).map_or("?".into(), |left| format!("~{}", duration_short(left.num_seconds())))
}

/// When a queued task starts, one form per column width: `starts in ~1h 5m` from
/// [`LEFT_WIDE`] cells, `in ~1h 5m` from [`LEFT_MID`], else `in ~1h` (to the nearest unit).
fn starts_text(secs: i64, w: usize) -> String {
    let text = match w {
        _ if w >= usize::from(LEFT_WIDE) => format!("starts in ~{}", duration_short(secs)),
        _ if w >= usize::from(LEFT_MID) => format!("in ~{}", duration_short(secs)),
        _ => {
            let s = secs.max(0);
            let coarse = match s {
                0..3600 => duration_short(s),
                3600..86_400 => format!("{}h", (s + 1800) / 3600),
                _ => format!("{}d", (s + 43_200) / 86_400),
            };
            format!("in ~{coarse}")
        }
    };
    truncate(&text, w).into_owned()
}

/// The state, marked `↻N` when the AMI has N tasks (key `a` shows them all).
fn state_label(app: &App, t: &StoreTask, i: RowRef, theme: &Theme) -> Line<'static> {
    let state = t.state.as_ref().map_or("-".into(), |s| truncate(&safe(s.as_wire()), 10).into_owned());
    let mut spans = vec![Span::styled(state, theme.state(t.state.as_ref()))];
    let n = app.attempt_count(i);
    if !app.filters.all_tasks && n > 1 {
        spans.push(Span::styled(format!(" ↻{n}"), theme.dim()));
    }
    Line::from(spans)
}

fn progress_line(t: &StoreTask, width: usize, theme: &Theme) -> Line<'static> {
    let bar_w = width.saturating_sub(PCT_W);
    match t.progress {
        Some(p) => {
            let (filled, empty) = bar(p, bar_w);
            let style = theme.state(t.state.as_ref());
            Line::from(vec![
                Span::styled(filled, style),
                Span::styled(empty, theme.dim()),
                Span::raw(format!("{p:>4}%")),
            ])
        }
        None => Line::from(vec![Span::styled("?".repeat(bar_w.min(1)), theme.dim()), Span::raw("    ?")]),
    }
}

/// The message shown instead of an empty table: each case gets its own.
fn empty_message(app: &App) -> Option<String> {
    if !app.view.rows.is_empty() {
        return None;
    }
    Some(match (app.has_data(), &app.poll.failure) {
        (false, None) => "Loading: the first poll is running…".into(),
        (false, Some(f)) => format!("The first poll failed: {}\nRetrying automatically; press r to retry now.", safe(&f.summary)),
        (true, _) if app.task_count() == 0 => {
            "No store-image tasks in this account and region for the last 31 days.\nStart one with `aws ec2 create-store-image-task`; it will show up here.".into()
        }
        (true, _) => {
            // Each active filter, and the key that clears it.
            let mut parts = Vec::new();
            let mut keys = Vec::new();
            if app.filters.state != StateFilter::All {
                parts.push(format!("state {}", app.filters.state.label()));
                keys.push("1 for every state".to_string());
            }
            if let Some(b) = &app.filters.bucket {
                parts.push(format!("bucket {}", safe(b)));
                keys.push("b to pick another bucket".into());
            }
            if let Some(name) = app.filters.feed.and_then(|f| app.feed_names.get(f)) {
                parts.push(format!("feed {}", safe(&name.full)));
                keys.push("F then Enter on \"All feeds\" for every feed".into());
            }
            if !app.search_input.is_empty() {
                parts.push(format!("search \"{}\"", safe(&app.search_input)));
                keys.push("/ then Esc to clear the search".into());
            }
            format!("No task matches the filters ({}).\nPress {}.", parts.join(", "), keys.join(", "))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_80_and_grow_on_wide_screens() {
        for total in [super::super::MIN_WIDTH, 75, 80, 90, 100, 120, 160, 200] {
            for names in [0, 28] {
                for feed in [0, 5, 14, 28] {
                    let c = columns(total, feed, 20, names, LEFT_W);
                    assert!(c.bar >= MIN_BAR, "bar at least 10 cells plus the percentage at {total}");
                    assert!(c.width() <= total, "{c:?} fits {total}");
                    // Columns go whole in the stated order: the ones gone are a prefix of it.
                    let candidate = |col: Col| match col {
                        Col::Feed => feed > 0,
                        Col::Name => names > 0,
                        _ => true,
                    };
                    let gone: Vec<bool> =
                        GIVE_WAY.iter().filter(|c| candidate(**c)).map(|col| c.get(*col).is_none()).collect();
                    assert!(gone.windows(2).all(|w| w[0] || !w[1]), "{c:?} at {total}: gone out of order");
                    // A column shown is at least as wide as its minimum.
                    assert!(c.feed.is_none_or(|w| w >= feed.min(MIN_FEED)), "{c:?}");
                    assert!(c.name.is_none_or(|w| w >= MIN_NAME) && c.bucket.is_none_or(|w| w >= MIN_BUCKET), "{c:?}");
                    assert!(c.detail.is_none_or(|w| w >= MIN_DETAIL), "{c:?}");
                    if total >= 90 || (total >= 80 && feed == 0) {
                        assert_eq!(c.name.is_some(), names > 0, "a name column at {total} when there are names");
                        assert_eq!(c.feed.is_some(), feed > 0, "the feed column at {total}");
                    }
                }
            }
        }
        assert_eq!(columns(80, 0, 20, 0, LEFT_W).left, None, "80 columns keep the bar readable");
        assert!(columns(80, 0, 20, 0, LEFT_W).started.is_some());
        assert!(columns(80, 0, 20, 28, LEFT_W).started.is_none(), "names come before the start column");
        assert!(columns(100, 0, 20, 0, LEFT_W).left.is_some());
        let c = columns(200, 0, 20, 28, LEFT_W);
        assert_eq!((c.name, c.bucket), (Some(28), Some(20)), "name and bucket as wide as their longest");
        assert!(c.detail.is_some_and(|d| d > 40));
        let c = columns(80, 0, 16, 28, LEFT_W);
        assert!(c.name.is_some_and(|n| n >= 12) && c.bucket.is_some_and(|b| b >= 8), "both readable at 80: {c:?}");
        // The case: two profiles x two regions at 80 columns, exactly filled, nothing squeezed.
        let c = columns(80, 14, 18, 0, LEFT_W);
        assert_eq!(c.width(), 80, "{c:?}");
        assert_eq!((c.detail, c.left, c.started), (None, None, None), "{c:?}");
        assert!(c.feed.is_some() && c.bucket.is_some(), "{c:?}");
    }

    #[test]
    fn left_widens_for_a_queued_task_only_after_the_bar_and_never_at_the_details_expense() {
        // Nothing queued: the same widths as ever.
        let plain = columns(200, 0, 20, 28, LEFT_W);
        assert_eq!(plain.left, Some(LEFT_W));
        let queued = columns(200, 0, 20, 28, LEFT_WIDE);
        assert_eq!(queued.left, Some(LEFT_WIDE), "{queued:?}");
        assert_eq!((queued.bar, queued.detail.is_some()), (plain.bar, true), "{queued:?}");
        assert_eq!(queued.detail.unwrap(), plain.detail.unwrap() - (LEFT_WIDE - LEFT_W), "{queued:?}");
        assert_eq!(queued.width(), 200);
        // A narrower screen keeps LEFT at its narrow width before the detail column goes.
        for total in [100u16, 120, 140] {
            let (p, q) = (columns(total, 0, 20, 28, LEFT_W), columns(total, 0, 20, 28, LEFT_WIDE));
            assert_eq!(p.detail.is_some(), q.detail.is_some(), "{total}: {p:?} {q:?}");
            assert!(q.width() <= total);
        }
    }

    #[test]
    fn a_queued_task_says_when_it_starts_in_the_form_its_column_holds() {
        let secs = 65 * 60 + 20;
        assert_eq!(starts_text(12 * 60, 18), "starts in ~12m");
        assert_eq!(starts_text(secs, 18), "starts in ~1h 5m");
        assert_eq!(starts_text(secs, 11), "in ~1h 5m");
        assert_eq!(starts_text(12 * 60, 8), "in ~12m");
        assert_eq!(starts_text(secs, 8), "in ~1h");
        assert_eq!(starts_text(100 * 60, 8), "in ~2h", "to the nearest hour");
        assert_eq!(starts_text(40, 8), "in ~40s");
        // The longest any width gives still fits.
        for secs in [0, 59, 3599, 3600, 86_399, 86_400, 14 * 86_400, i64::MAX / 2] {
            for w in 1..=20usize {
                assert!(crate::text::width(&starts_text(secs, w)) <= w, "{secs} at {w}");
            }
            if secs > 99 * 86_400 {
                continue;
            }
            assert!(!starts_text(secs, 8).contains('…'), "{secs}: {}", starts_text(secs, 8));
            assert!(!starts_text(secs, 18).contains('…'), "{secs}: {}", starts_text(secs, 18));
        }
    }
}
