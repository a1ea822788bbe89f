//! The per-source ingestion log: every record batch a source worker ingested, with the timestamp it
//! was given and the per-shard resume points, so that a restarted source replays exactly what it
//! had emitted at the same times and resumes each shard after its last committed record.
//!
//! Layout: one `SegmentedLog` per worker, `<data-dir>/sources/<source id>-w<worker>-<n>.seg`, each
//! frame a bincode `SourceBatch`. A worker appends only to its own log, but on recovery reads every
//! log of the source (other workers' read-only), so shard ownership may change between runs
//! (another worker count) without losing or repeating a record. Compaction merges the batches of
//! closed segments into batches at the latest of their times: records are append-only, so nothing
//! cancels, but history (times, frames, superseded resume points) collapses. This module must not
//! decode records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bigdecimal::BigDecimal;
use freshet_repr::{GlobalId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::log::segmented::{self, Compaction, SegmentedLog};
use crate::log::{decode_payload, decode_payloads, encode_payload, LogError};

/// One raw record as the stream delivered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub shard_id: String,
    /// Decimal digits, as Kinesis gives them.
    pub sequence_number: String,
    /// As bytes, not as a sequence of `u8`: the same bincode layout (length, then the bytes), but
    /// read with one copy instead of a visitor call per byte (5% of a restart's samples).
    #[serde(with = "serde_bytes")]
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

/// Compacted batches are split so that no frame grows past this many bytes of record data.
const COMPACTED_BATCH_BYTES: usize = 4 << 20;

/// One worker's ingestion log of one source.
pub struct SourceLog {
    dir: PathBuf,
    stem: String,
    log: SegmentedLog,
}

/// The directory holding every source log.
pub fn sources_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sources")
}

/// The name (without segment number) of the log worker `worker` of source `id` appends to.
pub fn source_log_stem(id: GlobalId, worker: usize) -> String {
    format!("{id}-w{worker}")
}

/// The stems of every log of source `id`, whichever worker count wrote them, sorted.
pub fn source_log_stems(data_dir: &Path, id: GlobalId) -> Result<Vec<String>, LogError> {
    let prefix = format!("{id}-w");
    let stems = segmented::stems_with_prefix(&sources_dir(data_dir), &prefix)?;
    Ok(stems
        .into_iter()
        .filter(|stem| stem[prefix.len()..].bytes().all(|b| b.is_ascii_digit()) && stem.len() > prefix.len())
        .collect())
}

/// Deletes every log of source `id` (when the source is dropped).
pub fn remove_source_logs(data_dir: &Path, id: GlobalId) -> Result<(), LogError> {
    for stem in source_log_stems(data_dir, id)? {
        segmented::remove(&sources_dir(data_dir), &stem)?;
    }
    Ok(())
}

/// Which shards a reader of a log keeps: a worker recovers only the shards it owns now.
pub type ShardFilter<'a> = &'a dyn Fn(&str) -> bool;

/// The committed batches of a log another worker owns, without modifying it: a torn tail is
/// skipped, not cut (its owner cuts it). Only the part of each batch about shards `keep` accepts is
/// returned (batches with nothing left are dropped).
pub fn read_only(data_dir: &Path, stem: &str, keep: ShardFilter) -> Result<Vec<SourceBatch>, LogError> {
    let dir = sources_dir(data_dir);
    let path = dir.join(stem);
    let kept = segmented::read_only_decoding(&dir, stem, &mut |payload| decode_kept(&path, payload, keep))?;
    Ok(kept.into_iter().flatten().collect())
}

/// A logged batch read in place: its strings and data borrow the frame, so the records of shards
/// a reader does not keep are never copied (each worker reads every worker's log on recovery).
#[derive(Deserialize)]
struct BatchInPlace<'a> {
    ts: Timestamp,
    #[serde(borrow)]
    records: Vec<RecordInPlace<'a>>,
    progress: Vec<(String, String)>,
    ended: Vec<String>,
}

/// The same layout as `SourceRecord`, borrowed.
#[derive(Deserialize)]
struct RecordInPlace<'a> {
    shard_id: &'a str,
    sequence_number: &'a str,
    data: &'a [u8],
}

/// The part of one logged batch about shards `keep` accepts, if any.
fn decode_kept<'p>(path: &Path, payload: &'p [u8], keep: ShardFilter) -> Result<Option<SourceBatch>, LogError> {
    let batch: BatchInPlace<'p> = decode_payload(path, payload)?;
    // A batch holds runs of one shard's records: ask about each shard once per run.
    let mut last: Option<(&'p str, bool)> = None;
    let mut kept = |shard: &'p str| match last {
        Some((known, answer)) if known == shard => answer,
        _ => {
            let answer = keep(shard);
            last = Some((shard, answer));
            answer
        }
    };
    let records: Vec<SourceRecord> = batch
        .records
        .into_iter()
        .filter(|r| kept(r.shard_id))
        .map(|r| SourceRecord {
            shard_id: r.shard_id.to_string(),
            sequence_number: r.sequence_number.to_string(),
            data: r.data.to_vec(),
        })
        .collect();
    let progress: Vec<_> = batch.progress.into_iter().filter(|(shard, _)| keep(shard)).collect();
    let ended: Vec<_> = batch.ended.into_iter().filter(|shard| keep(shard)).collect();
    let empty = records.is_empty() && progress.is_empty() && ended.is_empty();
    Ok((!empty).then_some(SourceBatch { ts: batch.ts, records, progress, ended }))
}

