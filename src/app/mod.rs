//! The dashboard's state and the one place it changes: [`App::handle`] for actions,
//! [`App::apply_feed`] for feed events of any feed, [`App::sync`] to bring the view up to date
//! before a frame. No terminal here, so all of it is unit-tested.

pub mod action;
pub mod feed;
pub mod feeds;
pub mod view;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;

pub use action::{Action, Mode};
pub use feed::{Deriver, FeedData, FeedEvent, Polled};
pub use view::RowRef;
use view::{Filters, Part, SortKey, StateFilter, View};

use crate::ec2::{FeedInfo, PollEvent};
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
    /// The answer to something the user did (a copy, an export): news of tasks that ended
    /// does not cover it while it is fresh.
    pub answers_user: bool,
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
    /// How many feeds are failing.
    pub failing: usize,
    /// The shortest wait before a feed's next poll, as the pollers chose it.
    pub next_in: Option<Duration>,
    /// Some feed polls less often than asked because the service throttled it.
    pub slowed: bool,
    /// The oldest of the feeds' last good polls: how fresh the screen is at worst.
    pub fetched_at: Option<DateTime<Utc>>,
}

/// One feed's own state: its latest data, its error, how it polls.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    pub info: Arc<FeedInfo>,
    /// The latest complete snapshot and what is derived from it.
    pub data: Option<Arc<FeedData>>,
    pub failure: Option<PollFailure>,
    pub polling: bool,
    pub next_in: Option<Duration>,
    /// Its poller lengthened the interval: the service throttled it.
    pub slowed: bool,
    /// The requests of its polls in the last minute, with their times.
    calls: VecDeque<(DateTime<Utc>, u32)>,
    /// Names this feed could not get yet (a lookup failed; asked again later), and why.
    pub names_gap: Option<crate::ec2::poller::NamesGap>,
}

impl FeedState {
    pub fn new(info: Arc<FeedInfo>) -> Self {
        Self { info, ..Self::default() }
    }

    pub fn tasks(&self) -> &crate::task::Tasks {
        static NONE: crate::task::Tasks = crate::task::Tasks::new();
        self.data.as_ref().map_or(&NONE, |d| d.tasks())
    }

    /// When its last good poll was answered.
    pub fn fetched_at(&self) -> Option<DateTime<Utc>> {
        self.data.as_ref().map(|d| d.snapshot.fetched_at)
    }

    /// Requests its polls made in the minute before `now`.
    pub fn calls_a_minute(&self, now: DateTime<Utc>) -> u32 {
        self.calls.iter().filter(|(at, _)| now - *at <= chrono::Duration::minutes(1)).map(|(_, n)| n).sum()
    }

    fn count_calls(&mut self, at: DateTime<Utc>, n: u32) {
        while self.calls.front().is_some_and(|(t, _)| at - *t > chrono::Duration::minutes(1)) {
            self.calls.pop_front();
        }
        // Bounded whatever the clock does: one entry a poll, and polls are seconds apart.
        if self.calls.len() >= 600 {
            self.calls.pop_front();
        }
        self.calls.push_back((at, n));
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
    /// Every feed, in the order given; rows of the view point into their data.
    pub feeds: Vec<FeedState>,
    /// Per feed, what tells it from the others (the feed column, the feeds pane).
    pub feed_names: Vec<feeds::FeedName>,
    /// Per feed, its share of the view.
    parts: Vec<Part>,
    /// Feeds whose data changed since the view was merged.
    changed: Vec<bool>,
    /// Every row the filters but the state filter keep, in the view's order.
    merged: Vec<RowRef>,
    /// The filters (but the state) `merged` was made for (`None`: never merged).
    merged_for: Option<Filters>,
    /// The state filter the view's rows were taken for.
    view_state: Option<StateFilter>,
    /// A feed's status changed since the header's summary of them was made.
    status_changed: bool,
    /// Derives feed events from poller events when the app is fed inline ([`App::apply`]).
    derivers: Vec<Deriver>,
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
    /// The feeds pane: its order and search.
    pub feeds_pane: feeds::Pane,
    pub poll: PollStatus,
    /// Where the table's rows are drawn, for clicks and paging (set by the event loop).
    pub table_body: Rect,
    pub color: bool,
    pub notify: NotifyMode,
    /// Endings not yet announced by the event loop.
    pub alerts: Vec<Alert>,
    pub toast: Option<Toast>,
    /// Why names are not shown, once a feed found out (no `ec2:DescribeImages`).
    pub names_note: Option<String>,
    /// Whether `x` may export a failed task again (`--allow-retry`).
    pub allow_retry: bool,
    /// The account's store quota in GB (`--store-quota`), per feed.
    pub store_quota: u64,
    /// The retry waiting for confirmation.
    pub confirm: Option<RetryPlan>,
    /// `amiwatch export`'s plan: its line in the header.
    pub plan: Option<crate::export::source::PlanStatus>,
}

/// The store quota in the current EC2 guide, GB.
pub const DEFAULT_STORE_QUOTA: u64 = 600;

impl App {
    /// Sets the store quota: the header's measure, and what the plan of queued tasks assumes.
    pub fn set_store_quota(&mut self, gb: u64) {
        self.store_quota = gb;
        self.derivers.iter_mut().for_each(|d| d.quota_gb = Some(gb));
    }

