//! The sampler chain for one request, with an optional grammar checked the cheap way first.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use super::stderr::capture_stderr;
use super::types::{Constraint, EngineError, SamplingParams};

/// Picks each next token: penalties, top-k, top-p, min-p, temperature, then a seeded draw (or greedy).
pub struct TokenSampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
}

impl TokenSampler {
    /// Builds the chain; a grammar that llama.cpp cannot parse is an error here, before any decoding.
    pub fn new(
        model: &LlamaModel,
        params: &SamplingParams,
        constraint: Option<&Constraint>,
    ) -> Result<Self, EngineError> {
        let mut stages = Vec::new();
        if params.repeat_penalty != 1.0 && params.repeat_last_n > 0 {
            stages.push(LlamaSampler::penalties(
                model.n_vocab(),
                params.repeat_last_n,
                params.repeat_penalty,
                0.0,
                0.0,
            ));
        }
        if params.temperature <= 0.0 {
            stages.push(LlamaSampler::greedy());
        } else {
            if params.top_k > 0 {
                stages.push(LlamaSampler::top_k(params.top_k));
            }
            if params.top_p < 1.0 {
                stages.push(LlamaSampler::top_p(params.top_p, 1));
            }
            if params.min_p > 0.0 {
                stages.push(LlamaSampler::min_p(params.min_p, 1));
            }
            stages.push(LlamaSampler::temp(params.temperature));
            stages.push(LlamaSampler::dist(params.seed.unwrap_or_else(random_seed)));
        }
        let grammar = match constraint {
            None => None,
            Some(c) => Some(build_grammar(model, c)?),
        };
        Ok(TokenSampler {
            chain: LlamaSampler::chain_simple(stages),
            grammar,
        })
    }

    /// Like [`new`](Self::new), with a grammar sampler built earlier (a fresh one, from
    /// [`GrammarCache`]).
    pub fn with_grammar(
        model: &LlamaModel,
        params: &SamplingParams,
        grammar: Option<LlamaSampler>,
    ) -> Result<Self, EngineError> {
        let mut sampler = TokenSampler::new(model, params, None)?;
        sampler.grammar = grammar;
        Ok(sampler)
    }

    /// Lets the repeat penalty see prompt tokens (the grammar only constrains output).
    pub fn accept_prompt(&mut self, tokens: &[LlamaToken]) {
        self.chain.accept_many(tokens);
    }

    /// Whether a grammar constrains this request.
    pub fn constrained(&self) -> bool {
        self.grammar.is_some()
    }

    /// Picks the token that brings the grammar closest to complete: end of generation if the grammar allows it,
    /// else the best-ranked closer it allows, else the shortest allowed token (the most likely among equals),
    /// which adds the least before the document can close. Used when the token budget is nearly spent, so a
    /// constrained reply ends as a whole document instead of being cut off.
    pub fn sample_closing(
        &mut self,
        ctx: &LlamaContext<'_>,
        idx: i32,
        closers: &Closers,
        is_eog: impl Fn(LlamaToken) -> bool,
        piece_len: impl Fn(LlamaToken) -> usize,
    ) -> Result<LlamaToken, EngineError> {
        let Some(grammar) = self.grammar.as_mut() else {
            return Ok(self.chain.sample(ctx, idx));
        };
        let mut all = ctx.token_data_array_ith(idx);
        all.apply_sampler(grammar);
        let allowed: std::collections::HashMap<i32, f32> = all
            .data
            .iter()
            .filter(|d| d.logit() != f32::NEG_INFINITY)
            .map(|d| (d.id().0, d.logit()))
            .collect();
        let eog = allowed.keys().map(|&t| LlamaToken(t)).find(|t| is_eog(*t));
        let closer = closers
            .iter()
            .find(|(t, _)| allowed.contains_key(&t.0))
            .map(|(t, _)| *t);
        let shortest = allowed
            .iter()
            .filter(|(t, _)| !is_eog(LlamaToken(**t)))
            .map(|(&t, &logit)| (piece_len(LlamaToken(t)).max(1), logit, t))
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
            .map(|(_, _, t)| LlamaToken(t));
        let token = eog
            .or(closer)
            .or(shortest)
            .ok_or_else(|| EngineError::Grammar("no token satisfies the grammar".into()))?;
        grammar.try_accept(token).map_err(|e| {
            EngineError::Grammar(format!("grammar rejected token {}: {e}", token.0))
        })?;
        self.chain.accept(token);
        Ok(token)
    }

