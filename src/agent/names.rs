//! What file names in text look like: test files and vendored folders by convention, and the paths a task or
//! a check's output mentions. Heuristics over names only; whether a name is a file the path policy may read is
//! for the caller to ask.

/// Whether `path` is a test by the usual conventions: a `test`/`tests`/`spec`/`__tests__` folder, or a file
/// named `test_*`, `*_test.*`, `*.test.*`, `*.spec.*`, `test.*` or `tests.*`.
pub(crate) fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut parts: Vec<&str> = lower.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    parts
        .iter()
        .any(|d| matches!(*d, "test" | "tests" | "spec" | "__tests__"))
        || name.starts_with("test_")
        || stem.ends_with("_test")
        || name.contains(".test.")
        || name.contains(".spec.")
        || matches!(stem, "test" | "tests")
}

/// Whether `path` lies in a dependency, build-output or hidden folder, whose files a check's output may name
/// but a step does not change.
pub(crate) fn vendored(path: &str) -> bool {
    let mut dirs: Vec<&str> = path.split('/').collect();
    dirs.pop();
    dirs.iter().any(|d| {
        d.starts_with('.')
            || matches!(
                *d,
                "node_modules"
                    | "site-packages"
                    | "target"
                    | "vendor"
                    | "dist"
                    | "build"
                    | "__pycache__"
            )
    })
}

/// Most paths taken from one text by [`mentioned_paths`].
const MENTIONED_MAX: usize = 8;

/// Most files a failing check's output adds to a whole-file step.
pub(crate) const REPORT_FILES_MAX: usize = 3;

/// Words of `text` that look like file paths (`cli.js`, `src/lib.rs`, `` `a.py` ``): a dot or slash, no spaces,
/// quotes and trailing punctuation stripped. Whether each is a file is for the caller's path policy to say.
pub(crate) fn mentioned_paths(text: &str) -> Vec<String> {
    paths_among(
        text.split(|c: char| {
            c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '(' | ')' | ',' | ';')
        }),
        MENTIONED_MAX,
    )
}

/// Paths a check's output names, relative to the workspace `root`: a traceback's `File "/ws/test_x.py", line 3`,
/// a compiler's `--> src/lib.rs:3:5`, a stack frame's `(/ws/test.js:5:8)`. Paths outside `root` are dropped
/// here or by the caller's path policy.
pub(crate) fn report_paths(root: &str, report: &str) -> Vec<String> {
    let root = format!("{}/", root.trim_end_matches('/'));
    let text = report.replace(&root, "");
    paths_among(
        text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'))),
        REPORT_FILES_MAX * 3,
    )
}

/// The first `max` distinct words that look like relative file paths.
fn paths_among<'a>(words: impl Iterator<Item = &'a str>, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words {
        let word = word
            .trim_end_matches(['.', ':', '!', '?'])
            .trim_start_matches("./");
        if looks_like_path(word) && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
            if out.len() == max {
                break;
            }
        }
    }
    out
}

/// Whether `word` reads as a relative file path with an extension (`a.py`, `src/lib.rs`), not a flag, an
/// absolute path, a parent-relative path, a URL or a number.
pub(crate) fn looks_like_path(word: &str) -> bool {
    word.len() > 2
        && word.contains(['.', '/'])
        && !word.starts_with(['-', '/', '.'])
        && !word.contains("..")
        && !word.contains("://")
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'))
        && word
            .rsplit('/')
            .next()
            .and_then(|name| name.rsplit_once('.'))
            .is_some_and(|(stem, ext)| {
                !stem.is_empty() && ext.starts_with(|c: char| c.is_ascii_alphabetic())
            })
}

/// The fence's language tag for `path`: its extension (`py`, `rs`, `js`), which models read as the language.
pub(crate) fn fence_tag(path: &str) -> &str {
    std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_known_by_their_names_and_folders() {
        for p in [
            "test_calc.py",
            "tests/test_x.py",
            "calc_test.go",
            "cart.test.js",
            "ui.spec.ts",
            "test.js",
            "tests.rs",
            "src/__tests__/a.js",
            "tests/cli.rs",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in [
            "calc.py",
            "src/testing.rs",
            "latest.js",
            "contest/a.py",
            "attest.py",
        ] {
            assert!(!is_test_path(p), "{p}");
        }
    }

    #[test]
    fn a_check_report_names_workspace_files_in_each_tool_s_own_shape() {
        let report = "FAIL: test_lines (test_wc.WcTest.test_lines)\n\
            Traceback (most recent call last):\n  File \"/tmp/x/ws/test_wc.py\", line 29, in test_lines\n\
            error[E0425]: cannot find value `y`\n  --> src/lib.rs:3:5\n\
            at Object.<anonymous> (/tmp/x/ws/test.js:5:8)\n\
            at Module._compile (node:internal/modules/cjs/loader.js:1105:14)\n\
            File \"/usr/lib/python3.11/unittest/case.py\", line 57\n";
        let paths = report_paths("/tmp/x/ws", report);
        for p in ["test_wc.py", "src/lib.rs", "test.js"] {
            assert!(paths.iter().any(|x| x == p), "{p} in {paths:?}");
        }
        // Absolute paths outside the workspace stay absolute, so they are not paths in it.
        assert!(
            !paths.iter().any(|x| x.contains("unittest/case.py")),
            "{paths:?}"
        );
        assert!(vendored("node_modules/a/index.js") && vendored(".venv/lib/x.py"));
        assert!(!vendored("src/lib.rs") && !vendored("test_wc.py"));
    }

    #[test]
    fn paths_mentioned_in_a_task_are_found_and_words_are_not() {
        let task = "Add an `--upper` flag to cli.js: `node cli.js --upper NAME` prints it. See src/lib.rs, \
                    e.g. the README.md; not ../etc/passwd, /etc/hosts, https://x.io/a.js or 3.5.";
        // `e.g` looks like a file name; the caller's read finds it is not one.
        assert_eq!(
            mentioned_paths(task),
            ["cli.js", "src/lib.rs", "e.g", "README.md"]
        );
    }
}
