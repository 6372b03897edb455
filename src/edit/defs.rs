//! Definition-scoped replies: a reply that writes back only the definitions it changes or adds (functions,
//! classes, methods, impls, imports), merged into the file by name with tree-sitter. A small model that writes a
//! 45-line file whole to change one function spends most of its reply on lines it was not asked to touch, and
//! often breaks some of them; a reply of just that function costs a fraction and leaves the rest as it was.

use crate::edit::matching::is_elision;
use crate::repomap::tags::Lang;

/// What the merge makes of a reply for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The reply stands for the whole file (it has every definition the file has, or it renames or removes some
    /// and is about as long as the file): it replaces the file.
    Whole,
    /// The reply's definitions merged into the file: the file's new text.
    Merged(String),
}

/// The file `old` (in `lang`) becomes when a reply gives `reply` for it: each definition of the reply replaces
/// the file's definition of the same name (a method written on its own, the class's method of that name), a
/// new one goes before the first code that uses it (or before the file's entry point), a new import after the
/// imports; what the reply leaves out stays as it is. `Ok(None)` when either text does not parse cleanly (the
/// caller then takes the reply as it would without this); `Err` says why the reply cannot be merged.
pub fn merge(old: &str, reply: &str, lang: Lang) -> Result<Option<Merge>, String> {
    let reply = dedent(reply);
    let (Some(old_tree), Some(reply_tree)) = (parse(old, lang), parse(&reply, lang)) else {
        return Ok(None);
    };
    if old_tree.root_node().has_error() || reply_tree.root_node().has_error() {
        return Ok(None);
    }
    let old_src = Source::new(old);
    let reply_src = Source::new(&reply);
    let old_units = units(old_tree.root_node(), &old_src);
    let reply_units: Vec<Unit> = units(reply_tree.root_node(), &reply_src)
        .into_iter()
        .filter(|u| !u.is_marker(&reply_src))
        .collect();
    if reply_units.is_empty() {
        return Ok(None);
    }
    if stands_for_whole(&old_units, &reply_units, &old_src, &reply_src) {
        return Ok(Some(Merge::Whole));
    }
    refuse_elisions(&reply_units, &reply_src, old)?;
    let mut edits = Edits::default();
    merge_level(
        &old_units,
        &reply_units,
        &old_src,
        &reply_src,
        Level::Top,
        &mut edits,
    )?;
    Ok(Some(Merge::Merged(edits.apply(&old_src))))
}

/// `text` with the indentation all its non-blank lines share taken off (a method written on its own often keeps
/// its class's indentation).
fn dedent(text: &str) -> String {
    let common = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    if common == 0 {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|l| {
            if l.trim().is_empty() {
                l.trim_start_matches([' ', '\t'])
            } else {
                // Every non-blank line starts with at least `common` whitespace bytes (ASCII, so a boundary).
                l.get(common..).unwrap_or(l)
            }
        })
        .collect()
}

fn parse(text: &str, lang: Lang) -> Option<tree_sitter::Tree> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&lang.language()).ok()?;
    parser.parse(text, None)
}

/// A text and its lines (each with its line end).
struct Source<'a> {
    text: &'a str,
    lines: Vec<&'a str>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Self {
        Source {
            text,
            lines: text.split_inclusive('\n').collect(),
        }
    }

    fn node_text(&self, node: tree_sitter::Node) -> &'a str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    /// Lines `from..to` (0-based, `to` exclusive), joined.
    fn span(&self, from: usize, to: usize) -> String {
        self.lines
            .get(from..to.min(self.lines.len()))
            .map(|l| l.concat())
            .unwrap_or_default()
    }
}

/// What a unit is called, to find its counterpart in the other text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// An import (`import x`, `use a::b;`), by its text with whitespace collapsed.
    Import(String),
    /// A definition or an assignment, by name (`render`, `impl Display for Point`, `x =`).
    Named(String),
    /// Any other statement or comment, by its text with whitespace collapsed.
    Stmt(String),
}

