//! The local models tandem knows by name: where each lives in the models cache and how to fetch it.

/// A GGUF model tandem can name, fetch and verify.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownModel {
    /// The short name for `--model` and `local.model`.
    pub name: &'static str,
    /// The file name in the models cache.
    pub file: &'static str,
    /// The script that fetches and verifies it.
    pub fetch: &'static str,
    /// One line on what it is good for.
    pub about: &'static str,
}

/// The demo model: small and fast enough for the test suite; too small to finish real coding tasks.
pub const DEMO: KnownModel = KnownModel {
    name: "demo",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    fetch: "scripts/fetch-demo-model.sh",
    about: "SmolLM2-135M-Instruct Q4_1, the 92 MB demo model: for trying tandem and for tests, not for real work",
};

/// The small coding model the local half is built and measured for.
pub const CODER: KnownModel = KnownModel {
    name: "qwen2.5-coder-1.5b",
    file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    fetch: "scripts/fetch-coder-model.sh",
    about: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB: a real coding model that runs on a laptop CPU",
};

/// Every model known by name.
pub const KNOWN: [&KnownModel; 2] = [&DEMO, &CODER];

/// The known model called `name` (also matched without case or with `-instruct` appended).
pub fn by_name(name: &str) -> Option<&'static KnownModel> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_suffix("-instruct").unwrap_or(&name);
    KNOWN.iter().copied().find(|m| m.name == name)
}

/// The known model stored under `file` in the models cache.
pub fn by_file(file: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().copied().find(|m| m.file == file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_paths_do_not() {
        assert_eq!(by_name("qwen2.5-coder-1.5b"), Some(&CODER));
        assert_eq!(by_name("Qwen2.5-Coder-1.5B-Instruct"), Some(&CODER));
        assert_eq!(by_name("demo"), Some(&DEMO));
        assert_eq!(by_name("models/m.gguf"), None);
        assert_eq!(by_file(CODER.file), Some(&CODER));
    }
}