    /// Samples the next token from the logits at batch index `idx`, and accepts it.
    ///
    /// With a grammar, the unconstrained choice is checked against the grammar first (llama.cpp's common
    /// sampler does the same); when it is rejected, the most likely [`TOP_FIRST`] tokens, and only when the
    /// grammar allows none of them, the whole vocabulary.
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> Result<LlamaToken, EngineError> {
        let Some(grammar) = self.grammar.as_mut() else {
            return Ok(self.chain.sample(ctx, idx));
        };
        let mut candidates = ctx.token_data_array_ith(idx);
        candidates.apply_sampler(&mut self.chain);
        let mut token = candidates.selected_token();
        if let Some(t) = token {
            let mut single =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(t, 1.0, 0.0)], false);
            single.apply_sampler(grammar);
            if single
                .data
                .first()
                .is_none_or(|d| d.logit() == f32::NEG_INFINITY)
            {
                token = None;
            }
        }
        let token = match token {
            Some(t) => t,
            None => {
                let mut all = ctx.token_data_array_ith(idx);
                // The grammar is checked against the most likely tokens first: checking the whole vocabulary
                // (151k tokens on a Qwen model) costs milliseconds per token, and an allowed token is almost
                // always among the first few hundred. The chain's own top-k then picks among those allowed.
                let top = TOP_FIRST.min(all.data.len());
                if top < all.data.len() {
                    all.data
                        .select_nth_unstable_by(top, |a, b| b.logit().total_cmp(&a.logit()));
                }
                let mut likely = LlamaTokenDataArray::new(all.data[..top].to_vec(), false);
                likely.apply_sampler(grammar);
                let picked = if likely.data.iter().any(|d| d.logit() != f32::NEG_INFINITY) {
                    likely.apply_sampler(&mut self.chain);
                    likely.selected_token()
                } else {
                    None
                };
                match picked {
                    Some(t) => t,
                    None => {
                        all.apply_sampler(grammar);
                        all.apply_sampler(&mut self.chain);
                        all.selected_token().ok_or_else(|| {
                            EngineError::Grammar("no token satisfies the grammar".into())
                        })?
                    }
                }
            }
        };
        grammar.try_accept(token).map_err(|e| {
            EngineError::Grammar(format!("grammar rejected token {}: {e}", token.0))
        })?;
        self.chain.accept(token);
        Ok(token)
    }
}

/// How many of the most likely tokens the grammar is checked against before the whole vocabulary.
const TOP_FIRST: usize = 256;

/// Tokens that help close a JSON document, best first (found once per model by [`closers`]).
pub type Closers = Vec<(LlamaToken, u8)>;

/// The model's tokens that close strings, objects and arrays, ranked: `"` first, then `}`/`]`, then pieces
/// starting with a quote (`"}`, `",`), then `,`.
pub fn closers(model: &LlamaModel) -> Closers {
    let vocab = model.vocab();
    let mut out: Closers = vocab
        .tokens()
        .filter_map(|t| {
            let piece = vocab.token_to_piece(t, false, None);
            let text = std::str::from_utf8(&piece).ok()?.trim();
            let rank = match text {
                "\"" => 0,
                "}" | "]" => 1,
                _ if text.starts_with('"')
                    && text[1..].chars().all(|c| matches!(c, '}' | ']' | ','))
                    && text.len() > 1 =>
                {
                    2
                }
                _ if !text.is_empty() && text.chars().all(|c| matches!(c, '}' | ']')) => 2,
                "," => 3,
                _ => return None,
            };
            Some((t, rank))
        })
        .collect();
    out.sort_by_key(|(_, rank)| *rank);
    out
}

/// A grammar sampler for `constraint`: the schema turned into GBNF and parsed by llama.cpp.
pub fn build_grammar(
    model: &LlamaModel,
    constraint: &Constraint,
) -> Result<LlamaSampler, EngineError> {
    let gbnf = grammar_text(constraint)?;
    let (sampler, printed) = capture_stderr(|| LlamaSampler::grammar(model, &gbnf, "root"));
    sampler.map_err(|_| {
        // The parser prints its reason, then the whole grammar: keep the reason.
        let reason = printed
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no reason given");
        EngineError::Grammar(format!("llama.cpp rejected the grammar: {}", reason.trim()))
    })
}

