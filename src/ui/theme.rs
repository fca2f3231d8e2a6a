//! Colours in one place. With `NO_COLOR` set, only bold, dim and reverse remain.

use ratatui::style::{Color, Modifier, Style};

use crate::task::TaskState;

/// The dashboard's styles.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn active_tab(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn selected_row(&self) -> Style {
        if self.color {
            Style::new().bg(Color::DarkGray).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn header_row(&self) -> Style {
        self.fg(Color::Gray).add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn warning(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// The colour of a state: bars, state names, counts.
    pub fn state(&self, s: Option<&TaskState>) -> Style {
        match s {
            Some(TaskState::InProgress) => self.fg(Color::Cyan),
            Some(TaskState::Completed) => self.fg(Color::Green),
            Some(TaskState::Failed) => self.fg(Color::Red),
            Some(TaskState::Queued) => self.fg(Color::Blue),
            _ => self.fg(Color::Magenta),
        }
    }
}
