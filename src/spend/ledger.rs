//! The spend ledger: one SQLite row per model request, in the user's data dir.
//!
//! WAL mode, one autocommitted insert per request: a process killed mid-session loses at most the request in
//! flight. Several tandem processes (a loop and a TUI, say) can write at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::model::Usage;

/// One request's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendRow {
    /// Unix time in milliseconds.
    pub ts_ms: i64,
    /// The session's id.
    pub session: String,
    /// `planner` or `executor`.
    pub role: String,
    /// Provider name (`local`, `openai`, …).
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Whether it ran on this machine.
    pub local: bool,
    /// Tokens by kind.
    pub usage: Usage,
    /// What it cost; `None` when the model is unpriced.
    pub usd: Option<f64>,
    /// What the reference cloud model would have charged for a local request; `None` if not local or unpriced.
    pub saved_usd: Option<f64>,
    /// Wall time of the request.
    pub latency_ms: u64,
    /// Why it was routed where it ran.
    pub reason: String,
}

/// Ledger errors, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("spend ledger {}: {source}", path.display())]
pub struct LedgerError {
    /// The database file.
    pub path: PathBuf,
    /// What SQLite said.
    #[source]
    pub source: rusqlite::Error,
}

/// The ledger database.
pub struct Ledger {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// The ledger's schema as migrations: the one at index `i` brings a ledger from `PRAGMA user_version` `i` to
/// `i + 1`. A migration that has shipped is never edited; a change to the schema is a new one at the end.
/// The first is written so that it also adopts the ledgers written before the ledger had a version.
const MIGRATIONS: &[&str] = &[SCHEMA_1];

const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    session TEXT NOT NULL,
    role TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    local INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    usd REAL,
    saved_usd REAL,
    latency_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts_ms);
CREATE INDEX IF NOT EXISTS requests_session ON requests(session);
";

