//! Durable, checksummed, append-only logs: the `DurableLog` trait, its one implementation
//! `FrameLog` over any `LogMedium`, and the table log built on it. The per-source log lives in
//! `source_log`.
//!
//! Format: a sequence of frames `[len: u32 LE][crc32: u32 LE][payload]`; the payload is a bincode
//! value chosen by the user of the log. Commit protocol: a frame is committed once it is written
//! and fsynced; a failed write or fsync is rolled back by cutting the file to its committed length
//! and fsyncing again, and if even that fails the log refuses every later append (so a frame whose
//! outcome is unknown is never followed by a retry of itself). On open, a damaged final frame (a
//! crash mid-append) is cut away; a damaged frame followed by more data is corruption and refused.
//! Nothing before the committed end is ever rewritten in place.

pub mod fault;
pub mod medium;
pub mod segmented;

use std::path::{Path, PathBuf};

use freshet_repr::{Diff, GlobalId, Row, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use medium::{FileMedium, LogMedium};

/// One committed write: all of it is replayed, or none of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBatch {
    pub ts: Timestamp,
    pub updates: Vec<(GlobalId, Row, Diff)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The append did not commit; the log was rolled back and stays usable.
    #[error("log {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("log {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// An append failed and could not be rolled back: its outcome is unknown, so the log refuses
    /// further appends until it is reopened (which replays exactly what is durable).
    #[error("log {path} stopped after a failed append that could not be rolled back: {message}")]
    Stopped { path: PathBuf, message: String },
}

/// An append-only log of opaque batches that survives crashes.
pub trait DurableLog {
    /// Appends `payload` as one batch; it is durable when this returns `Ok`. On `Err` the batch is
    /// not committed (`LogError::Io`: the log is unchanged and usable) or its outcome is unknown
    /// (`LogError::Stopped`: the log refuses further appends).
    fn append(&mut self, payload: &[u8]) -> Result<(), LogError>;
    /// Every intact batch in order. A damaged final batch is skipped (see `truncate_torn_tail`);
    /// damage before the end is `LogError::Corrupt`.
    fn read_all(&mut self) -> Result<Vec<Vec<u8>>, LogError>;
    /// Cuts a damaged final batch away durably; returns how many bytes were dropped.
    fn truncate_torn_tail(&mut self) -> Result<u64, LogError>;
}

const HEADER_LEN: usize = 8;

/// The framed log over a medium.
pub struct FrameLog<M: LogMedium> {
    medium: M,
    /// The byte length of the committed frames.
    committed: u64,
    /// Why appends are refused, once an append could not be rolled back.
    stopped: Option<String>,
}

impl<M: LogMedium> FrameLog<M> {
    /// Opens the log over `medium`: cuts a torn tail and returns every committed payload in order.
    pub fn open(medium: M) -> Result<(FrameLog<M>, Vec<Vec<u8>>), LogError> {
        let mut log = FrameLog { medium, committed: 0, stopped: None };
        log.truncate_torn_tail()?;
        let payloads = log.read_all()?;
        Ok((log, payloads))
    }

    /// The medium, e.g. to simulate a crash of a fault-injecting one.
    pub fn into_medium(self) -> M {
        self.medium
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(self.medium.describe())
    }

    fn io(&self, source: std::io::Error) -> LogError {
        LogError::Io { path: self.path(), source }
    }

    /// Restores the committed length after a failed append; stops the log if that fails too.
    fn roll_back(&mut self, cause: std::io::Error) -> LogError {
        let restored = self.medium.truncate(self.committed).and_then(|()| self.medium.sync());
        match restored {
            Ok(()) => self.io(cause),
            Err(rollback) => {
                let message = format!("append failed ({cause}), rollback failed ({rollback})");
                self.stopped = Some(message.clone());
                LogError::Stopped { path: self.path(), message }
            }
        }
    }
}

impl<M: LogMedium> DurableLog for FrameLog<M> {
    fn append(&mut self, payload: &[u8]) -> Result<(), LogError> {
        if let Some(message) = &self.stopped {
            return Err(LogError::Stopped { path: self.path(), message: message.clone() });
        }
        let len = u32::try_from(payload.len())
            .map_err(|_| LogError::Corrupt { path: self.path(), message: "batch larger than 4 GiB".into() })?;
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        frame.extend_from_slice(payload);
        if let Err(cause) = self.medium.append(&frame).and_then(|()| self.medium.sync()) {
            return Err(self.roll_back(cause));
        }
        self.committed += frame.len() as u64;
        Ok(())
    }

    fn read_all(&mut self) -> Result<Vec<Vec<u8>>, LogError> {
        let bytes = self.medium.read_all().map_err(|e| self.io(e))?;
        let (frames, _) = decode_frames(&bytes).map_err(|message| LogError::Corrupt { path: self.path(), message })?;
        Ok(frames.into_iter().map(<[u8]>::to_vec).collect())
    }

    fn truncate_torn_tail(&mut self) -> Result<u64, LogError> {
        let bytes = self.medium.read_all().map_err(|e| self.io(e))?;
        let (_, good) = decode_frames(&bytes).map_err(|message| LogError::Corrupt { path: self.path(), message })?;
        let dropped = (bytes.len() - good) as u64;
        if dropped > 0 {
            tracing::warn!(log = %self.medium.describe(), kept = good, dropped, "cutting torn log tail");
            self.medium.truncate(good as u64).and_then(|()| self.medium.sync()).map_err(|e| self.io(e))?;
        }
        self.committed = good as u64;
        Ok(dropped)
    }
}

