//! The detail pane of the selected task: every field in full.

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::format::{ago, duration_short};
use super::theme::Theme;
use crate::app::App;
use crate::task::StoreTask;
use crate::text::safe;

pub fn render(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let Some(i) = app.selected_task() else { return };
    let tasks = app.tasks();
    let t = &tasks[i];
    let title = format!(" {} ", safe(t.ami_id.as_deref().unwrap_or("task")));
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border())
        .title(Span::styled(title, theme.bold()));
    let label = |s: &'static str| Span::styled(format!(" {s:<11}"), theme.dim());
    let value = |s: String| Span::raw(s);

    let mut lines = vec![];
    let state = t
        .state
        .as_ref()
        .map_or("unknown".into(), |s| safe(s.as_wire()).into_owned());
    let progress = t.progress.map_or("?".into(), |p| format!("{p}%"));
    lines.push(Line::from(vec![
        label("State"),
        Span::styled(state, theme.state(t.state.as_ref())),
        Span::raw(format!(" at {progress}")),
        Span::styled(
            t.region
                .as_deref()
                .map_or(String::new(), |r| format!("   region {}", safe(r))),
            theme.dim(),
        ),
    ]));
    lines.push(Line::from(vec![
        label("S3 object"),
        value(
            t.s3_uri()
                .map_or_else(|| "unknown".into(), |u| safe(&u).into_owned()),
        ),
    ]));
    match t.start_time {
        Some(start) => {
            lines.push(Line::from(vec![
                label("Started"),
                value(times(start, app.local_offset)),
            ]));
            let since = duration_short((app.now - start).num_seconds());
            lines.push(if t.state.as_ref().is_some_and(|s| s.is_final()) {
                Line::from(vec![
                    label("Age"),
                    value(format!(
                        "{since} since it started (EC2 reports no end time)"
                    )),
                ])
            } else {
                Line::from(vec![label("Elapsed"), value(since)])
            });
        }
        None => lines.push(Line::from(vec![label("Started"), value("unknown".into())])),
    }
    if let Some(r) = &t.failure_reason {
        lines.push(Line::from(vec![
            label("Reason"),
            Span::styled(safe(r).into_owned(), theme.error()),
        ]));
    }
    let earlier = app.index.earlier_attempts(tasks, i);
    if earlier.is_empty() {
        lines.push(Line::from(vec![
            label("Attempts"),
            value("this is the only task of this AMI in the last 31 days".into()),
        ]));
    } else {
        lines.push(Line::from(vec![
            label("Attempts"),
            value(format!(
                "{} tasks of this AMI (a shows them all):",
                earlier.len() + 1
            )),
        ]));
        for &j in earlier.iter().take(4) {
            lines.push(attempt_line(app, &tasks[j], theme));
        }
    }
    let p = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false });
    frame.render_widget(p, area);
}

fn attempt_line(app: &App, t: &StoreTask, theme: &Theme) -> Line<'static> {
    let when = t.start_time.map_or("unknown start".into(), |s| {
        format!("{} UTC ({})", s.format("%Y-%m-%d %H:%M"), ago(app.now, s))
    });
    let state = t
        .state
        .as_ref()
        .map_or("unknown".into(), |s| safe(s.as_wire()).into_owned());
    let mut spans = vec![
        Span::raw(format!("{:13}• {when}  ", "")),
        Span::styled(state, theme.state(t.state.as_ref())),
        Span::raw(t.progress.map_or(String::new(), |p| format!(" {p}%"))),
    ];
    if let Some(r) = &t.failure_reason {
        spans.push(Span::styled(format!("  {}", safe(r)), theme.dim()));
    }
    Line::from(spans)
}

/// Local time and UTC, side by side.
fn times(start: DateTime<Utc>, local: FixedOffset) -> String {
    let l = start.with_timezone(&local);
    format!(
        "{} local (UTC{}) · {} UTC",
        l.format("%Y-%m-%d %H:%M:%S"),
        l.format("%:z"),
        start.format("%Y-%m-%d %H:%M:%S")
    )
}
