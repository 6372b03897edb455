//! Ranking: files are nodes, each reference to a name another file defines is an edge (weighted by how
//! often, how specific the name is, and whether the task mentions it), and PageRank personalised towards the
//! files the task, plan or step mention decides which definitions the planner sees first.

use std::collections::{HashMap, HashSet};

use super::FileTags;

/// What the task, the plan or the current step mention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// Indices of mentioned files.
    pub files: HashSet<usize>,
    /// Mentioned identifiers that some file defines.
    pub idents: HashSet<String>,
}

impl Focus {
    /// Finds the files (by path or file name) and defined identifiers that `text` mentions.
    pub fn from_text(text: &str, paths: &[&str], tags: &[&FileTags]) -> Focus {
        let words: HashSet<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| w.len() >= 3)
            .collect();
        let tokens: HashSet<&str> = text
            .split(|c: char| {
                c.is_whitespace() || matches!(c, '`' | '\'' | '"' | ',' | '(' | ')' | ':')
            })
            .map(|t| t.trim_end_matches(['.', ';', '!', '?']))
            .filter(|t| !t.is_empty())
            .collect();
        let mut focus = Focus::default();
        for (i, path) in paths.iter().enumerate() {
            let name = path.rsplit('/').next().unwrap_or(path);
            let stem = name.split('.').next().unwrap_or(name);
            if tokens.contains(path)
                || (name.contains('.') && tokens.contains(name))
                || (stem.len() >= 5 && words.contains(stem))
            {
                focus.files.insert(i);
            }
        }
        for t in tags {
            for d in &t.defs {
                if words.contains(d.name.as_str()) {
                    focus.idents.insert(d.name.clone());
                }
            }
        }
        focus
    }
}

/// A definition's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// File index.
    pub file: usize,
    /// The defined name.
    pub name: String,
    /// Its share of the rank.
    pub score: f64,
}

/// Names defined in more files than this make no edges.
const MAX_DEFINERS: usize = 24;

/// Whether a name is specific enough to be worth more (long snake_case or camelCase).
fn specific(name: &str) -> bool {
    name.len() >= 8 && (name.contains('_') || name.chars().skip(1).any(|c| c.is_ascii_uppercase()))
}

/// The ranked definitions (best first) and each file's rank.
pub fn rank(tags: &[&FileTags], focus: &Focus) -> (Vec<Ranked>, Vec<f64>) {
    let n = tags.len();
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut defines: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in tags.iter().enumerate() {
        let mut seen = HashSet::new();
        for d in &t.defs {
            if seen.insert(d.name.as_str()) {
                defines.entry(d.name.as_str()).or_default().push(i);
            }
        }
    }
    // Edges: (from, to, name, weight).
    let mut edges: Vec<(usize, usize, &str, f64)> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        for (name, count) in &t.refs {
            let Some(definers) = defines.get(name.as_str()) else {
                continue;
            };
            // A name defined in many files (`new`, `fmt`, `run`) says little about which one is meant, and
            // linking every use to every definition would make the graph quadratic.
            if definers.len() > MAX_DEFINERS {
                continue;
            }
            let mut mul = 1.0;
            if focus.idents.contains(name) {
                mul *= 10.0;
            }
            if specific(name) {
                mul *= 10.0;
            }
            if name.starts_with('_') {
                mul *= 0.1;
            }
            if definers.len() > 5 {
                mul *= 0.1;
            }
            if focus.files.contains(&i) {
                mul *= 50.0;
            }
            let w = mul * f64::from(*count).sqrt();
            for &d in definers {
                edges.push((i, d, name.as_str(), w));
            }
        }
    }
    let mut out_weight = vec![0.0; n];
    for &(from, _, _, w) in &edges {
        out_weight[from] += w;
    }
    // Personalisation: the mentioned files (and files defining mentioned names), else everyone.
    let mut p = vec![0.0; n];
    for &f in &focus.files {
        p[f] = 1.0;
    }
    for name in &focus.idents {
        for &d in defines.get(name.as_str()).into_iter().flatten() {
            p[d] += 0.5;
        }
    }
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
    } else {
        p.iter_mut().for_each(|x| *x = 1.0 / n as f64);
    }
    let damping = 0.85;
    let mut r = p.clone();
    for _ in 0..100 {
        let dangling: f64 = (0..n).filter(|&i| out_weight[i] == 0.0).map(|i| r[i]).sum();
        let mut next: Vec<f64> = p
            .iter()
            .map(|pi| (1.0 - damping + damping * dangling) * pi)
            .collect();
        for &(from, to, _, w) in &edges {
            next[to] += damping * r[from] * w / out_weight[from];
        }
        let delta: f64 = next.iter().zip(&r).map(|(a, b)| (a - b).abs()).sum();
        r = next;
        if delta < 1e-9 {
            break;
        }
    }
    // Each file's rank flows to the definitions it references, in proportion to the edge weights.
    let mut scores: HashMap<(usize, &str), f64> = HashMap::new();
    for &(from, to, name, w) in &edges {
        *scores.entry((to, name)).or_default() += r[from] * w / out_weight[from];
    }
    // Definitions nobody references still rank, by their file's rank, below referenced ones.
    for (i, t) in tags.iter().enumerate() {
        for d in &t.defs {
            scores.entry((i, d.name.as_str())).or_insert(r[i] * 1e-3);
        }
    }
    let mut ranked: Vec<Ranked> = scores
        .into_iter()
        .map(|((file, name), score)| Ranked {
            file,
            name: name.to_string(),
            score,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.file.cmp(&b.file))
            .then(a.name.cmp(&b.name))
    });
    (ranked, r)
}
