/// Caesar cipher: shifts every ASCII letter `by` places forward in the alphabet, wrapping from z to a and
/// keeping its case; every other character is unchanged. `shift("Abc, xyz!", 3)` is `"Def, abc!"`.
pub fn shift(text: &str, by: u8) -> String {
    let by = by % 26;
    text.chars()
        .map(|c| {
            let base = if c.is_ascii_lowercase() {
                b'a'
            } else if c.is_ascii_uppercase() {
                b'A'
            } else {
                return c;
            };
            (((c as u8 - base + by) % 26) + base) as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_and_wraps() {
        assert_eq!(shift("Abc, xyz!", 3), "Def, abc!");
    }

    #[test]
    fn full_turn_is_identity() {
        assert_eq!(shift("Hello", 26), "Hello");
    }

    #[test]
    fn non_letters_unchanged() {
        assert_eq!(shift("123 _-é", 5), "123 _-é");
    }
}
