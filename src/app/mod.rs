//! The dashboard's state and the one place it changes: [`App::handle`] for actions,
//! [`App::apply`] for poller events of any feed. No terminal here, so all of it is unit-tested.

pub mod action;
pub mod eta;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::layout::Rect;

pub use action::{Action, Mode};
pub use view::Tasks;
use view::{Filters, Index, SortKey, StateFilter, View};

use std::collections::HashMap;

use crate::ec2::{FeedInfo, PollEvent, Snapshot};
use crate::image::Naming;
use crate::task::{StoreTask, TaskKey};

/// What the event loop must do after an action: the side effects the app does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Refresh,
    /// Stop until the shell resumes the program.
    Suspend,
    /// Send `CreateStoreImageTask` once, as the user confirmed.
    Retry(RetryPlan),
    /// Put this text on the clipboard.
    Copy(String),
    /// Write these tasks (the current view), each with its feed and name, to a file.
    Export(crate::output::Format, Vec<(Arc<FeedInfo>, StoreTask, Option<Naming>)>),
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

/// A retry the user is asked to confirm, then the call the event loop makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPlan {
    pub feed: usize,
    pub ami: String,
    pub bucket: String,
    pub name: Option<String>,
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

/// Where the data stands, over every feed (derived from the feeds after each poller event).
#[derive(Debug, Clone, Default)]
pub struct PollStatus {
    /// Any feed is polling.
    pub polling: bool,
    /// The failing feeds, each named with its own error.
    pub failure: Option<PollFailure>,
    /// The shortest wait before a feed's next poll, as the pollers chose it.
    pub next_in: Option<Duration>,
    /// Some feed polls less often than asked because the service throttled it.
    pub slowed: bool,
    /// The oldest of the feeds' last good polls: how fresh the screen is at worst.
    pub fetched_at: Option<DateTime<Utc>>,
}

/// One feed's own state: its latest complete snapshot, its error, its progress history.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    pub info: Arc<FeedInfo>,
    pub snapshot: Option<Arc<Snapshot>>,
    pub failure: Option<PollFailure>,
    pub polling: bool,
    pub next_in: Option<Duration>,
    /// Its poller lengthened the interval: the service throttled it.
    pub slowed: bool,
    /// Progress samples of this feed's tasks in progress, taken at this feed's fetch times.
    pub history: eta::History,
    /// Per task of the snapshot, its estimate as of the snapshot's fetch (derived on apply).
    estimates: Vec<Option<eta::Estimate>>,
    /// What `DescribeImages` said of this feed's AMIs, by AMI ID.
    pub names: HashMap<String, Naming>,
}

impl FeedState {
    pub fn new(info: Arc<FeedInfo>) -> Self {
        Self { info, ..Self::default() }
    }

    pub fn tasks(&self) -> &[StoreTask] {
        self.snapshot.as_ref().map_or(&[], |s| &s.tasks)
    }
}

/// The whole dashboard state.
#[derive(Debug, Clone)]
pub struct App {
    /// Where the data comes from, for the header.
    pub source: String,
    /// The configured interval between polls, for the stale warning.
    pub interval: Duration,
    /// The clock the relative times are shown against (updated by the tick).
    pub now: DateTime<Utc>,
    /// Every feed, in the order given; rows of the view point into their snapshots.
    pub feeds: Vec<FeedState>,
    /// Per feed, the shortest name that tells it from the others (the feed column, the picker).
    pub feed_names: Vec<String>,
    /// Where each feed's tasks start in the flat numbering the view uses (one more entry
    /// than feeds: the last is the total).
    offsets: Vec<usize>,
    /// When every task in progress should be done, as of the last snapshots; `None` when any
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
    selected_key: Option<(usize, TaskKey)>,
    /// First visible row of the table.
    pub offset: usize,
    pub detail_open: bool,
    /// Selected entry of the picker (0 = all).
    pub picker: usize,
    pub poll: PollStatus,
    /// Where the table's rows are drawn, for clicks and paging (set by the event loop).
    pub table_body: Rect,
    pub color: bool,
    /// The user's UTC offset, for local times in the detail pane.
    pub local_offset: FixedOffset,
    pub notify: NotifyMode,
    /// Endings not yet announced by the event loop.
    pub alerts: Vec<Alert>,
    pub toast: Option<Toast>,
    /// Why names are not shown, once a feed found out (no `ec2:DescribeImages`).
    pub names_note: Option<String>,
    /// Whether `x` may export a failed task again (`--allow-retry`).
    pub allow_retry: bool,
    /// The retry waiting for confirmation.
    pub confirm: Option<RetryPlan>,
}

