//! The engine thread: owns the llama.cpp model and context, serves one job at a time.

use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc::UnboundedSender;

use super::lookup;
use super::prefix::{common_prefix, tokens_to_keep};
use super::sampler::{Closers, TokenSampler, closers};
use super::slots::{self, Placement};
use super::template::ChatFormatter;
use super::text::{StopMatcher, StopScan, Utf8Stream};
use super::types::{
    ALTERNATIVE_PROMPT_MAX, AlternativeReply, CancelToken, Constraint, EngineError, FinishReason,
    GenEvent, GenRequest, GenStats, MAX_ALTERNATIVES, Prompt,
};
use super::{EngineConfig, ModelInfo};

/// Work for the engine thread.
pub(super) enum Job {
    Generate {
        request: GenRequest,
        events: UnboundedSender<GenEvent>,
        cancel: CancelToken,
    },
    Tokenize {
        prompt: Prompt,
        reply: tokio::sync::oneshot::Sender<Result<usize, EngineError>>,
    },
    ClearCache {
        reply: tokio::sync::oneshot::Sender<()>,
    },
}

/// The process-wide llama.cpp backend (llama.cpp allows one initialisation per process).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // Before init, so that not even llama.cpp's start-up lines reach a terminal.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Decode(format!("llama.cpp backend: {e}")))
}

/// Loads the model and context, reports the outcome on `ready`, then serves jobs until the channel closes.
pub(super) fn run(
    config: EngineConfig,
    jobs: Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<ModelInfo, EngineError>>,
) {
    let loaded = (|| {
        let backend = backend()?;
        super::gguf::check_file(&config.model_path)?;
        let started = Instant::now();
        let params = LlamaModelParams::default().with_n_gpu_layers(config.gpu_layers);
        let model =
            LlamaModel::load_from_file(backend, &config.model_path, &params).map_err(|_| {
                EngineError::LoadFailed {
                    path: config.model_path.clone(),
                }
            })?;
        let n_ctx = if config.context_size == 0 {
            model.n_ctx_train()
        } else {
            config.context_size
        };
        let threads = i32::try_from(config.threads).unwrap_or(i32::MAX);
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(config.batch_size)
            .with_n_ubatch(config.batch_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            // Alternative replies decode on sequences of their own, sharing the prompt's cells: one cache for
            // all, so the main sequence still has the whole context.
            .with_n_seq_max(1 + MAX_ALTERNATIVES as u32)
            .with_kv_unified(true);
        let formatter = ChatFormatter::new(&model, &config.chat_template)?;
        let info = ModelInfo {
            path: config.model_path.clone(),
            description: model_description(&model),
            n_params: model.n_params(),
            size_bytes: model.size(),
            n_ctx_train: model.n_ctx_train(),
            n_ctx,
            threads: config.threads,
            gpu_layers: config.gpu_layers,
            template: formatter.mode().to_string(),
            load_time: started.elapsed(),
            compute: super::hardware::compute_path(),
        };
        Ok((model, ctx_params, formatter, info))
    })();
    let (model, ctx_params, formatter, info) = match loaded {
        Ok(parts) => parts,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let Ok(backend) = backend() else { return };
    let n_ctx = info.n_ctx;
    let ctx = match model.new_context(backend, ctx_params) {
        Ok(ctx) => ctx,
        Err(_) => {
            let _ = ready.send(Err(EngineError::Context { n_ctx }));
            return;
        }
    };
    let batch_size = config.batch_size as usize;
    let closers = closers(&model);
    let mut worker = Worker {
        model: &model,
        ctx,
        formatter,
        cached: Vec::new(),
        cached_text: None,
        parked: Vec::new(),
        batch: LlamaBatch::new(batch_size, 1),
        batch_size,
        prefill_rate: None,
        grammars: super::sampler::GrammarCache::new(config.grammar_engine),
        closers,
        // A draft is checked by cutting the refused part off the cache, which recurrent state cannot do.
        draft_max: if model.is_recurrent() || model.is_hybrid() {
            0
        } else {
            config.draft_tokens as usize
        },
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Generate {
                request,
                events,
                cancel,
            } => {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker.generate(&request, &events, &cancel)
                }));
                let event = match outcome {
                    Ok(Ok((finish, stats, alternatives))) => GenEvent::Done {
                        finish,
                        stats,
                        alternatives,
                    },
                    Ok(Err(e)) => GenEvent::Failed(e),
                    Err(_) => {
                        worker.forget_all();
                        GenEvent::Failed(EngineError::Decode(
                            "the engine panicked; the cache was reset".into(),
                        ))
                    }
                };
                let _ = events.send(event);
            }
            Job::Tokenize { prompt, reply } => {
                let _ = reply.send(worker.tokenize(&prompt).map(|t| t.len()));
            }
            Job::ClearCache { reply } => {
                worker.forget_all();
                let _ = reply.send(());
            }
        }
    }
}

