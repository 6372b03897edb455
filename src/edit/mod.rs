//! Edits: search/replace matching, whole-file replies, unified diffs and hunk selection.

pub mod defs;
pub mod diff;
pub mod matching;
pub mod whole;