/// Grammar samplers by constraint, most recently used last: a request with the same tools or schema as an
/// earlier one gets a fresh copy of its parsed grammar instead of converting and parsing it again.
#[derive(Default)]
pub struct GrammarCache {
    entries: Vec<(String, LlamaSampler)>,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Grammars built.
    pub builds: u64,
    /// What decodes JSON schemas.
    #[cfg_attr(not(feature = "llguidance"), allow(dead_code))]
    engine: super::GrammarEngine,
    /// llguidance's parser factory for this model's vocabulary, made the first time it is used.
    #[cfg(feature = "llguidance")]
    llg: Option<llg::Llg>,
}

/// Grammars kept (a session uses a handful: the planner's tools, the executor's, withheld sets, a plan schema).
const GRAMMARS_KEPT: usize = 8;

impl GrammarCache {
    /// A fresh grammar sampler for `constraint` (never one that has seen tokens).
    pub fn get(
        &mut self,
        model: &LlamaModel,
        constraint: &Constraint,
    ) -> Result<LlamaSampler, EngineError> {
        let key = match constraint {
            Constraint::Gbnf(g) => format!("g:{g}"),
            Constraint::JsonSchema(s) => format!("j:{s}"),
        };
        if let Some(i) = self.entries.iter().position(|(k, _)| *k == key) {
            let entry = self.entries.remove(i);
            let fresh = entry.1.clone();
            self.entries.push(entry);
            self.hits += 1;
            return Ok(fresh);
        }
        let built = self.build(model, constraint)?;
        self.builds += 1;
        if self.entries.len() >= GRAMMARS_KEPT {
            self.entries.remove(0);
        }
        // The cached one is never used to sample: each request gets a clone in its initial state.
        let fresh = built.clone();
        self.entries.push((key, built));
        Ok(fresh)
    }
}

impl GrammarCache {
    /// An empty cache whose JSON schemas are decoded by `engine`.
    pub fn new(engine: super::GrammarEngine) -> Self {
        GrammarCache {
            engine,
            ..GrammarCache::default()
        }
    }

    /// A new grammar sampler: llguidance for a JSON schema where it is built in and chosen, llama.cpp's
    /// grammar sampler otherwise.
    fn build(
        &mut self,
        model: &LlamaModel,
        constraint: &Constraint,
    ) -> Result<LlamaSampler, EngineError> {
        #[cfg(feature = "llguidance")]
        if let Constraint::JsonSchema(schema) = constraint
            && self.engine == super::GrammarEngine::Llguidance
        {
            if self.llg.is_none() {
                self.llg = Some(llg::Llg::new(model)?);
            }
            if let Some(llg) = &self.llg {
                return llg.sampler(schema);
            }
        }
        build_grammar(model, constraint)
    }
}

/// JSON-schema constraints on llguidance (the `llguidance` feature).
#[cfg(feature = "llguidance")]
mod llg {
    use llama_cpp_2::model::LlamaModel;
    use llama_cpp_2::sampling::LlamaSampler;

    use super::EngineError;

    /// A parser factory over one model's vocabulary (building it walks the whole vocabulary once).
    pub struct Llg {
        factory: llguidance::ParserFactory,
    }

    impl Llg {
        pub fn new(model: &LlamaModel) -> Result<Self, EngineError> {
            let started = std::time::Instant::now();
            let env = LlamaSampler::llguidance_tok_env(model);
            let factory = llguidance::ParserFactory::new_simple(&env)
                .map_err(|e| EngineError::Grammar(format!("llguidance: {e}")))?;
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "llguidance's token table built"
            );
            Ok(Llg { factory })
        }

