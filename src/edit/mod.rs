//! Edits: the formats a reply says its changes in, the matching and merging that apply them, the checks every
//! format shares, unified diffs and hunk selection.

pub mod defs;
pub mod diff;
pub mod format;
pub mod guards;
pub mod matching;
