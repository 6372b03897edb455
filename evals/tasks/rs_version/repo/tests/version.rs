use semver_lite::{parse_version, Version};

fn v(major: u32, minor: u32, patch: u32) -> Option<Version> {
    Some(Version { major, minor, patch })
}

#[test]
fn full() {
    assert_eq!(parse_version("1.2.3"), v(1, 2, 3));
    assert_eq!(parse_version("10.0.42"), v(10, 0, 42));
}

#[test]
fn leading_v_and_short_form() {
    assert_eq!(parse_version("v1.2.3"), v(1, 2, 3));
    assert_eq!(parse_version("1.2"), v(1, 2, 0));
}

#[test]
fn invalid() {
    for bad in ["", "1", "1..2", "a.b.c", "1.2.3.4", "1.2.x"] {
        assert_eq!(parse_version(bad), None, "{bad:?}");
    }
}

#[test]
fn ordering() {
    assert!(parse_version("1.10.0") > parse_version("1.9.9"));
}
