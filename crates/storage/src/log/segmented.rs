//! A log split into numbered segment files, so that it can be compacted without ever rewriting the
//! segment being appended to.
//!
//! Layout: `<dir>/<stem>-<number:010>.seg`, each a `FrameLog` whose first frame is a header
//! `[MAGIC][supersedes_below: u64 LE]`. Appends go to the highest-numbered (active) segment; once
//! it passes `roll_bytes` the next append opens a new one. Compaction reads the closed segments,
//! lets its caller consolidate their payloads, writes the result to a temporary file, fsyncs it and
//! renames it over the last closed segment with a header that supersedes every lower number; the
//! lower segments are then deleted. A crash at any point leaves either the old segments or the
//! compacted one in force, never both: readers ignore segments below the greatest
//! `supersedes_below` they find. Only the last segment may have a torn tail (cut on open); damage
//! in any earlier segment is corruption. This module must not interpret payloads.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{decode_frames, DurableLog, FileMedium, FrameLog, LogError};

/// Segments roll after this many bytes unless the log's owner says otherwise.
pub const DEFAULT_SEGMENT_BYTES: u64 = 8 << 20;

const MAGIC: &[u8; 16] = b"FRESHET-SEGMENT1";
const SUFFIX: &str = ".seg";

/// Turns one payload into a reader's value while its segment's bytes are in memory.
pub type Decode<'a, T> = &'a mut dyn FnMut(&[u8]) -> Result<T, LogError>;

/// One segment file found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub number: u64,
    pub path: PathBuf,
    pub len: u64,
}

/// The append side of a segmented log.
pub struct SegmentedLog {
    dir: PathBuf,
    stem: String,
    roll_bytes: u64,
    active: FrameLog<FileMedium>,
    active_number: u64,
    active_len: u64,
    /// Set while a compaction job of this log runs, so that at most one does.
    compacting: Arc<AtomicBool>,
    /// Whether segments closed since the last look might make a compaction due; the directory is
    /// only listed then, not on every append.
    closed_since_check: bool,
}

impl SegmentedLog {
    /// Opens the log `<dir>/<stem>-*.seg` (creating the directory and a first segment if needed):
    /// removes leftovers of an interrupted compaction, cuts a torn tail of the last segment, and
    /// returns every committed payload in order. A legacy single-file log `<dir>/<stem>.log` is
    /// adopted as segment 0.
    pub fn open(dir: &Path, stem: &str, roll_bytes: u64) -> Result<(SegmentedLog, Vec<Vec<u8>>), LogError> {
        SegmentedLog::open_decoding(dir, stem, roll_bytes, &mut |payload| Ok(payload.to_vec()))
    }

