//! Scheduling decisions: which converter gets an item.