    /// What the fullest feed holds of its store quota (the header's figure): the feed and
    /// its AMIs in flight. `None` before any data.
    pub fn fullest_feed(&self) -> Option<(usize, feed::InFlight)> {
        let with_data = self.feeds.iter().enumerate().filter_map(|(n, f)| f.data.as_ref()?.in_flight.map(|i| (n, i)));
        // The most GB, then the most unknown, then the first given.
        with_data.min_by_key(|(n, i)| (std::cmp::Reverse((i.gb, i.unknown)), *n))
    }

    /// The header's text for the store quota: `340+ of 600 GB in flight`, with the fullest
    /// feed named when there are several; whether that feed is full.
    pub fn in_flight_header(&self) -> Option<(String, bool)> {
        let (text, fullest, full) = self.in_flight_parts()?;
        let text = match fullest {
            Some(name) => format!("{text} (fullest: {name})"),
            None => text,
        };
        Some((text, full))
    }

    /// The parts of [`App::in_flight_header`]: the figure, the fullest feed's name when there
    /// are several feeds (the header leaves it out when the room is short), whether it is full.
    pub fn in_flight_parts(&self) -> Option<(String, Option<String>, bool)> {
        // An export plan's line has the figure, with everyone's exports (the rows are the plan's).
        if self.plan.is_some() {
            return None;
        }
        let (n, i) = self.fullest_feed()?;
        let name = self.multi_feed().then(|| self.feed_names[n].fit(24));
        Some((i.text(self.store_quota), name, i.is_full(self.store_quota)))
    }

    /// A dashboard over these feeds (at least one).
    pub fn new(feeds: Vec<Arc<FeedInfo>>, interval: Duration, now: DateTime<Utc>) -> Self {
        let feeds: Vec<FeedState> = match feeds.is_empty() {
            true => vec![FeedState::default()],
            false => feeds.into_iter().map(FeedState::new).collect(),
        };
        let infos: Vec<&FeedInfo> = feeds.iter().map(|f| &*f.info).collect();
        let source = feeds::source(&infos);
        let feed_names = feeds::FeedName::for_feeds(&infos);
        let n = feeds.len();
        Self {
            source,
            interval,
            now,
            feed_names,
            parts: vec![Part::default(); n],
            changed: vec![false; n],
            merged: Vec::new(),
            merged_for: None,
            view_state: None,
            status_changed: false,
            derivers: (0..n).map(|_| Deriver::with_quota(DEFAULT_STORE_QUOTA)).collect(),
            feeds,
            view: View::default(),
            filters: Filters::default(),
            mode: Mode::Normal,
            search_input: String::new(),
            selected: 0,
            selected_key: None,
            offset: 0,
            detail_open: false,
            picker: 0,
            feeds_pane: feeds::Pane::default(),
            poll: PollStatus::default(),
            table_body: Rect::default(),
            color: true,
            notify: NotifyMode::default(),
            store_quota: DEFAULT_STORE_QUOTA,
            alerts: Vec::new(),
            toast: None,
            names_note: None,
            allow_retry: false,
            confirm: None,
            plan: None,
        }
    }

    /// The export plan's runner took a step: its line, and what it did as a toast (what the
    /// user just did keeps its answer on screen).
    pub fn set_plan(&mut self, status: crate::export::source::PlanStatus) {
        let answering = self.current_toast().is_some() && self.toast.as_ref().is_some_and(|t| t.answers_user);
        if let Some(news) = status.news.last().filter(|_| !answering) {
            self.toast = Some(Toast { text: news.clone(), at: self.now, answers_user: false });
        }
        if status.done && !self.plan.as_ref().is_some_and(|p| p.done) {
            self.alerts.push(Alert { text: format!("amiwatch export: {}", status.line), failed: false });
        }
        self.plan = Some(status);
    }