        /// A fresh sampler for `schema`; `x-non-blank` strings must start with a visible character, as
        /// under the GBNF path.
        pub fn sampler(&self, schema: &serde_json::Value) -> Result<LlamaSampler, EngineError> {
            let mut schema = schema.clone();
            non_blank(&mut schema);
            let grammar = llguidance::api::TopLevelGrammar::from_json_schema(schema);
            let parser = self.factory.create_parser(grammar).map_err(|e| {
                EngineError::Grammar(format!("llguidance rejected the schema: {e}"))
            })?;
            Ok(LlamaSampler::from(llguidance::Matcher::new(Ok(parser))))
        }
    }

    /// Turns each `"x-non-blank": true` into a pattern that the first character is not blank.
    fn non_blank(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if map.remove("x-non-blank") == Some(serde_json::Value::Bool(true)) {
                    map.insert(
                        "pattern".into(),
                        serde_json::Value::String(r"^[^\s\x00-\x1f\x7f]".into()),
                    );
                }
                map.values_mut().for_each(non_blank);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(non_blank),
            _ => {}
        }
    }
}

/// The GBNF text for a constraint.
pub fn grammar_text(constraint: &Constraint) -> Result<String, EngineError> {
    match constraint {
        Constraint::Gbnf(g) => Ok(g.clone()),
        Constraint::JsonSchema(schema) => {
            let (grammar, printed) =
                capture_stderr(|| llama_cpp_2::json_schema_to_grammar(&schema.to_string()));
            if !printed.trim().is_empty() {
                // e.g. "JSON schema conversion was incomplete": the grammar is looser than the schema.
                tracing::warn!(message = printed.trim(), "json_schema_to_grammar");
            }
            let grammar = grammar.map_err(|e| {
                EngineError::Grammar(format!("cannot turn the JSON schema into a grammar: {e}"))
            })?;
            Ok(non_blank(&grammar, &non_blank_properties(schema)))
        }
    }
}

/// Names of string properties marked `"x-non-blank": true` anywhere in `schema`.
fn non_blank_properties(schema: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    for (name, p) in props {
                        if p.get("x-non-blank") == Some(&serde_json::Value::Bool(true)) {
                            out.push(name.clone());
                        }
                    }
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// llama.cpp turns `minLength: 1` into `char{1,N}`, which a small model fills with a space. For the marked
/// properties the first character must be visible (not whitespace, not an escape), so a blank string cannot
/// be sampled at all.
fn non_blank(grammar: &str, props: &[String]) -> String {
    if props.is_empty() {
        return grammar.to_string();
    }
    let mut changed = false;
    let mut out: Vec<String> = grammar
        .lines()
        .map(|line| {
            let Some((name, body)) = line.split_once(" ::= ") else {
                return line.to_string();
            };
            // llama.cpp names a property's rule after its path, with `_` written as `-`.
            let marked = props
                .iter()
                .map(|p| p.replace('_', "-"))
                .any(|p| name == p || name.ends_with(&format!("-{p}")));
            if !marked {
                return line.to_string();
            }
            let Some(start) = body.find("char{1,") else {
                return line.to_string();
            };
            let rest = &body[start + "char{1,".len()..];
            let Some(end) = rest.find('}') else {
                return line.to_string();
            };
            let Ok(max) = rest[..end].parse::<u32>() else {
                return line.to_string();
            };
            changed = true;
            let tail = if max > 1 {
                format!(" char{{0,{}}}", max - 1)
            } else {
                String::new()
            };
            format!(
                "{name} ::= {}visible-char{tail}{}",
                &body[..start],
                &rest[end + 1..]
            )
        })
        .collect();
    if changed {
        out.push(r#"visible-char ::= [^"\\\x7F\x00-\x20]"#.to_string());
    }
    out.join("\n") + "\n"
}

fn random_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    // Truncation is the point: any 32 bits of the hash make a seed.
    h.finish() as u32
}

#[cfg(test)]
mod non_blank_tests {
    use super::*;

    #[test]
    fn marked_strings_must_start_with_a_visible_character() {
        let schema = crate::protocol::Plan::json_schema();
        let g = grammar_text(&Constraint::JsonSchema(schema)).unwrap();
        for rule in ["summary ::=", "goal ::=", "done-when ::="] {
            let line = g
                .lines()
                .find(|l| l.contains(rule))
                .unwrap_or_else(|| panic!("{rule} in\n{g}"));
            assert!(line.contains("visible-char char{0,299}"), "{line}");
        }
        assert!(
            g.contains("visible-char ::= [^\"\\\\\\x7F\\x00-\\x20]"),
            "{g}"
        );
        // Unmarked strings (file paths here) keep llama.cpp's rule.
        assert!(g.lines().any(|l| l.contains("char{1,200}")), "{g}");
    }
}
