//! One-shot output: an aligned table for people, JSON shaped like the AWS CLI's, and CSV.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use crate::ec2::FeedInfo;
use crate::image::Naming;
use crate::task::StoreTask;
use crate::text::{safe, truncate, width};

/// One task to print, the feed it came from, and what `DescribeImages` said of its AMI.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub feed: &'a FeedInfo,
    pub task: &'a StoreTask,
    pub naming: Option<&'a Naming>,
}

impl<'a> Row<'a> {
    pub fn new(feed: &'a FeedInfo, task: &'a StoreTask) -> Self {
        Self { feed, task, naming: None }
    }

    /// The AMI's name for a column: `(deregistered)` when EC2 no longer knows the AMI, the
    /// name and `(disabled)` for a disabled one.
    fn name_text(&self) -> Option<std::borrow::Cow<'a, str>> {
        match self.naming? {
            Naming::Known(i) if i.state_is_disabled() => Some(i.display_name().into()),
            Naming::Known(i) => i.name.as_deref().map(Into::into),
            Naming::Deregistered => Some("(deregistered)".into()),
        }
    }

    /// The AMI's size in GiB (the sum of its volumes), when `DescribeImages` told it.
    fn size(&self) -> Option<u64> {
        match self.naming? {
            Naming::Known(i) => i.size_gib(),
            Naming::Deregistered => None,
        }
    }
}

/// What to print beyond the AWS CLI's fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extra {
    /// Who each task belongs to (profile, region, account).
    pub feed: bool,
    /// Its AMI's name.
    pub name: bool,
}

/// The output formats of `--once` and `--wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The AWS CLI's JSON shape.
    Json,
    /// One row a task, with a header.
    Csv,
}

/// Writes `rows` in `format`. `max_width` (a terminal's width) trims the table's last column.
/// `extra` adds who each task belongs to and its AMI's name: without them the JSON is exactly
/// the AWS CLI's.
pub fn write(
    out: &mut impl Write,
    format: Format,
    rows: &[Row<'_>],
    next_token: Option<&str>,
    max_width: Option<usize>,
    extra: Extra,
) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, rows, next_token, max_width, extra),
        Format::Json => write_json(out, rows, next_token, extra),
        Format::Csv => write_csv(out, rows, extra),
    }
}

/// The dashboard's `e`: writes `rows` with every column to a new file in `dir` named for the
/// time `at` (`amiwatch-YYYYMMDD-HHMMSS.csv`, `-2.csv` when that name is taken), mode 0600,
/// never through a symlink (see [`crate::files`]); the path written.
pub fn export(
    dir: &std::path::Path,
    at: DateTime<chrono::Local>,
    format: Format,
    rows: &[Row<'_>],
) -> Result<std::path::PathBuf, crate::files::FileError> {
    let ext = if format == Format::Json { "json" } else { "csv" };
    let stem = format!("amiwatch-{}", at.format("%Y%m%d-%H%M%S"));
    let (file, path) = crate::files::create_unique(dir, &stem, ext)?;
    let mut w = io::BufWriter::new(file);
    write(&mut w, format, rows, None, None, Extra { feed: true, name: true })
        .and_then(|()| w.flush())
        .map_err(|source| crate::files::FileError::Write { path: path.clone(), source })?;
    Ok(path)
}

/// The CLI prints Python's `isoformat()` of a UTC time: `2026-11-28T11:51:46+00:00`.
pub fn cli_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonOut<'a> {
    store_image_task_results: Vec<JsonTask<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonTask<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ami_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "SizeGiB", skip_serializing_if = "Option::is_none")]
    size_gib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<&'a str>,
    #[serde(rename = "S3objectKey", skip_serializing_if = "Option::is_none")]
    s3object_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress_percentage: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_task_state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_task_failure_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

impl<'a> JsonTask<'a> {
    fn new(r: Row<'a>, extra: Extra) -> Self {
        let (t, feed) = (r.task, extra.feed.then_some(r.feed));
        Self {
            ami_id: t.ami_id.as_deref(),
            name: if extra.name { r.naming.and_then(Naming::name) } else { None },
            size_gib: if extra.name { r.size() } else { None },
            task_start_time: t.start_time.as_ref().map(cli_time),
            bucket: t.bucket.as_deref(),
            s3object_key: t.object_key.as_deref(),
            progress_percentage: t.progress,
            store_task_state: t.state.as_ref().map(|s| s.as_wire()),
            store_task_failure_reason: t.failure_reason.as_deref(),
            profile: feed.and_then(|f| f.profile.as_deref()),
            region: feed.and_then(|f| f.region.as_deref()),
            account_id: feed.and_then(|f| f.account.as_deref()),
        }
    }
}

