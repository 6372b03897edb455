//! The planner's picture of the repository: a parallel, gitignore-aware walk; tree-sitter definitions and
//! references per file, cached on disk by (path, mtime, size, grammar); a PageRank over the reference graph
//! personalised towards what the task mentions; the top definitions rendered with their signatures within a
//! token budget (a binary search on how many fit).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod cache;
pub mod rank;
pub mod tags;
mod watchdog;

pub use rank::Focus;

/// Files larger than this are listed but not parsed or inlined.
const MAX_PARSE_BYTES: u64 = 1024 * 1024;
/// Files larger than this are never inlined into the planner's prompt.
const MAX_INLINE_BYTES: u64 = 16 * 1024;
/// Directories skipped even when no ignore file names them.
const SKIP_DIRS: &[&str] = &[".git", ".tandem", "node_modules", "__pycache__", ".venv"];

/// A definition in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Def {
    /// The name.
    pub name: String,
    /// `function`, `method`, `class`, `interface`, `module`, …
    pub kind: String,
    /// 1-based line.
    pub line: usize,
    /// The definition's first line, trimmed.
    pub signature: String,
}

/// What a file defines and references.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTags {
    /// Definitions, in order.
    pub defs: Vec<Def>,
    /// Referenced names and how often.
    pub refs: Vec<(String, u32)>,
    /// Not text (a NUL in the first 8 KiB, or not UTF-8).
    pub binary: bool,
}

/// One file in the map.
#[derive(Debug, Clone)]
pub struct MapFile {
    /// Workspace-relative path with `/` separators.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Its tags (empty for files in no known language).
    pub tags: FileTags,
}

/// How a map was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Files walked.
    pub files: usize,
    /// Files parsed now.
    pub parsed: usize,
    /// Files whose tags came from the cache.
    pub cached: usize,
    /// Milliseconds: walk, cache load, parse, cache store.
    pub walk_ms: u128,
    /// See `walk_ms`.
    pub load_ms: u128,
    /// See `walk_ms`.
    pub parse_ms: u128,
    /// See `walk_ms`.
    pub store_ms: u128,
    /// Milliseconds ranking and rendering (0 when the rendered map came from the cache).
    pub render_ms: u128,
    /// The rendered map came from the cache: nothing changed since it was rendered for the same question.
    pub rendered_from_cache: bool,
}

/// The repository's files and their tags.
#[derive(Debug, Clone, Default)]
pub struct RepoMap {
    /// Files, sorted by path.
    pub files: Vec<MapFile>,
    /// How it was built.
    pub stats: MapStats,
}

/// Where a workspace's tag cache lives.
pub fn cache_path(root: &Path) -> PathBuf {
    root.join(".tandem/cache/repomap.sqlite")
}

struct Walked {
    path: String,
    abs: PathBuf,
    size: u64,
    mtime_ns: i64,
}

fn walk(root: &Path) -> Vec<Walked> {
    let found = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    ignore::WalkBuilder::new(root)
        .hidden(true)
        .require_git(false)
        .threads(threads)
        .filter_entry(|e| !SKIP_DIRS.iter().any(|d| e.file_name() == *d))
        .build_parallel()
        .run(|| {
            let found = &found;
            Box::new(move |entry| {
                let Ok(entry) = entry else {
                    return ignore::WalkState::Continue;
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return ignore::WalkState::Continue;
                }
                let (Ok(rel), Ok(meta)) = (entry.path().strip_prefix(root), entry.metadata())
                else {
                    return ignore::WalkState::Continue;
                };
                let mtime_ns = mtime_ns(&meta);
                let item = Walked {
                    path: rel.to_string_lossy().replace('\\', "/"),
                    abs: entry.path().to_path_buf(),
                    size: meta.len(),
                    mtime_ns,
                };
                if let Ok(mut f) = found.lock() {
                    f.push(item);
                }
                ignore::WalkState::Continue
            })
        });
    let mut files = found.into_inner().unwrap_or_default();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Reads and tags one file.
fn parse(abs: &Path, size: u64) -> FileTags {
    let Some(lang) = tags::Lang::of(abs) else {
        // Unknown languages are listed by name; a quick look says whether they are text.
        let binary = std::fs::File::open(abs).ok().is_some_and(|f| {
            use std::io::Read;
            let mut head = Vec::with_capacity(8192);
            f.take(8192).read_to_end(&mut head).is_ok() && head.contains(&0)
        });
        return FileTags {
            binary,
            ..FileTags::default()
        };
    };
    if size > MAX_PARSE_BYTES {
        return FileTags::default();
    }
    let Ok(bytes) = std::fs::read(abs) else {
        return FileTags::default();
    };
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return FileTags {
            binary: true,
            ..FileTags::default()
        };
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return FileTags {
            binary: true,
            ..FileTags::default()
        };
    };
    let found = match tags::tags(lang, &text) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("repo map: {} listed without symbols: {e}", abs.display());
            return FileTags::default();
        }
    };
    let mut refs: HashMap<String, u32> = HashMap::new();
    let mut defs = Vec::new();
    for t in found {
        if t.is_definition {
            defs.push(Def {
                name: t.name,
                kind: t.kind,
                line: t.line,
                signature: t.signature,
            });
        } else {
            *refs.entry(t.name).or_default() += 1;
        }
    }
    let mut refs: Vec<(String, u32)> = refs.into_iter().collect();
    refs.sort();
    FileTags {
        defs,
        refs,
        binary: false,
    }
}