fn model_description(model: &LlamaModel) -> String {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_else(|_| "unknown".into());
    match model.meta_val_str("general.name") {
        Ok(name) => format!("{name} ({arch})"),
        Err(_) => arch,
    }
}

struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    formatter: ChatFormatter,
    /// Exactly the tokens whose KV entries are in sequence 0, in order.
    cached: Vec<LlamaToken>,
    /// The text `cached` stands for, byte for byte, where it is known (after a generation: its prompt and the
    /// reply as sampled), so a prompt that continues it can keep the model's own tokens.
    cached_text: Option<Vec<u8>>,
    /// Other conversations' KV state, most recently parked last.
    parked: Vec<Parked>,
    batch: LlamaBatch<'static>,
    batch_size: usize,
    /// Prompt tokens per second, as measured on full prefill chunks (a moving average).
    prefill_rate: Option<f64>,
    /// Parsed grammars by constraint.
    grammars: super::sampler::GrammarCache,
    closers: Closers,
    /// Most prompt-lookup draft tokens per step (0: none).
    draft_max: usize,
}

/// How soon a cancel is seen during a prefill (its chunks are sized to about this much work).
const CANCEL_WITHIN: std::time::Duration = std::time::Duration::from_millis(500);
/// The smallest prefill chunk, in tokens.
const MIN_CHUNK: usize = 32;

/// Tokens per prefill chunk at `rate` prompt tokens per second (unknown: the smallest) with batches of
/// `batch` tokens.
fn prefill_chunk(rate: Option<f64>, batch: usize) -> usize {
    let by_rate = match rate {
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            (rate * CANCEL_WITHIN.as_secs_f64()) as usize
        }
        _ => MIN_CHUNK,
    };
    by_rate.clamp(MIN_CHUNK.min(batch), batch.max(1))
}

/// A conversation's KV state, saved off the context, and its tokens.
struct Parked {
    tokens: Vec<LlamaToken>,
    text: Option<Vec<u8>>,
    state: SeqState,
}

/// Tokens kept in reserve at the end of a constrained reply's budget to close the document (see
/// [`TokenSampler::sample_closing`]).
pub const CLOSING_RESERVE: u32 = 48;