fn write_json(out: &mut impl Write, rows: &[Row<'_>], next_token: Option<&str>, extra: Extra) -> io::Result<()> {
    let doc = JsonOut { store_image_task_results: rows.iter().map(|&r| JsonTask::new(r, extra)).collect(), next_token };
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe(PrettyFormatter::new()));
    doc.serialize(&mut ser)?;
    out.write_all(b"\n")
}

/// Pretty JSON that also writes as `\uXXXX` what JSON may carry raw but a terminal would act
/// on (8-bit controls, direction overrides): the same data to a parser, inert on a screen.
struct TerminalSafe<'a>(PrettyFormatter<'a>);

impl Formatter for TerminalSafe<'_> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices().filter(|(_, c)| crate::text::is_unsafe(*c)) {
            w.write_all(&fragment.as_bytes()[start..i])?;
            write!(w, "\\u{:04x}", u32::from(c))?;
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn csv_field(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(csv_cell(s).as_bytes())
}

/// What a spreadsheet runs as a formula when a cell starts with it (OWASP, "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One CSV cell: a text a spreadsheet would run as a formula starts with `'` (OWASP's advice:
/// shown as text, the data still readable), then quoted when it holds a separator or a quote.
fn csv_cell(s: &str) -> String {
    let text = if s.starts_with(FORMULA_STARTS) { format!("'{s}") } else { s.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

fn write_csv(out: &mut impl Write, rows: &[Row<'_>], extra: Extra) -> io::Result<()> {
    let mut header = "ami_id,task_start_time,bucket,s3_object_key,progress_percentage,state,failure_reason".to_string();
    if extra.name {
        header.push_str(",name,size_gib");
    }
    if extra.feed {
        header.push_str(",profile,region,account_id");
    }
    writeln!(out, "{header}")?;
    for r in rows {
        let (feed, t) = (r.feed, r.task);
        let mut fields = vec![
            t.ami_id.as_deref().unwrap_or_default().to_string(),
            t.start_time.as_ref().map(cli_time).unwrap_or_default(),
            t.bucket.as_deref().unwrap_or_default().to_string(),
            t.object_key.as_deref().unwrap_or_default().to_string(),
            t.progress.map(|p| p.to_string()).unwrap_or_default(),
            t.state.as_ref().map(|s| s.as_wire().to_string()).unwrap_or_default(),
            t.failure_reason.as_deref().unwrap_or_default().to_string(),
        ];
        if extra.name {
            fields.push(r.name_text().unwrap_or_default().into_owned());
            fields.push(r.size().map(|s| s.to_string()).unwrap_or_default());
        }
        if extra.feed {
            for f in [&feed.profile, &feed.region, &feed.account] {
                fields.push(f.clone().unwrap_or_default());
            }
        }
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            // CSV goes to files and spreadsheets: keep the text, minus terminal controls.
            csv_field(out, &safe(f))?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

const UNKNOWN: &str = "-";

/// `11-28 11:51` this year; `2025-11-28 11:51` in another.
fn started(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    use chrono::Datelike;
    if t.year() == now.year() { t.format("%m-%d %H:%M").to_string() } else { t.format("%Y-%m-%d %H:%M").to_string() }
}

/// On a terminal `max_width` cells wide, fits the table as the dashboard does: the S3 key /
/// failure reason shows only beside every other column whole; the free-text columns shrink
/// (name, bucket, feed to 12 cells; then bucket to 8 and feed to 6); then columns give way whole
/// in a stated order (STARTED UTC, NAME, BUCKET, FEED). The AMI ID, the state and the progress
/// are never cut; a cut value ends in `…`. Piped (`None`), every value is printed whole.
/// Returns which columns are shown.
fn fit_columns(widths: &mut [usize], headers: &[&str], max_width: Option<usize>) -> Vec<bool> {
    let mut shown = vec![true; widths.len()];
    let Some(max) = max_width else { return shown };
    let col = |name: &str| headers.iter().position(|h| *h == name);
    let last = widths.len() - 1;
    let total = |widths: &[usize], shown: &[bool]| -> usize {
        let cols: Vec<usize> = widths.iter().zip(shown).filter(|(_, s)| **s).map(|(w, _)| *w).collect();
        (cols.iter().sum::<usize>() + 2 * cols.len()).saturating_sub(2)
    };
    let natural = widths.to_vec();
    // As in the dashboard, the S3 key / failure reason shows only beside every other column whole.
    let mut beside = natural.clone();
    beside[last] = beside[last].min(12);
    if total(&beside, &shown) > max {
        shown[last] = false;
    }
    let give_way = [col("STARTED UTC"), col("NAME"), col("BUCKET"), col("FEED")];
    let mut give_way = give_way.into_iter().flatten();
    loop {
        // From the values' own widths, shrink the shown free-text columns in order.
        widths.copy_from_slice(&natural);
        let shrink = [
            (Some(last), 12),
            (col("NAME"), 12),
            (col("BUCKET"), 12),
            (col("FEED"), 12),
            (col("BUCKET"), 8),
            (col("FEED"), 6),
        ];
        for (c, min) in shrink.into_iter().filter_map(|(c, m)| Some((c?, m))).filter(|(c, _)| shown[*c]) {
            let excess = total(widths, &shown).saturating_sub(max);
            widths[c] = widths[c].saturating_sub(excess).max(min.min(widths[c]));
        }
        if total(widths, &shown) <= max {
            break;
        }
        match give_way.next() {
            Some(c) => shown[c] = false,
            None => break,
        }
    }
    shown
}

fn write_table(
    out: &mut impl Write,
    tasks: &[Row<'_>],
    next_token: Option<&str>,
    max_width: Option<usize>,
    extra: Extra,
) -> io::Result<()> {
    let now = Utc::now();
    let mut headers = vec!["AMI ID"];
    if extra.name {
        headers.extend(["NAME", "SIZE GB"]);
    }
    headers.extend(["STATE", "PROG", "STARTED UTC", "BUCKET"]);
    if extra.feed {
        headers.push("FEED");
    }
    headers.push("S3 KEY / FAILURE REASON");
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|row| {
            let (feed, t) = (row.feed, row.task);
            let mut r = vec![t.ami_id.as_deref().map_or(UNKNOWN.into(), |s| safe(s).into_owned())];
            if extra.name {
                r.push(row.name_text().map_or(UNKNOWN.into(), |s| safe(&s).into_owned()));
                r.push(row.size().map_or(format!("{UNKNOWN:>7}"), |s| format!("{s:>7}")));
            }
            r.extend([
                t.state.as_ref().map_or(UNKNOWN.into(), |s| safe(s.as_wire()).into_owned()),
                t.progress.map_or(UNKNOWN.into(), |p| format!("{p:>3}%")),
                t.start_time.map_or(UNKNOWN.into(), |s| started(s, now)),
                t.bucket.as_deref().map_or(UNKNOWN.into(), |s| safe(s).into_owned()),
            ]);
            if extra.feed {
                r.push(safe(&feed.label()).into_owned());
            }
            let last = match (&t.failure_reason, &t.object_key) {
                (Some(reason), _) => reason,
                (None, Some(key)) => key,
                (None, None) => UNKNOWN,
            };
            r.push(safe(last).into_owned());
            r
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(cell));
        }
    }
    let shown = fit_columns(&mut widths, &headers, max_width);
    let last = shown.iter().rposition(|s| *s).unwrap_or(0);
    let line = |out: &mut dyn Write, cells: &[&str]| -> io::Result<()> {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate().filter(|(i, _)| shown[*i]) {
            let cell = truncate(cell, *w);
            if i == last {
                writeln!(out, "{cell}")?;
            } else {
                // Padding written out: a format width over 65,535 panics.
                let pad = w.saturating_sub(width(&cell)) + 2;
                out.write_all(cell.as_bytes())?;
                out.write_all(" ".repeat(pad).as_bytes())?;
            }
        }
        Ok(())
    };
    line(out, &headers)?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(out, &cells)?;
    }
    if tasks.is_empty() {
        writeln!(out, "(no store-image tasks)")?;
    }
    if let Some(tok) = next_token {
        writeln!(out, "\nMore tasks: resume with --starting-token {}", safe(tok))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskState;

    /// A cell as a spreadsheet reads it: quotes undone.
    fn unquote(cell: &str) -> String {
        match cell.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => cell.to_string(),
        }
    }

    proptest::proptest! {
        #[test]
        fn no_csv_cell_starts_a_formula_and_each_reads_back(s in proptest::prelude::any::<String>()) {
            let cell = csv_cell(&s);
            let read = unquote(&cell);
            proptest::prop_assert!(!read.starts_with(FORMULA_STARTS), "{read:?}");
            // The text is kept whole: with a leading ' exactly when it would start a formula.
            let expected = if s.starts_with(FORMULA_STARTS) { format!("'{s}") } else { s.clone() };
            proptest::prop_assert_eq!(&read, &expected);
            // An unquoted cell holds no separator, quote or line break.
            if !cell.starts_with('"') {
                proptest::prop_assert!(!cell.contains([',', '"', '\n', '\r']));
            }
        }
    }

    #[test]
    fn formula_cells_get_a_leading_quote() {
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("=HYPERLINK(\"a\",\"b\")"), "\"'=HYPERLINK(\"\"a\"\",\"\"b\"\")\"");
        assert_eq!(csv_cell("golden-ubuntu"), "golden-ubuntu");
        assert_eq!(csv_cell(""), "");
    }

    fn sample() -> Vec<StoreTask> {
        vec![
            StoreTask {
                ami_id: Some("ami-0123456789abcdef0".into()),
                start_time: Some(DateTime::parse_from_rfc3339("2026-11-28T11:51:46Z").unwrap().to_utc()),
                bucket: Some("my-bucket".into()),
                object_key: Some("ami-0123456789abcdef0.bin".into()),
                progress: Some(17),
                state: Some(TaskState::InProgress),
                failure_reason: None,
            },
            StoreTask {
                ami_id: Some("ami-12345678".into()),
                state: Some(TaskState::Other("Paused".into())),
                ..StoreTask::default()
            },
        ]
    }

    fn render(format: Format, tasks: &[StoreTask], token: Option<&str>, width: Option<usize>) -> String {
        let feed = FeedInfo::default();
        let rows: Vec<Row<'_>> = tasks.iter().map(|t| Row::new(&feed, t)).collect();
        let mut buf = Vec::new();
        write(&mut buf, format, &rows, token, width, Extra::default()).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_is_the_cli_shape_and_leaves_absent_fields_out() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json, &sample(), Some("tok"), None)).unwrap();
        let first = &v["StoreImageTaskResults"][0];
        assert_eq!(first["AmiId"], "ami-0123456789abcdef0");
        assert_eq!(first["TaskStartTime"], "2026-11-28T11:51:46+00:00");
        assert_eq!(first["S3objectKey"], "ami-0123456789abcdef0.bin");
        assert_eq!(first["ProgressPercentage"], 17);
        assert_eq!(first["StoreTaskState"], "InProgress");
        assert!(first.get("StoreTaskFailureReason").is_none());
        assert!(first.get("Region").is_none());
        let second = v["StoreImageTaskResults"][1].as_object().unwrap();
        assert_eq!(second.len(), 2, "only AmiId and the unknown state: {second:?}");
        assert_eq!(second["StoreTaskState"], "Paused");
        assert_eq!(v["NextToken"], "tok");
    }

    #[test]
    fn any_width_of_text_fits_the_table_writer() {
        let t = StoreTask {
            bucket: Some("b".repeat(70_000).into()),
            ami_id: Some("a".repeat(70_000).into()),
            ..StoreTask::default()
        };
        let out = render(Format::Table, std::slice::from_ref(&t), None, None);
        assert!(out.lines().nth(1).is_some_and(|l| l.len() > 140_000));
        assert!(render(Format::Table, &[t], None, Some(80)).lines().all(|l| width(l) <= 80 + 70_000));
    }

    #[test]
    fn another_year_shows_the_year() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc();
        assert_eq!(started(now, now), "11-28 12:00");
        assert_eq!(started(now - chrono::Duration::days(400), now), "2025-10-24 12:00");
    }

    #[test]
    fn json_escapes_control_characters_and_keeps_the_data() {
        let bucket = "b\u{1b}[31m\u{9b}2J\u{202e}é";
        let t = StoreTask { bucket: Some(bucket.into()), ..StoreTask::default() };
        let s = render(Format::Json, &[t], None, None);
        assert!(
            s.contains("\\u001b[31m") && s.contains("\\u009b2J") && s.contains("\\u202e") && s.contains('é'),
            "{s}"
        );
        assert!(!s.chars().any(|c| c != '\n' && crate::text::is_unsafe(c)), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["StoreImageTaskResults"][0]["Bucket"], bucket, "the same data to a parser");
    }

    #[test]
    fn csv_quotes_and_table_aligns_within_80_columns() {
        let mut tasks = sample();
        tasks[1].failure_reason = Some("it failed, \"badly\"\u{1b}".into());
        let csv = render(Format::Csv, &tasks, None, None);
        assert!(csv.starts_with("ami_id,task_start_time,"));
        assert!(csv.contains(",\"it failed, \"\"badly\"\"\\u{1b}\""), "{csv}");
        let table = render(Format::Table, &tasks, None, Some(80));
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines.iter().all(|l| width(l) <= 80), "{table}");
        let col = lines[0].find("STATE").unwrap();
        assert_eq!(&lines[1][col..col + 10], "InProgress");
        assert!(!table.contains('\u{1b}'));
        assert!(render(Format::Table, &[], None, None).contains("no store-image tasks"));
    }

    /// The table with names and several feeds, at `width` (a terminal) or piped (`None`).
    fn named_table(width: Option<usize>) -> (String, Vec<StoreTask>) {
        use crate::image::AmiInfo;
        let mut tasks = sample();
        tasks[1].failure_reason = Some("The S3 bucket is in a different Region than the AMI.".into());
        tasks[1].bucket = Some("golden-images-production-archive".into());
        let naming = Naming::Known(std::sync::Arc::new(AmiInfo {
            id: "ami-0123456789abcdef0".into(),
            name: Some("legacy-win2019-sql-standard-20260901".into()),
            ..AmiInfo::default()
        }));
        let feeds = [
            FeedInfo { profile: Some("production".into()), region: Some("us-east-1".into()), ..FeedInfo::default() },
            FeedInfo { profile: Some("dev".into()), region: Some("eu-west-1".into()), ..FeedInfo::default() },
        ];
        let rows: Vec<Row<'_>> =
            tasks.iter().zip(&feeds).map(|(t, f)| Row { feed: f, task: t, naming: Some(&naming) }).collect();
        let mut buf = Vec::new();
        write(&mut buf, Format::Table, &rows, None, width, Extra { feed: true, name: true }).unwrap();
        (String::from_utf8(buf).unwrap(), tasks)
    }

    #[test]
    fn on_a_terminal_the_table_with_names_and_feeds_fits_its_width() {
        for w in [60, 80, 100, 120] {
            let (table, tasks) = named_table(Some(w));
            assert!(table.lines().all(|l| width(l) <= w), "every row within {w} columns:\n{table}");
            for t in &tasks {
                let id = t.ami_id.as_deref().unwrap();
                assert!(table.lines().any(|l| l.starts_with(&format!("{id} "))), "{id} whole at {w}:\n{table}");
            }
            assert!(
                table.contains(" 17%") && table.contains("InProgress"),
                "state and progress whole at {w}:\n{table}"
            );
            // A value cut ends in an ellipsis: the bucket is whole, cut with `…`, or gone with its column.
            let header = table.lines().next().unwrap();
            if let Some(at) = header.find("BUCKET") {
                let at = header[..at].chars().count();
                let row: String = table.lines().nth(2).unwrap().chars().skip(at).collect();
                let cell = row.split("  ").next().unwrap().to_string();
                assert!(
                    cell == "golden-images-production-archive"
                        || (cell.ends_with('…')
                            && "golden-images-production-archive".starts_with(cell.trim_end_matches('…'))),
                    "bucket cell {cell:?} at {w}:\n{table}"
                );
            }
        }
        let (narrow, _) = named_table(Some(80));
        assert!(narrow.lines().next().unwrap().contains("NAME"), "a name column at 80:\n{narrow}");
        // Piped: every value whole, however wide the rows.
        let (piped, _) = named_table(None);
        for whole in [
            "legacy-win2019-sql-standard-20260901",
            "golden-images-production-archive",
            "The S3 bucket is in a different Region than the AMI.",
            "production · us-east-1",
        ] {
            assert!(piped.contains(whole), "{whole} piped:\n{piped}");
        }
        assert!(!piped.contains('…'), "{piped}");
    }
}
