//! Terminal colour: only on a terminal, never with `NO_COLOR` set (https://no-color.org).

use std::io::IsTerminal;

/// A colour for a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Yellow,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Red => "31",
            Colour::Green => "32",
            Colour::Yellow => "33",
        }
    }
}

/// Whether colour is wanted on a stream: it is a terminal and `NO_COLOR` is unset or empty.
pub fn wanted(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Whether stdout gets colour.
pub fn stdout() -> bool {
    wanted(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Whether stderr gets colour.
pub fn stderr() -> bool {
    wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// `text` in bold `colour` when `on`, else unchanged.
pub fn paint(text: &str, colour: Colour, on: bool) -> String {
    if on {
        format!("\x1b[1;{}m{text}\x1b[0m", colour.code())
    } else {
        text.to_string()
    }
}

/// The colour of a phase or status word in tables: green when done well, red when it ended
/// badly, yellow while work is under way; `None` for the rest.
pub fn of_phase(word: &str) -> Option<Colour> {
    match word {
        "delivered" | "finished_successful" => Some(Colour::Green),
        // A cancel is the user's choice, not an error: "cancelled" keeps the terminal's colour.
        "failed" | "finished_with_errors" => Some(Colour::Red),
        "converting" | "transferring" | "delivering" | "in_progress" => Some(Colour::Yellow),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(wanted(true, None));
        assert!(wanted(true, Some(OsStr::new(""))));
        assert!(!wanted(true, Some(OsStr::new("1"))));
        assert!(!wanted(false, None));
    }

    #[test]
    fn paint_wraps_only_when_on() {
        assert_eq!(paint("failed", Colour::Red, false), "failed");
        assert_eq!(paint("ok", Colour::Green, true), "\x1b[1;32mok\x1b[0m");
        assert_eq!(of_phase("delivered"), Some(Colour::Green));
        assert_eq!(of_phase("offered"), None);
    }
}
