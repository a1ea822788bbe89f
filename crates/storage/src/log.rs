//! The durable table log: every acknowledged table write, appended and fsynced before the write is
//! acknowledged, and replayed at start.
//!
//! Format: a sequence of frames `[len: u32 LE][crc32: u32 LE][payload]`, where the payload is a
//! bincode `LogBatch`. A torn or corrupt tail (a crash mid-append) is cut back to the last good frame
//! on open; nothing before it is ever rewritten in place.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use freshet_repr::{Diff, GlobalId, Row, Timestamp};
use serde::{Deserialize, Serialize};

/// One committed write: all of it is replayed, or none of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBatch {
    pub ts: Timestamp,
    pub updates: Vec<(GlobalId, Row, Diff)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("table log {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("table log {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// An append-only, checksummed log file.
pub struct TableLog {
    path: PathBuf,
    file: File,
}

const HEADER_LEN: usize = 8;

impl TableLog {
    /// Opens (creating if needed) the log at `path`, returning it with every intact batch in order.
    /// A damaged tail is truncated away.
    pub fn open(path: &Path) -> Result<(TableLog, Vec<LogBatch>), LogError> {
        let io = |source| LogError::Io { path: path.to_path_buf(), source };
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (batches, good_len) =
            decode_frames(&bytes).map_err(|message| LogError::Corrupt { path: path.to_path_buf(), message })?;
        if good_len < bytes.len() {
            tracing::warn!(path = %path.display(), kept = good_len, dropped = bytes.len() - good_len, "cutting torn table log tail");
            file.set_len(good_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok((TableLog { path: path.to_path_buf(), file }, batches))
    }

    /// Appends `batch` and fsyncs; the write is durable when this returns Ok.
    pub fn append(&mut self, batch: &LogBatch) -> Result<(), LogError> {
        let payload = bincode::serialize(batch)
            .map_err(|e| LogError::Corrupt { path: self.path.clone(), message: e.to_string() })?;
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        let io = |source| LogError::Io { path: self.path.clone(), source };
        self.file.write_all(&frame).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// Decodes frames until the end or a damaged final frame; returns the batches and the byte length of
/// the intact prefix. A damaged frame that is not the last one is corruption, not a torn write.
fn decode_frames(bytes: &[u8]) -> Result<(Vec<LogBatch>, usize), String> {
    let mut batches = Vec::new();
    let mut offset = 0;
    while bytes.len() - offset >= HEADER_LEN {
        let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let (len, crc) = (word(offset) as usize, word(offset + 4));
        let start = offset + HEADER_LEN;
        let Some(payload) = bytes.get(start..start + len) else { break };
        let decoded =
            (crc32fast::hash(payload) == crc).then(|| bincode::deserialize::<LogBatch>(payload).ok()).flatten();
        match decoded {
            Some(batch) => batches.push(batch),
            None if start + len == bytes.len() => break,
            None => return Err(format!("frame at byte {offset} is corrupt and is followed by more data")),
        }
        offset = start + len;
    }
    Ok((batches, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_repr::Datum;

    fn batch(ts: Timestamp, v: i64) -> LogBatch {
        LogBatch { ts, updates: vec![(GlobalId(1), Row::new(vec![Datum::Int64(v)]), 1)] }
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("freshet-log-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("tables.log")
    }

    #[test]
    fn batches_survive_reopen() {
        let path = temp_path("reopen");
        let (mut log, replay) = TableLog::open(&path).unwrap();
        assert!(replay.is_empty());
        log.append(&batch(1, 10)).unwrap();
        log.append(&batch(2, 20)).unwrap();
        drop(log);
        let (_, replay) = TableLog::open(&path).unwrap();
        assert_eq!(replay, vec![batch(1, 10), batch(2, 20)]);
    }

    #[test]
    fn torn_tail_is_cut_and_later_appends_are_kept() {
        let path = temp_path("torn");
        let (mut log, _) = TableLog::open(&path).unwrap();
        log.append(&batch(1, 10)).unwrap();
        log.append(&batch(2, 20)).unwrap();
        drop(log);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        drop(file);
        let (mut log, replay) = TableLog::open(&path).unwrap();
        assert_eq!(replay, vec![batch(1, 10)]);
        log.append(&batch(3, 30)).unwrap();
        drop(log);
        let (_, replay) = TableLog::open(&path).unwrap();
        assert_eq!(replay, vec![batch(1, 10), batch(3, 30)]);
    }

    #[test]
    fn corrupt_byte_stops_replay_at_that_frame() {
        let path = temp_path("corrupt");
        let (mut log, _) = TableLog::open(&path).unwrap();
        log.append(&batch(1, 10)).unwrap();
        log.append(&batch(2, 20)).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, replay) = TableLog::open(&path).unwrap();
        assert_eq!(replay, vec![batch(1, 10)]);
    }

    #[test]
    fn corruption_before_the_tail_is_an_error() {
        let path = temp_path("middle");
        let (mut log, _) = TableLog::open(&path).unwrap();
        log.append(&batch(1, 10)).unwrap();
        log.append(&batch(2, 20)).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN + 1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(TableLog::open(&path), Err(LogError::Corrupt { .. })));
    }
}