    /// `open`, handing each payload to `decode` as its segment is read: only one segment's bytes
    /// are in memory at a time, never a whole log beside what is decoded from it.
    pub fn open_decoding<T>(
        dir: &Path,
        stem: &str,
        roll_bytes: u64,
        decode: Decode<T>,
    ) -> Result<(SegmentedLog, Vec<T>), LogError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::Io { path: dir.to_path_buf(), source })?;
        adopt_legacy_file(dir, stem)?;
        remove_temporaries(dir, stem)?;
        let segments = list_segments(dir, stem)?;
        let (in_force, payloads) = read_segments(&segments, Tail::Cut, decode)?;
        for stale in segments.iter().filter(|s| !in_force.contains(s)) {
            remove_file(&stale.path)?;
        }
        let active_number = in_force.last().map_or(0, |s| s.number);
        let (active, active_len) = open_segment(&segment_path(dir, stem, active_number), 0)?;
        let log = SegmentedLog {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            roll_bytes: roll_bytes.max(1),
            active,
            active_number,
            active_len,
            compacting: Arc::new(AtomicBool::new(false)),
            closed_since_check: true,
        };
        Ok((log, payloads))
    }

    /// Appends `payload` durably (see `DurableLog::append`), first opening a new segment if the
    /// active one is full.
    pub fn append(&mut self, payload: &[u8]) -> Result<(), LogError> {
        if self.active_len >= self.roll_bytes {
            let number = self.active_number + 1;
            let (active, len) = open_segment(&segment_path(&self.dir, &self.stem, number), 0)?;
            (self.active, self.active_number, self.active_len) = (active, number, len);
            self.closed_since_check = true;
        }
        self.active.append(payload)?;
        self.active_len += (super::HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// A compaction of the closed segments, when they hold more new data than the last compaction
    /// left (so every byte is rewritten O(log n) times) and no other compaction of this log runs.
    /// Cheap to call after every append: it looks at the directory only after a segment closed.
    pub fn compaction_due(&mut self) -> Result<Option<Compaction>, LogError> {
        if !self.closed_since_check || self.compacting.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.closed_since_check = false;
        let closed: Vec<Segment> =
            list_segments(&self.dir, &self.stem)?.into_iter().filter(|s| s.number < self.active_number).collect();
        let Some(first) = closed.first() else { return Ok(None) };
        let newer: u64 = closed.iter().skip(1).map(|s| s.len).sum();
        if closed.len() < 2 || newer < first.len {
            return Ok(None);
        }
        if self.compacting.swap(true, Ordering::AcqRel) {
            self.closed_since_check = true;
            return Ok(None);
        }
        Ok(Some(Compaction { segments: closed, running: RunningFlag(Arc::clone(&self.compacting)) }))
    }

    /// The number of the segment appends go to.
    pub fn active_number(&self) -> u64 {
        self.active_number
    }
}

/// Clears a log's "compaction running" flag when the job ends, however it ends.
struct RunningFlag(Arc<AtomicBool>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// What one compaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionStats {
    pub segments_in: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// A compaction of closed segments; it touches no file the appender writes, so it may run on any
/// thread while appends continue.
pub struct Compaction {
    segments: Vec<Segment>,
    running: RunningFlag,
}

impl Compaction {
    /// Replaces the closed segments by one holding `consolidate(their payloads)`.
    pub fn run(
        self,
        consolidate: impl FnOnce(Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, LogError>,
    ) -> Result<CompactionStats, LogError> {
        let Some(last) = self.segments.last() else {
            return Ok(CompactionStats { segments_in: 0, bytes_in: 0, bytes_out: 0 });
        };
        let (_, payloads) = read_segments(&self.segments, Tail::Refuse, &mut |p| Ok(p.to_vec()))?;
        let consolidated = consolidate(payloads)?;
        let temporary = last.path.with_extension("seg.tmp");
        let bytes_out = write_segment(&temporary, last.number, &consolidated)?;
        std::fs::rename(&temporary, &last.path).map_err(|source| LogError::Io { path: last.path.clone(), source })?;
        sync_dir(&last.path)?;
        for older in &self.segments[..self.segments.len() - 1] {
            remove_file(&older.path)?;
        }
        sync_dir(&last.path)?;
        drop(self.running);
        let bytes_in = self.segments.iter().map(|s| s.len).sum();
        Ok(CompactionStats { segments_in: self.segments.len(), bytes_in, bytes_out })
    }
}

/// Every committed payload of the log, without modifying any file (another thread or process may
/// own it): a torn tail of the last segment is skipped, not cut. A segment that vanishes while it
/// is read (a concurrent compaction) makes the read start over.
pub fn read_only(dir: &Path, stem: &str) -> Result<Vec<Vec<u8>>, LogError> {
    read_only_decoding(dir, stem, &mut |payload| Ok(payload.to_vec()))
}

/// `read_only`, decoding each payload as its segment is read (see `SegmentedLog::open_decoding`).
pub fn read_only_decoding<T>(dir: &Path, stem: &str, decode: Decode<T>) -> Result<Vec<T>, LogError> {
    let mut attempts = 0;
    loop {
        let segments = list_segments(dir, stem)?;
        match read_segments(&segments, Tail::Skip, decode) {
            Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound && attempts < 5 => {
                attempts += 1;
            }
            other => return other.map(|(_, payloads)| payloads),
        }
    }
}

/// Deletes every segment of the log.
pub fn remove(dir: &Path, stem: &str) -> Result<(), LogError> {
    for segment in list_segments(dir, stem)? {
        remove_file(&segment.path)?;
    }
    remove_temporaries(dir, stem)
}

/// The stems of the logs in `dir` whose stem starts with `prefix`.
pub fn stems_with_prefix(dir: &Path, prefix: &str) -> Result<Vec<String>, LogError> {
    let mut stems: Vec<String> = file_names(dir)?
        .into_iter()
        .filter_map(|name| parse_segment_name(&name).map(|(stem, _)| stem.to_string()))
        .filter(|stem| stem.starts_with(prefix))
        .collect();
    stems.sort();
    stems.dedup();
    Ok(stems)
}

pub fn segment_path(dir: &Path, stem: &str, number: u64) -> PathBuf {
    dir.join(format!("{stem}-{number:010}{SUFFIX}"))
}

fn parse_segment_name(name: &str) -> Option<(&str, u64)> {
    let (stem, number) = name.strip_suffix(SUFFIX)?.rsplit_once('-')?;
    if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem, number.parse().ok()?))
}

fn file_names(dir: &Path) -> Result<Vec<String>, LogError> {
    let io = |source| LogError::Io { path: dir.to_path_buf(), source };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry.map_err(io)?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// The segments of log `stem` in `dir`, by number.
pub fn list_segments(dir: &Path, stem: &str) -> Result<Vec<Segment>, LogError> {
    let mut segments = Vec::new();
    for name in file_names(dir)? {
        let Some((found, number)) = parse_segment_name(&name) else { continue };
        if found != stem {
            continue;
        }
        let path = dir.join(&name);
        match std::fs::metadata(&path) {
            Ok(meta) => segments.push(Segment { number, path, len: meta.len() }),
            // Deleted by a compaction since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(LogError::Io { path, source }),
        }
    }
    segments.sort_by_key(|s| s.number);
    Ok(segments)
}

/// What to do about a torn tail of the last segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Cut it (the owner opening the log).
    Cut,
    /// Ignore it (a reader that owns nothing).
    Skip,
    /// Treat it as corruption (every segment read must be complete).
    Refuse,
}

/// The segments in force (not superseded by a compacted one) and their decoded payloads, in
/// order. Each segment is decoded as soon as it is read, so its bytes are dropped before the next.
fn read_segments<T>(segments: &[Segment], tail: Tail, decode: Decode<T>) -> Result<(Vec<Segment>, Vec<T>), LogError> {
    let mut contents = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let tail = if last { tail } else { Tail::Refuse };
        let mut values = Vec::new();
        let supersedes_below = read_segment(segment, tail, &mut |payload| {
            values.push(decode(payload)?);
            Ok(())
        })?;
        contents.push((supersedes_below, values));
    }
    let floor = contents.iter().map(|(supersedes_below, _)| *supersedes_below).max().unwrap_or(0);
    let mut in_force = Vec::new();
    let mut payloads = Vec::new();
    for (segment, (_, values)) in segments.iter().zip(contents) {
        if segment.number >= floor {
            in_force.push(segment.clone());
            payloads.extend(values);
        }
    }
    Ok((in_force, payloads))
}

