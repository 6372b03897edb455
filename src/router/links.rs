//! The links of a role's chain: which replica a session uses, why a link was passed over, and whether a served
//! model is the configured one.

use crate::protocol::RouteReason;

/// Records why a preferred link was passed over; a sensitive or budget reason outranks a provider's failure,
/// since it is what kept the request off the cloud.
pub(super) fn note(why: &mut Option<RouteReason>, reason: RouteReason) {
    if !matches!(
        why,
        Some(RouteReason::Sensitive { .. } | RouteReason::BudgetSpent { .. })
    ) {
        *why = Some(reason);
    }
}

/// The order a session tries a provider's `n` replicas in: its own replica (a stable hash of the session id, so
/// the replica's prefix cache keeps hitting), then the others in turn.
pub fn replica_order(session: &str, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    // FNV-1a: stable across runs and builds, unlike std's hasher.
    let hash = session.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let home = (hash % n as u64) as usize;
    (0..n).map(|i| (home + i) % n).collect()
}

/// A replica's name in breakers and reasons: the provider's name, with `@k` (1-based) when it has several.
pub(super) fn replica_label(name: &str, index: usize, n: usize) -> String {
    if n > 1 {
        format!("{name}@{}", index + 1)
    } else {
        name.to_string()
    }
}

/// Whether a served model name is the configured one: equal, a dated version of it (`gpt-4o-2024-08-06` for
/// `gpt-4o`), or the same name under a `vendor/` prefix.
pub fn same_model(configured: &str, served: &str) -> bool {
    let bare = |m: &str| m.rsplit('/').next().unwrap_or(m).to_ascii_lowercase();
    let (c, s) = (bare(configured), bare(served));
    c == s
        || s.strip_prefix(c.as_str())
            .is_some_and(|rest| rest.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn replica_order_is_stable_starts_at_the_sessions_own_and_covers_all() {
        let a = replica_order("20261201-134000-3fa9", 3);
        assert_eq!(a, replica_order("20261201-134000-3fa9", 3), "stable");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
        assert_eq!(a[1], (a[0] + 1) % 3, "then the others in turn");
        assert_eq!(replica_order("x", 1), vec![0]);
        assert!(replica_order("x", 0).is_empty());
        let homes: BTreeSet<usize> = (0..32)
            .map(|i| replica_order(&format!("session-{i}"), 4)[0])
            .collect();
        assert_eq!(homes.len(), 4, "sessions spread over every replica");
    }

    #[test]
    fn served_names_match_the_configured_model_by_family() {
        assert!(same_model("gpt-5.1", "gpt-5.1"));
        assert!(same_model("gpt-4o", "gpt-4o-2024-08-06"));
        assert!(same_model(
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929"
        ));
        assert!(same_model("gpt-5.1", "openai/gpt-5.1"));
        assert!(!same_model("gpt-5.1", "qwen2.5-coder-7b"));
        assert!(!same_model("gpt-4o", "gpt-4o2"));
    }
}
