//! The MQTT outbox on disk: counts and visit events not yet acknowledged by the broker,
//! kept in the count store's `mqtt_outbox` table, so an outage of hours or a restart of the
//! counter loses nothing (within a byte quota: oldest counts snapshots go first, then the
//! oldest events, each counted). Used only from the MQTT thread.
//!
//! Rows are keyed by the publisher's topic base (one camera); a counter that starts again
//! with the same base sends what the last one left, first.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::queue::{Kind, Message};

/// Default quota of the stored messages' payloads.
pub const DEFAULT_QUOTA_BYTES: u64 = 64 << 20;

pub struct DurableOutbox {
    conn: Connection,
    base: String,
    quota_bytes: u64,
    /// Payload bytes and rows stored for `base`.
    bytes: u64,
    rows: u64,
}

/// Messages dropped because the quota was reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    pub counts: u64,
    pub events: u64,
}

fn kind_code(k: Kind) -> i64 {
    match k {
        Kind::Control => 0,
        Kind::Counts => 1,
        Kind::Event => 2,
    }
}

fn kind_of(code: i64) -> Kind {
    match code {
        1 => Kind::Counts,
        2 => Kind::Event,
        _ => Kind::Control,
    }
}

impl DurableOutbox {
    /// Opens the outbox of topic base `base` in the count store at `path` (created by
    /// [`crate::count::store::CountStore::open`]).
    pub fn open(path: &Path, base: &str, quota_bytes: u64) -> Result<DurableOutbox, String> {
        let fail = |e: rusqlite::Error| format!("MQTT outbox in '{}': {e}", path.display());
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        let (bytes, rows): (i64, i64) = conn
            .query_row(
                "SELECT coalesce(sum(length(payload)), 0), count(*) FROM mqtt_outbox WHERE base = ?1",
                [base],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(fail)?;
        Ok(DurableOutbox {
            conn,
            base: base.to_string(),
            quota_bytes,
            bytes: bytes as u64,
            rows: rows as u64,
        })
    }

    /// Messages stored (sent or not, until acknowledged).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Stores `messages` in one transaction, then makes room under the quota (never
    /// evicting rows with an id at or below `keep_through`: they are in flight).
    pub fn store(&mut self, messages: &[Message], keep_through: i64) -> Result<Evicted, String> {
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO mqtt_outbox (base, kind, topic, payload, retain) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| e.to_string())?;
            for m in messages {
                insert
                    .execute(params![
                        self.base,
                        kind_code(m.kind),
                        m.topic,
                        m.payload,
                        m.retain
                    ])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        self.rows += messages.len() as u64;
        self.bytes += messages.iter().map(|m| m.payload.len() as u64).sum::<u64>();
        self.make_room(keep_through)
    }

    fn make_room(&mut self, keep_through: i64) -> Result<Evicted, String> {
        let mut evicted = Evicted::default();
        while self.bytes > self.quota_bytes {
            let victim: Option<(i64, i64, i64)> = self
                .conn
                .query_row(
                    "SELECT id, kind, length(payload) FROM mqtt_outbox WHERE base = ?1 AND id > ?2
                     ORDER BY kind != 1, id LIMIT 1",
                    params![self.base, keep_through],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| e.to_string())?;
            let Some((id, kind, len)) = victim else { break };
            self.delete(id)?;
            self.bytes = self.bytes.saturating_sub(len as u64);
            match kind_of(kind) {
                Kind::Counts => evicted.counts += 1,
                _ => evicted.events += 1,
            }
        }
        Ok(evicted)
    }

    /// Up to `n` stored messages after id `after`, oldest first, with their ids.
    pub fn next(&self, after: i64, n: usize) -> Result<Vec<(i64, Message)>, String> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, kind, topic, payload, retain FROM mqtt_outbox
                 WHERE base = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(|e| e.to_string())?;
        let rows = q
            .query_map(params![self.base, after, n as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Message {
                        kind: kind_of(r.get(1)?),
                        topic: r.get(2)?,
                        payload: r.get(3)?,
                        retain: r.get(4)?,
                    },
                ))
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }

    /// The broker has the message `id`: forget it.
    pub fn acknowledged(&mut self, id: i64, payload_len: usize) -> Result<(), String> {
        self.delete(id)?;
        self.bytes = self.bytes.saturating_sub(payload_len as u64);
        Ok(())
    }

    fn delete(&mut self, id: i64) -> Result<(), String> {
        let n = self
            .conn
            .execute("DELETE FROM mqtt_outbox WHERE id = ?1", [id])
            .map_err(|e| e.to_string())?;
        self.rows = self.rows.saturating_sub(n as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::store::CountStore;

    fn msg(kind: Kind, text: &str) -> Message {
        Message::text(kind, text)
    }

    fn stored_texts(o: &DurableOutbox) -> Vec<String> {
        o.next(0, 100)
            .unwrap()
            .into_iter()
            .map(|(_, m)| String::from_utf8(m.payload).unwrap())
            .collect()
    }

    fn store_at(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("footfall-outbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        drop(CountStore::open(&p, 1).unwrap().store);
        p
    }

    #[test]
    fn messages_stay_until_acknowledged_and_survive_a_reopen() {
        let path = store_at("reopen.sqlite");
        let mut o = DurableOutbox::open(&path, "footfall/shop/door", DEFAULT_QUOTA_BYTES).unwrap();
        o.store(
            &[
                msg(Kind::Event, "v1"),
                msg(Kind::Counts, "c1"),
                msg(Kind::Event, "v2"),
            ],
            0,
        )
        .unwrap();
        let first = o.next(0, 2).unwrap();
        assert_eq!(first.len(), 2);
        o.acknowledged(first[0].0, 2).unwrap();
        drop(o);
        let o = DurableOutbox::open(&path, "footfall/shop/door", DEFAULT_QUOTA_BYTES).unwrap();
        assert_eq!(o.rows(), 2);
        assert_eq!(stored_texts(&o), ["c1", "v2"]);
        let other = DurableOutbox::open(&path, "footfall/shop/till", DEFAULT_QUOTA_BYTES).unwrap();
        assert_eq!(other.rows(), 0, "each camera its own");
    }

    #[test]
    fn the_quota_drops_counts_first_then_the_oldest_events() {
        let path = store_at("quota.sqlite");
        let mut o = DurableOutbox::open(&path, "b", 10).unwrap();
        let e = o
            .store(
                &[
                    msg(Kind::Event, "aaaa"),
                    msg(Kind::Counts, "cccc"),
                    msg(Kind::Event, "bbbb"),
                ],
                0,
            )
            .unwrap();
        assert_eq!(
            e,
            Evicted {
                counts: 1,
                events: 0
            }
        );
        let e = o.store(&[msg(Kind::Event, "dddd")], 0).unwrap();
        assert_eq!(
            e,
            Evicted {
                counts: 0,
                events: 1
            }
        );
        assert_eq!(stored_texts(&o), ["bbbb", "dddd"]);
    }
}