impl Worker<'_> {
    fn forget_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
        self.cached_text = None;
    }

    /// Drops the live sequence and every parked conversation.
    fn forget_all(&mut self) {
        self.forget_cache();
        self.parked.clear();
    }

    /// Puts the conversation best placed for `prompt` on the live sequence: the live one stays (parked as a
    /// copy first when the prompt starts another conversation, so the live sequence keeps the start they
    /// share), or a parked one is restored (the live one parked in its turn when it is worth keeping).
    fn bring_in(&mut self, prompt: &[LlamaToken]) {
        let parked: Vec<&[LlamaToken]> = self.parked.iter().map(|p| p.tokens.as_slice()).collect();
        let (index, continued) = match slots::place(&self.cached, &parked, prompt) {
            Placement::Live => {
                if slots::worth_parking(&self.cached, prompt)
                    && let Some(copy) = self.save_live()
                {
                    self.push_parked(copy);
                }
                return;
            }
            Placement::Parked { index, continued } => (index, continued),
        };
        let live = if self.cached.len() >= slots::MIN_PARKED_TOKENS {
            self.save_live()
        } else {
            None
        };
        // The live conversation is replaced by the restored one.
        self.forget_cache();
        // A conversation the prompt continues leaves the parked set; one restored only for its start stays,
        // now the most recently used (the oldest parked goes first).
        let entry = self.parked.remove(index);
        let restored = self
            .ctx
            .state_seq_set(&entry.state, 0)
            .map(|()| (entry.tokens.clone(), entry.text.clone()));
        if !continued {
            self.parked.push(entry);
        }
        match restored {
            Ok((tokens, text)) => {
                self.cached = tokens;
                self.cached_text = text;
            }
            Err(e) => {
                tracing::debug!(
                    "restoring a parked conversation failed ({e}); it is prefilled instead"
                );
                self.forget_cache();
            }
        }
        if let Some(live) = live {
            self.push_parked(live);
        }
    }

    /// A copy of the live sequence's state and tokens (`None` when empty or when llama.cpp cannot save it).
    fn save_live(&self) -> Option<Parked> {
        if self.cached.is_empty() {
            return None;
        }
        match self.ctx.state_seq_get(0, LlamaStateSeqFlags::empty()) {
            Ok(state) => Some(Parked {
                tokens: self.cached.clone(),
                text: self.cached_text.clone(),
                state,
            }),
            Err(e) => {
                tracing::debug!("parking the live conversation failed: {e}");
                None
            }
        }
    }

    /// Adds `entry` to the parked conversations, dropping the oldest beyond the limits.
    fn push_parked(&mut self, entry: Parked) {
        self.parked.push(entry);
        while self.parked.len() > slots::MAX_PARKED
            || self
                .parked
                .iter()
                .map(|p| p.state.byte_len())
                .sum::<usize>()
                > slots::MAX_PARKED_BYTES
        {
            self.parked.remove(0);
        }
    }

    fn render(&self, prompt: &Prompt) -> Result<String, EngineError> {
        match prompt {
            Prompt::Raw(text) => Ok(text.clone()),
            Prompt::Chat(messages) => self.formatter.render(self.model, messages),
        }
    }

    fn tokenize(&self, prompt: &Prompt) -> Result<Vec<LlamaToken>, EngineError> {
        let text = self.render(prompt)?;
        Ok(self.tokenize_text(&text))
    }

    /// The tokens for `text`: where it continues a conversation whose text is known (the live one or a parked
    /// one), that conversation's tokens as they are (a reply as the model sampled it, which tokenizing its text
    /// again would often split differently) and then the rest; else `text` tokenized whole.
    fn prompt_tokens(&self, text: &str) -> Vec<LlamaToken> {
        let live = std::iter::once((&self.cached, &self.cached_text));
        let parked = self.parked.iter().map(|p| (&p.tokens, &p.text));
        let best = live
            .chain(parked)
            .filter_map(|(tokens, known)| known.as_ref().map(|k| (tokens, k)))
            .filter(|(tokens, known)| !tokens.is_empty() && text.as_bytes().starts_with(known))
            .max_by_key(|(_, known)| known.len());
        let Some((tokens, known)) = best else {
            return self.tokenize_text(text);
        };
        let rest = &text.as_bytes()[known.len()..];
        let mut out = tokens.clone();
        // The rest starts at a character boundary of `text` only if the known part ends at one; a reply cut off
        // inside a character is not a safe place to join.
        match std::str::from_utf8(rest) {
            Ok(rest) => {
                out.extend(self.model.vocab().tokenize(rest.as_bytes(), false, true));
                out
            }
            Err(_) => self.tokenize_text(text),
        }
    }

    fn tokenize_text(&self, text: &str) -> Vec<LlamaToken> {
        // A template that writes the BOS token itself must not get a second one.
        let bos = self.model.vocab().bos();
        let bos_text = String::from_utf8_lossy(&self.model.vocab().token_to_piece(bos, true, None))
            .into_owned();
        let add_special = bos_text.is_empty() || !text.starts_with(&bos_text);
        self.model
            .vocab()
            .tokenize(text.as_bytes(), add_special, true)
    }

    /// Drops cached tokens after `keep`; falls back to clearing everything where llama.cpp cannot cut a
    /// sequence part-way (recurrent and some sliding-window models).
    fn truncate_cache(&mut self, keep: usize) -> usize {
        if keep >= self.cached.len() {
            return keep.min(self.cached.len());
        }
        let cut = u32::try_from(keep).ok();
        match self.ctx.clear_kv_cache_seq(Some(0), cut, None) {
            Ok(true) => {
                self.cached.truncate(keep);
                self.cached_text = None;
                keep
            }
            _ => {
                self.forget_cache();
                0
            }
        }
    }

    /// Tokens per prefill chunk: about [`CANCEL_WITHIN`] of work at the measured rate (a cancel is seen
    /// between chunks), at least [`MIN_CHUNK`], at most the batch size.
    fn chunk_size(&self) -> usize {
        prefill_chunk(self.prefill_rate, self.batch_size)
    }

    /// Decodes `tokens` at positions from `self.cached.len()`, logits for the last one only.
    fn decode(&mut self, tokens: &[LlamaToken], cancel: &CancelToken) -> Result<bool, EngineError> {
        let size = self.chunk_size();
        let chunks = tokens.len().div_ceil(size);
        for (i, chunk) in tokens.chunks(size).enumerate() {
            if cancel.is_cancelled() {
                return Ok(false);
            }
            let t = Instant::now();
            self.batch.clear();
            let start = self.cached.len();
            for (j, &token) in chunk.iter().enumerate() {
                let pos = i32::try_from(start + j)
                    .map_err(|_| EngineError::Decode("position overflow".into()))?;
                let last = i + 1 == chunks && j + 1 == chunk.len();
                self.batch
                    .add(token, pos, &[0], last)
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                // What this batch put in the cache is unknown: start clean next time.
                self.forget_cache();
                return Err(EngineError::Decode(e.to_string()));
            }
            self.cached.extend_from_slice(chunk);
            // Only full chunks say what a chunk costs (a single decoded token is not prefill).
            if chunk.len() == size && size > 1 {
                let rate = chunk.len() as f64 / t.elapsed().as_secs_f64().max(1e-6);
                self.prefill_rate = Some(match self.prefill_rate {
                    Some(old) => 0.7 * old + 0.3 * rate,
                    None => rate,
                });
            }
        }
        Ok(true)
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        events: &UnboundedSender<GenEvent>,
        cancel: &CancelToken,
    ) -> Result<(FinishReason, GenStats, Vec<AlternativeReply>), EngineError> {
        let started = Instant::now();
        let prompt_text = self.render(&request.prompt)?;
        let tokens = self.prompt_tokens(&prompt_text);
        let n_ctx = self.ctx.n_ctx() as usize;
        let prompt_tokens = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if tokens.len() >= n_ctx {
            return Err(EngineError::ContextOverflow {
                prompt_tokens,
                n_ctx: n_ctx as u32,
            });
        }
        let hits = self.grammars.hits;
        let mut sampler = self.sampler(request.constraint.as_ref(), &request.sampling)?;
        let grammar_reused = self.grammars.hits > hits;
        sampler.accept_prompt(&tokens);

        self.bring_in(&tokens);
        let keep = self.truncate_cache(tokens_to_keep(&self.cached, &tokens));
        let mut stats = GenStats {
            prompt_tokens,
            reused_tokens: keep as u32,
            prefilled_tokens: (tokens.len() - keep) as u32,
            grammar_reused,
            ..GenStats::default()
        };
        // What the cache stands for is unknown until this generation ends cleanly.
        self.cached_text = None;
        if !self.decode(&tokens[keep..], cancel)? {
            stats.prefill = started.elapsed();
            return Ok((FinishReason::Cancelled, stats, Vec::new()));
        }
        stats.prefill = started.elapsed();
        let mut stops = request.stop.clone();
        stops.extend(self.formatter.extra_stops());
        let mut alternatives = match self.alternatives(request, &tokens, &stops) {
            Ok(alternatives) => alternatives,
            Err(e) => {
                self.drop_alternatives(MAX_ALTERNATIVES);
                return Err(e);
            }
        };
        let outcome = self.decode_replies(
            request,
            &tokens,
            (prompt_text, started),
            &stops,
            &mut sampler,
            &mut alternatives,
            &mut stats,
            events,
            cancel,
        );
        // The alternatives' sequences go whatever happened; the main one is the cache.
        self.drop_alternatives(alternatives.len());
        let finish = outcome?;
        stats.alternative_tokens = alternatives.iter().map(|a| a.generated).sum();
        let texts = alternatives.into_iter().map(Alternative::finish).collect();
        Ok((finish, stats, texts))
    }

    /// A sampler with `sampling`, under `constraint`'s grammar (parsed once, then copied from the cache).
    fn sampler(
        &mut self,
        constraint: Option<&Constraint>,
        sampling: &super::types::SamplingParams,
    ) -> Result<TokenSampler, EngineError> {
        match constraint {
            Some(c) => {
                let grammar = self.grammars.get(self.model, c)?;
                TokenSampler::with_grammar(self.model, sampling, Some(grammar))
            }
            None => TokenSampler::new(self.model, sampling, None),
        }
    }

    /// Removes the first `n` alternatives' sequences (1..=n) from the cache.
    fn drop_alternatives(&mut self, n: usize) {
        for seq in 1..=n {
            let seq = u32::try_from(seq).ok();
            if !matches!(self.ctx.clear_kv_cache_seq(seq, None, None), Ok(true)) {
                self.forget_cache();
                return;
            }
        }
    }

    /// The alternative replies `request` asks for, each on its own sequence holding the prompt (the cells it
    /// shares with the main sequence, and its own part still to decode): as many as fit the context beside
    /// the main reply at full length.
    fn alternatives(
        &mut self,
        request: &GenRequest,
        tokens: &[LlamaToken],
        stops: &[String],
    ) -> Result<Vec<Alternative>, EngineError> {
        let n_ctx = self.ctx.n_ctx() as usize;
        let per_reply = request.max_tokens as usize;
        // Cells left once the main reply has all it may use.
        let mut room = n_ctx.saturating_sub(tokens.len() + per_reply);
        // Tokens one batch may still take beside the main reply's: an alternative's own prompt part, or its
        // next token.
        let mut batch_left = self.batch_size.saturating_sub(1);
        let mut out = Vec::new();
        for asked in request.alternatives.iter().take(MAX_ALTERNATIVES) {
            // What it shares with the main prompt stays; its own part is decoded with the reply's first batch.
            // The same prompt decodes nothing of its own and samples from the main prompt's last logits.
            let (keep, own) = match &asked.prompt {
                None => (tokens.len(), Vec::new()),
                Some(prompt) => {
                    let mine = self.tokenize(prompt)?;
                    let keep = common_prefix(tokens, &mine).min(mine.len().saturating_sub(1));
                    if mine == tokens {
                        (tokens.len(), Vec::new())
                    } else {
                        (keep, mine[keep..].to_vec())
                    }
                }
            };
            let in_batch = own.len().max(1);
            if own.len() > ALTERNATIVE_PROMPT_MAX
                || keep == 0
                || own.len() + per_reply > room
                || in_batch > batch_left
            {
                tracing::debug!(
                    own = own.len(),
                    room,
                    "an alternative reply is left out: its prompt or its reply does not fit"
                );
                continue;
            }
            room -= own.len() + per_reply;
            batch_left -= in_batch;
            let mut sampler = self.sampler(request.constraint.as_ref(), &asked.sampling)?;
            sampler.accept_prompt(&tokens[..keep]);
            sampler.accept_prompt(&own);
            // Sequence ids 1.. are the alternatives' (the context allows 1 + MAX_ALTERNATIVES).
            let seq = i32::try_from(out.len() + 1).unwrap_or(i32::MAX);
            let shared = u32::try_from(keep).ok();
            self.ctx
                .copy_kv_cache_seq(0, seq, Some(0), shared)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            let history = if self.draft_max > 0 {
                [&tokens[..keep], &own[..]].concat()
            } else {
                Vec::new()
            };
            out.push(Alternative {
                seq,
                sampler,
                pos: keep,
                own,
                logits_at: None,
                next: None,
                history,
                draft: Vec::new(),
                draft_len: self.draft_max.min(4),
                draft_max: self.draft_max,
                drafted: 0,
                accepted: 0,
                cut_from: None,
                utf8: Utf8Stream::default(),
                stop: StopMatcher::new(stops),
                text: String::new(),
                generated: 0,
                ended: None,
            });
        }
        Ok(out)
    }

    /// Samples the main reply (streamed to `events`) and the alternatives together, one batch per token.
    #[allow(clippy::too_many_arguments)]
    fn decode_replies(
        &mut self,
        request: &GenRequest,
        tokens: &[LlamaToken],
        (prompt_text, started): (String, Instant),
        stops: &[String],
        sampler: &mut TokenSampler,
        alternatives: &mut [Alternative],
        stats: &mut GenStats,
        events: &UnboundedSender<GenEvent>,
        cancel: &CancelToken,
    ) -> Result<FinishReason, EngineError> {
        let n_ctx = self.ctx.n_ctx() as usize;
        // From here the cache holds exactly the prompt's text, then each decoded token's piece (`known_ok`
        // bytes of `known`: a token sampled but not decoded yet is in `known` only).
        let mut known = prompt_text.into_bytes();
        let mut known_ok = known.len();
        let mut decoded = 0usize;
        let decode_start = Instant::now();
        let mut stop = StopMatcher::new(stops);
        let mut utf8 = Utf8Stream::default();
        let prompt_logits = self.batch.n_tokens() - 1;
        let mut logits_at = prompt_logits;
        for alt in alternatives.iter_mut().filter(|a| a.own.is_empty()) {
            alt.logits_at = Some(prompt_logits);
        }
        let vocab = self.model.vocab();
        let emit =
            |text: String| -> bool { text.is_empty() || events.send(GenEvent::Text(text)).is_ok() };
        // Takes a sampled token into the reply: `Ok` when the reply goes on with it (its piece is known),
        // else why the reply ends there.
        let mut take = |token: LlamaToken, known: &mut Vec<u8>| -> Result<(), FinishReason> {
            let piece = vocab.token_to_piece(token, false, None);
            let text = utf8.push(&piece);
            match stop.push(&text) {
                StopScan::Stopped(before) => {
                    emit(before);
                    Err(FinishReason::Stop)
                }
                StopScan::Continue(out) => {
                    if emit(out) {
                        known.extend_from_slice(&piece);
                        Ok(())
                    } else {
                        // Nobody is listening any more.
                        Err(FinishReason::Cancelled)
                    }
                }
            }
        };
        // Drafts are looked up in what the main sequence holds (`self.cached`: the prompt and the reply's
        // decoded tokens); how long the next may be.
        let drafting = self.draft_max > 0;
        let mut draft_len = self.draft_max.min(4);
        // A token sampled (and taken) after a draft's last accepted token, still to be decoded.
        let mut pending: Option<LlamaToken> = None;
        let mut finish: Option<FinishReason> = None;
        loop {
            let mut next = pending.take();
            if next.is_none() && finish.is_none() {
                let pos = tokens.len() + decoded;
                match self.sample_main(request, sampler, logits_at, stats, started, pos, n_ctx)? {
                    Err(reason) => finish = Some(reason),
                    Ok(token) => {
                        stats.generated_tokens += 1;
                        match take(token, &mut known) {
                            Ok(()) => next = Some(token),
                            Err(reason) => finish = Some(reason),
                        }
                    }
                }
            }
            if finish == Some(FinishReason::Cancelled) {
                break;
            }
            // Once the main reply has ended, an alternative may run to half as long again and a little more:
            // one that runs far longer has most often lost its way, and the main reply waits for it.
            let limit = match finish {
                Some(_) => request
                    .max_tokens
                    .min(stats.generated_tokens + stats.generated_tokens / 2 + ALTERNATIVE_SLACK),
                None => request.max_tokens,
            };
            for alt in alternatives.iter_mut() {
                alt.advance(
                    &self.ctx,
                    limit,
                    n_ctx,
                    |t| vocab.is_eog(t),
                    |t| vocab.token_to_piece(t, false, None),
                );
                stats.draft_tokens += alt.drafted;
                stats.draft_accepted += alt.accepted;
                (alt.drafted, alt.accepted) = (0, 0);
                // The refused part of its draft leaves the cache.
                if let Some(from) = alt.cut_from.take() {
                    let (seq, from) = (u32::try_from(alt.seq).ok(), u32::try_from(from).ok());
                    if !matches!(self.ctx.clear_kv_cache_seq(seq, from, None), Ok(true)) {
                        self.forget_cache();
                        return Err(EngineError::Decode(
                            "a refused draft could not be cut from the cache".into(),
                        ));
                    }
                }
            }
            if next.is_none()
                && alternatives
                    .iter()
                    .all(|a| a.next.is_none() && a.own.is_empty())
            {
                break;
            }
            // Each reply's next token goes with a draft of what may follow it, where its context has one.
            let mut draft: Vec<LlamaToken> = Vec::new();
            if drafting && let Some(token) = next {
                let pos = tokens.len() + decoded;
                // No draft past the reply's budget or the context.
                let room = (request.max_tokens.saturating_sub(stats.generated_tokens) as usize)
                    .min(n_ctx.saturating_sub(pos + 1));
                draft = lookup::draft(&self.cached, token, draft_len.min(room));
            }
            if drafting {
                for alt in alternatives.iter_mut() {
                    alt.plan_draft(limit, n_ctx);
                }
            }
            if !self.step(next, &draft, alternatives, cancel)? {
                finish = Some(FinishReason::Cancelled);
                break;
            }
            if next.is_none() {
                continue;
            }
            decoded += 1;
            known_ok = known.len();
            logits_at = 0;
            if draft.is_empty() {
                continue;
            }
            // The draft is kept as far as the sampler picks its tokens: batch index i holds what follows the
            // token and the draft's first i.
            let mut accepted = 0;
            for (i, logits) in (0..=draft.len()).zip(0i32..) {
                let pos = tokens.len() + decoded;
                match self.sample_main(request, sampler, logits, stats, started, pos, n_ctx)? {
                    Err(reason) => finish = Some(reason),
                    Ok(t) => {
                        stats.generated_tokens += 1;
                        match take(t, &mut known) {
                            Err(reason) => finish = Some(reason),
                            // Already decoded as the draft had it: on to the next.
                            Ok(()) if draft.get(i) == Some(&t) => {
                                accepted += 1;
                                decoded += 1;
                                known_ok = known.len();
                                continue;
                            }
                            Ok(()) => pending = Some(t),
                        }
                    }
                }
                break;
            }
            stats.draft_tokens += draft.len() as u32;
            stats.draft_accepted += accepted as u32;
            // The refused part of the draft leaves the cache.
            self.drop_after(tokens.len() + decoded)?;
            draft_len = lookup::next_len(draft_len, draft.len(), accepted, self.draft_max);
            if finish == Some(FinishReason::Cancelled) {
                break;
            }
        }
        let finish = finish.unwrap_or(FinishReason::Cancelled);
        // Known only if every token in the cache is accounted for.
        known.truncate(known_ok);
        if self.cached.len() == tokens.len() + decoded {
            self.cached_text = Some(known);
        }
        if finish != FinishReason::Stop {
            let tail = utf8.finish();
            let mut rest = match stop.push(&tail) {
                StopScan::Stopped(before) => before,
                StopScan::Continue(out) => out,
            };
            rest.push_str(&stop.finish());
            emit(rest);
        }
        stats.decode = decode_start.elapsed();
        Ok(finish)
    }

    /// The main reply's next token (the next to decode goes at `pos`), or why it ends.
    #[allow(clippy::too_many_arguments)]
    fn sample_main(
        &self,
        request: &GenRequest,
        sampler: &mut TokenSampler,
        logits_at: i32,
        stats: &mut GenStats,
        started: Instant,
        pos: usize,
        n_ctx: usize,
    ) -> Result<Result<LlamaToken, FinishReason>, EngineError> {
        if stats.generated_tokens >= request.max_tokens {
            return Ok(Err(FinishReason::MaxTokens));
        }
        if pos >= n_ctx {
            return Ok(Err(FinishReason::ContextFull));
        }
        let vocab = self.model.vocab();
        let room = request
            .max_tokens
            .min(u32::try_from(n_ctx - pos).unwrap_or(u32::MAX));
        // Only a JSON document is closed near the budget (its closers are JSON's); a GBNF reply that runs
        // out is cut off, so that its reader can tell (a whole-file block without its fence is no file).
        let closing = sampler.constrained()
            && matches!(request.constraint, Some(Constraint::JsonSchema(_)))
            && stats.generated_tokens + CLOSING_RESERVE.min(room / 2) >= room;
        let token = if closing {
            sampler.sample_closing(
                &self.ctx,
                logits_at,
                &self.closers,
                |t| vocab.is_eog(t),
                |t| vocab.token_to_piece(t, false, None).len(),
            )?
        } else {
            sampler.sample(&self.ctx, logits_at)?
        };
        if stats.generated_tokens == 0 {
            stats.time_to_first_token = started.elapsed();
        }
        if vocab.is_eog(token) {
            return Ok(Err(FinishReason::Eos));
        }
        Ok(Ok(token))
    }

    /// Decodes one token of the main reply (when it goes on) with `draft` after it, and of each alternative that
    /// has one with its own draft, in one batch (logits for each of those); `false` when cancelled first.
    fn step(
        &mut self,
        main: Option<LlamaToken>,
        draft: &[LlamaToken],
        alternatives: &mut [Alternative],
        cancel: &CancelToken,
    ) -> Result<bool, EngineError> {
        if cancel.is_cancelled() {
            return Ok(false);
        }
        self.batch.clear();
        let mut at = 0i32;
        let position = |p: usize| {
            i32::try_from(p).map_err(|_| EngineError::Decode("position overflow".into()))
        };
        if let Some(token) = main {
            let start = self.cached.len();
            for (j, &t) in std::iter::once(&token).chain(draft).enumerate() {
                self.batch
                    .add(t, position(start + j)?, &[0], true)
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
                at += 1;
            }
        }
        for alt in alternatives.iter_mut() {
            alt.logits_at = None;
            // An alternative with a prompt of its own decodes the rest of it first, logits for its last token.
            let own = std::mem::take(&mut alt.own);
            for (j, &token) in own.iter().enumerate() {
                self.batch
                    .add(token, position(alt.pos)?, &[alt.seq], j + 1 == own.len())
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
                alt.pos += 1;
                at += 1;
            }
            if !own.is_empty() {
                alt.logits_at = Some(at - 1);
            }
            if let Some(token) = alt.next.take() {
                alt.logits_at = Some(at);
                if !alt.history.is_empty() {
                    alt.history.push(token);
                }
                for &t in std::iter::once(&token).chain(&alt.draft) {
                    self.batch
                        .add(t, position(alt.pos)?, &[alt.seq], true)
                        .map_err(|e| EngineError::Decode(e.to_string()))?;
                    alt.pos += 1;
                    at += 1;
                }
            } else {
                alt.draft.clear();
            }
        }
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            // What this batch put in the cache is unknown: start clean next time.
            self.forget_cache();
            return Err(EngineError::Decode(e.to_string()));
        }
        if let Some(token) = main {
            self.cached.push(token);
            self.cached.extend_from_slice(draft);
        }
        Ok(true)
    }

    /// Cuts the main sequence back to its first `keep` tokens (a draft's refused part).
    fn drop_after(&mut self, keep: usize) -> Result<(), EngineError> {
        if keep >= self.cached.len() {
            return Ok(());
        }
        let cut = u32::try_from(keep).ok();
        if matches!(self.ctx.clear_kv_cache_seq(Some(0), cut, None), Ok(true)) {
            self.cached.truncate(keep);
            Ok(())
        } else {
            self.forget_cache();
            Err(EngineError::Decode(
                "a refused draft could not be cut from the cache".into(),
            ))
        }
    }
}

