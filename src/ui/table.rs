//! The task table: one row per AMI (its latest task), with a progress bar.
//!
//! Only the visible rows are built, so a frame costs the same with 50 tasks or 50,000.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::format::{ago, bar};
use super::theme::Theme;
use crate::app::App;
use crate::app::view::StateFilter;
use crate::task::StoreTask;
use crate::text::{safe, truncate};

const AMI_W: u16 = 21;
const STATE_W: u16 = 13;
const STARTED_W: u16 = 11;
const PCT_W: usize = 5;

/// Column widths for a table `total` cells wide: (bucket, bar, detail). The detail column
/// (object key or failure reason) is left out when it would be too narrow to read.
fn columns(total: u16, longest_bucket: u16) -> (u16, u16, Option<u16>) {
    let fixed = 2 + AMI_W + STATE_W + STARTED_W + 5; // marker, fixed columns, spacing
    let rest = total.saturating_sub(fixed);
    let bucket = longest_bucket.min(rest / 3).clamp(12, 30);
    let bar = (rest / 4).clamp(10 + PCT_W as u16, 36);
    let left = rest.saturating_sub(bucket + bar + 1);
    if left >= 16 {
        (bucket, bar, Some(left))
    } else {
        (bucket, rest.saturating_sub(bucket).max(15), None)
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    if let Some(msg) = empty_message(app) {
        let p = Paragraph::new(msg)
            .wrap(Wrap { trim: true })
            .style(theme.dim());
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 1,
            width: area.width.saturating_sub(4),
            height: area.height.saturating_sub(1),
        };
        frame.render_widget(p, inner);
        return;
    }
    let longest = app
        .index
        .buckets
        .iter()
        .map(|(b, _)| crate::text::width(b))
        .max()
        .unwrap_or(0);
    let (bucket_w, bar_w, detail_w) =
        columns(area.width, longest.min(usize::from(u16::MAX)) as u16);
    let mut header = vec!["", "AMI ID", "BUCKET", "PROGRESS", "STATE", "STARTED"];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(AMI_W),
        Constraint::Length(bucket_w),
        Constraint::Length(bar_w),
        Constraint::Length(STATE_W),
        Constraint::Length(STARTED_W),
    ];
    if let Some(w) = detail_w {
        header.push("S3 KEY / FAILURE REASON");
        widths.push(Constraint::Length(w));
    }
    let body_h = usize::from(area.height.saturating_sub(1));
    let tasks = app.tasks();
    let rows = app
        .view
        .rows
        .iter()
        .enumerate()
        .skip(app.offset)
        .take(body_h)
        .map(|(n, &i)| {
            let t = &tasks[i];
            let mut cells = vec![
                Cell::from(if n == app.selected { "▶" } else { " " }),
                Cell::from(safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")).into_owned()),
                Cell::from(
                    truncate(
                        &safe(t.bucket.as_deref().unwrap_or("-")),
                        usize::from(bucket_w),
                    )
                    .into_owned(),
                ),
                Cell::from(progress_line(t, usize::from(bar_w), theme)),
                Cell::from(state_label(app, t, i, theme)),
                Cell::from(t.start_time.map_or("-".into(), |s| ago(app.now, s))),
            ];
            if let Some(w) = detail_w {
                let text = t
                    .failure_reason
                    .as_deref()
                    .or(t.object_key.as_deref())
                    .unwrap_or("-");
                let style = if t.failure_reason.is_some() {
                    theme.state(t.state.as_ref())
                } else {
                    theme.dim()
                };
                cells.push(Cell::from(Span::styled(
                    truncate(&safe(text), usize::from(w)).into_owned(),
                    style,
                )));
            }
            let row = Row::new(cells);
            if n == app.selected {
                row.style(theme.selected_row())
            } else {
                row
            }
        });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.header_row()))
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// The state, marked `↻N` when the AMI has N tasks (key `a` shows them all).
fn state_label(app: &App, t: &StoreTask, i: usize, theme: &Theme) -> Line<'static> {
    let state = t.state.as_ref().map_or("-".into(), |s| {
        truncate(&safe(s.as_wire()), 10).into_owned()
    });
    let mut spans = vec![Span::styled(state, theme.state(t.state.as_ref()))];
    let n = app.index.attempt_count(app.tasks(), i);
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
        None => Line::from(vec![
            Span::styled("?".repeat(bar_w.min(1)), theme.dim()),
            Span::raw("    ?"),
        ]),
    }
}

/// The message shown instead of an empty table: each case gets its own.
fn empty_message(app: &App) -> Option<String> {
    if !app.view.rows.is_empty() {
        return None;
    }
    Some(match (&app.snapshot, &app.poll.failure) {
        (None, None) => "Loading: the first poll is running…".into(),
        (None, Some(f)) => format!("The first poll failed: {}\nRetrying automatically; press r to retry now.", safe(&f.summary)),
        (Some(s), _) if s.tasks.is_empty() => {
            "No store-image tasks in this account and region for the last 31 days.\nStart one with `aws ec2 create-store-image-task`; it will show up here.".into()
        }
        (Some(_), _) => {
            let mut parts = Vec::new();
            if app.filters.state != StateFilter::All {
                parts.push(format!("state {}", app.filters.state.label()));
            }
            if let Some(b) = &app.filters.bucket {
                parts.push(format!("bucket {}", safe(b)));
            }
            if !app.search_input.is_empty() {
                parts.push(format!("search \"{}\"", safe(&app.search_input)));
            }
            format!(
                "No task matches the filters ({}).\nPress 1 for every state, b to pick another bucket, / then Esc to clear the search.",
                parts.join(", ")
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_80_and_grow_on_wide_screens() {
        let fixed = 2 + AMI_W + STATE_W + STARTED_W + 5;
        let (b, bar, d) = columns(80, 20);
        assert!(bar >= 15, "bar at least 10 cells plus the percentage");
        assert!(fixed + b + bar + d.map_or(0, |d| d + 1) <= 80);
        let (b, _, d) = columns(200, 20);
        assert_eq!(b, 20, "a bucket column as wide as the longest name");
        assert!(d.is_some_and(|d| d > 40));
    }
}