/// The modification time in nanoseconds (0 where the file system has none): part of the cache key.
fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

fn grammar_of(path: &str) -> String {
    tags::Lang::of(Path::new(path)).map_or_else(|| "none".into(), |l| l.grammar_id())
}

/// What a rendered map depends on besides the question: every file's path, size, modification time and
/// grammar, and this build of tandem.
fn fingerprint(walked: &[Walked]) -> sha2::Sha256 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for w in walked {
        h.update(w.path.as_bytes());
        h.update([0]);
        h.update(w.size.to_le_bytes());
        h.update(w.mtime_ns.to_le_bytes());
        h.update(grammar_of(&w.path).as_bytes());
        h.update([0]);
    }
    h
}

/// The render cache's key for `what` (a kind and its parameters) asked of the walked files, with the paths
/// `may_show` hides (a privacy setting changes the answer too).
fn render_key(walked: &[Walked], what: &str, may_show: &dyn Fn(&str) -> bool) -> String {
    use sha2::Digest;
    let mut h = fingerprint(walked);
    h.update(what.as_bytes());
    h.update([0]);
    for w in walked.iter().filter(|w| !may_show(&w.path)) {
        h.update(w.path.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The map of `root` for `focus_text` within `budget_tokens` ([`RepoMap::render`]), and how it was made: from
/// the render cache at `cache` when no file changed since the same question was answered (a walk and one
/// lookup), else built and rendered, and stored for next time.
pub fn render_cached(
    root: &Path,
    cache: Option<&Path>,
    focus_text: &str,
    budget_tokens: usize,
    may_show: &dyn Fn(&str) -> bool,
) -> (String, MapStats) {
    let t = Instant::now();
    let walked = walk(root);
    let walk_ms = t.elapsed().as_millis();
    let mut db = cache.and_then(cache::Cache::open);
    let key = render_key(
        &walked,
        &format!("render\0{budget_tokens}\0{focus_text}"),
        may_show,
    );
    if let Some(text) = db.as_ref().and_then(|db| db.rendered(&key)) {
        let stats = MapStats {
            files: walked.len(),
            cached: walked.len(),
            walk_ms,
            rendered_from_cache: true,
            ..MapStats::default()
        };
        return (text, stats);
    }
    let mut map = RepoMap::from_walk(walked, db.as_mut());
    map.stats.walk_ms = walk_ms;
    let t = Instant::now();
    let focus = map.focus(focus_text);
    let text = map.render(&focus, budget_tokens, may_show);
    map.stats.render_ms = t.elapsed().as_millis();
    if let Some(db) = db.as_mut()
        && let Err(e) = db.put_rendered(&key, &text)
    {
        tracing::warn!("rendered repo map not cached: {e}");
    }
    (text, map.stats)
}

impl RepoMap {
    /// Maps `root`, reusing and updating the tag cache at `cache` (when given and usable).
    pub fn build(root: &Path, cache: Option<&Path>) -> RepoMap {
        let t = Instant::now();
        let walked = walk(root);
        let walk_ms = t.elapsed().as_millis();
        let mut db = cache.and_then(cache::Cache::open);
        let mut map = RepoMap::from_walk(walked, db.as_mut());
        map.stats.walk_ms = walk_ms;
        map
    }

    /// Maps the walked files, through the tag cache `db`.
    fn from_walk(walked: Vec<Walked>, db: Option<&mut cache::Cache>) -> RepoMap {
        let mut stats = MapStats {
            files: walked.len(),
            ..MapStats::default()
        };
        let t = Instant::now();
        let mut rows = db.as_ref().map(|c| c.load()).unwrap_or_default();
        stats.load_ms = t.elapsed().as_millis();

        let t = Instant::now();
        let mut slots: Vec<Option<FileTags>> = Vec::with_capacity(walked.len());
        let mut todo = Vec::new();
        for (i, w) in walked.iter().enumerate() {
            match rows.remove(&w.path) {
                Some(row)
                    if row.mtime_ns == w.mtime_ns
                        && row.size == w.size as i64
                        && row.grammar == grammar_of(&w.path) =>
                {
                    slots.push(Some(row.tags));
                }
                _ => {
                    slots.push(None);
                    todo.push(i);
                }
            }
        }
        stats.cached = walked.len() - todo.len();
        stats.parsed = todo.len();
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let parsed: Mutex<Vec<(usize, FileTags)>> = Mutex::new(Vec::with_capacity(todo.len()));
        std::thread::scope(|s| {
            for _ in 0..threads.min(todo.len().max(1)) {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = todo.get(k) else { break };
                        mine.push((i, parse(&walked[i].abs, walked[i].size)));
                    }
                    if let Ok(mut p) = parsed.lock() {
                        p.extend(mine);
                    }
                });
            }
        });
        let mut fresh = Vec::new();
        for (i, tags) in parsed.into_inner().unwrap_or_default() {
            let w = &walked[i];
            fresh.push((
                w.path.clone(),
                cache::Row {
                    mtime_ns: w.mtime_ns,
                    size: w.size as i64,
                    grammar: grammar_of(&w.path),
                    tags: tags.clone(),
                },
            ));
            slots[i] = Some(tags);
        }
        stats.parse_ms = t.elapsed().as_millis();

        let t = Instant::now();
        let gone: Vec<String> = rows.into_keys().collect();
        if let Some(db) = db
            && let Err(e) = db.store(&fresh, &gone)
        {
            tracing::warn!("repo map cache not updated: {e}");
        }
        stats.store_ms = t.elapsed().as_millis();
        let files = walked
            .into_iter()
            .zip(slots)
            .map(|(w, tags)| MapFile {
                path: w.path,
                size: w.size,
                tags: tags.unwrap_or_default(),
            })
            .collect();
        RepoMap { files, stats }
    }

    /// What `text` (the task, plan or step) mentions.
    pub fn focus(&self, text: &str) -> Focus {
        let paths: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        let tags: Vec<&FileTags> = self.files.iter().map(|f| &f.tags).collect();
        Focus::from_text(text, &paths, &tags)
    }

    /// File indices, best first, for `focus`.
    pub fn ranked_files(&self, focus: &Focus) -> Vec<usize> {
        let tags: Vec<&FileTags> = self.files.iter().map(|f| &f.tags).collect();
        let (_, file_rank) = rank::rank(&tags, focus);
        order_files(focus, &file_rank)
    }

    /// The map as text within `budget_tokens` (about 4 characters a token): the best-ranked definitions with
    /// their line numbers and signatures, grouped by file, then more file names while they fit. Files for which
    /// `may_show` is false appear by name only.
    pub fn render(
        &self,
        focus: &Focus,
        budget_tokens: usize,
        may_show: &dyn Fn(&str) -> bool,
    ) -> String {
        let tags: Vec<&FileTags> = self.files.iter().map(|f| &f.tags).collect();
        let (ranked, file_rank) = rank::rank(&tags, focus);
        let ranked: Vec<&rank::Ranked> = ranked
            .iter()
            .filter(|r| may_show(&self.files[r.file].path))
            .collect();
        // Room is kept for the closing "… and N more files" line.
        let budget_chars = budget_tokens.saturating_mul(4).saturating_sub(32);
        let fits = |n: usize| self.render_top(&ranked[..n]).len() <= budget_chars;
        // The largest n whose rendering fits: the length grows with n, so a binary search finds it.
        // Every rendered definition takes more than 8 characters, which bounds the search.
        let (mut lo, mut hi) = (0usize, ranked.len().min(budget_chars / 8 + 1));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut out = self.render_top(&ranked[..lo]);
        let shown: std::collections::HashSet<usize> = ranked[..lo].iter().map(|r| r.file).collect();
        let mut more = Vec::new();
        for i in order_files(focus, &file_rank) {
            if shown.contains(&i) {
                continue;
            }
            let line = format!("{}\n", self.files[i].path);
            if out.len() + line.len() > budget_chars {
                more.push(i);
                continue;
            }
            out.push_str(&line);
        }
        if !more.is_empty() {
            out.push_str(&format!("… and {} more files\n", more.len()));
        }
        out
    }

    fn render_top(&self, top: &[&rank::Ranked]) -> String {
        let mut by_file: std::collections::BTreeMap<usize, Vec<&str>> = Default::default();
        let mut file_order: Vec<usize> = Vec::new();
        for r in top {
            let names = by_file.entry(r.file).or_default();
            if names.is_empty() {
                file_order.push(r.file);
            }
            names.push(&r.name);
        }
        let mut out = String::new();
        for f in file_order {
            let file = &self.files[f];
            let names = &by_file[&f];
            out.push_str(&file.path);
            out.push_str(":\n");
            let mut defs: Vec<&Def> = file
                .tags
                .defs
                .iter()
                .filter(|d| names.contains(&d.name.as_str()))
                .collect();
            defs.sort_by_key(|d| d.line);
            defs.dedup_by_key(|d| d.line);
            for d in defs {
                out.push_str(&format!("{:>5}│ {}\n", d.line, d.signature));
            }
        }
        out
    }
}

