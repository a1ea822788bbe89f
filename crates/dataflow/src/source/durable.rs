//! The source operator's persistence: recovering a worker's share of a source from the source's
//! logs, and turning ingested records into the batch that is committed before they are emitted.
//!
//! Recovery reads every log file of the source (whatever worker count wrote them) and keeps the
//! batches of the shards this worker owns now; it opens only this worker's own file for appending.
//! This module must not emit updates or move capabilities (the operator does).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use freshet_kinesis::KinesisRecord;
use freshet_repr::GlobalId;
use freshet_storage::source_log::{source_log_stem, source_log_stems, ShardFilter};
use freshet_storage::{SourceBatch, SourceLog, SourceRecord};

/// Where a source keeps its logs.
#[derive(Clone, Debug)]
pub struct Persistence {
    pub data_dir: PathBuf,
    pub id: GlobalId,
    /// Log segments roll after this many bytes (and closed ones are compacted).
    pub segment_bytes: u64,
}

/// What a worker recovered of its source.
pub struct Recovered {
    pub log: SourceLog,
    /// The committed batches of this worker's shards, by timestamp (file order within a time).
    pub batches: Vec<SourceBatch>,
    /// The last committed sequence number per owned shard: where its reader resumes.
    pub resume: BTreeMap<String, String>,
    /// Owned shards that were read to their end.
    pub ended: BTreeSet<String>,
}

/// Opens this worker's log and collects the committed batches of the shards it owns.
pub fn recover(
    persistence: &Persistence,
    (index, peers): (usize, usize),
    owns: impl Fn(&str) -> bool,
) -> Result<Recovered, String> {
    let own_stem = source_log_stem(persistence.id, index);
    // Cut our own torn tail first, so that later readers of our log see only committed frames.
    let (log, own) =
        SourceLog::open_keeping(&persistence.data_dir, persistence.id, index, persistence.segment_bytes, &owns)
            .map_err(|e| e.to_string())?;
    let stems = source_log_stems(&persistence.data_dir, persistence.id).map_err(|e| {
        format!("cannot list the logs of source {} in {}: {e}", persistence.id, persistence.data_dir.display())
    })?;
    let mut batches = own;
    for stem in stems.iter().filter(|s| **s != own_stem) {
        batches.extend(read_other(&persistence.data_dir, stem, &owns)?);
    }
    batches.sort_by_key(|b| b.ts);
    let mut resume: BTreeMap<String, (BigDecimal, String)> = BTreeMap::new();
    for (shard, seq) in batches.iter().flat_map(|b| b.progress.iter()) {
        let Ok(parsed) = BigDecimal::from_str(seq) else {
            return Err(format!("source log of {} holds a bad sequence number {seq:?}", persistence.id));
        };
        if resume.get(shard).is_none_or(|(greatest, _)| parsed > *greatest) {
            resume.insert(shard.clone(), (parsed, seq.clone()));
        }
    }
    tracing::info!(source = %persistence.id, worker = index, peers, batches = batches.len(), logs = stems.len(), "recovered source log");
    let ended = batches.iter().flat_map(|b| b.ended.iter().cloned()).collect();
    let resume = resume.into_iter().map(|(shard, (_, seq))| (shard, seq)).collect();
    Ok(Recovered { log, batches, resume, ended })
}

/// Reads another worker's log. That worker may be cutting its torn tail and appending at the same
/// moment, which a reader can see as damage before the end; a second look settles it.
fn read_other(data_dir: &std::path::Path, stem: &str, owns: ShardFilter) -> Result<Vec<SourceBatch>, String> {
    let mut attempts = 0;
    loop {
        match freshet_storage::source_log::read_only(data_dir, stem, owns) {
            Ok(batches) => return Ok(batches),
            Err(freshet_storage::LogError::Corrupt { .. }) if attempts < 3 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// Records of one shard, as the reader delivered them.
pub type ShardRecords = (String, Vec<KinesisRecord>);

/// The batch that commits `pending` (and the shards in `ended`) at `ts`: the raw records and each
/// shard's new last sequence number (never behind `progress`, the last committed ones).
pub fn batch_for(
    ts: u64,
    pending: &[ShardRecords],
    ended: &[String],
    progress: &BTreeMap<String, BigDecimal>,
) -> SourceBatch {
    let mut last: BTreeMap<&str, (BigDecimal, &str)> = BTreeMap::new();
    let mut records = Vec::new();
    for (shard, shard_records) in pending {
        for record in shard_records {
            records.push(SourceRecord {
                shard_id: shard.clone(),
                sequence_number: record.sequence_number.clone(),
                data: record.data.clone(),
            });
            let Ok(seq) = BigDecimal::from_str(&record.sequence_number) else { continue };
            let behind = progress.get(shard).is_some_and(|p| *p >= seq);
            if !behind && last.get(shard.as_str()).is_none_or(|(g, _)| seq > *g) {
                last.insert(shard, (seq, &record.sequence_number));
            }
        }
    }
    let progress = last.into_iter().map(|(shard, (_, seq))| (shard.to_string(), seq.to_string())).collect();
    SourceBatch { ts, records, progress, ended: ended.to_vec() }
}

/// Turns logged records back into reader records, grouped by shard in their logged order.
pub fn replay_records(batch: SourceBatch) -> Vec<ShardRecords> {
    let mut groups: Vec<ShardRecords> = Vec::new();
    for record in batch.records {
        let kinesis = KinesisRecord {
            shard_id: record.shard_id,
            sequence_number: record.sequence_number,
            partition_key: String::new(),
            data: record.data,
            arrival_ms: None,
        };
        match groups.last_mut() {
            Some((shard, records)) if *shard == kinesis.shard_id => records.push(kinesis),
            _ => groups.push((kinesis.shard_id.clone(), vec![kinesis])),
        }
    }
    groups
}