/// Tokens an alternative may run beyond one and a half times the main reply, once that has ended.
const ALTERNATIVE_SLACK: u32 = 32;

/// A reply sampled beside the main one, on its own KV sequence.
struct Alternative {
    seq: i32,
    sampler: TokenSampler,
    /// Cells its sequence holds: the position of the next token it decodes.
    pos: usize,
    /// Its prompt's own tokens, still to decode (beyond what it shares with the main prompt).
    own: Vec<LlamaToken>,
    /// Where its logits are in the last batch (`None`: it had no token there).
    logits_at: Option<i32>,
    /// The token it decodes in the next batch.
    next: Option<LlamaToken>,
    /// The tokens its sequence holds for sure (its prompt, and each decoded token once its draft is checked),
    /// where its drafts are looked up (empty: it drafts nothing).
    history: Vec<LlamaToken>,
    /// The draft decoded after its token in the last batch, or to be decoded after `next` in the next one.
    draft: Vec<LlamaToken>,
    /// How long its next draft may be, and at most.
    draft_len: usize,
    draft_max: usize,
    /// Draft tokens decoded, and taken, since the engine last counted them.
    drafted: u32,
    accepted: u32,
    /// Where its sequence is to be cut back to: a refused draft's first cell.
    cut_from: Option<usize>,
    utf8: Utf8Stream,
    stop: StopMatcher,
    text: String,
    generated: u32,
    /// Why it ended (`None`: it goes on).
    ended: Option<FinishReason>,
}

