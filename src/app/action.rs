//! Keys become actions here; the app changes state only through actions.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::view::StateFilter;

/// Everything a user can ask of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    SetState(StateFilter),
    CycleState,
    OpenBucketPicker,
    /// The feed picker (when more than one feed is watched).
    OpenFeedPicker,
    StartSearch,
    SearchInput(char),
    SearchBackspace,
    /// Keep the search text and leave the search box.
    SearchKeep,
    /// Clear the search text and leave the search box.
    SearchClear,
    CycleSort,
    ReverseSort,
    /// Move the selection (or the picker's) by this many rows.
    Move(i64),
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: open the detail pane, or pick in the bucket picker.
    Confirm,
    /// Esc: close whatever is open.
    Back,
    ToggleAllTasks,
    Refresh,
    ToggleHelp,
    /// A click on the screen row `y`.
    Click(u16),
    /// Copy the selected task's S3 URI to the clipboard.
    CopyUri,
    /// Write the current view to a file.
    Export(crate::output::Format),
    /// Cycle notifications: failures only, every end, off.
    CycleNotify,
    /// Ctrl-Z: stop the program as the shell's job control does (`fg` resumes it).
    Suspend,
    /// `x`: export the selected failed task's AMI again (asks to confirm first).
    Retry,
}

/// What has keyboard focus: it decides what a key means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    Search,
    BucketPicker,
    /// The feeds pane: every feed with its health; Enter picks one as the feed filter.
    FeedPicker,
    /// Typing a search in the feeds pane.
    FeedSearch,
    Help,
    /// The confirmation of a retry: Enter sends it, Esc cancels.
    ConfirmRetry,
}

impl Mode {
    pub fn is_picker(self) -> bool {
        matches!(self, Self::BucketPicker | Self::FeedPicker | Self::FeedSearch)
    }
}

/// The action a key means in `mode`, if any.
pub fn for_key(mode: Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Some(Action::Quit);
    }
    if ctrl && matches!(key.code, KeyCode::Char('z') | KeyCode::Char('Z')) {
        return Some(Action::Suspend);
    }
    if matches!(mode, Mode::Search | Mode::FeedSearch) {
        return match key.code {
            KeyCode::Enter => Some(Action::SearchKeep),
            KeyCode::Esc => Some(Action::SearchClear),
            KeyCode::Backspace => Some(Action::SearchBackspace),
            KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::Down => Some(Action::Move(1)),
            KeyCode::Char(c) if !ctrl => Some(Action::SearchInput(c)),
            _ => None,
        };
    }
    if mode == Mode::Help {
        return match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            _ => Some(Action::Back),
        };
    }
    if mode == Mode::ConfirmRetry {
        // Only Enter confirms: any other key cancels, so nothing is sent by a stray key.
        return match key.code {
            KeyCode::Enter => Some(Action::Confirm),
            _ => Some(Action::Back),
        };
    }
    let bare = !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    let movement = match key.code {
        KeyCode::Char('f') if ctrl => Some(Action::PageDown),
        KeyCode::Char('b') if ctrl => Some(Action::PageUp),
        KeyCode::Char(_) if !bare => None,
        KeyCode::Char('j') | KeyCode::Down => Some(Action::Move(1)),
        KeyCode::Char('k') | KeyCode::Up => Some(Action::Move(-1)),
        KeyCode::PageDown => Some(Action::PageDown),
        KeyCode::PageUp => Some(Action::PageUp),
        KeyCode::Char('g') | KeyCode::Home => Some(Action::Top),
        KeyCode::Char('G') | KeyCode::End => Some(Action::Bottom),
        KeyCode::Enter => Some(Action::Confirm),
        KeyCode::Esc => Some(Action::Back),
        KeyCode::Char('q') => Some(Action::Quit),
        _ => None,
    };
    if movement.is_some() {
        return movement;
    }
    if mode == Mode::FeedPicker {
        return match key.code {
            KeyCode::Char('o') => Some(Action::CycleSort),
            KeyCode::Char('/') => Some(Action::StartSearch),
            // F opens the pane and closes it again, as Esc does.
            KeyCode::Char('F') => Some(Action::Back),
            KeyCode::Char('r') | KeyCode::F(5) => Some(Action::Refresh),
            _ => None,
        };
    }
    // Only the bare key (Shift aside) acts: Ctrl-E or Alt-E is not E.
    if mode.is_picker() || !bare {
        return None;
    }
    match key.code {
        KeyCode::Char('1') => Some(Action::SetState(StateFilter::All)),
        KeyCode::Char('2') => Some(Action::SetState(StateFilter::InProgress)),
        KeyCode::Char('3') => Some(Action::SetState(StateFilter::Completed)),
        KeyCode::Char('4') => Some(Action::SetState(StateFilter::Failed)),
        KeyCode::Char('5') => Some(Action::SetState(StateFilter::Queued)),
        KeyCode::Char('s') | KeyCode::Tab => Some(Action::CycleState),
        KeyCode::Char('b') => Some(Action::OpenBucketPicker),
        KeyCode::Char('F') => Some(Action::OpenFeedPicker),
        KeyCode::Char('/') => Some(Action::StartSearch),
        KeyCode::Char('o') => Some(Action::CycleSort),
        KeyCode::Char('O') => Some(Action::ReverseSort),
        KeyCode::Char('a') => Some(Action::ToggleAllTasks),
        KeyCode::Char('r') | KeyCode::F(5) => Some(Action::Refresh),
        KeyCode::Char('?') | KeyCode::F(1) => Some(Action::ToggleHelp),
        KeyCode::Char('y') => Some(Action::CopyUri),
        KeyCode::Char('e') => Some(Action::Export(crate::output::Format::Csv)),
        KeyCode::Char('E') => Some(Action::Export(crate::output::Format::Json)),
        KeyCode::Char('n') => Some(Action::CycleNotify),
        KeyCode::Char('x') => Some(Action::Retry),
        _ => None,
    }
}

