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
const STARTED_W: u16 = 11;
const PCT_W: usize = 5;
const LEFT_W: u16 = 8;
/// Ten cells of bar and the percentage.
const MIN_BAR: u16 = 10 + PCT_W as u16;

/// Widths of the flexible columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cols {
    /// The AMI's name, when any AMI has one: it takes the room it can, before the bucket,
    /// and gives way before the progress bar does.
    name: Option<u16>,
    bucket: u16,
    bar: u16,
    /// Time left, when a readable bar still fits beside it.
    left: Option<u16>,
    /// Object key or failure reason, when it would be wide enough to read.
    detail: Option<u16>,
    /// The start column, left out on the narrowest screens.
    started: bool,
}

/// The narrowest name column worth showing.
const MIN_NAME: u16 = 12;

fn columns(total: u16, longest_bucket: u16, longest_name: u16) -> Cols {
    // With names, the start column gives way first, so the name fits even at 80 columns.
    let name_room = if longest_name > 0 { MIN_NAME + 1 } else { 0 };
    let started = total >= 2 + AMI_W + STATE_W + STARTED_W + 5 + 8 + MIN_BAR + name_room;
    // marker, fixed columns, spacing
    let fixed = 2 + AMI_W + STATE_W + 4 + if started { STARTED_W + 1 } else { 0 };
    let rest = total.saturating_sub(fixed);
    let left = (rest > 12 + MIN_BAR + LEFT_W + name_room).then_some(LEFT_W);
    let rest = rest - left.map_or(0, |w| w + 1);
    // The name and the bucket share what the bar leaves: each as wide as its longest when
    // that fits, else three fifths to the name.
    let name = (longest_name > 0)
        .then(|| {
            let want = longest_name.clamp(MIN_NAME, 40);
            let avail = rest.saturating_sub(MIN_BAR + 1);
            let share = if avail > want + longest_bucket.clamp(12, 30) { want } else { (avail * 3 / 5).min(want) };
            // The bucket keeps its 8 cells.
            share.min(rest.saturating_sub(MIN_BAR + 8 + 2))
        })
        .filter(|w| *w >= 8);
    let rest = rest - name.map_or(0, |w| w + 1);
    let bucket = longest_bucket.clamp(12, 30).min(rest.saturating_sub(MIN_BAR)).max(8);
    let bar = (rest.saturating_sub(bucket) / 2).clamp(MIN_BAR, 30);
    let detail = rest.saturating_sub(bucket + bar + 1);
    if detail >= 16 {
        Cols { name, bucket, bar, left, detail: Some(detail), started }
    } else {
        Cols { name, bucket, bar: rest.saturating_sub(bucket).clamp(MIN_BAR, 40), left, detail: None, started }
    }
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
    let labels: &[crate::app::feeds::FeedName] = if app.multi_feed() { &app.feed_names } else { &[] };
    let region_w = labels.iter().map(|l| l.width()).max().unwrap_or(0).clamp(0, 28) as u16;
    let region_w = if labels.is_empty() { 0 } else { region_w.max(6) };
    let cols = columns(
        area.width.saturating_sub(region_w + u16::from(region_w > 0)),
        longest.min(usize::from(u16::MAX)) as u16,
        longest_name.min(usize::from(u16::MAX)) as u16,
    );
    let (bucket_w, bar_w, detail_w) = (cols.bucket, cols.bar, cols.detail);
    let mut header = vec!["", "AMI ID"];
    let mut widths = vec![Constraint::Length(1), Constraint::Length(AMI_W)];
    if region_w > 0 {
        header.push("FEED");
        widths.push(Constraint::Length(region_w));
    }
    if let Some(w) = cols.name {
        header.push("NAME");
        widths.push(Constraint::Length(w));
    }
    header.extend(["BUCKET", "PROGRESS"]);
    widths.extend([Constraint::Length(bucket_w), Constraint::Length(bar_w)]);
    if let Some(w) = cols.left {
        header.push("LEFT");
        widths.push(Constraint::Length(w));
    }
    header.push("STATE");
    widths.push(Constraint::Length(STATE_W));
    if cols.started {
        header.push("STARTED");
        widths.push(Constraint::Length(STARTED_W));
    }
    if let Some(w) = detail_w {
        header.push("S3 KEY / FAILURE REASON");
        widths.push(Constraint::Length(w));
    }
    let body_h = usize::from(area.height.saturating_sub(1));
    let rows = app.view.rows.iter().enumerate().skip(app.offset).take(body_h).map(|(n, &i)| {
        let t = app.task(i);
        let mut cells = vec![
            Cell::from(if n == app.selected { "▶" } else { " " }),
            Cell::from(safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")).into_owned()),
        ];
        if region_w > 0 {
            let label = labels[i.feed()].fit(usize::from(region_w));
            cells.push(Cell::from(safe(&label).into_owned()));
        }
        if let Some(w) = cols.name {
            cells.push(name_cell(app, i, usize::from(w), theme));
        }
        cells.push(Cell::from(truncate(&safe(t.bucket.as_deref().unwrap_or("-")), usize::from(bucket_w)).into_owned()));
        cells.push(Cell::from(progress_line(t, usize::from(bar_w), theme)));
        if cols.left.is_some() {
            cells.push(Cell::from(time_left(app, t, i)));
        }
        cells.push(Cell::from(state_label(app, t, i, theme)));
        if cols.started {
            cells.push(Cell::from(t.start_time.map_or("-".into(), |s| ago(app.now, s))));
        }
        if let Some(w) = detail_w {
            let text = t.failure_reason.as_deref().or(t.object_key.as_deref()).unwrap_or("-");
            let style = if t.failure_reason.is_some() { theme.state(t.state.as_ref()) } else { theme.dim() };
            cells.push(Cell::from(Span::styled(truncate(&safe(text), usize::from(w)).into_owned(), style)));
        }
        let row = Row::new(cells);
        if n == app.selected { row.style(theme.selected_row()) } else { row }
    });
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

/// `~14m` for a task in progress with an estimate, `?` without one, blank otherwise.
fn time_left(app: &App, t: &StoreTask, i: RowRef) -> String {
    if !t.is_in_progress() {
        return String::new();
    }
    app.time_left(i).map_or("?".into(), |left| format!("~{}", duration_short(left.num_seconds())))
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
        let width = |c: Cols| {
            2 + AMI_W
                + STATE_W
                + 4
                + if c.started { STARTED_W + 1 } else { 0 }
                + c.name.map_or(0, |w| w + 1)
                + c.bucket
                + c.bar
                + c.left.map_or(0, |w| w + 1)
                + c.detail.map_or(0, |d| d + 1)
        };
        for total in [super::super::MIN_WIDTH, 75, 80, 90, 100, 120, 160, 200] {
            for names in [0, 28] {
                let c = columns(total, 20, names);
                assert!(c.bar >= MIN_BAR, "bar at least 10 cells plus the percentage at {total}");
                assert!(width(c) <= total, "{c:?} fits {total}");
                if total >= 80 {
                    assert_eq!(c.name.is_some(), names > 0, "a name column at {total} when there are names");
                }
            }
        }
        assert_eq!(columns(80, 20, 0).left, None, "80 columns keep the bar readable");
        assert!(columns(80, 20, 0).started);
        assert!(!columns(80, 20, 28).started, "names come before the start column");
        assert!(!columns(70, 20, 0).started, "the narrowest screens drop the start column");
        assert!(columns(100, 20, 0).left.is_some());
        let c = columns(200, 20, 28);
        assert_eq!((c.name, c.bucket), (Some(28), 20), "name and bucket as wide as their longest");
        assert!(c.detail.is_some_and(|d| d > 40));
        let c = columns(80, 16, 28);
        assert!(c.name.is_some_and(|n| n >= 12) && c.bucket >= 8, "both readable at 80: {c:?}");
    }
}
