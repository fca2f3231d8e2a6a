//! Overlays: the bucket picker, the key help, and the too-small notice.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::app::App;
use crate::app::action::KEY_HELP;
use crate::text::{safe, truncate};

/// A box of at most `w`x`h`, centred and clamped to the screen.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    area.centered(Constraint::Length(w.min(area.width)), Constraint::Length(h.min(area.height)))
}

fn boxed<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::new().borders(Borders::ALL).border_style(theme.border()).title(Span::styled(title, theme.bold()))
}

pub fn picker(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let entries = app.picker_entries();
    let h = (entries.len() as u16 + 2).min(area.height.saturating_sub(2)).max(3);
    let popup = centered(area, 56, h);
    let inner_h = usize::from(h.saturating_sub(2)).max(1);
    let first = app.picker.saturating_sub(inner_h - 1);
    let text_w = usize::from(popup.width.saturating_sub(12));
    let lines: Vec<Line> = entries
        .iter()
        .enumerate()
        .skip(first)
        .take(inner_h)
        .map(|(n, (bucket, count))| {
            let name = bucket.as_deref().map_or("All buckets".to_string(), |b| truncate(&safe(b), text_w).into_owned());
            let text = format!(" {name:<text_w$} {count:>6} ");
            if n == app.picker { Line::styled(text, theme.selected_row()) } else { Line::raw(text) }
        })
        .collect();
    frame.render_widget(Clear, popup);
    let title = " Bucket (Enter picks, Esc cancels) ";
    frame.render_widget(Paragraph::new(lines).block(boxed(title, theme)), popup);
}

/// The confirmation of a retry: what will be exported, where, and the exact call.
pub fn confirm_retry(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let Some(plan) = &app.confirm else { return };
    let feed = &app.feeds[plan.feed].info;
    let mut call =
        format!("aws ec2 create-store-image-task --image-id {} --bucket {}", safe(&plan.ami), safe(&plan.bucket));
    if let Some(r) = &feed.region {
        call.push_str(&format!(" --region {}", safe(r)));
    }
    if let Some(p) = feed.profile.as_deref().filter(|p| *p != "demo") {
        call.push_str(&format!(" --profile {}", safe(p)));
    }
    let row = |k: &str, v: String| Line::from(vec![Span::styled(format!(" {k:<9}"), theme.dim()), Span::raw(v)]);
    let lines = vec![
        row(
            "AMI",
            format!("{}{}", safe(&plan.ami), plan.name.as_deref().map_or(String::new(), |n| format!("  {}", safe(n)))),
        ),
        row("bucket", format!("s3://{}", safe(&plan.bucket))),
        row("feed", safe(&feed.label()).into_owned()),
        Line::raw(""),
        Line::styled(" The call, sent once:", theme.dim()),
    ];
    // The call wraps at its spaces, each line indented inside the border (the paragraph's own
    // wrap would start a continued line at the border).
    let inner = usize::from(100.min(area.width).saturating_sub(2)).max(2);
    let mut lines = lines;
    lines.extend(crate::text::wrap_words(&call, inner - 1).into_iter().map(|l| Line::raw(format!(" {l}"))));
    lines.extend([
        Line::raw(""),
        Line::from(vec![
            Span::styled(" Enter", theme.key()),
            Span::raw(" exports the AMI again   "),
            Span::styled("Esc", theme.key()),
            Span::raw(" cancels"),
        ]),
    ]);
    let popup = centered(area, 100, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let p = Paragraph::new(lines).block(boxed(" Export this AMI to S3 again? ", theme)).wrap(Wrap { trim: false });
    frame.render_widget(p, popup);
}

pub fn help(frame: &mut Frame, area: Rect, theme: &Theme) {
    let mut lines: Vec<Line> = KEY_HELP
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!(" {k:>14}  "), theme.key()), Span::raw(*what)]))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(" Any key closes this help.", theme.dim()));
    let popup = centered(area, 78, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(boxed(" Keys ", theme)), popup);
}

pub fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let msg = format!(
        "terminal too small: {}x{}, amiwatch needs {}x{}",
        area.width,
        area.height,
        super::MIN_WIDTH,
        super::MIN_HEIGHT
    );
    let p = Paragraph::new(msg).style(theme.warning()).wrap(Wrap { trim: true });
    frame.render_widget(p, area);
}
