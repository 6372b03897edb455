//! Edits: search/replace matching, unified diffs and hunk selection.

pub mod diff;
pub mod matching;
