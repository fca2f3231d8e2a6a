//! The dashboard's state and the one place it changes: [`App::handle`] for actions,
//! [`App::apply`] for poller events. No terminal here, so all of it is unit-tested.

pub mod action;
pub mod eta;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::layout::Rect;

pub use action::{Action, Mode};
use view::{Filters, Index, SortKey, StateFilter, View};

use crate::ec2::{PollEvent, Snapshot};
use crate::task::StoreTask;

/// What the event loop must do after an action: the side effects the app does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Refresh,
    /// Put this text on the clipboard.
    Copy(String),
    /// Write these tasks (the current view) to a file.
    Export(crate::output::Format, Vec<StoreTask>),
}

/// Which task endings ring the bell and raise a desktop notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NotifyMode {
    /// Only failures.
    #[default]
    Failures,
    /// Every task that completes or fails.
    All,
    /// Never.
    Off,
}

impl NotifyMode {
    pub fn next(self) -> Self {
        match self {
            Self::Failures => Self::All,
            Self::All => Self::Off,
            Self::Off => Self::Failures,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Failures => "failures",
            Self::All => "every end",
            Self::Off => "off",
        }
    }
}

/// A task that ended while watched: the event loop rings and notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub text: String,
    pub failed: bool,
}

/// A one-line message at the bottom of the screen, for a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub text: String,
    pub at: DateTime<Utc>,
}

/// How long a toast stays.
pub const TOAST_SECS: i64 = 8;

/// A failed poll, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    pub summary: String,
    pub at: DateTime<Utc>,
    pub retry_at: DateTime<Utc>,
    pub consecutive: u32,
}

/// Where the data stands.
#[derive(Debug, Clone, Default)]
pub struct PollStatus {
    pub polling: bool,
    pub failure: Option<PollFailure>,
    /// When the next poll is due after the last success.
    pub next_at: Option<DateTime<Utc>>,
    /// The wait before the next poll, as the poller chose it (interval or idle interval).
    pub next_in: Option<Duration>,
}

/// One region's own poller state, when several regions are watched.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub region: String,
    pub snapshot: Option<Arc<Snapshot>>,
    pub failure: Option<PollFailure>,
    pub polling: bool,
}

/// A task's identity across snapshots: its AMI and start time.
type TaskKey = (Option<String>, Option<DateTime<Utc>>);

fn key_of(t: &StoreTask) -> TaskKey {
    (t.ami_id.clone(), t.start_time)
}

/// The whole dashboard state.
#[derive(Debug, Clone)]
pub struct App {
    /// Where the data comes from ("demo · us-east-1 · http://...").
    pub source: String,
    /// The configured interval between polls, for the stale warning.
    pub interval: Duration,
    /// The clock the relative times are shown against (updated by the tick).
    pub now: DateTime<Utc>,
    pub snapshot: Option<Arc<Snapshot>>,
    /// Progress samples of tasks in progress, for speed and time left.
    pub history: eta::History,
    /// When every task in progress should be done, as of the last snapshot; `None` when any
    /// of them has no estimate.
    pub all_done_at: Option<DateTime<Utc>>,
    pub index: Index,
    sorted: Vec<usize>,
    pub view: View,
    pub filters: Filters,
    pub mode: Mode,
    /// The search text as typed (the filter holds it lowercased).
    pub search_input: String,
    /// Selected row of the view.
    pub selected: usize,
    selected_key: Option<TaskKey>,
    /// First visible row of the table.
    pub offset: usize,
    pub detail_open: bool,
    /// Selected entry of the bucket picker (0 = all buckets).
    pub picker: usize,
    pub poll: PollStatus,
    /// Where the table's rows are drawn, for clicks and paging (set by the event loop).
    pub table_body: Rect,
    pub color: bool,
    /// The user's UTC offset, for local times in the detail pane.
    pub local_offset: FixedOffset,
    pub notify: NotifyMode,
    /// Per region, when more than one is watched (empty for one region).
    pub feeds: Vec<Feed>,
    /// Endings not yet announced by the event loop.
    pub alerts: Vec<Alert>,
    pub toast: Option<Toast>,
}

