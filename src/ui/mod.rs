//! Drawing: a pure view of [`App`]. Nothing here knows the SDK, awaits, or changes state.

mod bars;
mod detail;
mod feeds;
pub mod format;
mod popup;
mod table;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;

use crate::app::{App, Mode};
use theme::Theme;

/// Below this the screen says so instead of drawing a broken dashboard.
pub const MIN_WIDTH: u16 = 70;
pub const MIN_HEIGHT: u16 = 12;
/// Height of the detail pane, border included.
const DETAIL_HEIGHT: u16 = 15;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Areas {
    pub header: Rect,
    /// The export plan's line (`amiwatch export`).
    pub plan: Option<Rect>,
    pub summary: Rect,
    pub warning: Option<Rect>,
    /// The table, its header row included.
    pub table: Rect,
    pub detail: Option<Rect>,
    pub footer: Rect,
}

impl Areas {
    /// The rows of the table below its header row: what a click or a page maps onto.
    pub fn table_body(&self) -> Rect {
        let t = self.table;
        Rect { y: t.y.saturating_add(1), height: t.height.saturating_sub(1), ..t }
    }
}

/// The layout for `area`; shared by drawing and by the event loop (clicks, paging).
pub fn layout(area: Rect, app: &App) -> Areas {
    let warning =
        app.poll.failure.is_some() || app.is_stale() || app.names_gap_note().is_some() || app.names_note.is_some();
    let detail = app.detail_open && area.height >= MIN_HEIGHT + 8;
    // The pane takes up to its height, leaving the table at least a few rows.
    let detail_h = DETAIL_HEIGHT.min(area.height.saturating_sub(8));
    let [header, plan, summary, warn, table, det, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(app.plan.is_some())),
        Constraint::Length(1),
        Constraint::Length(u16::from(warning)),
        Constraint::Min(3),
        Constraint::Length(if detail { detail_h } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        plan: app.plan.is_some().then_some(plan),
        summary,
        warning: warning.then_some(warn),
        table,
        detail: detail.then_some(det),
        footer,
    }
}

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let theme = Theme::new(app.color);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        popup::too_small(frame, area, &theme);
        return;
    }
    let a = layout(area, app);
    bars::header(app, frame, a.header, &theme);
    if let Some(p) = a.plan {
        bars::plan(app, frame, p, &theme);
    }
    bars::summary(app, frame, a.summary, &theme);
    if let Some(w) = a.warning {
        bars::warning(app, frame, w, &theme);
    }
    match app.mode {
        Mode::FeedPicker | Mode::FeedSearch => feeds::render(app, frame, a.table, &theme),
        _ => table::render(app, frame, a.table, &theme),
    }
    if let Some(d) = a.detail {
        detail::render(app, frame, d, &theme);
    }
    bars::footer(app, frame, a.footer, &theme);
    match app.mode {
        Mode::BucketPicker => popup::picker(app, frame, area, &theme),
        Mode::Help => popup::help(frame, area, &theme),
        Mode::ConfirmRetry => popup::confirm_retry(app, frame, area, &theme),
        Mode::Normal | Mode::Search | Mode::FeedPicker | Mode::FeedSearch => {}
    }
}

/// A one-line paragraph helper: a line drawn in an area, nothing else.
fn line(frame: &mut Frame, area: Rect, l: Line<'_>) {
    frame.render_widget(l, area);
}
