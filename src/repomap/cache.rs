//! The on-disk tag cache: one SQLite row per file, keyed by (path, mtime, size, grammar), so mapping an
//! unchanged repository parses nothing and a one-file change parses one file; and the rendered maps, keyed by
//! everything they depend on, so an unchanged repository asked the same question ranks and renders nothing.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, params};

use super::FileTags;

/// Bump when the stored layout or what is extracted changes.
const SCHEMA: i64 = 2;

/// Rendered maps kept (the least recently used go first).
const RENDERED_KEPT: i64 = 64;

/// A cached file: its key and its tags.
pub(super) struct Row {
    pub mtime_ns: i64,
    pub size: i64,
    pub grammar: String,
    pub tags: FileTags,
}

/// The cache database.
pub(super) struct Cache {
    conn: Connection,
}

impl Cache {
    /// Opens (or creates) the cache at `path`; a corrupt or foreign file is replaced.
    pub fn open(path: &Path) -> Option<Cache> {
        // The folder is made without following links (a link in `.tandem/` is refused), and SQLite is told not
        // to open the database through a link.
        if let Some(dir) = path.parent() {
            crate::sandbox::state::create_dir_all(dir).ok()?;
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
            tracing::warn!(
                "repo map cache {} is not a regular file; not used",
                path.display()
            );
            return None;
        }
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW,
            )?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version != SCHEMA {
                conn.execute_batch("DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS rendered;")?;
                conn.pragma_update(None, "user_version", SCHEMA)?;
            }
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS files (
                    path TEXT PRIMARY KEY,
                    mtime_ns INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    grammar TEXT NOT NULL,
                    tags TEXT NOT NULL
                );
                CREATE TABLE IF NOT EXISTS rendered (
                    key TEXT PRIMARY KEY,
                    used INTEGER NOT NULL,
                    text TEXT NOT NULL
                );",
            )?;
            Ok(conn)
        };
        match open() {
            Ok(conn) => Some(Cache { conn }),
            Err(e) => {
                tracing::warn!(
                    "repo map cache {} unusable ({e}); rebuilding it",
                    path.display()
                );
                let _ = std::fs::remove_file(path);
                open().ok().map(|conn| Cache { conn })
            }
        }
    }

    /// Every cached row.
    pub fn load(&self) -> HashMap<String, Row> {
        let mut out = HashMap::new();
        let Ok(mut stmt) = self
            .conn
            .prepare("SELECT path, mtime_ns, size, grammar, tags FROM files")
        else {
            return out;
        };
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        });
        if let Ok(rows) = rows {
            for (path, mtime_ns, size, grammar, tags) in rows.flatten() {
                if let Ok(tags) = serde_json::from_str::<FileTags>(&tags) {
                    out.insert(
                        path,
                        Row {
                            mtime_ns,
                            size,
                            grammar,
                            tags,
                        },
                    );
                }
            }
        }
        out
    }

    /// One cached row.
    pub fn get(&self, path: &str) -> Option<Row> {
        self.conn
            .query_row(
                "SELECT mtime_ns, size, grammar, tags FROM files WHERE path = ?1",
                params![path],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .ok()
            .and_then(|(mtime_ns, size, grammar, tags)| {
                Some(Row {
                    mtime_ns,
                    size,
                    grammar,
                    tags: serde_json::from_str(&tags).ok()?,
                })
            })
    }

    /// A rendered map stored under `key`, marked as used now.
    pub fn rendered(&self, key: &str) -> Option<String> {
        let text = self
            .conn
            .query_row(
                "SELECT text FROM rendered WHERE key = ?1",
                params![key],
                |r| r.get::<_, String>(0),
            )
            .ok()?;
        let _ = self.conn.execute(
            "UPDATE rendered SET used = ?2 WHERE key = ?1",
            params![key, now_ns()],
        );
        Some(text)
    }

    /// Stores a rendered map under `key`, keeping only the [`RENDERED_KEPT`] most recently used.
    pub fn put_rendered(&mut self, key: &str, text: &str) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO rendered (key, used, text) VALUES (?1, ?2, ?3)",
            params![key, now_ns(), text],
        )?;
        tx.execute(
            "DELETE FROM rendered WHERE key NOT IN (SELECT key FROM rendered ORDER BY used DESC LIMIT ?1)",
            params![RENDERED_KEPT],
        )?;
        tx.commit()
    }

    /// Stores freshly parsed files and forgets files that are gone, in one transaction.
    pub fn store(&mut self, fresh: &[(String, Row)], gone: &[String]) -> rusqlite::Result<()> {
        if fresh.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare(
                "INSERT OR REPLACE INTO files (path, mtime_ns, size, grammar, tags) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (path, row) in fresh {
                let tags = serde_json::to_string(&row.tags).unwrap_or_default();
                put.execute(params![path, row.mtime_ns, row.size, row.grammar, tags])?;
            }
            let mut del = tx.prepare("DELETE FROM files WHERE path = ?1")?;
            for path in gone {
                del.execute(params![path])?;
            }
        }
        tx.commit()
    }
}

/// Nanoseconds since the epoch (0 if the clock is before it), for least-recently-used order.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