impl App {
    pub fn new(source: impl Into<String>, interval: Duration, now: DateTime<Utc>) -> Self {
        Self {
            source: source.into(),
            interval,
            now,
            snapshot: None,
            history: eta::History::default(),
            all_done_at: None,
            index: Index::default(),
            sorted: Vec::new(),
            view: View::default(),
            filters: Filters::default(),
            mode: Mode::Normal,
            search_input: String::new(),
            selected: 0,
            selected_key: None,
            offset: 0,
            detail_open: false,
            picker: 0,
            poll: PollStatus::default(),
            table_body: Rect::default(),
            color: true,
            local_offset: chrono::Offset::fix(&Utc),
            notify: NotifyMode::default(),
            feeds: Vec::new(),
            alerts: Vec::new(),
            toast: None,
        }
    }

    /// The tasks of the current snapshot (empty before the first one).
    pub fn tasks(&self) -> &[StoreTask] {
        self.snapshot.as_ref().map_or(&[], |s| &s.tasks)
    }

    /// The selected task's index into [`App::tasks`].
    pub fn selected_task(&self) -> Option<usize> {
        self.view.rows.get(self.selected).copied()
    }

    /// The bucket picker's entries: `None` for "All buckets", then each bucket and its count.
    /// In the region picker, `None` for "All regions", then each region.
    pub fn picker_entries(&self) -> Vec<(Option<&str>, usize)> {
        let all = self.filters.all_tasks;
        let items = match (self.mode == Mode::RegionPicker, all) {
            (true, true) => &self.index.regions_all,
            (true, false) => &self.index.regions,
            (false, true) => &self.index.buckets_all,
            (false, false) => &self.index.buckets,
        };
        let total = if all { self.tasks().len() } else { items.iter().map(|b| b.1).sum() };
        std::iter::once((None, total)).chain(items.iter().map(|(b, n)| (Some(b.as_str()), *n))).collect()
    }

    /// Whether several regions are watched (a region column and picker appear).
    pub fn multi_region(&self) -> bool {
        self.feeds.len() > 1
    }

    /// Watches these regions, each with its own poller.
    pub fn with_regions(mut self, regions: &[String]) -> Self {
        self.feeds = regions.iter().map(|r| Feed { region: r.clone(), ..Feed::default() }).collect();
        self
    }

    /// Applies an event of region `idx`'s poller: the tasks of all regions are merged, and a
    /// failing region keeps its last data and shows its own error, never hiding the others.
    pub fn apply_from(&mut self, idx: usize, event: PollEvent) {
        let Some(feed) = self.feeds.get_mut(idx) else { return self.apply(event) };
        match event {
            PollEvent::Polling => {
                feed.polling = true;
                self.poll.polling = true;
            }
            PollEvent::Snapshot { snapshot, next_in } => {
                feed.snapshot = Some(snapshot);
                feed.failure = None;
                feed.polling = false;
                let parts: Vec<&Arc<Snapshot>> = self.feeds.iter().filter_map(|f| f.snapshot.as_ref()).collect();
                let merged = Snapshot {
                    tasks: parts.iter().flat_map(|s| s.tasks.iter().cloned()).collect(),
                    fetched_at: parts.iter().map(|s| s.fetched_at).min().unwrap_or(self.now),
                    took: parts.iter().map(|s| s.took).max().unwrap_or_default(),
                    requests: parts.iter().map(|s| s.requests).sum(),
                };
                self.apply(PollEvent::Snapshot { snapshot: Arc::new(merged), next_in });
            }
            PollEvent::Failed { error, at, retry_in, consecutive } => {
                let retry_at = at + chrono::Duration::from_std(retry_in).unwrap_or_default();
                feed.failure = Some(PollFailure { summary: error.summary(), at, retry_at, consecutive });
                feed.polling = false;
            }
        }
        self.poll.polling = self.feeds.iter().any(|f| f.polling);
        let failing: Vec<(&str, &PollFailure)> =
            self.feeds.iter().filter_map(|f| f.failure.as_ref().map(|p| (f.region.as_str(), p))).collect();
        self.poll.failure = (!failing.is_empty()).then(|| PollFailure {
            summary: failing.iter().map(|(r, p)| format!("{r}: {}", p.summary)).collect::<Vec<_>>().join("; "),
            at: failing.iter().map(|(_, p)| p.at).max().unwrap_or(self.now),
            retry_at: failing.iter().map(|(_, p)| p.retry_at).min().unwrap_or(self.now),
            consecutive: failing.iter().map(|(_, p)| p.consecutive).max().unwrap_or(1),
        });
    }

