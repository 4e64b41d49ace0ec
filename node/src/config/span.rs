//! Maps byte offsets in a TOML file to line numbers and dotted key paths, so that configuration
//! errors can name the line and key at fault.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The parsed document with spans, kept alongside its text.
pub(crate) struct SpanIndex<'i> {
    text: &'i str,
    root: Option<Spanned<DeTable<'i>>>,
}

impl<'i> SpanIndex<'i> {
    /// Indexes `text`; a document that does not parse yields an index that finds no keys.
    pub(crate) fn new(text: &'i str) -> Self {
        SpanIndex {
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// The 1-based line holding byte offset `pos`.
    pub(crate) fn line_of(&self, pos: usize) -> usize {
        let end = pos.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The dotted path of the innermost key whose key or value covers `pos`.
    pub(crate) fn key_at(&self, pos: usize) -> Option<String> {
        let root = self.root.as_ref()?;
        let path = key_at(root.get_ref(), pos)?;
        Some(path.join("."))
    }

    /// The line of the key at dotted `path` (e.g. `converter.workers`), and with `index` the
    /// line of that element of the array it holds.
    pub(crate) fn line_of_key(&self, path: &str, index: Option<usize>) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut table = root.get_ref();
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
            if parts.peek().is_none() {
                let span = match (index, value.get_ref()) {
                    (Some(i), DeValue::Array(items)) => {
                        items.get(i).map(|v| v.span()).unwrap_or_else(|| key.span())
                    }
                    _ => key.span(),
                };
                return Some(self.line_of(span.start));
            }
            table = value.get_ref().as_table()?;
        }
        None
    }
}

fn covers(span: Range<usize>, pos: usize) -> bool {
    span.start <= pos && pos < span.end.max(span.start + 1)
}

fn key_at(table: &DeTable<'_>, pos: usize) -> Option<Vec<String>> {
    for (key, value) in table.iter() {
        if let DeValue::Table(inner) = value.get_ref() {
            if let Some(mut rest) = key_at(inner, pos) {
                rest.insert(0, key.get_ref().to_string());
                return Some(rest);
            }
        }
        if covers(key.span(), pos) || covers(value.span(), pos) {
            return Some(vec![key.get_ref().to_string()]);
        }
    }
    None
}
