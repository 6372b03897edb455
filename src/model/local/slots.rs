//! Parked conversations: the KV state of conversations other than the live one, kept in memory so that
//! switching between a planner and an executor (or back to an earlier conversation) restores its cache
//! instead of prefilling it again.
//!
//! The context holds one live sequence. Before a request whose prompt continues a parked conversation better
//! than the live one, the live sequence's state is saved (`llama_state_seq_get_data`) and the parked one is
//! restored into its place: a copy of a few tens of megabytes instead of seconds to minutes of prefill, and the
//! very same KV bytes, so a reply is what it would have been had that conversation never left the cache.
//!
//! A prompt that starts a new conversation keeps the start it shares with the live one (a step's request after
//! the last step's: the same system prompt), the live one parked as a copy first; where a parked conversation
//! shares a longer start, a copy of it is restored instead and it stays parked.

use super::prefix::tokens_to_keep;

/// Conversations parked at most besides the live one: a planner's, and a few steps' whose shared start (system
/// prompt, brief) a later step restores instead of prefilling.
pub const MAX_PARKED: usize = 4;

/// Bytes of parked state kept at most (the oldest parked conversation goes first).
pub const MAX_PARKED_BYTES: usize = 1 << 30;

/// Conversations shorter than this are not worth parking.
pub const MIN_PARKED_TOKENS: usize = 64;

/// Tokens a parked conversation must share with a prompt beyond what the live one shares before it is
/// restored only for that shared start: restoring copies its whole state (milliseconds), prefilling this
/// many tokens takes longer on any CPU.
pub const MIN_RESTORE_GAIN: usize = 32;

/// Where a request's prompt should run.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the live sequence (it continues it, or no parked conversation is a better start).
    Live,
    /// On parked conversation `index`, restored in place of the live one. `continued`: the prompt continues
    /// it, so it leaves the parked set; otherwise the prompt only starts the way it does (the same system
    /// prompt and brief) and a copy is restored, the parked conversation staying parked.
    Parked {
        /// Which parked conversation.
        index: usize,
        /// Whether the prompt continues it.
        continued: bool,
    },
}

/// Whether a conversation holding `held` tokens of which the prompt keeps `keep` is being continued: it keeps
/// at least half of itself (a shared chat-template header is no reason to call it the same conversation).
fn continues(keep: usize, held: usize) -> bool {
    keep > 0 && keep * 2 >= held
}

/// Where `prompt` should run, given the live tokens and each parked conversation's tokens: on the one that
/// keeps the most of it, where a parked one either continues or shares [`MIN_RESTORE_GAIN`] more tokens.
pub fn place<T: PartialEq>(live: &[T], parked: &[&[T]], prompt: &[T]) -> Placement {
    let live_keep = tokens_to_keep(live, prompt);
    let best = parked
        .iter()
        .enumerate()
        .map(|(i, tokens)| (i, tokens_to_keep(tokens, prompt), tokens.len()))
        .filter(|&(_, keep, held)| {
            continues(keep, held) || keep >= live_keep.saturating_add(MIN_RESTORE_GAIN)
        })
        .max_by_key(|&(i, keep, _)| (keep, std::cmp::Reverse(i)));
    match best {
        Some((index, keep, held)) if keep > live_keep => Placement::Parked {
            index,
            continued: continues(keep, held),
        },
        _ => Placement::Live,
    }
}

/// Whether the live conversation should be parked before `prompt` replaces it (the live sequence then keeps
/// only the start the two share).
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
            Placement::Parked {
                index: 0,
                continued: true
            }
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
            Placement::Parked {
                index: 1,
                continued: true
            }
        );
    }

    #[test]
    fn a_new_conversation_starts_from_the_one_sharing_the_longest_start() {
        // Two executor steps share a system prompt and brief of 40 tokens; the planner ran in between.
        let shared: Vec<u16> = (0..40).collect();
        let step1: Vec<u16> = shared.iter().copied().chain(100..300).collect();
        let step2: Vec<u16> = shared.iter().copied().chain(500..520).collect();
        let planner: Vec<u16> = std::iter::once(0).chain(900..1000).collect();
        assert_eq!(
            place(&planner, &[&step1], &step2),
            Placement::Parked {
                index: 0,
                continued: false
            },
            "the earlier step's shared start is restored rather than prefilled"
        );
        // A few shared tokens are not worth a restore.
        let short: Vec<u16> = (0..8).chain(500..520).collect();
        assert_eq!(place(&planner, &[&step1], &short), Placement::Live);
        // The live conversation sharing as much wins: no copy at all.
        assert_eq!(place(&step1, &[&planner], &step2), Placement::Live);
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