/// One file's tags through the cache (parsed and stored when the cached entry is missing or stale): what
/// the `outline` tool shows.
pub fn file_tags(root: &Path, rel: &str) -> FileTags {
    let abs = root.join(rel);
    let Ok(meta) = std::fs::metadata(&abs) else {
        return FileTags::default();
    };
    let mtime_ns = mtime_ns(&meta);
    let grammar = grammar_of(rel);
    let mut db = cache::Cache::open(&cache_path(root));
    if let Some(row) = db.as_ref().and_then(|c| c.get(rel))
        && row.mtime_ns == mtime_ns
        && row.size == meta.len() as i64
        && row.grammar == grammar
    {
        return row.tags;
    }
    let tags = parse(&abs, meta.len());
    if let Some(db) = db.as_mut() {
        let row = cache::Row {
            mtime_ns,
            size: meta.len() as i64,
            grammar,
            tags: tags.clone(),
        };
        let _ = db.store(&[(rel.to_string(), row)], &[]);
    }
    tags
}

/// Mentioned files first, then by rank.
fn order_files(focus: &Focus, file_rank: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..file_rank.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = focus.files.contains(&a);
        let fb = focus.files.contains(&b);
        fb.cmp(&fa)
            .then(file_rank[b].total_cmp(&file_rank[a]))
            .then(a.cmp(&b))
    });
    order
}