/// A top-level item of a text or a member of a class-like body: whole lines, with the comments, decorators and
/// attributes right above it.
#[derive(Debug, Clone)]
struct Unit {
    key: Key,
    /// The first line of the comments and attributes above it, or its own first line.
    start: usize,
    /// Its own first line.
    own_start: usize,
    /// One past its last line.
    end: usize,
    /// A class-like item's members, merged one by one.
    members: Option<Vec<Unit>>,
    /// The node's kind (`function_definition`, `comment`, …).
    kind: String,
    /// Whether it is a comment that belongs to no item.
    loose_comment: bool,
}

impl Unit {
    /// A comment or `...` that stands for left-out lines, or any loose comment: not code to merge.
    fn is_marker(&self, src: &Source) -> bool {
        self.loose_comment
            || (matches!(self.key, Key::Stmt(_))
                && src.span(self.start, self.end).lines().all(is_elision))
    }

    fn name(&self) -> Option<&str> {
        match &self.key {
            Key::Named(n) => Some(n),
            _ => None,
        }
    }

    /// Whether it is where a file's code starts running (`if __name__ …`, a statement, `module.exports =`, a
    /// test module): new definitions go above such a tail.
    fn is_entry(&self) -> bool {
        match &self.key {
            Key::Stmt(_) => !self.loose_comment,
            Key::Named(n) => {
                n.starts_with("if ")
                    || n.starts_with("module.exports")
                    || n.starts_with("exports.")
                    || n == "mod tests"
            }
            Key::Import(_) => false,
        }
    }
}

fn is_comment_kind(kind: &str) -> bool {
    matches!(kind, "comment" | "line_comment" | "block_comment")
}

fn is_attachment_kind(kind: &str) -> bool {
    is_comment_kind(kind) || kind == "attribute_item"
}

/// The last line a node covers (a node that ends at a line's start ends on the line before).
fn last_row(node: tree_sitter::Node) -> usize {
    let (start, end) = (node.start_position(), node.end_position());
    if end.column == 0 && end.row > start.row {
        end.row - 1
    } else {
        end.row
    }
}

/// The units among `parent`'s named children: comments and attributes directly above an item (no blank line
/// between) belong to it; others are loose.
fn units(parent: tree_sitter::Node, src: &Source) -> Vec<Unit> {
    let mut cursor = parent.walk();
    let children: Vec<tree_sitter::Node> = parent.named_children(&mut cursor).collect();
    let mut out = Vec::new();
    let mut pending: Vec<tree_sitter::Node> = Vec::new();
    for (i, node) in children.iter().enumerate() {
        let kind = node.kind();
        if is_attachment_kind(kind) {
            // A comment on the line an item ends on trails it (`x = 1  # note`).
            if let Some(prev) = out.last_mut().filter(|u: &&mut Unit| {
                u.end == node.start_position().row + 1 && pending.is_empty()
            }) {
                prev.end = prev.end.max(last_row(*node) + 1);
                continue;
            }
            let next_adjacent = children.get(i + 1).is_some_and(|next| {
                next.start_position().row <= last_row(*node) + 1
                    && next.start_position().row > last_row(*node)
            });
            if next_adjacent {
                pending.push(*node);
                continue;
            }
            // A loose comment (and any attachments before it, which were adjacent to it).
            let start = pending
                .first()
                .map_or(node.start_position().row, |p| p.start_position().row);
            pending.clear();
            out.push(Unit {
                key: Key::Stmt(collapse(src.node_text(*node))),
                start,
                own_start: node.start_position().row,
                end: last_row(*node) + 1,
                members: None,
                kind: kind.to_string(),
                loose_comment: is_comment_kind(kind),
            });
            continue;
        }
        let own_start = node.start_position().row;
        let start = pending
            .first()
            .map_or(own_start, |p| p.start_position().row);
        pending.clear();
        let key = key_of(*node, src);
        let members = body_of(*node).map(|b| units(b, src));
        out.push(Unit {
            key,
            start,
            own_start,
            end: last_row(*node) + 1,
            members,
            kind: kind.to_string(),
            loose_comment: false,
        });
    }
    out
}

