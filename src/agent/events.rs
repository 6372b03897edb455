//! Emitting events: numbered, appended to the session's transcript, and sent to the front end.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc::UnboundedSender;

use crate::protocol::{Event, EventMsg};
use crate::spend::now_ms;

/// Where a session's events go.
pub struct EventSink {
    seq: u64,
    transcript: Option<(PathBuf, std::fs::File)>,
    tx: Option<UnboundedSender<Event>>,
}

impl EventSink {
    /// A sink appending to `transcript` (created with its folder if needed, never through a link), continuing
    /// after `last_seq`.
    pub fn new(
        transcript: Option<&Path>,
        tx: Option<UnboundedSender<Event>>,
        last_seq: u64,
    ) -> std::io::Result<Self> {
        let transcript = match transcript {
            Some(path) => {
                // Under `.tandem/`: opened without following links, so a planted link is refused.
                let file =
                    crate::sandbox::state::open_append(path).map_err(std::io::Error::other)?;
                Some((path.to_path_buf(), file))
            }
            None => None,
        };
        Ok(EventSink {
            seq: last_seq,
            transcript,
            tx,
        })
    }

    /// The transcript file, if any.
    pub fn transcript_path(&self) -> Option<&Path> {
        self.transcript.as_ref().map(|(p, _)| p.as_path())
    }

    /// Records and sends an event; a transcript that cannot be written is logged, not fatal.
    pub fn emit(&mut self, msg: EventMsg) -> Event {
        self.seq += 1;
        let event = Event {
            seq: self.seq,
            ts_ms: now_ms(),
            msg,
        };
        if let Some((path, file)) = &mut self.transcript {
            match serde_json::to_string(&event) {
                Ok(line) => {
                    // One write per line, so a killed process leaves whole lines behind.
                    if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
                        tracing::error!(path = %path.display(), error = %e, "transcript write failed");
                    }
                }
                Err(e) => tracing::error!(error = %e, "event did not serialize"),
            }
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(event.clone());
        }
        event
    }
}