impl App {
    /// A dashboard over these feeds (at least one).
    pub fn new(feeds: Vec<Arc<FeedInfo>>, interval: Duration, now: DateTime<Utc>) -> Self {
        let feeds: Vec<FeedState> = match feeds.is_empty() {
            true => vec![FeedState::default()],
            false => feeds.into_iter().map(FeedState::new).collect(),
        };
        let source = match feeds.as_slice() {
            [one] => one.info.long_label(),
            many => {
                format!("{} feeds: {}", many.len(), many.iter().map(|f| f.info.label()).collect::<Vec<_>>().join(", "))
            }
        };
        let feed_names = FeedInfo::short_labels(&feeds.iter().map(|f| &*f.info).collect::<Vec<_>>());
        Self {
            source,
            interval,
            now,
            feed_names,
            offsets: vec![0; feeds.len() + 1],
            feeds,
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
            alerts: Vec::new(),
            toast: None,
            names_note: None,
            allow_retry: false,
            confirm: None,
        }
    }

    /// Every feed's tasks, numbered one after the other: what the view's rows point into.
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks::new(&self.feeds, &self.offsets)
    }

    /// Whether any feed has delivered a snapshot yet.
    pub fn has_data(&self) -> bool {
        self.feeds.iter().any(|f| f.snapshot.is_some())
    }

    /// The selected task's index into [`App::tasks`].
    pub fn selected_task(&self) -> Option<usize> {
        self.view.rows.get(self.selected).copied()
    }

    /// The feed that task `i` came from.
    pub fn feed_of(&self, i: usize) -> &FeedState {
        &self.feeds[self.tasks().locate(i).0]
    }

    /// The picker's entries: `None` for "all", then each bucket (or feed) and its count.
    pub fn picker_entries(&self) -> Vec<(Option<String>, usize)> {
        let all = self.filters.all_tasks;
        let items: Vec<(String, usize)> = match (self.mode == Mode::FeedPicker, all) {
            (true, true) => self.index.feeds_all.iter().map(|&(f, n)| (self.feed_names[f].clone(), n)).collect(),
            (true, false) => self.index.feeds.iter().map(|&(f, n)| (self.feed_names[f].clone(), n)).collect(),
            (false, true) => self.index.buckets_all.clone(),
            (false, false) => self.index.buckets.clone(),
        };
        let total = if all { self.tasks().len() } else { items.iter().map(|b| b.1).sum() };
        std::iter::once((None, total)).chain(items.into_iter().map(|(b, n)| (Some(b), n))).collect()
    }

    /// Whether several feeds are watched (a feed column and picker appear).
    pub fn multi_feed(&self) -> bool {
        self.feeds.len() > 1
    }

    /// Applies an event of feed `idx`'s poller. A failing feed keeps its last data and shows
    /// its own error, never hiding the others; a snapshot replaces only its own feed's.
    pub fn apply(&mut self, idx: usize, event: PollEvent) {
        let Some(feed) = self.feeds.get_mut(idx) else { return };
        match event {
            PollEvent::Polling => feed.polling = true,
            PollEvent::Snapshot { snapshot, next_in, slowed } => {
                feed.polling = false;
                feed.failure = None;
                feed.next_in = Some(next_in);
                feed.slowed = slowed;
                feed.history.record(&snapshot.tasks, snapshot.fetched_at);
                feed.estimates = snapshot.tasks.iter().map(|t| feed.history.estimate(t, snapshot.fetched_at)).collect();
                let before = feed.snapshot.replace(snapshot);
                if let Some(before) = before {
                    self.announce_endings(idx, &before.tasks);
                }
                self.rebuild();
            }
            PollEvent::Failed { error, at, retry_in, consecutive } => {
                // The last good snapshot stays: a failed poll never wipes data.
                feed.polling = false;
                let retry_at = at + chrono::Duration::from_std(retry_in).unwrap_or_default();
                feed.failure = Some(PollFailure { summary: error.summary(), at, retry_at, consecutive });
            }
            PollEvent::Names { found, missing } => {
                for info in found {
                    feed.names.insert(info.id.clone(), Naming::Known(info));
                }
                for id in missing {
                    feed.names.insert(id, Naming::Deregistered);
                }
                self.rebuild();
            }
            PollEvent::NamesUnavailable { why } => {
                // Said once: the tasks keep flowing, and nothing asks again.
                if self.names_note.is_none() {
                    self.show_toast(why.clone());
                }
                self.names_note = Some(why);
            }
        }
        self.aggregate();
    }

    /// What `DescribeImages` said of task `i`'s AMI, if it was asked.
    pub fn naming(&self, i: usize) -> Option<&Naming> {
        let tasks = self.tasks();
        let feed = &self.feeds[tasks.locate(i).0];
        feed.names.get(tasks[i].ami_id.as_deref()?)
    }

    /// Re-derives the flat numbering, the grouping and the estimates after a new snapshot.
    fn rebuild(&mut self) {
        let mut at = 0;
        for (n, f) in self.feeds.iter().enumerate() {
            self.offsets[n] = at;
            at += f.tasks().len();
        }
        self.offsets[self.feeds.len()] = at;
        self.index = Index::build(&self.tasks(), &self.feeds);
        self.all_done_at = all_done_at(&self.feeds);
        self.resort();
    }

    /// The header's view of every feed: polling, failures named per feed, freshness.
    fn aggregate(&mut self) {
        let feeds = &self.feeds;
        let named = feeds.len() > 1;
        let failing: Vec<(&FeedState, &PollFailure)> =
            feeds.iter().filter_map(|f| f.failure.as_ref().map(|p| (f, p))).collect();
        self.poll = PollStatus {
            polling: feeds.iter().any(|f| f.polling),
            failure: (!failing.is_empty()).then(|| PollFailure {
                summary: failing
                    .iter()
                    .map(|(f, p)| if named { format!("{}: {}", f.info.label(), p.summary) } else { p.summary.clone() })
                    .collect::<Vec<_>>()
                    .join("; "),
                at: failing.iter().map(|(_, p)| p.at).max().unwrap_or(self.now),
                retry_at: failing.iter().map(|(_, p)| p.retry_at).min().unwrap_or(self.now),
                consecutive: failing.iter().map(|(_, p)| p.consecutive).max().unwrap_or(1),
            }),
            next_in: feeds.iter().filter_map(|f| f.next_in).min(),
            slowed: feeds.iter().any(|f| f.slowed),
            fetched_at: feeds.iter().filter_map(|f| f.snapshot.as_ref().map(|s| s.fetched_at)).min(),
        };
    }

    /// The estimate for task `i`, as of its feed's last fetch.
    ///
    /// Estimates are made as of the snapshot, so the time left counts down between polls and
    /// agrees with [`App::all_done_at`].
    pub fn estimate(&self, i: usize) -> Option<eta::Estimate> {
        let (f, local) = self.tasks().locate(i);
        self.feeds[f].estimates.get(local).copied().flatten()
    }

    /// Time left for task `i` from now.
    pub fn time_left(&self, i: usize) -> Option<chrono::Duration> {
        let at = self.feed_of(i).snapshot.as_ref()?.fetched_at;
        let done = at + self.estimate(i)?.left;
        Some((done - self.now).max(chrono::Duration::zero()))
    }

    /// Whether the data is older than it should be (a failed poll, or polls that stopped).
    pub fn is_stale(&self) -> bool {
        match self.poll.fetched_at {
            None => false,
            Some(at) => {
                let allowed = self.poll.next_in.unwrap_or(self.interval).max(self.interval) * 3;
                self.poll.failure.is_some()
                    || (self.now - at).to_std().is_ok_and(|age| age > allowed + Duration::from_secs(5))
            }
        }
    }

    /// Queues an alert and a toast for every task of feed `idx` that was in progress before
    /// its new snapshot and has now ended.
    fn announce_endings(&mut self, idx: usize, before: &[StoreTask]) {
        let running: std::collections::HashSet<TaskKey> =
            before.iter().filter(|t| t.is_in_progress()).map(StoreTask::key).collect();
        if running.is_empty() {
            return;
        }
        let feed = &self.feeds[idx];
        let ended = feed.tasks().iter().filter(|t| t.state.as_ref().is_some_and(|s| s.is_final()));
        let mut news = Vec::new();
        for t in ended.filter(|t| running.contains(&t.key())) {
            let failed = t.state == Some(crate::task::TaskState::Failed);
            let mut ami = crate::text::safe(t.ami_id.as_deref().unwrap_or("a task")).into_owned();
            if let Some(name) = t.ami_id.as_ref().and_then(|a| feed.names.get(a)).and_then(Naming::name) {
                ami = format!("{ami} {}", crate::text::safe(name));
            }
            if self.feeds.len() > 1 {
                ami = format!("{ami} ({})", crate::text::safe(&feed.info.label()));
            }
            let text = match (&t.failure_reason, failed) {
                (Some(r), true) => format!("{ami} failed: {}", crate::text::safe(r)),
                (None, true) => format!("{ami} failed"),
                _ => format!(
                    "{ami} completed ({})",
                    t.s3_uri().map(|u| crate::text::safe(&u).into_owned()).unwrap_or_default()
                ),
            };
            news.push((text, failed));
        }
        for (text, failed) in news {
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
            Action::Suspend => return Some(Effect::Suspend),
            Action::Retry => match self.retry_plan() {
                Ok(plan) => {
                    self.confirm = Some(plan);
                    self.mode = Mode::ConfirmRetry;
                }
                Err(why) => self.show_toast(why),
            },
            Action::CopyUri => {
                let tasks = self.tasks();
                let uris = self.selected_task().map(|i| (tasks[i].valid_s3_uri(), tasks[i].s3_uri()));
                match uris {
                    Some((Some(u), _)) => {
                        self.show_toast(format!("copied {u}"));
                        return Some(Effect::Copy(u));
                    }
                    Some((None, Some(_))) => {
                        self.show_toast("not copied: the bucket or key holds characters no S3 URI has")
                    }
                    _ => self.show_toast("nothing to copy: no task selected, or its bucket or key is unknown"),
                }
            }
            Action::Export(format) => {
                let tasks = self.tasks();
                let rows = self
                    .view
                    .rows
                    .iter()
                    .map(|&i| (self.feed_of(i).info.clone(), tasks[i].clone(), self.naming(i).cloned()))
                    .collect();
                return Some(Effect::Export(format, rows));
            }
            Action::CycleNotify => {
                self.notify = self.notify.next();
                self.show_toast(format!("notifications: {}", self.notify.label()));
            }
            Action::SetState(s) => self.set_state(s),
            Action::CycleState => self.set_state(self.filters.state.next()),
            Action::OpenBucketPicker => self.open_picker(Mode::BucketPicker),
            Action::OpenFeedPicker if self.multi_feed() => self.open_picker(Mode::FeedPicker),
            Action::OpenFeedPicker => {
                self.show_toast("one feed is watched: pass --profile a,b, --region a,b or --all-regions")
            }
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
            Action::Confirm if self.mode == Mode::ConfirmRetry => {
                self.mode = Mode::Normal;
                if let Some(plan) = self.confirm.take() {
                    self.show_toast(format!("exporting {} again…", crate::text::safe(&plan.ami)));
                    return Some(Effect::Retry(plan));
                }
            }
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
        let active = match mode {
            Mode::FeedPicker => self.filters.feed.map(|f| self.feed_names[f].clone()),
            _ => self.filters.bucket.clone(),
        };
        let entries = self.picker_entries();
        self.picker = entries.iter().position(|(b, _)| *b == active).unwrap_or(0);
    }

    /// What `x` would send for the selected task, or why it cannot.
    pub fn retry_plan(&self) -> Result<RetryPlan, String> {
        if !self.allow_retry {
            return Err("retries are off: start amiwatch with --allow-retry to export a failed task's AMI again (it needs ec2:CreateStoreImageTask)".into());
        }
        let i = self.selected_task().ok_or("nothing selected to retry")?;
        let tasks = self.tasks();
        let t = &tasks[i];
        let ami = t.ami_id.clone().ok_or("cannot retry: the task has no AMI ID")?;
        let shown = crate::text::safe(&ami).into_owned();
        if t.state != Some(crate::task::TaskState::Failed) {
            let state =
                t.state.as_ref().map_or("of unknown state".into(), |s| crate::text::safe(s.label()).into_owned());
            return Err(format!("cannot retry {shown}: it is {state}, not failed"));
        }
        if self.index.earlier_attempts(&tasks, i).iter().any(|&j| tasks[j].start_time > t.start_time) {
            return Err(format!("cannot retry {shown}: a newer export of it exists (press a to see every attempt)"));
        }
        let bucket = t
            .bucket
            .clone()
            .filter(|b| crate::task::is_bucket_name(b))
            .ok_or("cannot retry: the task names no valid bucket")?;
        let name = self.naming(i).and_then(Naming::name).map(str::to_string);
        Ok(RetryPlan { feed: tasks.locate(i).0, ami, bucket, name })
    }

    /// The answer to a retry the event loop sent: said in a toast, never tried again.
    pub fn retry_done(&mut self, plan: &RetryPlan, result: Result<String, String>) {
        let ami = crate::text::safe(&plan.ami).into_owned();
        match result {
            Ok(key) => self.show_toast(format!(
                "export of {ami} started again: s3://{}/{}",
                crate::text::safe(&plan.bucket),
                crate::text::safe(&key)
            )),
            Err(why) => self.show_toast(crate::text::safe(&why).into_owned()),
        }
    }

    fn confirm(&mut self) {
        match self.mode {
            Mode::BucketPicker | Mode::FeedPicker => {
                let pick = self.picker_entries().get(self.picker).and_then(|(b, _)| b.clone());
                if self.mode == Mode::FeedPicker {
                    self.filters.feed = pick.and_then(|l| self.feed_names.iter().position(|f| *f == l));
                } else {
                    self.filters.bucket = pick;
                }
                self.mode = Mode::Normal;
                self.refilter();
            }
            Mode::Normal if !self.view.rows.is_empty() => self.detail_open = true,
            Mode::ConfirmRetry => self.mode = Mode::Normal,
            _ => {}
        }
    }

    fn back(&mut self) {
        match self.mode {
            Mode::BucketPicker | Mode::FeedPicker | Mode::Help => self.mode = Mode::Normal,
            Mode::ConfirmRetry => {
                self.confirm = None;
                self.mode = Mode::Normal;
                self.show_toast("retry cancelled: nothing was sent");
            }
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
        self.selected_key = self.selected_task().map(|i| self.key_of(i));
        self.scroll_into_view();
    }

    /// Task `i`'s identity across snapshots: its feed and its [`TaskKey`].
    fn key_of(&self, i: usize) -> (usize, TaskKey) {
        (self.tasks().locate(i).0, self.tasks()[i].key())
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
        self.sorted = view::sorted(&self.tasks(), &self.index, &self.filters);
        self.refilter();
    }

    /// Recomputes the visible rows, keeping the selection on the same task if it is still shown.
    fn refilter(&mut self) {
        self.view = view::filter(&self.tasks(), &self.index, &self.sorted, &self.filters);
        let tasks = self.tasks();
        let found = self.selected_key.as_ref().and_then(|(feed, key)| {
            self.view.rows.iter().position(|&i| tasks.locate(i).0 == *feed && tasks[i].has_key(key))
        });
        let row = found.unwrap_or(self.selected.min(self.view.rows.len().saturating_sub(1)));
        if self.view.rows.is_empty() {
            self.detail_open = false;
        }
        self.selected = row;
        if found.is_none() {
            self.selected_key = self.selected_task().map(|i| self.key_of(i));
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
            (SortKey::State, false) => "in progress, completed, failed",
            (SortKey::State, true) => "failed, completed, in progress",
            (_, false) => "A-Z",
            (_, true) => "Z-A",
        };
        format!("{} ({dir})", self.filters.sort.label())
    }
}

/// The moment the slowest task in progress, of every feed, should be done; `None` when any
/// task in progress has no estimate.
fn all_done_at(feeds: &[FeedState]) -> Option<DateTime<Utc>> {
    let mut latest: Option<DateTime<Utc>> = None;
    for f in feeds {
        let Some(s) = &f.snapshot else { continue };
        for (_, e) in s.tasks.iter().zip(&f.estimates).filter(|(t, _)| t.is_in_progress()) {
            let done = s.fetched_at + e.as_ref()?.left;
            latest = Some(latest.map_or(done, |l| l.max(done)));
        }
    }
    latest
}

#[cfg(test)]
mod tests;