    /// Task `r` of the view.
    pub fn task(&self, r: RowRef) -> &StoreTask {
        &self.feeds[r.feed()].tasks()[r.task as usize]
    }

    /// The data of task `r`'s feed.
    pub fn data(&self, r: RowRef) -> &FeedData {
        self.feeds[r.feed()].data.as_deref().expect("a row points into data its feed has")
    }

    /// Every task of every feed.
    pub fn task_count(&self) -> usize {
        self.feeds.iter().map(|f| f.tasks().len()).sum()
    }

    /// Whether any feed has delivered a snapshot yet.
    pub fn has_data(&self) -> bool {
        self.feeds.iter().any(|f| f.data.is_some())
    }

    /// The selected row's task.
    pub fn selected_task(&self) -> Option<RowRef> {
        self.view.rows.get(self.selected).copied()
    }

    /// The feed that task `r` came from.
    pub fn feed_of(&self, r: RowRef) -> &FeedState {
        &self.feeds[r.feed()]
    }

    /// The other tasks of task `r`'s AMI in its feed, newest first.
    pub fn earlier_attempts(&self, r: RowRef) -> Vec<RowRef> {
        self.data(r).attempts(r.task).iter().filter(|&&j| j != r.task).map(|&j| RowRef { task: j, ..r }).collect()
    }

    /// How many tasks task `r`'s AMI has.
    pub fn attempt_count(&self, r: RowRef) -> usize {
        self.data(r).attempts(r.task).len().max(1)
    }

    /// The longest AMI name and bucket of any feed, in cells.
    pub fn longest_name_and_bucket(&self) -> (usize, usize) {
        let d = self.feeds.iter().filter_map(|f| f.data.as_deref());
        d.fold((0, 0), |(n, b), d| (n.max(d.longest_name), b.max(d.longest_bucket())))
    }

    /// The picker's entries: `None` for "all", then each bucket and its count (of the feed
    /// the feed filter picks, or of every feed).
    pub fn picker_entries(&self) -> Vec<(Option<String>, usize)> {
        let all = self.filters.all_tasks;
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        let shown = |n: &usize| self.filters.feed.is_none_or(|f| f == *n);
        let feeds = self.feeds.iter().enumerate().filter(|(n, _)| shown(n));
        let total = if all { feeds.clone().map(|(_, f)| f.tasks().len()).sum() } else { 0 };
        for d in feeds.filter_map(|(_, f)| f.data.as_deref()) {
            for (b, n) in d.buckets(all) {
                *counts.entry(b).or_default() += n;
            }
        }
        let total = if all { total } else { counts.values().sum() };
        std::iter::once((None, total)).chain(counts.into_iter().map(|(b, n)| (Some(b.to_string()), n))).collect()
    }

    /// Whether several feeds are watched (a feed column and the feeds pane appear).
    pub fn multi_feed(&self) -> bool {
        self.feeds.len() > 1
    }

    /// Applies a poller event of feed `idx`, deriving inline, and brings the view up to date:
    /// for tests, benches and tools. The dashboard derives on a worker and calls
    /// [`App::apply_feed`], then [`App::sync`] once per batch.
    pub fn apply(&mut self, idx: usize, event: PollEvent) {
        let Some(d) = self.derivers.get_mut(idx) else { return };
        if let Some(e) = d.apply(event) {
            self.apply_feed(idx, e);
        }
        self.sync();
    }