impl Alternative {
    /// Samples its next token from the last batch's logits, and goes on through the draft decoded after that
    /// token for as long as it samples the draft's own tokens, unless it has ended.
    fn advance(
        &mut self,
        ctx: &LlamaContext<'_>,
        max_tokens: u32,
        n_ctx: usize,
        is_eog: impl Fn(LlamaToken) -> bool,
        piece: impl Fn(LlamaToken) -> Vec<u8>,
    ) {
        let draft = std::mem::take(&mut self.draft);
        let Some(at) = self.logits_at.filter(|_| self.ended.is_none()) else {
            return;
        };
        // The draft's cells end the sequence; a token sampled at batch index at + i goes where draft[i] is.
        let draft_start = self.pos.saturating_sub(draft.len());
        let mut kept = 0usize;
        for (i, logits) in (0..=draft.len()).zip(at..) {
            if self.generated >= max_tokens {
                self.ended = Some(FinishReason::MaxTokens);
                break;
            }
            if draft_start + kept >= n_ctx {
                self.ended = Some(FinishReason::ContextFull);
                break;
            }
            // An alternative that cannot go on ends; the main reply is not failed for it.
            let token = match self.sampler.sample(ctx, logits) {
                Ok(token) => token,
                Err(e) => {
                    tracing::debug!(seq = self.seq, "an alternative reply ended: {e}");
                    // Not an end of its own: what it holds is not a whole reply.
                    self.ended = Some(FinishReason::Cancelled);
                    break;
                }
            };
            if is_eog(token) {
                self.ended = Some(FinishReason::Eos);
                break;
            }
            self.generated += 1;
            let text = self.utf8.push(&piece(token));
            match self.stop.push(&text) {
                StopScan::Stopped(before) => {
                    self.text.push_str(&before);
                    self.ended = Some(FinishReason::Stop);
                    break;
                }
                StopScan::Continue(out) => self.text.push_str(&out),
            }
            if draft.get(i) == Some(&token) {
                kept += 1;
                if !self.history.is_empty() {
                    self.history.push(token);
                }
                continue;
            }
            self.next = Some(token);
            break;
        }
        if !draft.is_empty() {
            self.drafted += draft.len() as u32;
            self.accepted += kept as u32;
            self.draft_len = lookup::next_len(self.draft_len, draft.len(), kept, self.draft_max);
            let end = draft_start + kept;
            if end < self.pos && self.ended.is_none() {
                self.cut_from = Some(end);
                self.pos = end;
            }
        }
    }