/// The body of a class-like item whose members are merged one by one.
fn body_of(node: tree_sitter::Node) -> Option<tree_sitter::Node> {
    let inner = definition_of(node);
    match inner.kind() {
        "class_definition"
        | "class_declaration"
        | "class"
        | "impl_item"
        | "trait_item"
        | "mod_item"
        | "interface_declaration" => inner.child_by_field_name("body"),
        _ => None,
    }
}

/// The definition a wrapper (`@decorator`, `export`) carries, or the node itself.
fn definition_of(node: tree_sitter::Node) -> tree_sitter::Node {
    let inner = match node.kind() {
        "decorated_definition" => node.child_by_field_name("definition"),
        "export_statement" => node.child_by_field_name("declaration"),
        _ => None,
    };
    inner.map_or(node, definition_of)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a unit is called.
fn key_of(node: tree_sitter::Node, src: &Source) -> Key {
    let text = |n: tree_sitter::Node| collapse(src.node_text(n));
    match node.kind() {
        "import_statement"
        | "import_from_statement"
        | "future_import_statement"
        | "use_declaration"
        | "import_declaration"
        | "extern_crate_declaration" => return Key::Import(text(node)),
        _ => {}
    }
    let def = definition_of(node);
    let field = |n: tree_sitter::Node, f: &str| n.child_by_field_name(f).map(text);
    let named = match def.kind() {
        "impl_item" => field(def, "type").map(|ty| match field(def, "trait") {
            Some(tr) => format!("impl {tr} for {ty}"),
            None => format!("impl {ty}"),
        }),
        "method_declaration" => match (field(def, "receiver"), field(def, "name")) {
            (Some(r), Some(n)) => Some(format!("{r} {n}")),
            _ => None,
        },
        "package_clause" => Some("package".into()),
        // `mod tests` whether or not the reply repeats its `#[cfg(test)]`.
        "mod_item" => field(def, "name").map(|n| format!("mod {n}")),
        "if_statement" => field(def, "condition").map(|c| format!("if {c}")),
        "expression_statement" => {
            let first = def.named_child(0);
            first
                .filter(|f| matches!(f.kind(), "assignment" | "assignment_expression"))
                .and_then(|f| field(f, "left"))
                .map(|left| format!("{left} ="))
        }
        _ => field(def, "name").or_else(|| {
            // `const x = …`, `type T struct`, `var v = …`: the name of the first declarator or spec.
            let mut cursor = def.walk();
            def.named_children(&mut cursor)
                .find_map(|c| c.child_by_field_name("name").map(text))
        }),
    };
    match named {
        Some(n) => Key::Named(n),
        None => Key::Stmt(text(node)),
    }
}

/// Whether a reply is the file (or the class-like item) whole: it has every item the old one names (and its
/// imports, if it has any), or each item it leaves out comes back under a new name (a rename). A removal is
/// not told from a definition left out: a reply asked for the whole file is taken whole before this.
fn stands_for_whole(old: &[Unit], reply: &[Unit], old_src: &Source, reply_src: &Source) -> bool {
    let imports = |units: &[Unit]| units.iter().any(|u| matches!(u.key, Key::Import(_)));
    let names = |units: &[Unit]| -> Vec<String> {
        units
            .iter()
            .filter_map(|u| u.name().map(str::to_string))
            .collect()
    };
    let (old_names, reply_names) = (names(old), names(reply));
    let missing: Vec<&String> = old_names
        .iter()
        .filter(|n| !reply_names.contains(n))
        .collect();
    if missing.is_empty() {
        // Every definition but none of the file's imports: the definitions, not the file.
        return imports(reply) || !imports(old);
    }
    let added: Vec<&Unit> = reply
        .iter()
        .filter(|u| u.name().is_some_and(|n| !old_names.iter().any(|o| o == n)))
        .collect();
    let text = |src: &Source, u: &Unit| collapse(&src.span(u.own_start, u.end));
    missing.iter().all(|m| {
        let Some(o) = old.iter().find(|u| u.name() == Some(m.as_str())) else {
            return false;
        };
        let before = text(old_src, o);
        added.iter().any(|a| {
            let (Some(old_word), Some(new_word)) = (last_word(m), a.name().and_then(last_word))
            else {
                return false;
            };
            text(reply_src, a).replace(new_word, old_word) == before
        })
    })
}

/// The last word of a key (`impl Display for Point` → `Point`).
fn last_word(key: &str) -> Option<&str> {
    key.split_whitespace().last()
}

/// Refuses a reply whose code stands for lines it leaves out inside a definition (`...` in a body the file
/// does not have): merged, the definition would lose them.
fn refuse_elisions(reply: &[Unit], src: &Source, old: &str) -> Result<(), String> {
    for unit in reply {
        if let Some(marker) = src
            .span(unit.start, unit.end)
            .lines()
            .find(|l| is_elision(l) && !old.lines().any(|o| o.trim() == l.trim()))
        {
            return Err(format!(
                "the reply stands for lines it leaves out (`{}`) inside a definition; write each definition you change whole",
                marker.trim()
            ));
        }
    }
    Ok(())
}

/// Where a level's units are: the file's top level, or a class-like body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Body,
}

