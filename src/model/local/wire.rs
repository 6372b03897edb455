//! What the session and the engine's worker process say to each other: one JSON object a line, each way.

use serde::{Deserialize, Serialize};

use super::types::{
    AlternativeReply, EngineError, FinishReason, GenEvent, GenRequest, GenStats, Prompt,
};
use super::{EngineConfig, ModelInfo};

/// The argument that makes the tandem binary an engine worker (hidden: not a command for people).
pub const WORKER_ARG: &str = "__engine-worker";

/// A message to the worker.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum ToWorker {
    /// The first message: load this model (answered by `Ready`).
    Load(Box<EngineConfig>),
    /// Start a generation (answered by `Text`s, then `Done` or `Failed`).
    Generate {
        /// The request's number, echoed in every answer.
        id: u64,
        /// What to generate.
        request: Box<GenRequest>,
    },
    /// Stop generation `id` at its next token (answered by its `Done`).
    Cancel {
        /// The generation.
        id: u64,
    },
    /// Count a prompt's tokens (answered by `Tokens`).
    Tokenize {
        /// The request's number.
        id: u64,
        /// The prompt.
        prompt: Prompt,
    },
    /// Forget the KV cache (answered by `Cleared`).
    ClearCache {
        /// The request's number.
        id: u64,
    },
}

/// A message from the worker.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum FromWorker {
    /// The model is loaded, or why not.
    Ready(Result<ModelInfo, EngineError>),
    /// More of generation `id`'s text.
    Text {
        /// The generation.
        id: u64,
        /// Whole UTF-8 characters.
        text: String,
    },
    /// Generation `id` ended.
    Done {
        /// The generation.
        id: u64,
        /// Why it ended.
        finish: FinishReason,
        /// What it cost.
        stats: Box<GenStats>,
        /// The alternative replies.
        alternatives: Vec<AlternativeReply>,
    },
    /// Generation `id` failed.
    Failed {
        /// The generation.
        id: u64,
        /// Why.
        error: EngineError,
    },
    /// A prompt's token count.
    Tokens {
        /// The request.
        id: u64,
        /// The count, or why not.
        result: Result<usize, EngineError>,
    },
    /// The cache is empty.
    Cleared {
        /// The request.
        id: u64,
    },
}

impl FromWorker {
    /// Generation `id`'s event as a message.
    pub(super) fn event(id: u64, event: GenEvent) -> Self {
        match event {
            GenEvent::Text(text) => FromWorker::Text { id, text },
            GenEvent::Done {
                finish,
                stats,
                alternatives,
            } => FromWorker::Done {
                id,
                finish,
                stats: Box::new(stats),
                alternatives,
            },
            GenEvent::Failed(error) => FromWorker::Failed { id, error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_a_line_of_json() {
        let request = GenRequest::chat(vec![crate::model::ChatMessage::user("hi\nthere")], 7);
        let line = serde_json::to_string(&ToWorker::Generate {
            id: 3,
            request: Box::new(request),
        })
        .unwrap();
        assert!(!line.contains('\n'), "{line}");
        match serde_json::from_str::<ToWorker>(&line).unwrap() {
            ToWorker::Generate { id, request } => {
                assert_eq!((id, request.max_tokens), (3, 7));
            }
            other => panic!("{other:?}"),
        }
        let died = EngineError::WorkerDied {
            during: "during a generation".into(),
            status: "killed by signal 9 (SIGKILL)".into(),
            stderr: String::new(),
        };
        let line = serde_json::to_string(&FromWorker::Failed {
            id: 1,
            error: died.clone(),
        })
        .unwrap();
        match serde_json::from_str::<FromWorker>(&line).unwrap() {
            FromWorker::Failed { id: 1, error } => assert_eq!(error, died),
            other => panic!("{other:?}"),
        }
    }
}