    /// The estimate for task `i` of the snapshot.
    ///
    /// Estimates are made as of the snapshot, so the time left counts down between polls and
    /// agrees with [`App::all_done_at`].
    pub fn estimate(&self, i: usize) -> Option<eta::Estimate> {
        let at = self.snapshot.as_ref()?.fetched_at;
        self.history.estimate(&self.tasks()[i], at)
    }

    /// Time left for task `i` from now.
    pub fn time_left(&self, i: usize) -> Option<chrono::Duration> {
        let at = self.snapshot.as_ref()?.fetched_at;
        let done = at + self.estimate(i)?.left;
        Some((done - self.now).max(chrono::Duration::zero()))
    }

    /// Whether the data is older than it should be (a failed poll, or polls that stopped).
    pub fn is_stale(&self) -> bool {
        match &self.snapshot {
            None => false,
            Some(s) => {
                let allowed = self.poll.next_in.unwrap_or(self.interval).max(self.interval) * 3;
                self.poll.failure.is_some()
                    || (self.now - s.fetched_at).to_std().is_ok_and(|age| age > allowed + Duration::from_secs(5))
            }
        }
    }

    /// Applies one poller event.
    pub fn apply(&mut self, event: PollEvent) {
        match event {
            PollEvent::Polling => self.poll.polling = true,
            PollEvent::Snapshot { snapshot, next_in } => {
                self.poll.polling = false;
                self.poll.failure = None;
                self.poll.next_in = Some(next_in);
                self.poll.next_at = chrono::Duration::from_std(next_in).ok().map(|d| snapshot.fetched_at + d);
                if let Some(prev) = self.snapshot.clone() {
                    self.announce_endings(&prev.tasks, &snapshot.tasks);
                }
                self.index = Index::build(&snapshot.tasks);
                self.history.record(&snapshot.tasks, snapshot.fetched_at);
                self.all_done_at = all_done_at(&self.history, &snapshot.tasks, snapshot.fetched_at);
                self.snapshot = Some(snapshot);
                self.resort();
            }
            PollEvent::Failed { error, at, retry_in, consecutive } => {
                // The last good snapshot stays: a failed poll never wipes data.
                self.poll.polling = false;
                let retry_at = at + chrono::Duration::from_std(retry_in).unwrap_or_default();
                self.poll.failure = Some(PollFailure { summary: error.summary(), at, retry_at, consecutive });
            }
        }
    }

    /// Queues an alert and a toast for every task that was in progress and has now ended.
    fn announce_endings(&mut self, before: &[StoreTask], after: &[StoreTask]) {
        let running: std::collections::HashSet<TaskKey> =
            before.iter().filter(|t| t.is_in_progress()).map(key_of).collect();
        if running.is_empty() {
            return;
        }
        for t in after.iter().filter(|t| t.state.as_ref().is_some_and(|s| s.is_final())) {
            if !running.contains(&key_of(t)) {
                continue;
            }
            let failed = t.state == Some(crate::task::TaskState::Failed);
            let ami = crate::text::safe(t.ami_id.as_deref().unwrap_or("a task")).into_owned();
            let text = match (&t.failure_reason, failed) {
                (Some(r), true) => format!("{ami} failed: {}", crate::text::safe(r)),
                (None, true) => format!("{ami} failed"),
                _ => format!(
                    "{ami} completed ({})",
                    t.s3_uri().map(|u| crate::text::safe(&u).into_owned()).unwrap_or_default()
                ),
            };
            self.toast = Some(Toast { text: text.clone(), at: self.now });
            let wanted = match self.notify {
                NotifyMode::Off => false,
                NotifyMode::Failures => failed,
                NotifyMode::All => true,
            };
            if wanted {
                self.alerts.push(Alert { text, failed });
            }
        }
    }