/// Splits `bytes` into frame payloads up to the end or a damaged final frame; returns them and the
/// byte length of the intact prefix. A damaged frame that is not the last one is corruption.
pub fn decode_frames(bytes: &[u8]) -> Result<(Vec<&[u8]>, usize), String> {
    let mut frames = Vec::new();
    let mut offset = 0;
    while bytes.len() - offset >= HEADER_LEN {
        let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let (len, crc) = (word(offset) as usize, word(offset + 4));
        let start = offset + HEADER_LEN;
        let Some(payload) = bytes.get(start..start + len) else { break };
        if crc32fast::hash(payload) != crc {
            if start + len == bytes.len() {
                break;
            }
            return Err(format!("frame at byte {offset} is corrupt and is followed by more data"));
        }
        frames.push(payload);
        offset = start + len;
    }
    Ok((frames, offset))
}

/// Decodes bincode payloads; a checksummed payload that does not decode is corruption.
pub fn decode_payloads<T: DeserializeOwned>(path: &Path, payloads: &[Vec<u8>]) -> Result<Vec<T>, LogError> {
    payloads.iter().map(|p| decode_payload(path, p)).collect()
}

/// Decodes one log payload; `T` may borrow from `payload` (a source log's records are read in place).
pub fn decode_payload<'p, T: Deserialize<'p>>(path: &Path, payload: &'p [u8]) -> Result<T, LogError> {
    bincode::deserialize(payload)
        .map_err(|e| LogError::Corrupt { path: path.to_path_buf(), message: format!("a batch does not decode: {e}") })
}

/// Encodes a value as a log payload.
pub fn encode_payload<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, LogError> {
    bincode::serialize(value).map_err(|e| LogError::Corrupt { path: path.to_path_buf(), message: e.to_string() })
}

/// The table log: every acknowledged table write, in `<data_dir>/tables-<n>.seg` segments.
pub struct TableLog {
    path: PathBuf,
    log: segmented::SegmentedLog,
}

/// Compacted table updates are split so that no frame holds more than this many updates.
const COMPACTED_BATCH_UPDATES: usize = 100_000;

impl TableLog {
    /// Opens (creating if needed) the table log in `data_dir`, returning it with every intact batch
    /// in order. A damaged tail is truncated away; segments roll after `segment_bytes`.
    pub fn open(data_dir: &Path, segment_bytes: u64) -> Result<(TableLog, Vec<LogBatch>), LogError> {
        let path = data_dir.join("tables");
        let decode = &mut |payload: &[u8]| decode_payload(&path, payload);
        let (log, batches) = segmented::SegmentedLog::open_decoding(data_dir, "tables", segment_bytes, decode)?;
        Ok((TableLog { path, log }, batches))
    }

    /// Appends `batch` and fsyncs; the write is durable when this returns Ok.
    pub fn append(&mut self, batch: &LogBatch) -> Result<(), LogError> {
        let payload = encode_payload(&self.path, batch)?;
        self.log.append(&payload)
    }

    /// A compaction of the closed segments, if one is due; run it with `compact_table_log`.
    pub fn compaction_due(&mut self) -> Result<Option<segmented::Compaction>, LogError> {
        self.log.compaction_due()
    }
}

/// Runs `compaction` over table batches: every row's diffs summed at the latest time of the closed
/// segments, rows that cancel out and tables not in `live` dropped.
pub fn compact_table_log(
    compaction: segmented::Compaction,
    live: &std::collections::BTreeSet<GlobalId>,
) -> Result<segmented::CompactionStats, LogError> {
    compaction.run(|payloads| {
        let path = PathBuf::from("table log compaction");
        let batches: Vec<LogBatch> = decode_payloads(&path, &payloads)?;
        let ts = batches.iter().map(|b| b.ts).max().unwrap_or_default();
        let updates = consolidate_updates(batches, live);
        let mut chunks: Vec<LogBatch> =
            updates.chunks(COMPACTED_BATCH_UPDATES).map(|c| LogBatch { ts, updates: c.to_vec() }).collect();
        if chunks.is_empty() {
            // Keeps the latest time on record even when everything cancelled out.
            chunks.push(LogBatch { ts, updates: Vec::new() });
        }
        chunks.iter().map(|b| encode_payload(&path, b)).collect()
    })
}

/// Every `(table, row)` of `batches` with its summed diff, without zero sums or dead tables.
pub fn consolidate_updates(
    batches: Vec<LogBatch>,
    live: &std::collections::BTreeSet<GlobalId>,
) -> Vec<(GlobalId, Row, Diff)> {
    // A sort and one merge pass: a map keyed by (table, row) cost a node per row at start-up.
    let mut updates: Vec<((GlobalId, Row), Diff)> = batches
        .into_iter()
        .flat_map(|b| b.updates)
        .filter(|(id, _, _)| live.contains(id))
        .map(|(id, row, diff)| ((id, row), diff))
        .collect();
    freshet_repr::consolidate(&mut updates);
    updates.into_iter().map(|((id, row), diff)| (id, row, diff)).collect()
}

#[cfg(test)]
mod tests;
