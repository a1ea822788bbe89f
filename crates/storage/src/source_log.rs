//! The per-source ingestion log: every record batch a source worker ingested, with the timestamp it
//! was given and the per-shard resume points, so that a restarted source replays exactly what it
//! had emitted at the same times and resumes each shard after its last committed record.
//!
//! Layout: `<data-dir>/sources/<source id>-w<worker>.log`, one `FrameLog` per worker, each frame
//! a bincode `SourceBatch`. A worker appends only to its own file, but on recovery reads every file
//! of the source (other workers' read-only), so shard ownership may change between runs (another
//! worker count) without losing or repeating a record. This module must not decode records.

use std::path::{Path, PathBuf};

use freshet_repr::{GlobalId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::log::{decode_frames, decode_payloads, encode_payload, DurableLog, FileMedium, FrameLog, LogError};

/// One raw record as the stream delivered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub shard_id: String,
    /// Decimal digits, as Kinesis gives them.
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// One ingested batch: all of it is replayed, or none of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceBatch {
    /// The time the batch's rows were emitted at.
    pub ts: Timestamp,
    pub records: Vec<SourceRecord>,
    /// `(shard id, last sequence number)` for every shard the batch advanced.
    pub progress: Vec<(String, String)>,
    /// Shards that were read to their end (closed by resharding): if such a shard is later gone
    /// from the stream, nothing of it was lost.
    pub ended: Vec<String>,
}

/// One worker's ingestion log of one source.
pub struct SourceLog {
    path: PathBuf,
    log: FrameLog<FileMedium>,
}

/// The directory holding every source log.
pub fn sources_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sources")
}

/// The log file worker `worker` of source `id` appends to.
pub fn source_log_path(data_dir: &Path, id: GlobalId, worker: usize) -> PathBuf {
    sources_dir(data_dir).join(format!("{id}-w{worker}.log"))
}

/// Every log file of source `id`, whichever worker count wrote them, sorted by name.
pub fn source_log_files(data_dir: &Path, id: GlobalId) -> std::io::Result<Vec<PathBuf>> {
    let prefix = format!("{id}-w");
    let dir = sources_dir(data_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let worker = name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".log"));
        if worker.is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())) {
            files.push(dir.join(name.as_ref()));
        }
    }
    files.sort();
    Ok(files)
}

/// Deletes every log file of source `id` (when the source is dropped).
pub fn remove_source_logs(data_dir: &Path, id: GlobalId) -> std::io::Result<()> {
    for file in source_log_files(data_dir, id)? {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

impl SourceLog {
    /// Opens (creating it and its directory if needed) the log at `path`, cutting a torn tail,
    /// and returns it with every committed batch in order.
    pub fn open(path: &Path) -> Result<(SourceLog, Vec<SourceBatch>), LogError> {
        let io = |source| LogError::Io { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let (log, payloads) = FrameLog::open(FileMedium::open(path).map_err(io)?)?;
        let batches = decode_payloads(path, &payloads)?;
        Ok((SourceLog { path: path.to_path_buf(), log }, batches))
    }

    /// The committed batches of a log another worker owns, without modifying it: a torn tail is
    /// skipped, not cut (its owner cuts it).
    pub fn read_only(path: &Path) -> Result<Vec<SourceBatch>, LogError> {
        let bytes = std::fs::read(path).map_err(|source| LogError::Io { path: path.to_path_buf(), source })?;
        let (frames, _) =
            decode_frames(&bytes).map_err(|message| LogError::Corrupt { path: path.to_path_buf(), message })?;
        let payloads: Vec<Vec<u8>> = frames.into_iter().map(<[u8]>::to_vec).collect();
        decode_payloads(path, &payloads)
    }

    /// Appends `batch` and fsyncs; see `DurableLog::append` for what an error means.
    pub fn append(&mut self, batch: &SourceBatch) -> Result<(), LogError> {
        let payload = encode_payload(&self.path, batch)?;
        self.log.append(&payload)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ts: Timestamp, seq: &str) -> SourceBatch {
        SourceBatch {
            ts,
            records: vec![SourceRecord { shard_id: "s-0".into(), sequence_number: seq.into(), data: seq.into() }],
            progress: vec![("s-0".into(), seq.into())],
            ended: Vec::new(),
        }
    }

    fn data_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("freshet-source-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn batches_survive_reopen_and_other_workers_read_them() {
        let dir = data_dir("reopen");
        let path = source_log_path(&dir, GlobalId(7), 1);
        let (mut log, replay) = SourceLog::open(&path).unwrap();
        assert!(replay.is_empty());
        log.append(&batch(10, "1")).unwrap();
        log.append(&batch(11, "2")).unwrap();
        drop(log);
        let (_, replay) = SourceLog::open(&path).unwrap();
        assert_eq!(replay, vec![batch(10, "1"), batch(11, "2")]);
        assert_eq!(SourceLog::read_only(&path).unwrap(), replay);
    }

    #[test]
    fn files_are_listed_per_source_and_removed_on_drop() {
        let dir = data_dir("files");
        for (id, worker) in [(7, 0), (7, 1), (71, 0)] {
            SourceLog::open(&source_log_path(&dir, GlobalId(id), worker)).unwrap();
        }
        std::fs::write(sources_dir(&dir).join("u7-wx.log"), b"").unwrap();
        let files = source_log_files(&dir, GlobalId(7)).unwrap();
        assert_eq!(files, vec![source_log_path(&dir, GlobalId(7), 0), source_log_path(&dir, GlobalId(7), 1)]);
        remove_source_logs(&dir, GlobalId(7)).unwrap();
        assert!(source_log_files(&dir, GlobalId(7)).unwrap().is_empty());
        assert_eq!(source_log_files(&dir, GlobalId(71)).unwrap().len(), 1);
        assert!(source_log_files(&data_dir("missing"), GlobalId(7)).unwrap().is_empty());
    }

    #[test]
    fn a_torn_tail_is_skipped_by_readers_and_cut_by_the_owner() {
        let dir = data_dir("torn");
        let path = source_log_path(&dir, GlobalId(3), 0);
        let (mut log, _) = SourceLog::open(&path).unwrap();
        log.append(&batch(1, "1")).unwrap();
        log.append(&batch(2, "2")).unwrap();
        drop(log);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 2).unwrap();
        assert_eq!(SourceLog::read_only(&path).unwrap(), vec![batch(1, "1")]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len - 2, "readers do not cut");
        let (_, replay) = SourceLog::open(&path).unwrap();
        assert_eq!(replay, vec![batch(1, "1")]);
        assert!(std::fs::metadata(&path).unwrap().len() < len - 2, "the owner cuts");
    }
}
