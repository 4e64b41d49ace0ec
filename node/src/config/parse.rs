//! The file as written into a [`RawConfig`], with every problem found at once: all syntax
//! errors; else every key whose value does not fit, each key of a table read on its own (serde
//! stops at the first problem of what it reads).

use serde::Deserialize;
use toml::de::{DeTable, DeValue, Deserializer, Error};
use toml::Spanned;

use super::raw::RawConfig;

/// Most problems reported for one file (a broken file can give many cascading errors).
pub(super) const MAX_REPORTED: usize = 20;

/// Parses `text`; every problem (at most [`MAX_REPORTED`], in the file's order) when it does
/// not fit.
pub(super) fn parse(text: &str) -> Result<RawConfig, Vec<Error>> {
    let (doc, mut errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        errors.truncate(MAX_REPORTED);
        return Err(errors);
    }
    match RawConfig::deserialize(Deserializer::from(doc.clone())) {
        Ok(raw) => Ok(raw),
        Err(first) => {
            let mut all = each_key(&doc);
            if all.is_empty() {
                all.push(first);
            }
            all.sort_by_key(|e| e.span().map(|s| s.start));
            all.truncate(MAX_REPORTED);
            Err(all)
        }
    }
}

/// The error of each top-level key, and of each key of a top-level table, read on its own.
fn each_key(doc: &Spanned<DeTable<'_>>) -> Vec<Error> {
    let mut out = Vec::new();
    for (key, value) in doc.get_ref().iter() {
        let parts: Vec<Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::Table(table) if !table.is_empty() => table
                .iter()
                .map(|(k, v)| {
                    let mut one = DeTable::new();
                    one.insert(k.clone(), v.clone());
                    Spanned::new(value.span(), DeValue::Table(one))
                })
                .collect(),
            _ => vec![value.clone()],
        };
        for part in parts {
            let mut root = DeTable::new();
            root.insert(key.clone(), part);
            let one = Deserializer::from(Spanned::new(doc.span(), root));
            if let Err(e) = RawConfig::deserialize(one) {
                out.push(e);
            }
        }
    }
    out
}