impl SourceLog {
    /// Opens (creating it and its directory if needed) the log of worker `worker` of source `id`,
    /// cutting a torn tail, and returns it with every committed batch in order. Segments roll
    /// after `segment_bytes`.
    pub fn open(
        data_dir: &Path,
        id: GlobalId,
        worker: usize,
        segment_bytes: u64,
    ) -> Result<(SourceLog, Vec<SourceBatch>), LogError> {
        SourceLog::open_keeping(data_dir, id, worker, segment_bytes, &|_| true)
    }

    /// `open`, returning only the part of each batch about shards `keep` accepts.
    pub fn open_keeping(
        data_dir: &Path,
        id: GlobalId,
        worker: usize,
        segment_bytes: u64,
        keep: ShardFilter,
    ) -> Result<(SourceLog, Vec<SourceBatch>), LogError> {
        let dir = sources_dir(data_dir);
        let stem = source_log_stem(id, worker);
        let path = dir.join(&stem);
        let decode = &mut |payload: &[u8]| decode_kept(&path, payload, keep);
        let (log, kept) = SegmentedLog::open_decoding(&dir, &stem, segment_bytes, decode)?;
        Ok((SourceLog { dir, stem, log }, kept.into_iter().flatten().collect()))
    }

    /// Appends `batch` and fsyncs; see `DurableLog::append` for what an error means.
    pub fn append(&mut self, batch: &SourceBatch) -> Result<(), LogError> {
        let payload = encode_payload(&self.dir.join(&self.stem), batch)?;
        self.log.append(&payload)
    }

    /// A compaction of this log's closed segments, if one is due; run it with `compact_source_log`
    /// on any thread.
    pub fn compaction_due(&mut self) -> Result<Option<Compaction>, LogError> {
        self.log.compaction_due()
    }

    pub fn stem(&self) -> &str {
        &self.stem
    }
}

/// Runs `compaction` over source batches: see the module docs.
pub fn compact_source_log(compaction: Compaction) -> Result<segmented::CompactionStats, LogError> {
    compaction.run(|payloads| {
        let path = PathBuf::from("source log compaction");
        let batches: Vec<SourceBatch> = decode_payloads(&path, &payloads)?;
        merge_batches(batches).iter().map(|b| encode_payload(&path, b)).collect()
    })
}

