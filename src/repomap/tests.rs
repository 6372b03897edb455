use super::*;

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn defs_of<'a>(map: &'a RepoMap, path: &str) -> Vec<&'a str> {
    map.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not mapped"))
        .tags
        .defs
        .iter()
        .map(|d| d.name.as_str())
        .collect()
}

#[test]
fn each_language_fixture_yields_its_definitions_and_references() {
    let dir = repo(&[
        (
            "rust/src/lib.rs",
            "pub struct Ledger { total: u64 }\nimpl Ledger {\n    pub fn record(&mut self, n: u64) { self.total += n; }\n}\npub trait Sink { fn flush(&self); }\npub enum Mode { A, B }\n",
        ),
        (
            "rust/src/main.rs",
            "use crate::Ledger;\nfn main() { let mut l = Ledger { total: 0 }; l.record(1); helper(); }\nfn helper() {}\n",
        ),
        (
            "py/app.py",
            "class Todo:\n    def add(self, item):\n        return item\n\ndef main():\n    Todo().add(1)\n",
        ),
        (
            "js/cart.js",
            "class Cart {\n  total() { return 1 }\n}\nfunction checkout(cart) { return cart.total() }\n",
        ),
        (
            "ts/store.ts",
            "export interface Item { id: number }\nexport function load(): Item[] { return [] }\nexport class Store { get(id: number) { return load() } }\n",
        ),
        (
            "ts/App.tsx",
            "export function App() { return <div>{load()}</div> }\n",
        ),
        (
            "go/server.go",
            "package main\n\ntype Server struct{}\n\nfunc (s *Server) Run() {}\n\nfunc main() { s := Server{}; s.Run() }\n",
        ),
        ("README.md", "# fixture\n"),
        ("logo.png", "\u{0}\u{1}PNG"),
    ]);
    let map = RepoMap::build(dir.path(), None);
    assert_eq!(map.stats.files, 9);
    let rust = defs_of(&map, "rust/src/lib.rs");
    for name in ["Ledger", "record", "Sink", "Mode"] {
        assert!(rust.contains(&name), "{name} in {rust:?}");
    }
    assert_eq!(defs_of(&map, "rust/src/main.rs"), ["main", "helper"]);
    assert_eq!(defs_of(&map, "py/app.py"), ["Todo", "add", "main"]);
    let js = defs_of(&map, "js/cart.js");
    assert!(
        js.contains(&"Cart") && js.contains(&"total") && js.contains(&"checkout"),
        "{js:?}"
    );
    let ts = defs_of(&map, "ts/store.ts");
    assert!(
        ts.contains(&"Item") && ts.contains(&"load") && ts.contains(&"Store"),
        "{ts:?}"
    );
    assert_eq!(defs_of(&map, "ts/App.tsx"), ["App"]);
    let go = defs_of(&map, "go/server.go");
    assert!(
        go.contains(&"Server") && go.contains(&"Run") && go.contains(&"main"),
        "{go:?}"
    );
    // References are counted per file.
    let main_rs = &map
        .files
        .iter()
        .find(|f| f.path == "rust/src/main.rs")
        .unwrap()
        .tags;
    assert!(
        main_rs.refs.iter().any(|(n, _)| n == "record"),
        "{:?}",
        main_rs.refs
    );
    let py = &map
        .files
        .iter()
        .find(|f| f.path == "py/app.py")
        .unwrap()
        .tags;
    assert!(py.refs.iter().any(|(n, _)| n == "add"), "{:?}", py.refs);
    // Other files appear by name; binary files are flagged.
    assert!(
        map.files
            .iter()
            .any(|f| f.path == "README.md" && f.tags.defs.is_empty())
    );
    assert!(
        map.files
            .iter()
            .find(|f| f.path == "logo.png")
            .unwrap()
            .tags
            .binary
    );
}