    /// Applies a derived event of feed `idx`. A failing feed keeps its last data and shows
    /// its own error, never hiding the others; new data replaces only its own feed's. The view
    /// follows at the next [`App::sync`].
    pub fn apply_feed(&mut self, idx: usize, event: FeedEvent) {
        let Some(feed) = self.feeds.get_mut(idx) else { return };
        match event {
            FeedEvent::Data { data, polled, ended } => {
                if let Some(p) = polled {
                    feed.polling = false;
                    feed.failure = None;
                    feed.next_in = Some(p.next_in);
                    feed.slowed = p.slowed;
                    feed.count_calls(data.snapshot.fetched_at, p.requests);
                }
                feed.data = Some(data);
                self.changed[idx] = true;
                if !ended.is_empty() {
                    self.announce_endings(idx, &ended);
                }
            }
            FeedEvent::Status(PollEvent::Polling) => feed.polling = true,
            FeedEvent::Status(PollEvent::Failed { error, at, retry_in, consecutive }) => {
                // The last good data stays: a failed poll never wipes data.
                feed.polling = false;
                let retry_at = at + chrono::Duration::from_std(retry_in).unwrap_or_default();
                feed.failure = Some(PollFailure { summary: error.summary(), at, retry_at, consecutive });
            }
            FeedEvent::Status(PollEvent::NamesUnavailable { why }) => {
                // Said once: the tasks keep flowing, and nothing asks again.
                let why = match self.feeds.len() {
                    1 => why,
                    _ => format!("{}: {why}", self.feed_names[idx].full),
                };
                if self.names_note.is_none() {
                    self.show_toast(why.clone());
                }
                self.names_note = Some(why);
            }
            FeedEvent::Status(PollEvent::NamesIncomplete { gap }) => feed.names_gap = gap,
            // Snapshots and names arrive derived, as data.
            FeedEvent::Status(PollEvent::Snapshot { .. } | PollEvent::Names { .. }) => {}
        }
        self.status_changed = true;
    }

    /// Why some names are missing, for the header: the AMIs of every feed still without an
    /// answer, the last cause, and when they are asked again. `None` when names are complete.
    pub fn names_gap_note(&self) -> Option<String> {
        let gaps: Vec<&crate::ec2::poller::NamesGap> = self.feeds.iter().filter_map(|f| f.names_gap.as_ref()).collect();
        let last = gaps.iter().max_by_key(|g| g.at)?;
        let amis: usize = gaps.iter().map(|g| g.amis).sum();
        let retry_at = last.at + chrono::Duration::from_std(last.retry_in).unwrap_or_default();
        let left = (retry_at - self.now).num_seconds().max(0);
        let when = if left > 0 {
            format!("asked again in {}", crate::text::duration_short(left))
        } else {
            "asked again at the next poll".into()
        };
        Some(format!("names incomplete: {amis} AMIs without a name yet ({}); {when}", last.why))
    }

    /// What `DescribeImages` said of task `r`'s AMI, if it was asked.
    pub fn naming(&self, r: RowRef) -> Option<&Naming> {
        self.data(r).naming(r.task)
    }

    /// Brings the view up to date: the parts of feeds whose data changed, or every part when
    /// the filters changed, then one merge; a state tab alone filters the merged rows. Called
    /// before a frame, not per event.
    pub fn sync(&mut self) {
        if std::mem::take(&mut self.status_changed) {
            self.aggregate();
        }
        let shape = self.filters.every_state();
        let full = self.merged_for.as_ref() != Some(&shape);
        let changed = self.changed.contains(&true);
        let state = self.filters.state;
        if !full && !changed && self.view_state == Some(state) {
            return;
        }
        // Feeds whose rows stay what they were (a fast poll moved percentages) are counted
        // again and merged into nothing: the merged rows already hold them.
        let mut states_changed = false;
        if !full && changed {
            for (n, feed) in self.feeds.iter().enumerate() {
                let Some(data) = feed.data.as_ref().filter(|_| self.changed[n]) else { continue };
                if let Some(s) = self.parts[n].refresh(n, data, &shape) {
                    states_changed |= s;
                    self.changed[n] = false;
                }
            }
        }
        let merge = full || self.changed.contains(&true);
        if merge {
            self.merge(&shape, full);
        }
        let refilter = merge || self.view_state != Some(state) || (states_changed && state != StateFilter::All);
        if refilter {
            self.view.rows = match state {
                StateFilter::All => self.merged.clone(),
                _ => self.merged.iter().copied().filter(|&r| state.matches(self.task(r))).collect(),
            };
        }
        (self.view.counts, self.view.all_done_at) = View::total(&self.parts);
        self.view_state = Some(state);
        self.reselect();
    }