/// Line edits on the old text: replacements of line ranges and insertions before a line.
#[derive(Default)]
struct Edits {
    /// (first line, one past the last, new text, order of insertion) — an insertion has first == last.
    items: Vec<(usize, usize, String, usize)>,
}

impl Edits {
    fn replace(&mut self, from: usize, to: usize, text: String) {
        let n = self.items.len();
        self.items.push((from, to, text, n));
    }

    fn insert(&mut self, at: usize, text: String) {
        self.replace(at, at, text);
    }

    fn apply(mut self, src: &Source) -> String {
        self.items.sort_by_key(|(from, to, _, n)| (*from, *to, *n));
        let mut out = String::new();
        let mut at = 0;
        for (from, to, text, _) in self.items {
            if from < at {
                // Overlapping edits do not arise (each old unit is replaced at most once); skip to be safe.
                continue;
            }
            out.push_str(&src.span(at, from));
            if from == src.lines.len() && !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&text);
            at = to;
        }
        out.push_str(&src.span(at, src.lines.len()));
        if !src.text.ends_with('\n') && out.ends_with('\n') && !src.text.is_empty() {
            out.pop();
        }
        out
    }
}

/// The indentation of a line.
fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// `text`'s lines moved from the indentation of its first line to `to`.
fn reindent(text: &str, to: &str) -> String {
    let from = text.lines().next().map(indent_of).unwrap_or("").to_string();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
        } else if let Some(rest) = line.strip_prefix(from.as_str()) {
            out.push_str(to);
            out.push_str(rest);
        } else {
            out.push_str(to);
            out.push_str(line.trim_start());
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The blank lines most often found between consecutive units of a level (2 between Python's top-level
/// definitions by PEP 8, 1 elsewhere, when there is nothing to go by).
fn usual_gap(units: &[Unit], src: &Source, level: Level) -> usize {
    let mut counts = [0usize; 4];
    for pair in units.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.start >= a.end && src.span(a.end, b.start).trim().is_empty() {
            let gap = b.start - a.end;
            if gap < counts.len() {
                counts[gap] += 1;
            }
        }
    }
    match counts.iter().enumerate().max_by_key(|(g, c)| (**c, *g)) {
        Some((gap, c)) if *c > 0 => gap,
        _ if level == Level::Top && units.iter().any(|u| u.kind == "function_definition") => 2,
        _ => 1,
    }
}

/// Merges `reply`'s units into `old`'s at one level, as edits on the old text.
fn merge_level(
    old: &[Unit],
    reply: &[Unit],
    old_src: &Source,
    reply_src: &Source,
    level: Level,
    edits: &mut Edits,
) -> Result<(), String> {
    // Which old unit each reply unit replaces (an item named twice, e.g. two `impl` blocks, pairs in order).
    let mut taken = vec![false; old.len()];
    let mut replaced: Vec<Option<String>> = vec![None; old.len()];
    let mut new_units: Vec<&Unit> = Vec::new();
    let mut new_imports: Vec<&Unit> = Vec::new();
    for (ri, unit) in reply.iter().enumerate() {
        let found = old.iter().enumerate().position(|(oi, o)| {
            !taken[oi]
                && match (&o.key, &unit.key) {
                    (Key::Named(a), Key::Named(b)) => a == b,
                    (Key::Import(a), Key::Import(b)) | (Key::Stmt(a), Key::Stmt(b)) => a == b,
                    _ => false,
                }
        });
        // A changed docstring or leading statement: the first unit of both, of the same kind.
        let found = found.or_else(|| {
            let first = old.first()?;
            (ri == 0
                && !taken[0]
                && matches!((&unit.key, &first.key), (Key::Stmt(_), Key::Stmt(_)))
                && !first.loose_comment
                && first.kind == unit.kind)
                .then_some(0)
        });
        match (found, &unit.key) {
            (Some(oi), Key::Named(_) | Key::Stmt(_)) => {
                taken[oi] = true;
                let text = replacement(&old[oi], unit, old_src, reply_src, edits)?;
                replaced[oi] = text;
            }
            (Some(oi), Key::Import(_)) => taken[oi] = true,
            (None, Key::Import(_)) => new_imports.push(unit),
            (None, Key::Named(name)) => {
                if level == Level::Top
                    && replace_member(old, name, unit, old_src, reply_src, edits)?
                {
                    continue;
                }
                new_units.push(unit);
            }
            (None, Key::Stmt(text)) => {
                return Err(format!(
                    "the reply has `{}`, which is no definition and not in the file, so it has no place to go; write whole definitions (or the whole file)",
                    text.chars().take(60).collect::<String>()
                ));
            }
        }
    }
    for (oi, text) in replaced.iter().enumerate() {
        if let Some(text) = text {
            let o = &old[oi];
            edits.replace(o.start, o.end, text.clone());
        }
    }
    let member_indent = old
        .first()
        .and_then(|u| old_src.lines.get(u.own_start))
        .map(|l| indent_of(l).to_string())
        .unwrap_or_default();
    if !new_imports.is_empty() {
        let text: String = new_imports
            .iter()
            .map(|u| reindent(&reply_src.span(u.start, u.end), &member_indent))
            .collect();
        let after = old
            .iter()
            .rposition(|u| matches!(u.key, Key::Import(_)))
            .map(|i| old[i].end);
        match after {
            Some(line) => edits.insert(line, text),
            None => {
                // Before the first item that is not a docstring or a comment (`package` first in Go).
                let at = old
                    .iter()
                    .find(|u| {
                        !(u.loose_comment
                            || u.kind == "package_clause"
                            || (matches!(u.key, Key::Stmt(_)) && u.kind == "expression_statement"))
                    })
                    .map_or(old_src.lines.len(), |u| u.start);
                let gap = if at == old_src.lines.len() { "" } else { "\n" };
                edits.insert(at, format!("{text}{gap}"));
            }
        }
    }
    if new_units.is_empty() {
        return Ok(());
    }
    let gap = "\n".repeat(usual_gap(old, old_src, level));
    // The tail of entry points (`if __name__ …`, `module.exports = …`, tests) new items go above.
    let tail = old
        .iter()
        .rposition(|u| !u.is_entry() && !u.loose_comment)
        .map_or(0, |i| i + 1);
    for unit in new_units {
        let text = reindent(&reply_src.span(unit.start, unit.end), &member_indent);
        // A plain name (not `impl T`, `x =`): before the first item that uses it (Python runs module code
        // top-down), else above the tail.
        let name = unit.name().filter(|n| !n.contains(char::is_whitespace));
        let user = name.and_then(|name| {
            old.iter().enumerate().position(|(oi, o)| {
                !matches!(o.key, Key::Import(_)) && {
                    let body = replaced[oi]
                        .clone()
                        .unwrap_or_else(|| old_src.span(o.own_start, o.end));
                    uses(&body, name)
                }
            })
        });
        let at = user.unwrap_or(tail).min(old.len());
        if at < old.len() {
            edits.insert(old[at].start, format!("{text}{gap}"));
        } else {
            let end = old.last().map_or(old_src.lines.len(), |u| u.end);
            edits.insert(end, format!("{gap}{text}"));
        }
    }
    Ok(())
}

/// Whether `text` uses the identifier `word`.
fn uses(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The new text of old unit `o` for reply unit `r`: the reply's, moved to `o`'s indentation, keeping the
/// comments and attributes above `o` when the reply has none; a class-like item whose reply leaves members out
/// keeps them (its changed members are merged as edits; `None` then, the item itself is not replaced).
fn replacement(
    o: &Unit,
    r: &Unit,
    old_src: &Source,
    reply_src: &Source,
    edits: &mut Edits,
) -> Result<Option<String>, String> {
    let indent = old_src
        .lines
        .get(o.own_start)
        .map(|l| indent_of(l).to_string())
        .unwrap_or_default();
    if let (Some(ob), Some(rb)) = (&o.members, &r.members) {
        let partial = !stands_for_whole(ob, rb, old_src, reply_src);
        if partial && let (Some(of), Some(rf)) = (ob.first(), rb.first()) {
            // The header (up to the first member) as the reply has it, the members merged.
            let header_old = old_src.span(o.own_start, of.start);
            let header_new = reindent(&reply_src.span(r.own_start, rf.start), &indent);
            if collapse(&header_old) != collapse(&header_new) {
                edits.replace(o.own_start, of.start, header_new);
            }
            let members: Vec<Unit> = rb
                .iter()
                .filter(|u| !u.is_marker(reply_src))
                .cloned()
                .collect();
            merge_level(ob, &members, old_src, reply_src, Level::Body, edits)?;
            return Ok(None);
        }
    }
    let text = reindent(&reply_src.span(r.start, r.end), &indent);
    if r.start == r.own_start && o.start < o.own_start {
        // The reply has no comment or attribute above it: the file's stay.
        return Ok(Some(format!(
            "{}{text}",
            old_src.span(o.start, o.own_start)
        )));
    }
    Ok(Some(text))
}

/// Replaces the one member named `name` of the file's class-like items with `r` (a method written on its own);
/// false when no member or more than one has that name.
fn replace_member(
    old: &[Unit],
    name: &str,
    r: &Unit,
    old_src: &Source,
    reply_src: &Source,
    edits: &mut Edits,
) -> Result<bool, String> {
    let found: Vec<&Unit> = old
        .iter()
        .filter_map(|u| u.members.as_ref())
        .flatten()
        .filter(|m| m.name() == Some(name))
        .collect();
    let [member] = found.as_slice() else {
        return Ok(false);
    };
    if let Some(text) = replacement(member, r, old_src, reply_src, edits)? {
        edits.replace(member.start, member.end, text);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(old: &str, reply: &str, lang: Lang) -> String {
        match merge(old, reply, lang) {
            Ok(Some(Merge::Merged(text))) => text,
            other => panic!("not merged: {other:?}"),
        }
    }

    const TODO: &str = r#"import json
import sys


class TodoList:
    def __init__(self):
        self.items = []

    def add(self, text):
        self.items.append({"text": text})
        return len(self.items)


def render(todos):
    lines = []
    for i, item in enumerate(todos.items, 1):
        lines.append(f"{i}. {item['text']}")
    return "\n".join(lines)


def main(argv):
    todos = TodoList()
    for text in argv:
        todos.add(text)
    print(render(todos))


if __name__ == "__main__":
    main(sys.argv[1:])
"#;

    #[test]
    fn a_reply_of_the_changed_functions_replaces_only_them() {
        let reply = "def render(todos):\n    return \"\\n\".join(f\"[x] {t['text']}\" for t in todos.items)\n";
        let new = merged(TODO, reply, Lang::Python);
        assert_eq!(
            new,
            TODO.replace(
                "    lines = []\n    for i, item in enumerate(todos.items, 1):\n        lines.append(f\"{i}. {item['text']}\")\n    return \"\\n\".join(lines)\n",
                "    return \"\\n\".join(f\"[x] {t['text']}\" for t in todos.items)\n"
            )
        );
    }

    #[test]
    fn a_method_written_on_its_own_or_in_a_partial_class_lands_in_its_class() {
        // A method on its own, indented as in the class or not.
        let reply = "    def add(self, text):\n        self.items.append({\"text\": text, \"done\": False})\n        return len(self.items)\n";
        let new = merged(TODO, reply, Lang::Python);
        assert!(
            new.contains("        self.items.append({\"text\": text, \"done\": False})\n"),
            "{new}"
        );
        assert_eq!(new.lines().count(), TODO.lines().count());
        // A class with one new method: the others stay, the new one goes after them.
        let reply =
            "class TodoList:\n    def done(self, n):\n        self.items[n - 1][\"done\"] = True\n";
        let new = merged(TODO, reply, Lang::Python);
        assert!(new.contains("    def __init__(self):"), "{new}");
        assert!(
            new.contains("        return len(self.items)\n\n    def done(self, n):\n        self.items[n - 1][\"done\"] = True\n\n\ndef render"),
            "{new}"
        );
    }

    #[test]
    fn new_functions_go_before_their_first_user_and_new_imports_after_the_imports() {
        let reply = "import os\n\ndef done(todos, n):\n    todos.items[n - 1][\"done\"] = True\n\n\ndef main(argv):\n    todos = TodoList()\n    done(todos, 1)\n";
        let new = merged(TODO, reply, Lang::Python);
        assert!(
            new.starts_with("import json\nimport sys\nimport os\n\n\nclass"),
            "{new}"
        );
        let done = new.find("def done").unwrap();
        let main = new.find("def main").unwrap();
        let render = new.find("def render").unwrap();
        assert!(render < done && done < main, "{new}");
        assert!(new.contains("    done(todos, 1)\n\n\nif __name__"), "{new}");
        assert!(new.contains("= True\n\n\ndef main"), "{new}");
        // Used by nothing: above the entry point.
        let new = merged(TODO, "def helper():\n    return 1\n", Lang::Python);
        assert!(
            new.contains(
                "    print(render(todos))\n\n\ndef helper():\n    return 1\n\n\nif __name__"
            ),
            "{new}"
        );
    }

    #[test]
    fn a_reply_with_every_definition_is_the_whole_file_and_so_is_a_rename() {
        let whole = TODO.replace("import sys\n", "import sys\nimport os\n");
        assert_eq!(merge(TODO, &whole, Lang::Python), Ok(Some(Merge::Whole)));
        let renamed = TODO.replace("render", "show");
        assert_eq!(merge(TODO, &renamed, Lang::Python), Ok(Some(Merge::Whole)));
        // Without the imports and the first definitions, it is the definitions it has, merged.
        let tail = &TODO[TODO.find("def render").unwrap()..];
        assert_eq!(merged(TODO, tail, Lang::Python), TODO);
        // Every definition but not the imports: merged, so the imports stay.
        let defs = &TODO[TODO.find("class").unwrap()..];
        assert_eq!(merged(TODO, defs, Lang::Python), TODO);
    }

    #[test]
    fn code_that_leaves_lines_out_or_has_no_place_is_refused_and_broken_code_is_not_merged() {
        let err = merge(TODO, "def render(todos):\n    ...\n", Lang::Python).unwrap_err();
        assert!(err.contains("leaves out"), "{err}");
        // A loose marker comment between definitions is no code: the rest merges.
        let new = merged(
            TODO,
            "# ... the rest as it is\n\ndef helper():\n    return 1\n",
            Lang::Python,
        );
        assert!(!new.contains("rest as it is"), "{new}");
        let err = merge(TODO, "print('hi')\n", Lang::Python).unwrap_err();
        assert!(err.contains("no place"), "{err}");
        assert_eq!(merge(TODO, "def render(:\n", Lang::Python), Ok(None));
    }

    #[test]
    fn rust_items_impl_methods_and_attributes() {
        let old = "use std::fmt;\n\n/// A point.\n#[derive(Debug)]\npub struct Point {\n    x: i32,\n}\n\nimpl Point {\n    pub fn new(x: i32) -> Self {\n        Point { x }\n    }\n\n    pub fn x(&self) -> i32 {\n        self.x\n    }\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n";
        // A method on its own; a new trait impl; neither touches the doc comment or attributes.
        let reply = "pub fn x(&self) -> i32 {\n    self.x * 2\n}\n\nimpl fmt::Display for Point {\n    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {\n        write!(f, \"({})\", self.x)\n    }\n}\n";
        let new = merged(old, reply, Lang::Rust);
        assert!(new.contains("        self.x * 2\n    }\n}\n"), "{new}");
        assert!(
            new.contains("/// A point.\n#[derive(Debug)]\npub struct Point"),
            "{new}"
        );
        let display = new.find("impl fmt::Display").unwrap();
        assert!(display > new.find("impl Point").unwrap(), "{new}");
        assert!(display < new.find("#[cfg(test)]").unwrap(), "{new}");
        // The struct written with a new field and no attributes keeps its doc comment and derive.
        let new = merged(
            old,
            "pub struct Point {\n    x: i32,\n    y: i32,\n}\n",
            Lang::Rust,
        );
        assert!(
            new.contains(
                "/// A point.\n#[derive(Debug)]\npub struct Point {\n    x: i32,\n    y: i32,\n}\n"
            ),
            "{new}"
        );
    }

    #[test]
    fn javascript_functions_class_methods_and_exports() {
        let old = "class Cart {\n  constructor() {\n    this.items = [];\n  }\n\n  total() {\n    return 0;\n  }\n}\n\nfunction format(n) {\n  return `${n}`;\n}\n\nmodule.exports = { Cart, format };\n";
        let reply = "class Cart {\n  total() {\n    return this.items.reduce((a, b) => a + b, 0);\n  }\n}\n\nfunction double(n) {\n  return n * 2;\n}\n\nmodule.exports = { Cart, format, double };\n";
        let new = merged(old, reply, Lang::JavaScript);
        assert!(
            new.contains(
                "  total() {\n    return this.items.reduce((a, b) => a + b, 0);\n  }\n}\n"
            ),
            "{new}"
        );
        assert!(
            new.ends_with("function double(n) {\n  return n * 2;\n}\n\nmodule.exports = { Cart, format, double };\n"),
            "{new}"
        );
        assert!(new.contains("    this.items = [];"), "{new}");
    }

    #[test]
    fn the_demo_task_as_three_definitions() {
        let old = include_str!("../../examples/todo-cli/todo.py");
        let reply = "def done(item_id, store=STORE):\n    items = load(store)\n    for item in items:\n        if item[\"id\"] == item_id:\n            item[\"done\"] = True\n    save(items, store)\n\n\ndef render(items):\n    return \"\\n\".join(\n        f\"{item['id']}. [x] {item['text']}\" if item.get(\"done\") else f\"{item['id']}. {item['text']}\"\n        for item in items\n    )\n\n\ndef main(argv):\n    if len(argv) == 2 and argv[0] == \"done\":\n        done(int(argv[1]))\n        return 0\n    return 2\n";
        let new = merged(old, reply, Lang::Python);
        // Everything the reply leaves out is as it was, the module docstring and STORE included.
        assert!(new.starts_with("\"\"\"A tiny todo list"), "{new}");
        assert!(
            new.contains("STORE = Path(\"todo.json\")\n\n\ndef load"),
            "{new}"
        );
        assert!(
            new.contains("    return items[-1]\n\n\ndef done(item_id, store=STORE):"),
            "{new}"
        );
        assert!(
            new.contains(
                "    save(items, store)\n\n\ndef render(items):\n    return \"\\n\".join(\n"
            ),
            "{new}"
        );
        assert!(
            new.ends_with(
                "    return 2\n\n\nif __name__ == \"__main__\":\n    sys.exit(main(sys.argv[1:]))\n"
            ),
            "{new}"
        );
        assert!(!new.contains("usage: todo.py"), "{new}");
    }

    #[test]
    fn a_file_without_a_final_newline_keeps_that() {
        let old = "def a():\n    return 1\n\n\ndef b():\n    return 2";
        let new = merged(old, "def a():\n    return 10\n", Lang::Python);
        assert_eq!(new, "def a():\n    return 10\n\n\ndef b():\n    return 2");
    }
}
