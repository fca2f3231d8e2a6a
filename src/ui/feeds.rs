//! The feeds pane (`F`): every feed with its tasks, what is moving, its last poll, its calls a
//! minute and its error, in the table's place. Enter picks a feed as the filter.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::format::ago;
use super::theme::Theme;
use crate::app::{App, Mode};
use crate::text::{safe, truncate};

const NUM_W: u16 = 8;
const POLL_W: u16 = 10;
/// `1200+/600 full`: GB in flight against the quota, marked when full.
const FLIGHT_W: u16 = 15;

pub fn render(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let rows = app.pane_rows();
    let search = match (app.mode, app.feeds_pane.search.is_empty()) {
        (Mode::FeedSearch, _) => format!(" · search: {}▏", safe(&app.feeds_pane.search)),
        (_, false) => format!(" · search: {}", safe(&app.feeds_pane.search)),
        _ => String::new(),
    };
    let title = format!(
        " Feeds: {} of {} · sorted {}{search} · Enter picks, Esc closes",
        rows.len(),
        app.feeds.len(),
        app.feeds_pane.sort.label()
    );
    frame.render_widget(Line::styled(truncate(&title, usize::from(area.width)).into_owned(), theme.bold()), area);
    let body = Rect { y: area.y.saturating_add(1), height: area.height.saturating_sub(1), ..area };
    let name_w = app.feed_names.iter().map(|n| crate::text::width(&n.full)).max().unwrap_or(10).clamp(10, 60) as u16;
    let name_w = name_w.min(body.width.saturating_sub(2 + 3 * (NUM_W + 1) + POLL_W + 1 + FLIGHT_W + 1 + 12));
    let err_w = body.width.saturating_sub(2 + name_w + 1 + 3 * (NUM_W + 1) + POLL_W + 1 + FLIGHT_W + 1);
    let widths = [
        Constraint::Length(1),
        Constraint::Length(name_w),
        Constraint::Length(NUM_W),
        Constraint::Length(NUM_W),
        Constraint::Length(FLIGHT_W),
        Constraint::Length(POLL_W),
        Constraint::Length(NUM_W),
        Constraint::Length(err_w),
    ];
    let header = Row::new(["", "FEED", "TASKS", "MOVING", "GB IN FLIGHT", "POLLED", "CALLS/M", "ERROR"])
        .style(theme.header_row());
    let visible = usize::from(body.height.saturating_sub(1)).max(1);
    // Line 0 is "All feeds"; the selection is kept by feed, so it stays on it as lines move.
    let at = app.feeds_pane.position(&rows);
    let first = at.saturating_sub(visible - 1);
    // "All feeds" is every feed, whatever the search shows: it is what Enter on it picks.
    let every = app.feeds_pane_totals();
    let all = Row::new(vec![
        Cell::from(if at == 0 { "▶" } else { " " }),
        Cell::from("All feeds"),
        Cell::from(format!("{:>7}", every.tasks)),
        Cell::from(format!("{:>7}", every.in_progress)),
        Cell::from(""),
        Cell::from(""),
        Cell::from(format!("{:>7}", every.calls)),
        Cell::from(""),
    ]);
    let lines = std::iter::once(all).chain(rows.iter().enumerate().map(|(n, r)| {
        let name = &app.feed_names[r.feed];
        let error = r.error.as_deref().map_or(String::new(), |e| safe(e).into_owned());
        Row::new(vec![
            Cell::from(if at == n + 1 { "▶" } else { " " }),
            Cell::from(safe(&name.fit_full(usize::from(name_w))).into_owned()),
            Cell::from(format!("{:>7}", r.tasks)),
            Cell::from(format!("{:>7}", r.in_progress)),
            in_flight_cell(r.in_flight, app.store_quota, theme),
            Cell::from(r.last_poll.map_or("never".into(), |at| ago(app.now, at))),
            Cell::from(format!("{:>7}", r.calls)),
            Cell::from(Span::styled(truncate(&error, usize::from(err_w)).into_owned(), theme.error())),
        ])
    }));
    let lines = lines.enumerate().skip(first).take(visible).map(|(n, row)| match n == at {
        true => row.style(theme.selected_row()),
        false => row,
    });
    frame.render_widget(Table::new(lines, widths).header(header).column_spacing(1), body);
}

/// `340+/600`, and `full` (warning colours) at or over the quota: new exports are refused there.
fn in_flight_cell(i: Option<crate::app::feed::InFlight>, quota: u64, theme: &Theme) -> Cell<'static> {
    let Some(i) = i else { return Cell::from("") };
    let amount = format!("{}/{quota}", i.amount());
    match i.is_full(quota) {
        true => Cell::from(Span::styled(format!("{amount:>10} full"), theme.warning())),
        false => Cell::from(format!("{amount:>10}")),
    }
}