    /// Looks up the draft to decode after `next` (none once it has ended or drafts nothing), within
    /// `max_tokens` and the context.
    fn plan_draft(&mut self, max_tokens: u32, n_ctx: usize) {
        self.draft.clear();
        let Some(next) = self
            .next
            .filter(|_| self.ended.is_none() && !self.history.is_empty())
        else {
            return;
        };
        let room = (max_tokens.saturating_sub(self.generated) as usize)
            .min(n_ctx.saturating_sub(self.pos + 1));
        self.draft = lookup::draft(&self.history, next, self.draft_len.min(room));
    }

    /// Its whole text, and why it ended (one that never did was cut short with the main reply: `Cancelled`).
    fn finish(mut self) -> AlternativeReply {
        let tail = self.utf8.finish();
        match self.stop.push(&tail) {
            StopScan::Stopped(before) => {
                self.text.push_str(&before);
                self.ended.get_or_insert(FinishReason::Stop);
            }
            StopScan::Continue(out) => {
                self.text.push_str(&out);
                self.text.push_str(&self.stop.finish());
            }
        }
        AlternativeReply {
            text: self.text,
            finish: self.ended.unwrap_or(FinishReason::Cancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefill_chunks_hold_about_half_a_second_of_work() {
        // A 1.5B model on two cores (~40 tok/s) is checked for a cancel every MIN_CHUNK tokens.
        assert_eq!(prefill_chunk(Some(40.0), 512), MIN_CHUNK);
        assert_eq!(prefill_chunk(Some(400.0), 512), 200);
        // A GPU's thousands of tokens per second use whole batches.
        assert_eq!(prefill_chunk(Some(20_000.0), 512), 512);
        assert_eq!(prefill_chunk(None, 512), MIN_CHUNK);
        assert_eq!(prefill_chunk(Some(f64::NAN), 512), MIN_CHUNK);
        assert_eq!(prefill_chunk(Some(1e6), 16), 16);
    }
}