/// A fixture where `billing/invoice.py` uses `tax.py` and `money.py`, and `web/` is unrelated but big.
fn ranked_fixture() -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = vec![
        (
            "billing/invoice.py".into(),
            "from billing.tax import compute_tax\nfrom billing.money import round_cents\n\ndef invoice_total(lines):\n    return round_cents(sum(lines) + compute_tax(sum(lines)))\n".into(),
        ),
        (
            "billing/tax.py".into(),
            "def compute_tax(amount):\n    return amount * 0.2\n".into(),
        ),
        (
            "billing/money.py".into(),
            "def round_cents(x):\n    return round(x, 2)\n".into(),
        ),
    ];
    // A popular module everyone in web/ references: it wins an unpersonalised ranking.
    files.push((
        "web/router.py".into(),
        "def route_request(path):\n    return path\n".into(),
    ));
    for i in 0..12 {
        files.push((
            format!("web/view_{i}.py"),
            format!("from web.router import route_request\n\ndef view_{i}():\n    return route_request('/{i}')\n"),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in &files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn personalised_ranking_puts_the_named_files_neighbours_first() {
    let dir = ranked_fixture();
    let map = RepoMap::build(dir.path(), None);
    let path = |i: usize| map.files[i].path.as_str();

    let neutral = map.ranked_files(&Focus::default());
    assert_eq!(
        path(neutral[0]),
        "web/router.py",
        "without a focus the popular file leads"
    );

    let focus = map.focus("Add a discount line to billing/invoice.py");
    let ranked = map.ranked_files(&focus);
    let top: Vec<&str> = ranked[..3].iter().map(|&i| path(i)).collect();
    assert_eq!(top[0], "billing/invoice.py");
    assert!(
        top.contains(&"billing/tax.py") && top.contains(&"billing/money.py"),
        "the invoice's neighbours come next: {top:?}"
    );
    // The rendered map, on a small budget, shows the neighbours' definitions and not the web views.
    let text = map.render(&focus, 40, &|_| true);
    assert!(text.contains("def compute_tax(amount):"), "{text}");
    assert!(text.contains("def round_cents(x):"), "{text}");
    assert!(!text.contains("def view_"), "{text}");
    // A mentioned identifier pulls its definition up too.
    let focus = map.focus("Why does compute_tax use 0.2?");
    assert!(focus.idents.contains("compute_tax"));
    assert_eq!(path(map.ranked_files(&focus)[0]), "billing/tax.py");
}

#[test]
fn the_budget_is_respected_and_more_budget_shows_more() {
    let dir = ranked_fixture();
    let map = RepoMap::build(dir.path(), None);
    let focus = Focus::default();
    let small = map.render(&focus, 40, &|_| true);
    let large = map.render(&focus, 2_000, &|_| true);
    assert!(small.len() <= 160, "{} chars: {small}", small.len());
    assert!(large.len() > small.len());
    assert!(large.contains("def route_request(path):"), "{large}");
    // Sensitive files appear by name at most.
    let hidden = map.render(&focus, 2_000, &|p| p != "web/router.py");
    assert!(!hidden.contains("def route_request"), "{hidden}");
}

#[test]
fn the_cache_parses_nothing_after_a_no_op_and_one_file_after_a_change() {
    let dir = ranked_fixture();
    let cache = dir.path().join(".tandem/cache/repomap.sqlite");
    let first = RepoMap::build(dir.path(), Some(&cache));
    assert_eq!((first.stats.parsed, first.stats.cached), (16, 0));
    let again = RepoMap::build(dir.path(), Some(&cache));
    assert_eq!((again.stats.parsed, again.stats.cached), (0, 16));
    assert_eq!(
        again.files.iter().map(|f| &f.tags).collect::<Vec<_>>(),
        first.files.iter().map(|f| &f.tags).collect::<Vec<_>>(),
        "cached tags are the parsed tags"
    );
    // Change one file (its size changes, so the key changes even within the mtime granularity).
    std::fs::write(
        dir.path().join("billing/tax.py"),
        "def compute_tax(amount):\n    return amount * 0.2\n\ndef vat_rate():\n    return 0.2\n",
    )
    .unwrap();
    let changed = RepoMap::build(dir.path(), Some(&cache));
    assert_eq!((changed.stats.parsed, changed.stats.cached), (1, 15));
    assert_eq!(
        defs_of(&changed, "billing/tax.py"),
        ["compute_tax", "vat_rate"]
    );
    // A removed file leaves the cache; a corrupt cache is rebuilt, not fatal.
    std::fs::remove_file(dir.path().join("web/view_0.py")).unwrap();
    let fewer = RepoMap::build(dir.path(), Some(&cache));
    assert_eq!((fewer.stats.files, fewer.stats.parsed), (15, 0));
    std::fs::write(&cache, "not a database").unwrap();
    let _ = std::fs::remove_file(cache.with_extension("sqlite-wal"));
    let rebuilt = RepoMap::build(dir.path(), Some(&cache));
    assert_eq!(rebuilt.stats.parsed, 15);
    // The outline tool's lookup goes through the same cache.
    assert_eq!(
        file_tags(dir.path(), "billing/tax.py")
            .defs
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["compute_tax", "vat_rate"]
    );
}

#[test]
fn the_overview_lists_the_map_and_inlines_small_files_within_budget() {
    let dir = repo(&[
        ("src/a.py", "def alpha():\n    print('a')\n"),
        ("big.txt", &"x".repeat(500)),
        ("blob.bin", "\u{0}\u{1}\u{2}"),
        (".gitignore", "ignored.txt\n"),
        ("ignored.txt", "secret"),
        ("key.pem", "-----BEGIN PRIVATE KEY-----"),
    ]);
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    let o = overview(dir.path(), "fix alpha", 400, &|p: &str| {
        !p.ends_with(".pem")
    });
    let out = &o.text;
    assert!(out.contains("src/a.py:\n    1│ def alpha():"), "{out}");
    assert!(out.contains("=== src/a.py ===\ndef alpha():"), "{out}");
    assert!(!out.contains("=== big.txt"), "over budget: {out}");
    assert!(!out.contains("=== blob.bin"), "binary: {out}");
    assert!(!out.contains("ignored.txt"), "gitignored: {out}");
    assert!(!out.contains("BEGIN PRIVATE KEY"), "sensitive: {out}");
    assert!(o.inlined.contains(&"src/a.py".to_string()));
}

#[test]
fn a_rendered_map_is_reused_until_a_file_or_the_question_changes() {
    let dir = repo(&[
        ("src/a.py", "def alpha():\n    return beta()\n"),
        ("src/b.py", "def beta():\n    return 1\n"),
    ]);
    // Outside the tree (in a workspace it sits in `.tandem/`, which the walk skips).
    let elsewhere = tempfile::tempdir().unwrap();
    let cache = elsewhere.path().join("cache.sqlite");
    let all = |_: &str| true;
    let (first, s1) = render_cached(dir.path(), Some(&cache), "fix alpha", 256, &all);
    assert!(!s1.rendered_from_cache && s1.parsed == 2, "{s1:?}");
    assert!(first.contains("def alpha()"), "{first}");
    let (second, s2) = render_cached(dir.path(), Some(&cache), "fix alpha", 256, &all);
    assert!(s2.rendered_from_cache && s2.parsed == 0, "{s2:?}");
    assert_eq!(second, first);
    // Another question, another budget, or another set of hidden files: rendered again.
    let (_, s) = render_cached(dir.path(), Some(&cache), "fix beta", 256, &all);
    assert!(!s.rendered_from_cache);
    let (_, s) = render_cached(dir.path(), Some(&cache), "fix alpha", 64, &all);
    assert!(!s.rendered_from_cache);
    let (hidden, s) = render_cached(dir.path(), Some(&cache), "fix alpha", 256, &|p: &str| {
        p != "src/b.py"
    });
    assert!(
        !s.rendered_from_cache && !hidden.contains("def beta()"),
        "{hidden}"
    );
    // A changed file: parsed and rendered again, with its new content.
    std::fs::write(dir.path().join("src/b.py"), "def gamma():\n    return 2\n").unwrap();
    let (changed, s) = render_cached(dir.path(), Some(&cache), "fix alpha", 256, &all);
    assert!(!s.rendered_from_cache && s.parsed == 1, "{s:?}");
    assert!(
        changed.contains("def gamma()") && !changed.contains("def beta()"),
        "{changed}"
    );
    // Without a cache every call renders.
    let (none, s) = render_cached(dir.path(), None, "fix alpha", 256, &all);
    assert!(!s.rendered_from_cache);
    assert_eq!(none, changed);
}

#[test]
fn a_cached_overview_is_the_same_overview_and_a_change_refreshes_it() {
    let dir = repo(&[("src/a.py", "def alpha():\n    print('a')\n")]);
    let all = |_: &str| true;
    let first = overview(dir.path(), "fix alpha", 4_000, &all);
    assert!(
        first.complete && first.text.contains("That is every file"),
        "{first:?}"
    );
    assert_eq!(overview(dir.path(), "fix alpha", 4_000, &all), first);
    std::fs::write(
        dir.path().join("src/a.py"),
        "def alpha():\n    print('changed')\n",
    )
    .unwrap();
    let changed = overview(dir.path(), "fix alpha", 4_000, &all);
    assert!(changed.text.contains("print('changed')"), "{changed:?}");
    // A file too big to inline: the overview is no longer complete.
    std::fs::write(dir.path().join("big.py"), "# x\n".repeat(5_000)).unwrap();
    assert!(!overview(dir.path(), "fix alpha", 4_000, &all).complete);
}
