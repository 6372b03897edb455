/// The sum of every integer from `lo` to `hi`, both included; 0 when `lo > hi`.
pub fn sum_between(lo: i64, hi: i64) -> i64 {
    (lo..hi).sum()
}

/// The mean of `lo..=hi`, or `None` when the range is empty.
pub fn mean_between(lo: i64, hi: i64) -> Option<f64> {
    if lo > hi {
        return None;
    }
    Some(sum_between(lo, hi) as f64 / (hi - lo + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive() {
        assert_eq!(sum_between(1, 10), 55);
        assert_eq!(sum_between(5, 5), 5);
        assert_eq!(sum_between(-2, 2), 0);
    }

    #[test]
    fn empty() {
        assert_eq!(sum_between(3, 2), 0);
        assert_eq!(mean_between(3, 2), None);
    }

    #[test]
    fn mean() {
        assert_eq!(mean_between(1, 4), Some(2.5));
    }
}