    /// Makes the parts again where needed and merges them into the rows of every state.
    fn merge(&mut self, shape: &Filters, full: bool) {
        let mut runs = Vec::new();
        for (n, feed) in self.feeds.iter().enumerate() {
            if !(full || self.changed[n]) {
                continue;
            }
            let Some(data) = &feed.data else { continue };
            if !self.parts[n].is_for(data, shape) {
                self.parts[n] = Part::make(n, data, shape, &self.feed_names[n].full);
            }
            runs.push(self.parts[n].rows.iter().map(|&t| RowRef::new(n, t)).collect());
        }
        let feeds = &self.feeds;
        let cmp = |a: RowRef, b: RowRef| {
            let da = feeds[a.feed()].data.as_deref().expect("a part is made only of a feed with data");
            let db = feeds[b.feed()].data.as_deref().expect("a part is made only of a feed with data");
            view::compare(shape, (da, a), (db, b))
        };
        let fresh = view::merge_runs(runs, &cmp);
        self.merged = match full {
            true => fresh,
            false => {
                let mut rest = std::mem::take(&mut self.merged);
                rest.retain(|r| !self.changed[r.feed()]);
                view::merge_two(rest, fresh, &cmp)
            }
        };
        self.changed.iter_mut().for_each(|c| *c = false);
        self.merged_for = Some(shape.clone());
    }

