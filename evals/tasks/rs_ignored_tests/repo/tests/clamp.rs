use clamp_words::clamp;

#[test]
fn text_that_fits_is_unchanged() {
    assert_eq!(clamp("short text", 20), "short text");
    assert_eq!(clamp("exact", 5), "exact");
}

#[test]
#[ignore = "slow on some hosts; run with --include-ignored"]
fn cuts_at_a_word_boundary() {
    assert_eq!(clamp("the quick brown fox", 12), "the quick…");
}

#[test]
#[ignore = "slow on some hosts; run with --include-ignored"]
fn counts_characters_not_bytes() {
    assert_eq!(clamp("héllo wörld again", 12), "héllo wörld…");
}

#[test]
#[ignore = "slow on some hosts; run with --include-ignored"]
fn a_long_word_is_cut_and_zero_is_empty() {
    assert_eq!(clamp("supercalifragilistic", 6), "super…");
    assert_eq!(clamp("anything", 0), "");
}
