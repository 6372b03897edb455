//! Parked conversations: the KV state of conversations other than the live one, kept in memory so that
//! switching between a planner and an executor (or back to an earlier conversation) restores its cache
//! instead of prefilling it again.
//!
//! The context holds one live sequence. Before a request whose prompt continues a parked conversation better
//! than the live one, the live sequence's state is saved (`llama_state_seq_get_data`) and the parked one is
//! restored into its place: a copy of a few tens of megabytes instead of seconds to minutes of prefill, and the
//! very same KV bytes, so a reply is what it would have been had that conversation never left the cache.

use super::prefix::tokens_to_keep;

/// Conversations parked at most besides the live one.
pub const MAX_PARKED: usize = 2;

/// Bytes of parked state kept at most (the oldest parked conversation goes first).
pub const MAX_PARKED_BYTES: usize = 1 << 30;

/// Conversations shorter than this are not worth parking.
pub const MIN_PARKED_TOKENS: usize = 64;

/// Where a request's prompt should run.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the live sequence (it continues it, or no parked conversation is a better start).
    Live,
    /// On parked conversation `i`, restored in place of the live one.
    Parked(usize),
}

/// Whether a conversation holding `held` tokens of which the prompt keeps `keep` is being continued: it keeps
/// at least half of itself (a shared chat-template header is no reason to call it the same conversation).
fn continues(keep: usize, held: usize) -> bool {
    keep > 0 && keep * 2 >= held
}

/// Where `prompt` should run, given the live tokens and each parked conversation's tokens.
pub fn place<T: PartialEq>(live: &[T], parked: &[&[T]], prompt: &[T]) -> Placement {
    let live_keep = tokens_to_keep(live, prompt);
    let best = parked
        .iter()
        .enumerate()
        .map(|(i, tokens)| (i, tokens_to_keep(tokens, prompt), tokens.len()))
        .filter(|&(_, keep, held)| continues(keep, held))
        .max_by_key(|&(i, keep, _)| (keep, std::cmp::Reverse(i)));
    match best {
        Some((i, keep, _)) if keep > live_keep => Placement::Parked(i),
        _ => Placement::Live,
    }
}

/// Whether the live conversation should be parked before `prompt` replaces it.
pub fn worth_parking<T: PartialEq>(live: &[T], prompt: &[T]) -> bool {
    live.len() >= MIN_PARKED_TOKENS && !continues(tokens_to_keep(live, prompt), live.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_runs_where_most_of_it_is_cached() {
        let planner: &[u8] = &[1, 2, 3, 4, 5, 6];
        let executor: &[u8] = &[1, 9, 9, 9];
        // The live planner continues: stay.
        assert_eq!(
            place(planner, &[executor], &[1, 2, 3, 4, 5, 6, 7]),
            Placement::Live
        );
        // The executor's conversation is parked and continued: restore it.
        assert_eq!(
            place(planner, &[executor], &[1, 9, 9, 9, 2]),
            Placement::Parked(0)
        );
        // A shared header is not a continuation: a new conversation starts on the live sequence.
        assert_eq!(
            place(planner, &[executor], &[1, 7, 7, 7, 7]),
            Placement::Live
        );
        // Of two parked conversations, the longer match wins.
        assert_eq!(
            place(
                &[8u8][..],
                &[&[1, 2][..], &[1, 2, 3, 4][..]],
                &[1, 2, 3, 4, 5]
            ),
            Placement::Parked(1)
        );
    }

    #[test]
    fn only_a_conversation_being_replaced_is_parked() {
        let long: Vec<u16> = (0..100).collect();
        let mut next = long.clone();
        next.push(7);
        assert!(!worth_parking(&long, &next), "continued, not replaced");
        assert!(worth_parking(&long, &[0, 1, 2]), "replaced by another");
        assert!(!worth_parking(&long[..10], &[5]), "too short to keep");
    }
}