    /// The header's view of every feed: polling, failures named per feed, freshness.
    fn aggregate(&mut self) {
        let feeds = &self.feeds;
        let named = feeds.len() > 1;
        let failing: Vec<(usize, &PollFailure)> =
            feeds.iter().enumerate().filter_map(|(n, f)| f.failure.as_ref().map(|p| (n, p))).collect();
        self.poll = PollStatus {
            polling: feeds.iter().any(|f| f.polling),
            failure: (!failing.is_empty()).then(|| PollFailure {
                summary: failing
                    .iter()
                    .map(|(n, p)| match named {
                        true => format!("{}: {}", self.feed_names[*n].full, p.summary),
                        false => p.summary.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                at: failing.iter().map(|(_, p)| p.at).max().unwrap_or(self.now),
                retry_at: failing.iter().map(|(_, p)| p.retry_at).min().unwrap_or(self.now),
                consecutive: failing.iter().map(|(_, p)| p.consecutive).max().unwrap_or(1),
            }),
            failing: failing.len(),
            next_in: feeds.iter().filter_map(|f| f.next_in).min(),
            slowed: feeds.iter().any(|f| f.slowed),
            fetched_at: feeds.iter().filter_map(FeedState::fetched_at).min(),
        };
    }

    /// The estimate for task `r`, as of its feed's last fetch.
    ///
    /// Estimates are made as of the snapshot, so the time left counts down between polls and
    /// agrees with the view's `all_done_at`.
    pub fn estimate(&self, r: RowRef) -> Option<crate::eta::Estimate> {
        self.data(r).estimate(r.task)
    }

    /// How long until task `r`, waiting at 0% in the service's queue, should start moving,
    /// from now (the plan from sizes and the feed's throughput, made as of its feed's last
    /// fetch); `None` for a task that moves now or that no plan holds.
    pub fn starts_in(&self, r: RowRef) -> Option<chrono::Duration> {
        let data = self.data(r);
        let p = data.task_plan(r.task).filter(|_| data.plan.basis.is_some())?;
        let at = data.snapshot.fetched_at + chrono::Duration::seconds((p.starts_in_min * 60.0) as i64);
        Some(at - self.now).filter(|d| d.num_seconds() > 0)
    }

    /// Whether a feed's plan has a task waiting in the service's queue.
    pub fn any_queued(&self) -> bool {
        self.feeds.iter().any(|f| f.data.as_ref().is_some_and(|d| d.plan.queued > 0))
    }

    /// Time left for task `r` from now.
    pub fn time_left(&self, r: RowRef) -> Option<chrono::Duration> {
        let done = self.data(r).done_at(r.task)?;
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

    /// Queues an alert and a toast for each task of feed `idx` that has just ended.
    fn announce_endings(&mut self, idx: usize, ended: &[u32]) {
        let feed = &self.feeds[idx];
        let Some(data) = &feed.data else { return };
        let mut news = Vec::new();
        for &i in ended {
            let t = &data.tasks()[i as usize];
            let failed = t.state == Some(crate::task::TaskState::Failed);
            let mut ami = crate::text::safe(t.ami_id.as_deref().unwrap_or("a task")).into_owned();
            if let Some(name) = data.naming(i).and_then(Naming::name) {
                ami = format!("{ami} {}", crate::text::safe(name));
            }
            if self.feeds.len() > 1 {
                ami = format!("{ami} ({})", crate::text::safe(&self.feed_names[idx].full));
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
            // What the user just did keeps its answer on screen; the ending still alerts.
            if !self.current_toast().is_some_and(|_| self.toast.as_ref().is_some_and(|t| t.answers_user)) {
                self.toast = Some(Toast { text: text.clone(), at: self.now, answers_user: false });
            }
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
        self.toast = Some(Toast { text: text.into(), at: self.now, answers_user: true });
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
                let uris = self.selected_task().map(|r| (self.task(r).valid_s3_uri(), self.task(r).s3_uri()));
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
                let rows = self
                    .view
                    .rows
                    .iter()
                    .map(|&r| (self.feed_of(r).info.clone(), self.task(r).clone(), self.naming(r).cloned()))
                    .collect();
                return Some(Effect::Export(format, rows));
            }
            Action::CycleNotify => {
                self.notify = self.notify.next();
                self.show_toast(format!("notifications: {}", self.notify.label()));
            }
            Action::SetState(s) => self.set_state(s),
            Action::CycleState => {
                // The Queued tab is an export plan's: skipped when it has nothing.
                let next = self.filters.state.next();
                let skip = next == StateFilter::Queued && self.view.counts.queued == 0;
                self.set_state(if skip { next.next() } else { next });
            }
            Action::OpenBucketPicker => self.open_picker(Mode::BucketPicker),
            Action::OpenFeedPicker if self.multi_feed() => self.open_picker(Mode::FeedPicker),
            Action::OpenFeedPicker => {
                self.show_toast("one feed is watched: pass --profile a,b, --region a,b or --all-regions")
            }
            Action::StartSearch if self.mode == Mode::FeedPicker => self.mode = Mode::FeedSearch,
            Action::StartSearch => self.mode = Mode::Search,
            Action::SearchInput(c) => self.edit_search(|s| s.push(c)),
            Action::SearchBackspace => self.edit_search(|s| {
                s.pop();
            }),
            Action::SearchKeep if self.mode == Mode::FeedSearch => self.mode = Mode::FeedPicker,
            Action::SearchKeep => self.mode = Mode::Normal,
            Action::SearchClear if self.mode == Mode::FeedSearch => {
                self.edit_search(String::clear);
                self.mode = Mode::FeedPicker;
            }
            Action::SearchClear => {
                self.edit_search(String::clear);
                self.mode = Mode::Normal;
            }
            Action::CycleSort if self.mode == Mode::FeedPicker => self.feeds_pane.sort = self.feeds_pane.sort.next(),
            Action::CycleSort => {
                self.filters.sort = self.filters.sort.next();
                self.filters.reverse = false;
                self.sync();
            }
            Action::ReverseSort => {
                self.filters.reverse = !self.filters.reverse;
                self.sync();
            }
            Action::ToggleAllTasks => {
                self.filters.all_tasks = !self.filters.all_tasks;
                self.sync();
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
        self.sync();
    }

    fn edit_search(&mut self, f: impl FnOnce(&mut String)) {
        if self.mode == Mode::FeedSearch {
            f(&mut self.feeds_pane.search);
            return;
        }
        f(&mut self.search_input);
        self.filters.search = self.search_input.to_lowercase();
        self.sync();
    }

    /// The feeds pane's lines, as drawn: searched and sorted.
    pub fn pane_rows(&self) -> Vec<feeds::PaneRow> {
        self.feeds_pane.rows(&self.feeds, &self.feed_names, self.now, self.filters.all_tasks)
    }

    /// The feeds pane's "All feeds" line: every feed, whatever its search shows.
    pub fn feeds_pane_totals(&self) -> feeds::PaneRow {
        let rows = feeds::Pane::default().rows(&self.feeds, &self.feed_names, self.now, self.filters.all_tasks);
        feeds::PaneRow {
            feed: 0,
            tasks: rows.iter().map(|r| r.tasks).sum(),
            in_progress: rows.iter().map(|r| r.in_progress).sum(),
            last_poll: None,
            calls: rows.iter().map(|r| r.calls).sum(),
            error: None,
            in_flight: None,
        }
    }

    fn open_picker(&mut self, mode: Mode) {
        self.mode = mode;
        match mode {
            Mode::FeedPicker => self.feeds_pane.selected = self.filters.feed,
            _ => {
                let active = self.filters.bucket.clone();
                self.picker = self.picker_entries().iter().position(|(b, _)| *b == active).unwrap_or(0);
            }
        }
    }

    /// What `x` would send for the selected task, or why it cannot.
    pub fn retry_plan(&self) -> Result<RetryPlan, String> {
        if !self.allow_retry {
            return Err("retries are off: start amiwatch with --allow-retry to export a failed task's AMI again (it needs ec2:CreateStoreImageTask)".into());
        }
        let i = self.selected_task().ok_or("nothing selected to retry")?;
        let t = self.task(i);
        let ami = t.ami_id.as_deref().map(str::to_string).ok_or("cannot retry: the task has no AMI ID")?;
        let shown = crate::text::safe(&ami).into_owned();
        if t.state != Some(crate::task::TaskState::Failed) {
            let state =
                t.state.as_ref().map_or("of unknown state".into(), |s| crate::text::safe(s.label()).into_owned());
            return Err(format!("cannot retry {shown}: it is {state}, not failed"));
        }
        if self.earlier_attempts(i).iter().any(|&j| self.task(j).start_time > t.start_time) {
            return Err(format!("cannot retry {shown}: a newer export of it exists (press a to see every attempt)"));
        }
        let bucket = t
            .bucket
            .as_deref()
            .filter(|b| crate::task::is_bucket_name(b))
            .map(str::to_string)
            .ok_or("cannot retry: the task names no valid bucket")?;
        let name = self.naming(i).and_then(Naming::name).map(str::to_string);
        Ok(RetryPlan { feed: i.feed(), ami, bucket, name })
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
            Mode::BucketPicker => {
                self.filters.bucket = self.picker_entries().get(self.picker).and_then(|(b, _)| b.clone());
                self.mode = Mode::Normal;
                self.sync();
            }
            Mode::FeedPicker | Mode::FeedSearch => {
                // What the ▶ is on: a feed the search hides is not picked.
                let rows = self.pane_rows();
                let pick = self.feeds_pane.position(&rows).checked_sub(1).map(|p| rows[p].feed);
                self.filters.feed = pick;
                self.mode = Mode::Normal;
                self.sync();
            }
            Mode::Normal if !self.view.rows.is_empty() => self.detail_open = true,
            Mode::ConfirmRetry => self.mode = Mode::Normal,
            _ => {}
        }
    }

    fn back(&mut self) {
        match self.mode {
            Mode::BucketPicker | Mode::FeedPicker | Mode::Help => self.mode = Mode::Normal,
            Mode::FeedSearch => self.mode = Mode::FeedPicker,
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
        if matches!(self.mode, Mode::FeedPicker | Mode::FeedSearch) {
            let rows = self.pane_rows();
            self.feeds_pane.move_by(&rows, n);
            return;
        }
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
        self.selected_key = self.selected_task().map(|r| (r.feed(), self.task(r).key()));
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

    /// Finds the selected task again after the view changed: the same AMI of the same feed
    /// (its latest task, unless every task is shown), else the same row number.
    fn reselect(&mut self) {
        let found = self.selected_key.as_ref().and_then(|(feed, key)| {
            let data = self.feeds.get(*feed)?.data.as_deref()?;
            let target = RowRef::new(*feed, data.find(key, !self.filters.all_tasks)?);
            let feeds = &self.feeds;
            let pos = self.view.rows.binary_search_by(|&r| {
                let d = feeds[r.feed()].data.as_deref().expect("rows point into data");
                view::compare(&self.filters, (d, r), (data, target))
            });
            pos.ok()
        });
        if self.view.rows.is_empty() {
            self.detail_open = false;
        }
        self.selected = found.unwrap_or(self.selected.min(self.view.rows.len().saturating_sub(1)));
        match found {
            // The key follows the task found, so a later snapshot finds the AMI's newest.
            Some(_) => self.selected_key = self.selected_task().map(|r| (r.feed(), self.task(r).key())),
            // Hidden by a filter, or gone: the row stays where it was, and the AMI is selected
            // again when it shows (the key stays until a move picks another).
            None if self.selected_key.is_none() => {
                self.selected_key = self.selected_task().map(|r| (r.feed(), self.task(r).key()))
            }
            None => {}
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
            (SortKey::Size, false) => "smallest first",
            (SortKey::Size, true) => "largest first",
            (_, false) => "A-Z",
            (_, true) => "Z-A",
        };
        format!("{} ({dir})", self.filters.sort.label())
    }
}

#[cfg(test)]
mod tests;