/// The overview text and the files whose content it includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// The text for the planner.
    pub text: String,
    /// Workspace-relative paths whose content is in `text`.
    pub inlined: Vec<String>,
    /// Every text file of the repository is in `text`: there is nothing left to read.
    pub complete: bool,
}

/// The planner's overview of `root` for `focus_text` (the task, or the task and the plan): the ranked map
/// within half of `budget_chars`, then the contents of small text files, best-ranked first, while they fit.
/// Files for which `may_inline` is false (sensitive paths) appear by name only.
pub fn overview(
    root: &Path,
    focus_text: &str,
    budget_chars: usize,
    may_inline: &dyn Fn(&str) -> bool,
) -> Overview {
    // The whole overview is cached like a rendered map: with no file changed (every file's size and
    // modification time are in the key), the same question gets the same answer, inlined contents included.
    let walked = walk(root);
    let mut db = cache::Cache::open(&cache_path(root));
    let key = render_key(
        &walked,
        &format!("overview\0{budget_chars}\0{focus_text}"),
        may_inline,
    );
    if let Some(hit) = db
        .as_ref()
        .and_then(|db| db.rendered(&key))
        .and_then(|text| serde_json::from_str::<Overview>(&text).ok())
    {
        return hit;
    }
    let map = RepoMap::from_walk(walked, db.as_mut());
    let made = overview_of(&map, root, focus_text, budget_chars, may_inline);
    if let Some(db) = db.as_mut()
        && let Ok(json) = serde_json::to_string(&made)
        && let Err(e) = db.put_rendered(&key, &json)
    {
        tracing::warn!("repository overview not cached: {e}");
    }
    made
}

/// [`overview`] of a built map.
fn overview_of(
    map: &RepoMap,
    root: &Path,
    focus_text: &str,
    budget_chars: usize,
    may_inline: &dyn Fn(&str) -> bool,
) -> Overview {
    let focus = map.focus(focus_text);
    let mut out = format!(
        "Repository map ({} files; best-ranked definitions first):\n",
        map.files.len()
    );
    out.push_str(&map.render(&focus, budget_chars / 8, may_inline));
    let mut inlined = Vec::new();
    let ws = crate::sandbox::Workspace::new(root).ok();
    let mut complete = true;
    for i in map.ranked_files(&focus) {
        let f = &map.files[i];
        if f.tags.binary {
            continue;
        }
        if f.size > MAX_INLINE_BYTES || !may_inline(&f.path) {
            complete = false;
            continue;
        }
        // Through the tools' path policy: a link swapped in since the walk is refused, never followed.
        let Some(text) = ws
            .as_ref()
            .and_then(|ws| ws.read(&f.path, MAX_INLINE_BYTES).ok())
            .and_then(|(_, bytes)| String::from_utf8(bytes).ok())
        else {
            complete = false;
            continue;
        };
        let block = format!("\n=== {} ===\n{}\n", f.path, text.trim_end());
        if out.len() + block.len() > budget_chars {
            complete = false;
            continue;
        }
        out.push_str(&block);
        inlined.push(f.path.clone());
    }
    if complete {
        out.push_str("\n(That is every file in the repository.)\n");
    }
    Overview {
        text: out,
        inlined,
        complete,
    }
}

#[cfg(test)]
mod tests;
