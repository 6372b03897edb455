//! The integration suite, one binary so the crate links once.

// Developer tools print their own reports; the user-facing printing path is src/text.rs.
#![allow(clippy::disallowed_macros)]

mod suite;