/// The action a mouse event means: the wheel scrolls, a left click selects.
pub fn for_mouse(m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::ScrollDown => Some(Action::Move(3)),
        MouseEventKind::ScrollUp => Some(Action::Move(-3)),
        MouseEventKind::Down(MouseButton::Left) => Some(Action::Click(m.row)),
        _ => None,
    }
}

/// The key help: every key, what it does. The help overlay and the README show this list.
pub const KEY_HELP: &[(&str, &str)] = &[
    ("1 2 3 4", "state filter: All / In progress / Completed / Failed"),
    ("s  Tab", "cycle the state filter"),
    ("b", "bucket picker (Enter picks, Esc cancels)"),
    ("F", "feeds pane: tasks, calls, errors of each (o sort, / search)"),
    ("/", "search ID, name, bucket, key, reason, feed (Enter keeps)"),
    ("o  O", "cycle the sort column / reverse the order"),
    ("j k ↑ ↓", "move the selection"),
    ("PgUp PgDn", "page up / down (also Ctrl-B Ctrl-F)"),
    ("g G  Home End", "first / last row"),
    ("Enter  Esc", "open / close the detail pane"),
    ("a", "every task instead of the latest per AMI"),
    ("r", "refresh now"),
    ("y", "copy the S3 URI to the clipboard (OSC 52)"),
    ("e  E", "export the view to a CSV / JSON file"),
    ("n", "notifications: failures / every end / off"),
    ("x", "export a failed task again (with --allow-retry, asks first)"),
    ("?", "this help"),
    ("Ctrl-Z", "suspend (fg resumes)"),
    ("q  Ctrl-C", "quit"),
    ("mouse", "wheel scrolls, click selects"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn normal_keys() {
        assert_eq!(for_key(Mode::Normal, key(KeyCode::Char('4'))), Some(Action::SetState(StateFilter::Failed)));
        assert_eq!(for_key(Mode::Normal, key(KeyCode::Tab)), Some(Action::CycleState));
        assert_eq!(for_key(Mode::Normal, key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(for_key(Mode::Normal, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(for_key(Mode::Normal, key(KeyCode::Char('G'))), Some(Action::Bottom));
        assert_eq!(for_key(Mode::Normal, key(KeyCode::Char('x'))), Some(Action::Retry));
        assert_eq!(for_key(Mode::ConfirmRetry, key(KeyCode::Enter)), Some(Action::Confirm));
        assert_eq!(for_key(Mode::ConfirmRetry, key(KeyCode::Char('y'))), Some(Action::Back), "only Enter sends");
        let ctrl_z = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL);
        assert_eq!(for_key(Mode::Search, ctrl_z), Some(Action::Suspend), "in any mode, like Ctrl-C");
    }

    #[test]
    fn search_mode_types_letters_that_are_keys_elsewhere() {
        assert_eq!(for_key(Mode::Search, key(KeyCode::Char('q'))), Some(Action::SearchInput('q')));
        assert_eq!(for_key(Mode::Search, key(KeyCode::Char('4'))), Some(Action::SearchInput('4')));
        assert_eq!(for_key(Mode::Search, key(KeyCode::Esc)), Some(Action::SearchClear));
        assert_eq!(for_key(Mode::Search, key(KeyCode::Enter)), Some(Action::SearchKeep));
        assert_eq!(for_key(Mode::Search, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
    }

    #[test]
    fn picker_takes_only_movement_and_help_closes_on_any_key() {
        assert_eq!(for_key(Mode::BucketPicker, key(KeyCode::Char('4'))), None);
        assert_eq!(for_key(Mode::BucketPicker, key(KeyCode::Char('j'))), Some(Action::Move(1)));
        assert_eq!(for_key(Mode::Help, key(KeyCode::Char('x'))), Some(Action::Back));
        assert_eq!(for_key(Mode::FeedPicker, key(KeyCode::Char('o'))), Some(Action::CycleSort));
        assert_eq!(for_key(Mode::FeedPicker, key(KeyCode::Char('/'))), Some(Action::StartSearch));
        assert_eq!(for_key(Mode::FeedPicker, key(KeyCode::Char('F'))), Some(Action::Back), "F closes what F opened");
        assert_eq!(for_key(Mode::FeedPicker, key(KeyCode::Char('r'))), Some(Action::Refresh));
        assert_eq!(for_key(Mode::FeedSearch, key(KeyCode::Char('q'))), Some(Action::SearchInput('q')));
    }

    #[test]
    fn ctrl_or_alt_with_a_letter_is_not_the_letter() {
        for c in ['e', 'E', 'a', 'n', 'y', 'r', 'x', '1', 'o', 'q', 'j', 'G'] {
            for m in [KeyModifiers::CONTROL, KeyModifiers::ALT] {
                assert_eq!(for_key(Mode::Normal, KeyEvent::new(KeyCode::Char(c), m)), None, "{m:?}+{c}");
            }
        }
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(for_key(Mode::Normal, ctrl('f')), Some(Action::PageDown), "documented");
        assert_eq!(for_key(Mode::Normal, ctrl('b')), Some(Action::PageUp), "documented");
        let shift_e = KeyEvent::new(KeyCode::Char('E'), KeyModifiers::SHIFT);
        assert_eq!(for_key(Mode::Normal, shift_e), Some(Action::Export(crate::output::Format::Json)));
    }
}
