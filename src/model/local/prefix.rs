//! KV prefix reuse: how much of what is cached a new prompt can keep.

/// Length of the longest common prefix of two token lists.
pub fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How many cached tokens to keep for `prompt`: the common prefix, but never the whole prompt, because the
/// last prompt token must be decoded again to get the logits for the first new token.
pub fn tokens_to_keep<T: PartialEq>(cached: &[T], prompt: &[T]) -> usize {
    let keep = common_prefix(cached, prompt);
    if keep == prompt.len() {
        keep.saturating_sub(1)
    } else {
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_shared_prefix() {
        assert_eq!(tokens_to_keep(&[1, 2, 3, 4], &[1, 2, 3, 9, 9]), 3);
        assert_eq!(tokens_to_keep(&[1, 2, 3], &[1, 2, 3, 4, 5]), 3);
        assert_eq!(tokens_to_keep::<u8>(&[], &[1, 2]), 0);
        assert_eq!(tokens_to_keep(&[7], &[1, 2]), 0);
    }

    #[test]
    fn an_identical_prompt_re_decodes_its_last_token() {
        assert_eq!(tokens_to_keep(&[1, 2, 3], &[1, 2, 3]), 2);
        assert_eq!(tokens_to_keep(&[1, 2, 3, 4], &[1, 2]), 1);
        assert_eq!(tokens_to_keep(&[1], &[1]), 0);
    }
}
