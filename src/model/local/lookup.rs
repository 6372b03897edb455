//! Prompt-lookup drafts: a coding model's reply copies long runs of its context (a file written back whole with
//! one function changed, the definitions it keeps), so the tokens that followed the reply's last few tokens
//! where they last appeared are a good guess at what comes next. The engine decodes such a guess in one batch
//! with the token before it and keeps the part the sampler itself picks, token by token: the reply is the
//! one it would have been without the guess, at one pass over the weights for many tokens.

use llama_cpp_2::token::LlamaToken;

/// The fewest trailing tokens an earlier place must match before what followed it is drafted: one or two tokens
/// (`return`, `    `) recur everywhere in code, three rarely by chance.
pub const MIN_MATCH: usize = 3;

/// The most trailing tokens compared when ranking earlier places.
const MAX_MATCH: usize = 16;

/// Up to `max` tokens that followed the place in the sequence `decoded` then `next` whose preceding tokens
/// best match the sequence's last ones (at least [`MIN_MATCH`] of them; the latest place among the best), or
/// nothing. `decoded` is what the KV sequence holds (the prompt and the reply so far), `next` the token about
/// to be decoded.
pub fn draft(decoded: &[LlamaToken], next: LlamaToken, max: usize) -> Vec<LlamaToken> {
    let n = decoded.len() + 1;
    if max == 0 || n <= MIN_MATCH {
        return Vec::new();
    }
    let at = |k: usize| decoded.get(k).copied().unwrap_or(next);
    // (match length, index of the matched place's last token)
    let mut best: Option<(usize, usize)> = None;
    // A place is the end of an earlier occurrence: index i < n - 1 holding `next`.
    for i in (MIN_MATCH - 1..n - 1).rev() {
        if decoded[i] != next {
            continue;
        }
        let len = (1..=MAX_MATCH.min(i + 1))
            .take_while(|&k| at(i + 1 - k) == at(n - k))
            .last()
            .unwrap_or(0);
        if len >= MIN_MATCH && best.is_none_or(|(b, _)| len > b) {
            best = Some((len, i));
            if len == MAX_MATCH {
                break;
            }
        }
    }
    match best {
        Some((_, i)) => (i + 1..(i + 1 + max).min(n)).map(at).collect(),
        None => Vec::new(),
    }
}

/// How many tokens to draft next: doubled after a draft that was taken whole, halved after one that was
/// mostly refused, within `1..=max`.
pub fn next_len(current: usize, drafted: usize, accepted: usize, max: usize) -> usize {
    let next = if drafted > 0 && accepted == drafted {
        current.saturating_mul(2)
    } else if accepted * 2 < drafted {
        current / 2
    } else {
        current
    };
    next.clamp(1, max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&i| LlamaToken(i)).collect()
    }

    /// The draft after the whole of `h`, its last token the one about to be decoded.
    fn after(h: &[LlamaToken], max: usize) -> Vec<LlamaToken> {
        let (next, decoded) = h.split_last().expect("a token to decode");
        draft(decoded, *next, max)
    }

    #[test]
    fn what_followed_the_best_earlier_match_is_drafted() {
        // 1 2 3 4 5 6 | ... | 2 3 4  → 5 6 follow the earlier "2 3 4".
        let h = toks(&[1, 2, 3, 4, 5, 6, 9, 9, 2, 3, 4]);
        assert_eq!(after(&h, 8), toks(&[5, 6, 9, 9, 2, 3, 4]));
        assert_eq!(after(&h, 2), toks(&[5, 6]));
        // Too short a match drafts nothing.
        let h = toks(&[1, 2, 3, 7, 8, 2, 3]);
        assert!(after(&h, 8).is_empty());
        assert!(after(&toks(&[1, 2]), 8).is_empty());
        assert!(after(&toks(&[1, 2, 3, 4, 1, 2, 3]), 0).is_empty());
    }

    #[test]
    fn a_longer_match_beats_a_later_one_and_ties_go_to_the_latest() {
        // "0 2 3 4" matches 4 tokens at the first place; the later place matches only "2 3 4".
        let h = toks(&[0, 2, 3, 4, 10, 7, 2, 3, 4, 20, 0, 2, 3, 4]);
        assert_eq!(after(&h, 1), toks(&[10]));
        // Two places that match equally: the later one.
        let h = toks(&[5, 2, 3, 4, 10, 6, 2, 3, 4, 20, 8, 2, 3, 4]);
        assert_eq!(after(&h, 1), toks(&[20]));
    }

    #[test]
    fn the_draft_length_grows_when_taken_and_shrinks_when_refused() {
        assert_eq!(next_len(4, 4, 4, 16), 8);
        assert_eq!(next_len(16, 16, 16, 16), 16);
        assert_eq!(next_len(8, 8, 1, 16), 4);
        assert_eq!(next_len(1, 1, 0, 16), 1);
        assert_eq!(next_len(8, 8, 5, 16), 8);
    }
}