    /// Shows a one-line message for a few seconds.
    pub fn show_toast(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast { text: text.into(), at: self.now });
    }

    /// The toast to show now, if one is fresh.
    pub fn current_toast(&self) -> Option<&str> {
        self.toast.as_ref().filter(|t| (self.now - t.at).num_seconds() < TOAST_SECS).map(|t| t.text.as_str())
    }

    /// Applies one action; returns what the event loop must do, if anything.
    pub fn handle(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Refresh => return Some(Effect::Refresh),
            Action::CopyUri => {
                let uri = self.selected_task().and_then(|i| self.tasks()[i].s3_uri());
                match uri {
                    Some(u) => {
                        self.show_toast(format!("copied {}", crate::text::safe(&u)));
                        return Some(Effect::Copy(u));
                    }
                    None => self.show_toast("nothing to copy: no task selected, or its bucket or key is unknown"),
                }
            }
            Action::Export(format) => {
                let tasks: Vec<StoreTask> = self.view.rows.iter().map(|&i| self.tasks()[i].clone()).collect();
                return Some(Effect::Export(format, tasks));
            }
            Action::CycleNotify => {
                self.notify = self.notify.next();
                self.show_toast(format!("notifications: {}", self.notify.label()));
            }
            Action::SetState(s) => self.set_state(s),
            Action::CycleState => self.set_state(self.filters.state.next()),
            Action::OpenBucketPicker => self.open_picker(Mode::BucketPicker),
            Action::OpenRegionPicker if self.multi_region() => self.open_picker(Mode::RegionPicker),
            Action::OpenRegionPicker => self.show_toast("one region is watched: pass --region a,b or --all-regions"),
            Action::StartSearch => self.mode = Mode::Search,
            Action::SearchInput(c) => self.edit_search(|s| s.push(c)),
            Action::SearchBackspace => self.edit_search(|s| {
                s.pop();
            }),
            Action::SearchKeep => self.mode = Mode::Normal,
            Action::SearchClear => {
                self.edit_search(String::clear);
                self.mode = Mode::Normal;
            }
            Action::CycleSort => {
                self.filters.sort = self.filters.sort.next();
                self.filters.reverse = false;
                self.resort();
            }
            Action::ReverseSort => {
                self.filters.reverse = !self.filters.reverse;
                self.resort();
            }
            Action::ToggleAllTasks => {
                self.filters.all_tasks = !self.filters.all_tasks;
                self.resort();
            }
            Action::Move(n) => self.move_by(n),
            Action::PageDown => self.move_by(self.page() as i64),
            Action::PageUp => self.move_by(-(self.page() as i64)),
            Action::Top => self.move_by(i64::MIN / 2),
            Action::Bottom => self.move_by(i64::MAX / 2),
            Action::Confirm => self.confirm(),
            Action::Back => self.back(),
            Action::ToggleHelp => self.mode = if self.mode == Mode::Help { Mode::Normal } else { Mode::Help },
            Action::Click(y) => self.click(y),
        }
        None
    }

    fn page(&self) -> usize {
        usize::from(self.table_body.height).max(1)
    }

    fn set_state(&mut self, s: StateFilter) {
        self.filters.state = s;
        self.refilter();
    }

    fn edit_search(&mut self, f: impl FnOnce(&mut String)) {
        f(&mut self.search_input);
        self.filters.search = self.search_input.to_lowercase();
        self.refilter();
    }

    fn open_picker(&mut self, mode: Mode) {
        self.mode = mode;
        let active = if mode == Mode::RegionPicker { &self.filters.region } else { &self.filters.bucket };
        let entries = self.picker_entries();
        self.picker = entries.iter().position(|(b, _)| *b == active.as_deref()).unwrap_or(0);
    }

    fn confirm(&mut self) {
        match self.mode {
            Mode::BucketPicker | Mode::RegionPicker => {
                let pick = self.picker_entries().get(self.picker).and_then(|(b, _)| b.map(str::to_string));
                if self.mode == Mode::RegionPicker {
                    self.filters.region = pick;
                } else {
                    self.filters.bucket = pick;
                }
                self.mode = Mode::Normal;
                self.refilter();
            }
            Mode::Normal if !self.view.rows.is_empty() => self.detail_open = true,
            _ => {}
        }
    }

    fn back(&mut self) {
        match self.mode {
            Mode::BucketPicker | Mode::RegionPicker | Mode::Help => self.mode = Mode::Normal,
            Mode::Search => self.mode = Mode::Normal,
            Mode::Normal => self.detail_open = false,
        }
    }

    fn move_by(&mut self, n: i64) {
        if self.mode.is_picker() {
            let last = self.picker_entries().len().saturating_sub(1) as i64;
            self.picker = (self.picker as i64).saturating_add(n).clamp(0, last) as usize;
            return;
        }
        let last = self.view.rows.len().saturating_sub(1) as i64;
        self.select((self.selected as i64).saturating_add(n).clamp(0, last.max(0)) as usize);
    }

    fn click(&mut self, y: u16) {
        let body = self.table_body;
        if self.mode != Mode::Normal || y < body.y || y >= body.y + body.height {
            return;
        }
        let row = self.offset + usize::from(y - body.y);
        if row < self.view.rows.len() {
            self.select(row);
        }
    }

    fn select(&mut self, row: usize) {
        self.selected = row;
        self.selected_key = self.selected_task().map(|i| key_of(&self.tasks()[i]));
        self.scroll_into_view();
    }

    /// Keeps the selected row inside the visible part of the table.
    pub fn scroll_into_view(&mut self) {
        let h = self.page();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        let max_offset = self.view.rows.len().saturating_sub(h);
        self.offset = self.offset.min(max_offset);
    }

    /// Sets where the table body is drawn (after a resize or a layout change).
    pub fn set_table_body(&mut self, body: Rect) {
        if self.table_body != body {
            self.table_body = body;
            self.scroll_into_view();
        }
    }

    fn resort(&mut self) {
        self.sorted = view::sorted(self.tasks(), &self.index, &self.filters);
        self.refilter();
    }

    /// Recomputes the visible rows, keeping the selection on the same task if it is still shown.
    fn refilter(&mut self) {
        self.view = view::filter(self.tasks(), &self.index, &self.sorted, &self.filters);
        let tasks = self.tasks();
        let found =
            self.selected_key.as_ref().and_then(|k| self.view.rows.iter().position(|&i| key_of(&tasks[i]) == *k));
        let row = found.unwrap_or(self.selected.min(self.view.rows.len().saturating_sub(1)));
        if self.view.rows.is_empty() {
            self.detail_open = false;
        }
        self.selected = row;
        if found.is_none() {
            self.selected_key = self.selected_task().map(|i| key_of(&self.tasks()[i]));
        }
        self.scroll_into_view();
    }

    /// Sets the starting filters from the command line.
    pub fn with_filters(mut self, state: StateFilter, bucket: Option<String>) -> Self {
        self.filters.state = state;
        self.filters.bucket = bucket;
        self
    }

    /// The active sort, for the footer.
    pub fn sort_label(&self) -> String {
        let dir = match (self.filters.sort, self.filters.reverse) {
            (SortKey::Started, false) => "newest first",
            (SortKey::Started, true) => "oldest first",
            (SortKey::Progress, false) => "lowest first",
            (SortKey::Progress, true) => "highest first",
            (_, false) => "A-Z",
            (_, true) => "Z-A",
        };
        format!("{} ({dir})", self.filters.sort.label())
    }
}

/// The moment the slowest task in progress should be done.
fn all_done_at(history: &eta::History, tasks: &[StoreTask], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut longest = None;
    for t in tasks.iter().filter(|t| t.is_in_progress()) {
        let left = history.estimate(t, at)?.left;
        longest = Some(longest.map_or(left, |l: chrono::Duration| l.max(left)));
    }
    longest.map(|l| at + l)
}

#[cfg(test)]
mod tests;
