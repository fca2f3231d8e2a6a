//! The terminal's set-up and its guaranteed restore: on return, on error, and on panic.

use std::io::{self, Stdout, stdout};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the dashboard runs; dropping it gives the terminal back.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl TerminalGuard {
    pub fn new() -> io::Result<Self> {
        install_panic_hook();
        enter()?;
        let terminal = Terminal::new(CrosstermBackend::new(stdout())).inspect_err(|_| restore())?;
        Ok(Self { terminal })
    }

    /// Ctrl-Z or SIGTSTP, as a shell's job control expects: give the terminal back, stop
    /// until SIGCONT (`fg`), then take it again and repaint every cell.
    pub fn suspend(&mut self) -> io::Result<()> {
        restore();
        #[cfg(unix)]
        // SAFETY: raise only sends a signal to this process; SIGSTOP cannot be caught, so the
        // process stops here and goes on when SIGCONT arrives.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
        enter()?;
        self.repaint_all()
    }

    /// Clears the screen, so the next frame writes every cell. (`Terminal::clear` would ask
    /// the terminal where its cursor is, an answer the event reader may take first.)
    pub fn repaint_all(&mut self) -> io::Result<()> {
        let size = self.terminal.size()?;
        self.terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
    }
}

/// Raw mode, the alternate screen and mouse capture; everything undone if a step fails.
fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture).inspect_err(|_| restore())
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode, mouse capture and the alternate screen; safe to call twice.
pub fn restore() {
    let _ = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen, crossterm::cursor::Show);
    let _ = disable_raw_mode();
}

/// A panic on the UI thread restores the terminal before the message is printed. A panic in
/// a background task is only logged here: the event loop notices the task ended and quits
/// cleanly with the message, instead of the hook pulling the screen away mid-draw.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("main") {
                restore();
                previous(info);
            } else {
                tracing::error!("panic in a background task: {info}");
            }
        }));
    });
}
