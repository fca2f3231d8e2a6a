//! The dashboard's `e` export and the CSV of `--once -o csv`, as a user would check them: the
//! file that appears, what it replaced (nothing), who may read it, and what a spreadsheet
//! makes of its cells.

use std::path::PathBuf;

use amiwatch::ec2::FeedInfo;
use amiwatch::output::{self, Format, Row};
use amiwatch::task::{StoreTask, TaskState};
use chrono::TimeZone;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("amiwatch-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn task(ami: &str, reason: &str) -> StoreTask {
    StoreTask {
        ami_id: Some(ami.into()),
        bucket: Some("my-bucket".into()),
        state: Some(TaskState::Failed),
        failure_reason: Some(reason.into()),
        ..StoreTask::default()
    }
}

fn at() -> chrono::DateTime<chrono::Local> {
    chrono::Local.with_ymd_and_hms(2026, 11, 29, 21, 25, 0).unwrap()
}

#[cfg(unix)]
#[test]
fn export_never_writes_through_a_planted_symlink() {
    let d = tempdir("symlink");
    let victim = d.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    for name in ["amiwatch-20261129-212500.csv", "amiwatch-20261129-212500.json"] {
        std::os::unix::fs::symlink(&victim, d.join(name)).unwrap();
    }
    let feed = FeedInfo::default();
    let t = task("ami-12345678", "boom");
    let rows = [Row::new(&feed, &t)];
    let p = output::export(&d, at(), Format::Csv, &rows).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(p, d.join("amiwatch-20261129-212500-2.csv"));
    assert!(std::fs::read_to_string(&p).unwrap().contains("ami-12345678"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn two_exports_in_one_second_give_two_files() {
    let d = tempdir("twice");
    let feed = FeedInfo::default();
    let (a, b) = (task("ami-11111111", "first"), task("ami-22222222", "second"));
    let p1 = output::export(&d, at(), Format::Json, &[Row::new(&feed, &a)]).unwrap();
    let p2 = output::export(&d, at(), Format::Json, &[Row::new(&feed, &b)]).unwrap();
    assert_ne!(p1, p2);
    assert!(std::fs::read_to_string(&p1).unwrap().contains("ami-11111111"));
    assert!(std::fs::read_to_string(&p2).unwrap().contains("ami-22222222"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(unix)]
#[test]
fn an_export_is_readable_by_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempdir("mode");
    let feed = FeedInfo::default();
    let t = task("ami-12345678", "boom");
    let p = output::export(&d, at(), Format::Csv, &[Row::new(&feed, &t)]).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::remove_dir_all(&d).unwrap();
}

/// The cells of a CSV line as a spreadsheet reads them (quotes undone).
fn cells(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let feed = FeedInfo { profile: Some("@prod".into()), ..FeedInfo::default() };
    let t = task("ami-12345678", "=HYPERLINK(\"http://evil\",\"click\")");
    let name = amiwatch::image::Naming::Known(std::sync::Arc::new(amiwatch::image::AmiInfo {
        id: "ami-12345678".into(),
        name: Some("+cmd|' /C calc'!A0".into()),
        ..Default::default()
    }));
    let rows = [Row { feed: &feed, task: &t, naming: Some(&name) }];
    let d = tempdir("formula");
    // The `e` export and `--once -o csv` share this writer.
    let p = output::export(&d, at(), Format::Csv, &rows).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let row = cells(text.lines().nth(1).unwrap());
    assert!(row.iter().all(|c| !c.starts_with(['=', '+', '-', '@', '\t', '\r'])), "{row:?}");
    assert!(row.contains(&"'=HYPERLINK(\"http://evil\",\"click\")".to_string()), "{row:?}");
    assert!(row.contains(&"'+cmd|' /C calc'!A0".to_string()), "{row:?}");
    assert!(row.contains(&"'@prod".to_string()), "{row:?}");
    // JSON keeps the exact data.
    let p = output::export(&d, at(), Format::Json, &rows).unwrap();
    assert!(std::fs::read_to_string(&p).unwrap().contains("\"=HYPERLINK("));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_disabled_amis_name_says_disabled_and_a_deregistered_one_says_so() {
    use amiwatch::image::{AmiInfo, Naming};
    let feed = FeedInfo::default();
    let t = task("ami-12345678", "boom");
    let info = |state: &str| AmiInfo {
        id: "ami-12345678".into(),
        name: Some("base-al2023-20261101".into()),
        state: Some(state.into()),
        ..AmiInfo::default()
    };
    let disabled = Naming::of(std::sync::Arc::new(info("disabled")));
    let gone = Naming::of(std::sync::Arc::new(info("deregistered")));
    let d = tempdir("disabled");
    let rows =
        [Row { feed: &feed, task: &t, naming: Some(&disabled) }, Row { feed: &feed, task: &t, naming: Some(&gone) }];
    let p = output::export(&d, at(), Format::Csv, &rows).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<Vec<String>> = text.lines().skip(1).map(cells).collect();
    assert!(lines[0].contains(&"base-al2023-20261101 (disabled)".to_string()), "{lines:?}");
    assert!(lines[1].contains(&"(deregistered)".to_string()), "{lines:?}");
    std::fs::remove_dir_all(&d).unwrap();
}