/// `batches` as few batches at the latest of their times, with each shard's greatest resume point.
pub fn merge_batches(batches: Vec<SourceBatch>) -> Vec<SourceBatch> {
    let Some(ts) = batches.iter().map(|b| b.ts).max() else { return Vec::new() };
    let mut progress: BTreeMap<String, String> = BTreeMap::new();
    let mut ended: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<SourceBatch> = Vec::new();
    let mut current = SourceBatch { ts, records: Vec::new(), progress: Vec::new(), ended: Vec::new() };
    let mut current_bytes = 0;
    for batch in batches {
        for (shard, seq) in batch.progress {
            let greater = match (progress.get(&shard), BigDecimal::from_str(&seq)) {
                (None, _) => true,
                (Some(known), Ok(new)) => BigDecimal::from_str(known).is_ok_and(|known| new > known),
                (Some(_), Err(_)) => false,
            };
            if greater {
                progress.insert(shard, seq);
            }
        }
        ended.extend(batch.ended);
        for record in batch.records {
            current_bytes += record.data.len();
            current.records.push(record);
            if current_bytes >= COMPACTED_BATCH_BYTES {
                let full = std::mem::take(&mut current.records);
                out.push(SourceBatch { ts, records: full, progress: Vec::new(), ended: Vec::new() });
                current_bytes = 0;
            }
        }
    }
    current.progress = progress.into_iter().collect();
    current.ended = ended.into_iter().collect();
    out.push(current);
    out
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
    fn record_data_keeps_the_layout_of_a_plain_byte_vector() {
        // Logs written before `data` was read as bytes must still replay.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Before {
            shard_id: String,
            sequence_number: String,
            data: Vec<u8>,
        }
        let data = b"{\"id\": 1}\x00\xff".to_vec();
        let before = Before { shard_id: "s-1".into(), sequence_number: "42".into(), data: data.clone() };
        let now = SourceRecord { shard_id: "s-1".into(), sequence_number: "42".into(), data };
        let old_bytes = bincode::serialize(&before).unwrap();
        assert_eq!(bincode::serialize(&now).unwrap(), old_bytes);
        assert_eq!(bincode::deserialize::<SourceRecord>(&old_bytes).unwrap(), now);
    }

    #[test]
    fn batches_survive_reopen_and_other_workers_read_them() {
        let dir = data_dir("reopen");
        let (mut log, replay) = SourceLog::open(&dir, GlobalId(7), 1, 1 << 20).unwrap();
        assert!(replay.is_empty());
        log.append(&batch(10, "1")).unwrap();
        log.append(&batch(11, "2")).unwrap();
        drop(log);
        let (_, replay) = SourceLog::open(&dir, GlobalId(7), 1, 1 << 20).unwrap();
        assert_eq!(replay, vec![batch(10, "1"), batch(11, "2")]);
        assert_eq!(read_only(&dir, &source_log_stem(GlobalId(7), 1), &|_| true).unwrap(), replay);
    }

    #[test]
    fn readers_keep_only_the_shards_they_own() {
        let dir = data_dir("keep");
        let (mut log, _) = SourceLog::open(&dir, GlobalId(8), 0, 1 << 20).unwrap();
        let record = |shard: &str, seq: &str| SourceRecord {
            shard_id: shard.into(),
            sequence_number: seq.into(),
            data: format!("{shard}/{seq}").into_bytes(),
        };
        let mixed = SourceBatch {
            ts: 5,
            records: vec![record("s-0", "1"), record("s-1", "2"), record("s-0", "3")],
            progress: vec![("s-0".into(), "3".into()), ("s-1".into(), "2".into())],
            ended: vec!["s-1".into()],
        };
        log.append(&mixed).unwrap();
        log.append(&batch(6, "4")).unwrap();
        drop(log);
        let stem = source_log_stem(GlobalId(8), 0);
        let only_s1 = SourceBatch {
            ts: 5,
            records: vec![record("s-1", "2")],
            progress: vec![("s-1".into(), "2".into())],
            ended: vec!["s-1".into()],
        };
        assert_eq!(read_only(&dir, &stem, &|shard| shard == "s-1").unwrap(), vec![only_s1.clone()]);
        let (_, kept) = SourceLog::open_keeping(&dir, GlobalId(8), 0, 1 << 20, &|shard| shard == "s-1").unwrap();
        assert_eq!(kept, vec![only_s1]);
        assert_eq!(read_only(&dir, &stem, &|_| true).unwrap(), vec![mixed, batch(6, "4")]);
    }

    #[test]
    fn logs_are_listed_per_source_and_removed_on_drop() {
        let dir = data_dir("files");
        for (id, worker) in [(7, 0), (7, 1), (71, 0)] {
            SourceLog::open(&dir, GlobalId(id), worker, 1 << 20).unwrap();
        }
        std::fs::write(sources_dir(&dir).join("u7-wx-0000000000.seg"), b"").unwrap();
        let stems = source_log_stems(&dir, GlobalId(7)).unwrap();
        assert_eq!(stems, vec![source_log_stem(GlobalId(7), 0), source_log_stem(GlobalId(7), 1)]);
        remove_source_logs(&dir, GlobalId(7)).unwrap();
        assert!(source_log_stems(&dir, GlobalId(7)).unwrap().is_empty());
        assert_eq!(source_log_stems(&dir, GlobalId(71)).unwrap().len(), 1);
        assert!(source_log_stems(&data_dir("missing"), GlobalId(7)).unwrap().is_empty());
    }

    #[test]
    fn compaction_keeps_every_record_once_and_the_greatest_resume_point() {
        let dir = data_dir("compact");
        let (mut log, _) = SourceLog::open(&dir, GlobalId(9), 0, 200).unwrap();
        let mut expected = Vec::new();
        let mut compactions = 0;
        for i in 1..=60u32 {
            let b = batch(u64::from(i), &(i * 10).to_string());
            expected.extend(b.records.clone());
            log.append(&b).unwrap();
            if let Some(job) = log.compaction_due().unwrap() {
                compact_source_log(job).unwrap();
                compactions += 1;
            }
        }
        assert!(compactions >= 2, "{compactions} compactions");
        drop(log);
        let (_, replay) = SourceLog::open(&dir, GlobalId(9), 0, 200).unwrap();
        assert!(replay.len() < 30, "history collapsed: {} batches", replay.len());
        let records: Vec<SourceRecord> = replay.iter().flat_map(|b| b.records.clone()).collect();
        assert_eq!(records, expected);
        let last_progress = replay.iter().flat_map(|b| b.progress.clone()).last();
        assert_eq!(last_progress, Some(("s-0".to_string(), "600".to_string())));
        assert!(replay.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn merged_resume_points_compare_as_numbers() {
        let long = "49590338271490256608559692538361571095921575989136588802";
        let merged = merge_batches(vec![batch(1, "9"), batch(2, "10"), batch(3, long), batch(4, "4959")]);
        let progress: Vec<(String, String)> = merged.iter().flat_map(|b| b.progress.clone()).collect();
        assert_eq!(progress, vec![("s-0".to_string(), long.to_string())]);
        let merged = merge_batches(vec![batch(1, "9"), batch(2, "10")]);
        assert_eq!(merged.last().map(|b| b.progress.clone()), Some(vec![("s-0".to_string(), "10".to_string())]));
        assert!(merged.iter().all(|b| b.ts == 2));
    }
}
