//! The detail pane of the selected task: every field in full.

use chrono::{DateTime, Local, TimeZone, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::format::{ago, duration_short};
use super::theme::Theme;
use crate::app::{App, RowRef};
use crate::image::Naming;
use crate::task::StoreTask;
use crate::text::{safe, truncate};

pub fn render(app: &App, frame: &mut Frame, area: Rect, theme: &Theme) {
    let Some(i) = app.selected_task() else { return };
    let t = app.task(i);
    let title = format!(" {} ", safe(t.ami_id.as_deref().unwrap_or("task")));
    let block =
        Block::new().borders(Borders::TOP).border_style(theme.border()).title(Span::styled(title, theme.bold()));
    let label = |s: &'static str| Span::styled(format!(" {s:<11}"), theme.dim());
    let value = |s: String| Span::raw(s);

    let mut lines = vec![];
    image_lines(app, i, usize::from(area.width), &mut lines, theme);
    let state = t.state.as_ref().map_or("unknown".into(), |s| safe(s.as_wire()).into_owned());
    let progress = t.progress.map_or("?".into(), |p| format!("{p}%"));
    lines.push(Line::from(vec![
        label("State"),
        Span::styled(state, theme.state(t.state.as_ref())),
        Span::raw(format!(" at {progress}")),
        Span::styled(format!("   {}", safe(&app.feed_of(i).info.label())), theme.dim()),
    ]));
    lines.push(Line::from(vec![
        label("S3 object"),
        value(t.s3_uri().map_or_else(|| "unknown".into(), |u| safe(&u).into_owned())),
    ]));
    match t.start_time {
        Some(start) => {
            lines.push(Line::from(vec![label("Started"), value(times(start))]));
            let since = duration_short((app.now - start).num_seconds());
            lines.push(if t.state.as_ref().is_some_and(|s| s.is_final()) {
                Line::from(vec![label("Age"), value(format!("{since} since it started (EC2 reports no end time)"))])
            } else {
                Line::from(vec![label("Elapsed"), value(since)])
            });
        }
        None => lines.push(Line::from(vec![label("Started"), value("unknown".into())])),
    }
    if t.is_in_progress() {
        lines.push(speed_line(app, i, label("Speed")));
        if let Some(text) = basis_text(app, i) {
            lines.push(Line::from(vec![label("Estimate"), Span::raw(text)]));
        }
        let samples = app.data(i).history.samples(t);
        if samples.len() >= 2 {
            let (first, last) = (samples[0], samples[samples.len() - 1]);
            let spark = sparkline(&samples.iter().map(|s| s.progress).collect::<Vec<_>>(), 40);
            lines.push(Line::from(vec![
                label("History"),
                Span::styled(spark, theme.state(t.state.as_ref())),
                Span::styled(
                    format!(
                        "  {}% → {}% over {}",
                        first.progress,
                        last.progress,
                        duration_short((last.at - first.at).num_seconds())
                    ),
                    theme.dim(),
                ),
            ]));
        }
    }
    if let Some(r) = &t.failure_reason {
        lines.push(Line::from(vec![label("Reason"), Span::styled(safe(r).into_owned(), theme.error())]));
    }
    let earlier = app.earlier_attempts(i);
    if earlier.is_empty() {
        lines.push(Line::from(vec![
            label("Attempts"),
            value("this is the only task of this AMI in the last 31 days".into()),
        ]));
    } else {
        lines.push(Line::from(vec![
            label("Attempts"),
            value(format!("{} tasks of this AMI (a shows them all):", earlier.len() + 1)),
        ]));
        for &j in earlier.iter().take(4) {
            lines.push(attempt_line(app, app.task(j), theme));
        }
    }
    let p = Paragraph::new(lines).block(block).wrap(Wrap { trim: false });
    frame.render_widget(p, area);
}

/// What `DescribeImages` says of the AMI: its name and details, or that it is deregistered.
///
/// A name or description is the server's text, of any length: each gets at most a line and two
/// lines of the pane, so the task's own lines below always show.
fn image_lines(app: &App, i: RowRef, width: usize, lines: &mut Vec<Line<'static>>, theme: &Theme) {
    let label = |s: &'static str| Span::styled(format!(" {s:<11}"), theme.dim());
    let room = width.saturating_sub(13).max(8);
    // Cut before escaping (the text may be huge), and again after (escapes are wider).
    let bounded = |s: &str, max: usize| truncate(&safe(&truncate(s, max)), max).into_owned();
    match app.naming(i) {
        Some(Naming::Known(info)) => {
            let mut head = vec![
                label("Image"),
                Span::styled(bounded(info.name.as_deref().unwrap_or("(no name)"), room / 2), theme.bold()),
            ];
            let mut facts = Vec::new();
            if let Some(a) = &info.architecture {
                facts.push(safe(a).into_owned());
            }
            if let Some(c) = info.created {
                facts.push(format!("created {} UTC", c.format("%Y-%m-%d")));
            }
            if let Some(d) = info.deprecation {
                facts.push(format!("deprecated from {} UTC", d.format("%Y-%m-%d")));
            }
            if !facts.is_empty() {
                head.push(Span::styled(format!("  {}", facts.join(" · ")), theme.dim()));
            }
            lines.push(Line::from(head));
            if let Some(d) = &info.description {
                lines.push(Line::from(vec![label(""), Span::styled(bounded(d, room * 2), theme.dim())]));
            }
            if !info.volumes.is_empty() {
                let vols: Vec<String> = info
                    .volumes
                    .iter()
                    .map(|v| {
                        let size = v.size_gib.map_or("? GiB".into(), |g| format!("{g} GiB"));
                        let snap = v.snapshot.as_deref().map_or(String::new(), |s| format!(" {}", safe(s)));
                        format!("{} {size}{snap}", safe(v.device.as_deref().unwrap_or("?")))
                    })
                    .collect();
                let total = info.total_gib().map_or(String::new(), |g| format!(" = {g} GiB"));
                lines.push(Line::from(vec![label("Volumes"), Span::raw(format!("{}{total}", vols.join(", ")))]));
            }
        }
        Some(Naming::Deregistered) => lines.push(Line::from(vec![
            label("Image"),
            Span::styled("deregistered since its export (EC2 no longer describes it)", theme.dim()),
        ])),
        None => {}
    }
}

/// What a time left from sizes stands on: the feed's throughput, over how many polls, and the
/// GB left in flight; `None` when the time left is the task's own estimate.
fn basis_text(app: &App, i: RowRef) -> Option<String> {
    let data = app.data(i);
    data.task_plan(i.task)?;
    let b = data.plan.basis?;
    let polls = if b.polls == 1 { "1 poll".to_string() } else { format!("{} polls", b.polls) };
    Some(format!(
        "from sizes: the feed stores {:.1} GB/min (measured over {polls}), {:.0} GB left in flight",
        b.gb_per_min, b.gb_left
    ))
}

fn speed_line(app: &App, i: RowRef, label: Span<'static>) -> Line<'static> {
    // Counted down from the poll the estimate was made at, as the table's LEFT is.
    let data = app.data(i);
    if let (Some(_), Some(_), Some(left)) = (data.task_plan(i.task), data.plan.basis, app.time_left(i)) {
        let done = (app.now + left).with_timezone(&Local).format("%H:%M");
        let left = duration_short(left.num_seconds());
        // The table's LEFT says the same.
        let when = match app.starts_in(i) {
            Some(starts) => {
                format!("starts in ~{}, ~{left} left, done about {done} local", duration_short(starts.num_seconds()))
            }
            None => format!("~{left} left, done about {done} local"),
        };
        return Line::from(vec![label, Span::raw(when)]);
    }
    let text = match (app.estimate(i), app.time_left(i)) {
        (Some(e), Some(left)) => {
            let how = if e.observed { "observed while watching" } else { "average since it started" };
            let done = clock(app.now + left, &Local);
            format!(
                "{:.2}%/min ({how}) · ~{} left, done about {done} local",
                e.rate_per_min,
                duration_short(left.num_seconds())
            )
        }
        _ => "not enough progress yet to estimate the time left".into(),
    };
    Line::from(vec![label, Span::raw(text)])
}

/// Progress over time as block characters, the newest on the right, at most `width` cells.
fn sparkline(values: &[u8], width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let step = values.len().div_ceil(width.max(1)).max(1);
    let picked: Vec<u8> = values.iter().rev().step_by(step).rev().copied().collect();
    let (lo, hi) = (picked.iter().min().copied().unwrap_or(0), picked.iter().max().copied().unwrap_or(0));
    let span = f64::from(hi.saturating_sub(lo)).max(1.0);
    picked.iter().map(|v| BLOCKS[((f64::from(v - lo) / span) * 7.0).round() as usize]).collect()
}

fn attempt_line(app: &App, t: &StoreTask, theme: &Theme) -> Line<'static> {
    let when = t
        .start_time
        .map_or("unknown start".into(), |s| format!("{} UTC ({})", s.format("%Y-%m-%d %H:%M"), ago(app.now, s)));
    let state = t.state.as_ref().map_or("unknown".into(), |s| safe(s.as_wire()).into_owned());
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

/// Local time and UTC, side by side; the local time with the offset in force at that instant
/// (a task from before a daylight-saving change shows the offset it had).
fn times(start: DateTime<Utc>) -> String {
    times_in(start, &Local)
}

/// [`times`] in zone `tz`: each instant converted with its own offset.
fn times_in<Tz: TimeZone>(start: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let l = start.with_timezone(tz);
    format!(
        "{} local (UTC{}) · {} UTC",
        l.format("%Y-%m-%d %H:%M:%S"),
        l.format("%:z"),
        start.format("%Y-%m-%d %H:%M:%S")
    )
}

/// The wall-clock time `at` in zone `tz`, with the offset in force at `at` ("done about").
fn clock<Tz: TimeZone>(at: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    at.with_timezone(tz).format("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sparkline_rises_with_progress_and_fits() {
        let s = super::sparkline(&[10, 10, 20, 30, 40], 40);
        assert_eq!(s, "▁▁▃▆█");
        let long: Vec<u8> = (0..100).collect();
        assert!(super::sparkline(&long, 40).chars().count() <= 40);
        assert_eq!(super::sparkline(&[5, 5], 10), "▁▁");
    }

    use chrono::{DateTime, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

    /// New York around the end of daylight saving time in 2026 (01:00 local on November 1, 06:00
    /// UTC): UTC-4 before, UTC-5 after. A zone with a change, which `FixedOffset` cannot be.
    #[derive(Debug, Clone, Copy)]
    struct NewYork;

    fn dst_ends() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(6, 0, 0).unwrap()
    }

    impl TimeZone for NewYork {
        type Offset = FixedOffset;
        fn from_offset(_: &FixedOffset) -> Self {
            NewYork
        }
        fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(12, 0, 0).unwrap())
        }
        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
            MappedLocalTime::Single(self.offset_from_utc_datetime(&(*local + chrono::Duration::hours(5))))
        }
        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_hms_opt(0, 0, 0).unwrap())
        }
        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            let hours = if *utc < dst_ends() { -4 } else { -5 };
            FixedOffset::east_opt(hours * 3600).unwrap()
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn local_times_use_each_instants_own_offset() {
        // Started before the change, shown after it: the offset it had, not today's.
        assert_eq!(
            super::times_in(utc("2026-10-31T12:00:00Z"), &NewYork),
            "2026-10-31 08:00:00 local (UTC-04:00) · 2026-10-31 12:00:00 UTC"
        );
        assert_eq!(
            super::times_in(utc("2026-11-28T12:00:00Z"), &NewYork),
            "2026-11-28 07:00:00 local (UTC-05:00) · 2026-11-28 12:00:00 UTC"
        );
        // "Done about" across the change: 05:30 UTC is 01:30 EDT, 06:30 UTC is 01:30 EST.
        assert_eq!(super::clock(utc("2026-11-01T05:30:00Z"), &NewYork), "01:30");
        assert_eq!(super::clock(utc("2026-11-01T06:30:00Z"), &NewYork), "01:30");
        assert_eq!(super::clock(utc("2026-11-01T12:00:00Z"), &NewYork), "07:00");
        assert_eq!(super::clock(utc("2026-10-31T12:00:00Z"), &NewYork), "08:00");
    }
}
