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
    let s = s.strip_prefix('v').unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let mut nums = [0u32; 3];
    for (i, p) in parts.iter().enumerate() {
        nums[i] = p.parse().ok()?;
    }
    Some(Version { major: nums[0], minor: nums[1], patch: nums[2] })
}
