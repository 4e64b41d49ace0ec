//! A bounded ring of the last lines a child process wrote to stderr.

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest line kept, in bytes; the rest of a longer line is dropped.
const MAX_LINE_BYTES: usize = 1024;

/// Keeps the last `max_lines` non-empty lines (split on `\n` or `\r`) of a byte stream, each
/// cut to at most 1 KiB. Memory use is bounded whatever the stream holds.
#[derive(Clone, Debug)]
pub struct StderrTail {
    lines: VecDeque<String>,
    max_lines: usize,
    partial: Vec<u8>,
}

impl StderrTail {
    /// How many lines ffmpeg errors carry by default.
    pub const DEFAULT_LINES: usize = 20;

    pub fn new(max_lines: usize) -> Self {
        StderrTail {
            lines: VecDeque::new(),
            max_lines: max_lines.max(1),
            partial: Vec::new(),
        }
    }

    pub fn push_bytes(&mut self, chunk: &[u8]) {
        for piece in chunk.split_inclusive(|b| *b == b'\n' || *b == b'\r') {
            let ends = matches!(piece.last(), Some(b'\n' | b'\r'));
            let body = if ends {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.partial.len());
            self.partial
                .extend_from_slice(&body[..body.len().min(room)]);
            if ends {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let line = String::from_utf8_lossy(&self.partial)
            .trim_end()
            .to_string();
        self.partial.clear();
        if line.is_empty() {
            return;
        }
        if self.lines.len() == self.max_lines {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The kept lines, oldest first, including an unterminated last line.
    pub fn finish(mut self) -> Vec<String> {
        self.end_line();
        self.lines.into_iter().collect()
    }

    /// The last non-empty line so far.
    pub fn last(&self) -> Option<&str> {
        self.lines.back().map(String::as_str)
    }

    /// Reads `reader` to its end (or first error) and returns its last `max_lines` lines.
    pub async fn drain<R: AsyncRead + Unpin>(mut reader: R, max_lines: usize) -> Vec<String> {
        let mut tail = StderrTail::new(max_lines);
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => tail.push_bytes(&buf[..n]),
                Err(e) => {
                    tracing::debug!("stopped reading stderr: {e}");
                    break;
                }
            }
        }
        tail.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_last_lines_bounded() {
        let mut t = StderrTail::new(3);
        for i in 0..10 {
            t.push_bytes(format!("line {i}\r\n\n").as_bytes());
        }
        t.push_bytes(&vec![b'x'; 5000]);
        t.push_bytes(b"y\nlast");
        let lines = t.finish();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "line 9");
        assert_eq!(lines[1].len(), MAX_LINE_BYTES);
        assert_eq!(lines[2], "last");
    }
}
