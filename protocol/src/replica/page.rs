//! The one paging rule for answering a peer's summary, over any source of records: the
//! in-memory replica (protocol tests, simulation) or a node's database. Which authors and
//! horizons a page covers comes from the replica; the records from the source.

use std::convert::Infallible;
use std::ops::ControlFlow;

use crate::ids::{NodeId, Seq};
use crate::record::Record;
use crate::wire::{record_size_estimate, Summary, MAX_SUMMARY_AUTHORS};

/// Limits of one page of records sent in answer to a summary.
#[derive(Clone, Copy, Debug)]
pub struct PageLimit {
    pub records: usize,
    pub bytes: usize,
}

/// One page of records answering a summary (see [`page_in`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// More records remain after this page.
    pub more: bool,
    /// Per author this page finishes, where the asker's summary may go although the page
    /// leaves holes: every seq up to it that the page does not carry was compacted here.
    pub complete: Vec<(NodeId, Seq)>,
}

/// Where the records of a page come from. A source must hold every record the replica holds
/// (a node stores each record before its engine acts on it), so that a seq at or below a
/// horizon that the source lacks was compacted.
pub trait RecordSource {
    type Error;
    /// Shows `visit` the records of `author` from seq `from` on, in seq order, until it
    /// answers `Break` or they run out.
    fn visit_from(
        &self,
        author: &NodeId,
        from: Seq,
        visit: &mut dyn FnMut(&Record) -> ControlFlow<()>,
    ) -> Result<(), Self::Error>;
}

impl RecordSource for super::Replica {
    type Error = Infallible;
    fn visit_from(
        &self,
        author: &NodeId,
        from: Seq,
        visit: &mut dyn FnMut(&Record) -> ControlFlow<()>,
    ) -> Result<(), Infallible> {
        let range = (author.clone(), from)..=(author.clone(), Seq::MAX);
        for (_, (r, _)) in self.records.range(range) {
            if visit(r).is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// Records the holder of `theirs` lacks among `horizons` (our authors of the asked range
/// with their horizons, in author order), in (author, seq) order, at most one page, with a
/// `complete` mark for each author it finishes whose records up to our horizon have holes
/// (compacted here).
pub fn page_in<S: RecordSource>(
    source: &S,
    horizons: &[(NodeId, Seq)],
    theirs: &Summary,
    limit: PageLimit,
) -> Result<Page, S::Error> {
    let theirs: std::collections::HashMap<&NodeId, Seq> =
        theirs.0.iter().map(|(a, s)| (a, *s)).collect();
    let mut page = Page::default();
    let mut bytes = 0usize;
    for (author, horizon) in horizons {
        // However many authors the range holds, a page stays within the wire's limit on
        // marks; the asker, its horizons raised, asks again for the rest.
        if page.complete.len() >= MAX_SUMMARY_AUTHORS {
            page.more = true;
            return Ok(page);
        }
        let from = theirs.get(author).copied().unwrap_or(0).saturating_add(1);
        // Records sent at or below the horizon, and the last of them.
        let (mut sent, mut last) = (0u64, None);
        let mut full = false;
        source.visit_from(author, from, &mut |r| {
            let size = record_size_estimate(r);
            if page.records.len() >= limit.records
                || (bytes + size > limit.bytes && !page.records.is_empty())
            {
                full = true;
                return ControlFlow::Break(());
            }
            bytes += size;
            if r.seq <= *horizon {
                sent += 1;
                last = Some(r.seq);
            }
            page.records.push(r.clone());
            ControlFlow::Continue(())
        })?;
        if full {
            // Cut within the author: a mark up to the last record sent, so the next page
            // starts after it even if holes lie below.
            page.more = true;
            page.complete.extend(hole_mark(author, from, last, sent));
            return Ok(page);
        }
        page.complete
            .extend(hole_mark(author, from, Some(*horizon), sent));
    }
    Ok(page)
}

/// A `complete` mark for `author` up to `top` when the records sent from `from` to `top`
/// (`sent` of them) leave holes: those were compacted here.
fn hole_mark(author: &NodeId, from: Seq, top: Option<Seq>, sent: u64) -> Option<(NodeId, Seq)> {
    let top = top.filter(|t| *t >= from)?;
    (sent < top - from + 1).then(|| (author.clone(), top))
}