/// Hands a segment's payloads (the header frame removed) to `visit`; returns its
/// `supersedes_below`.
fn read_segment(segment: &Segment, tail: Tail, visit: Decode<()>) -> Result<u64, LogError> {
    let path = &segment.path;
    let corrupt = |message: String| LogError::Corrupt { path: path.clone(), message };
    let (cut, bytes);
    let frames: Vec<&[u8]> = if tail == Tail::Cut {
        let medium = FileMedium::open(path).map_err(|source| LogError::Io { path: path.clone(), source })?;
        cut = FrameLog::open(medium)?.1;
        cut.iter().map(Vec::as_slice).collect()
    } else {
        bytes = std::fs::read(path).map_err(|source| LogError::Io { path: path.clone(), source })?;
        let (frames, good) = decode_frames(&bytes).map_err(corrupt)?;
        if good != bytes.len() && tail == Tail::Refuse {
            return Err(corrupt(format!("segment ends in a damaged frame at byte {good} but is not the last one")));
        }
        frames
    };
    let mut frames = frames.into_iter();
    let supersedes_below = match frames.next() {
        Some(first) => match parse_header(first) {
            Some(supersedes_below) => supersedes_below,
            // A legacy log without a header: its first frame is data.
            None => {
                visit(first)?;
                0
            }
        },
        None => 0,
    };
    frames.try_for_each(visit)?;
    Ok(supersedes_below)
}

fn header(supersedes_below: u64) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&supersedes_below.to_le_bytes());
    bytes
}

fn parse_header(frame: &[u8]) -> Option<u64> {
    let rest = frame.strip_prefix(MAGIC.as_slice())?;
    Some(u64::from_le_bytes(rest.try_into().ok()?))
}

/// Opens (creating) a segment for appending; a new or empty one first gets its header.
fn open_segment(path: &Path, supersedes_below: u64) -> Result<(FrameLog<FileMedium>, u64), LogError> {
    let medium = FileMedium::open(path).map_err(|source| LogError::Io { path: path.to_path_buf(), source })?;
    let (mut log, frames) = FrameLog::open(medium)?;
    if frames.is_empty() {
        log.append(&header(supersedes_below))?;
    }
    let len = std::fs::metadata(path).map_err(|source| LogError::Io { path: path.to_path_buf(), source })?.len();
    Ok((log, len))
}

/// Writes a complete segment (header and payloads) to `path` and fsyncs it; returns its length.
fn write_segment(path: &Path, supersedes_below: u64, payloads: &[Vec<u8>]) -> Result<u64, LogError> {
    remove_file(path)?;
    let (mut log, _) = open_segment(path, supersedes_below)?;
    for payload in payloads {
        log.append(payload)?;
    }
    std::fs::metadata(path).map(|m| m.len()).map_err(|source| LogError::Io { path: path.to_path_buf(), source })
}

fn adopt_legacy_file(dir: &Path, stem: &str) -> Result<(), LogError> {
    let legacy = dir.join(format!("{stem}.log"));
    if legacy.exists() && list_segments(dir, stem)?.is_empty() {
        let target = segment_path(dir, stem, 0);
        std::fs::rename(&legacy, &target).map_err(|source| LogError::Io { path: legacy.clone(), source })?;
        sync_dir(&target)?;
    }
    Ok(())
}

fn remove_temporaries(dir: &Path, stem: &str) -> Result<(), LogError> {
    for name in file_names(dir)? {
        let is_ours =
            name.strip_suffix(".seg.tmp").and_then(|base| base.rsplit_once('-')).is_some_and(|(s, _)| s == stem);
        if is_ours {
            remove_file(&dir.join(name))?;
        }
    }
    Ok(())
}

fn remove_file(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    }
}

/// Makes renames and deletions in `file`'s directory durable.
fn sync_dir(file: &Path) -> Result<(), LogError> {
    let Some(dir) = file.parent().filter(|p| !p.as_os_str().is_empty()) else { return Ok(()) };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| LogError::Io { path: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests;