impl Ledger {
    /// The ledger file in a data dir.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join("spend.sqlite3")
    }

    /// Opens (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let err = |source| LedgerError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        let mut conn = conn;
        migrate(&mut conn).map_err(err)?;
        Ok(Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn).map_err(|source| LedgerError {
            path: self.path.clone(),
            source,
        })
    }

    /// Appends a row; returns its id.
    pub fn record(&self, row: &SpendRow) -> Result<i64, LedgerError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO requests (ts_ms, session, role, provider, model, local, input_tokens, cached_input_tokens,
                 cache_write_tokens, output_tokens, usd, saved_usd, latency_ms, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    row.ts_ms,
                    row.session,
                    row.role,
                    row.provider,
                    row.model,
                    row.local,
                    row.usage.input_tokens as i64,
                    row.usage.cached_input_tokens as i64,
                    row.usage.cache_write_tokens as i64,
                    row.usage.output_tokens as i64,
                    row.usd,
                    row.saved_usd,
                    row.latency_ms as i64,
                    row.reason,
                ],
            )
            .map(|_| c.last_insert_rowid())
        })
    }

    /// Sets the savings of these rows to zero: the work they did did not land (see docs/SPEND.md).
    pub fn void_saved(&self, ids: &[i64]) -> Result<(), LedgerError> {
        self.with(|c| {
            let mut stmt = c.prepare("UPDATE requests SET saved_usd = 0.0 WHERE id = ?1")?;
            for id in ids {
                stmt.execute(params![id])?;
            }
            Ok(())
        })
    }

    /// USD spent (priced rows) since `since_ms`, optionally for one session.
    pub fn spent_since(&self, since_ms: i64, session: Option<&str>) -> Result<f64, LedgerError> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(usd), 0) FROM requests WHERE ts_ms >= ?1 AND (?2 IS NULL OR session = ?2)",
                params![since_ms, session],
                |r| r.get(0),
            )
        })
    }

    /// Rows since `since_ms`, oldest first.
    pub fn rows_since(&self, since_ms: i64) -> Result<Vec<SpendRow>, LedgerError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT ts_ms, session, role, provider, model, local, input_tokens, cached_input_tokens,
                 cache_write_tokens, output_tokens, usd, saved_usd, latency_ms, reason
                 FROM requests WHERE ts_ms >= ?1 ORDER BY ts_ms, id",
            )?;
            let rows = stmt.query_map(params![since_ms], |r| {
                Ok(SpendRow {
                    ts_ms: r.get(0)?,
                    session: r.get(1)?,
                    role: r.get(2)?,
                    provider: r.get(3)?,
                    model: r.get(4)?,
                    local: r.get(5)?,
                    usage: Usage {
                        input_tokens: r.get::<_, i64>(6)?.max(0) as u64,
                        cached_input_tokens: r.get::<_, i64>(7)?.max(0) as u64,
                        cache_write_tokens: r.get::<_, i64>(8)?.max(0) as u64,
                        output_tokens: r.get::<_, i64>(9)?.max(0) as u64,
                    },
                    usd: r.get(10)?,
                    saved_usd: r.get(11)?,
                    latency_ms: r.get::<_, i64>(12)?.max(0) as u64,
                    reason: r.get(13)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The time of the first row, if any.
    pub fn first_ts(&self) -> Result<Option<i64>, LedgerError> {
        self.with(|c| {
            c.query_row("SELECT MIN(ts_ms) FROM requests", [], |r| r.get(0))
                .optional()
                .map(Option::flatten)
        })
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Midnight UTC today, in Unix milliseconds.
pub fn start_of_day_ms(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
}

/// Brings the ledger to the newest schema, in one transaction (several tandem processes may open it at once);
/// a ledger written by a newer tandem is refused, not changed.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(rusqlite::Error::ToSqlConversionFailure(
            format!(
                "written by a newer tandem (schema version {version}; this one knows up to {known}); \
                 upgrade tandem, or point TANDEM_DATA_DIR elsewhere"
            )
            .into(),
        ));
    }
    for migration in MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_written_before_it_had_a_version_is_adopted_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = Ledger::default_path(dir.path());
        {
            // What tandem wrote before this version: the schema, no user_version.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_1).unwrap();
            conn.execute(
                "INSERT INTO requests (ts_ms, session, role, provider, model, local, input_tokens,
                 cached_input_tokens, cache_write_tokens, output_tokens, usd, saved_usd, latency_ms, reason)
                 VALUES (1, 'old', 'planner', 'openai', 'gpt-5.1', 0, 10, 0, 0, 5, 0.5, NULL, 100, 'configured')",
                [],
            )
            .unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.spent_since(0, Some("old")).unwrap(), 0.5);
        l.record(&row("new", 2, Some(0.25))).unwrap();
        drop(l);
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);

        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Ledger::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer tandem") && err.contains("99"), "{err}");
        assert!(err.contains("spend.sqlite3"), "{err}");
    }

    fn row(session: &str, ts_ms: i64, usd: Option<f64>) -> SpendRow {
        SpendRow {
            ts_ms,
            session: session.into(),
            role: "planner".into(),
            provider: "openai".into(),
            model: "gpt-5.1".into(),
            local: false,
            usage: Usage {
                input_tokens: 100,
                cached_input_tokens: 50,
                cache_write_tokens: 0,
                output_tokens: 20,
            },
            usd,
            saved_usd: None,
            latency_ms: 900,
            reason: "configured".into(),
        }
    }

    #[test]
    fn records_survive_reopening_and_sum_by_time_and_session() {
        let dir = tempfile::tempdir().unwrap();
        let path = Ledger::default_path(dir.path());
        {
            let l = Ledger::open(&path).unwrap();
            l.record(&row("a", 1_000, Some(0.5))).unwrap();
            l.record(&row("b", 2_000, Some(0.25))).unwrap();
            l.record(&row("b", 3_000, None)).unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.spent_since(0, None).unwrap(), 0.75);
        assert_eq!(l.spent_since(1_500, None).unwrap(), 0.25);
        assert_eq!(l.spent_since(0, Some("a")).unwrap(), 0.5);
        let rows = l.rows_since(0).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2], row("b", 3_000, None));
        assert_eq!(l.first_ts().unwrap(), Some(1_000));
    }

    #[test]
    fn an_unwritable_location_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let err = Ledger::open(&dir.path().join("file/spend.sqlite3"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("file/spend.sqlite3"), "{err}");
    }

    #[test]
    fn day_boundaries_are_utc_midnights() {
        assert_eq!(start_of_day_ms(86_400_000 * 3 + 5_000), 86_400_000 * 3);
    }
}
