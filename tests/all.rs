//! The integration suite, one binary so the crate links once.

mod suite;
