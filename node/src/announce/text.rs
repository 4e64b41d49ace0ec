//! Peer text made safe to show: for a terminal (control characters and bidi overrides
//! escaped, so a file or node name cannot move the cursor, recolour or reorder what follows)
//! and for a desktop notification (the same, plus the markup `notify-send` bodies interpret).

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: C0 controls (tab and newline included),
/// DEL, C1 controls, line/paragraph separators and the bidirectional formatting characters
/// (marks, embeddings, overrides, isolates).
fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as an escape: `\x1b` for C0 and DEL,
/// `\u{202e}` for the others. Text without one is returned as is; escaping twice changes
/// nothing more (the escapes are printable ASCII).
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !is_unsafe(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// `text` as plain text for a notification: [`for_terminal`], then `&`, `<` and `>` as
/// entities, so a name like `<a href=…>` shows as written instead of as markup.
pub fn for_notification(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in for_terminal(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(for_terminal("evil\x1b[31mred.png"), "evil\\x1b[31mred.png");
        assert_eq!(
            for_terminal("a\tb\nc\rd\0e\x7f"),
            "a\\x09b\\x0ac\\x0dd\\x00e\\x7f"
        );
        // C1, among them the 8-bit CSI.
        assert_eq!(for_terminal("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(for_terminal("\u{85}"), "\\u{85}");
    }

    #[test]
    fn bidi_overrides_and_separators_are_escaped() {
        assert_eq!(for_terminal("doc\u{202e}gpj.exe"), "doc\\u{202e}gpj.exe");
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{2066}',
            '\u{2069}',
        ] {
            let s = c.to_string();
            assert_eq!(for_terminal(&s), format!("\\u{{{:x}}}", c as u32));
        }
    }

    #[test]
    fn plain_text_is_untouched_and_escaping_is_idempotent() {
        for s in ["clip.mp4", "été à Paris – 日本語 🎬.mkv", "back\\slash", ""] {
            assert!(matches!(for_terminal(s), Cow::Borrowed(_)), "{s}");
        }
        let once = for_terminal("a\x1b\u{202e}b").into_owned();
        assert_eq!(for_terminal(&once), once);
    }

    #[test]
    fn notifications_are_plain_text() {
        assert_eq!(
            for_notification("<b>x</b> & \x1b[2J"),
            "&lt;b&gt;x&lt;/b&gt; &amp; \\x1b[2J"
        );
    }
}
