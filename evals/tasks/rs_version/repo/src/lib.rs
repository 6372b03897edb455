/// A version number `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Incompatible changes.
    pub major: u32,
    /// New features.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

/// Parses `"1.2.3"` into a [`Version`]. A leading `v` is allowed (`"v1.2.3"`); a missing patch is 0
/// (`"1.2"` is 1.2.0). Anything else (empty parts, letters, more than three parts) gives `None`.
pub fn parse_version(s: &str) -> Option<Version> {
    let _ = s;
    todo!()
}
