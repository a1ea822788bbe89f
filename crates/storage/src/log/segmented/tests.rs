use super::*;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("freshet-segmented-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn payload(i: u32) -> Vec<u8> {
    format!("payload {i:04}").into_bytes()
}

/// A log with `n` payloads, rolling every 60 bytes (about two payloads per segment).
fn filled(dir: &Path, n: u32) -> SegmentedLog {
    let (mut log, replay) = SegmentedLog::open(dir, "t", 60).unwrap();
    assert!(replay.is_empty());
    for i in 0..n {
        log.append(&payload(i)).unwrap();
    }
    log
}

fn concat(payloads: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, LogError> {
    Ok(vec![payloads.concat()])
}

#[test]
fn appends_roll_into_segments_and_reopen_in_order() {
    let dir = dir("roll");
    let log = filled(&dir, 7);
    assert!(log.active_number() >= 2, "rolled into several segments");
    drop(log);
    let (_, replay) = SegmentedLog::open(&dir, "t", 60).unwrap();
    assert_eq!(replay, (0..7).map(payload).collect::<Vec<_>>());
    assert_eq!(read_only(&dir, "t").unwrap(), replay);
    assert_eq!(stems_with_prefix(&dir, "").unwrap(), vec!["t".to_string()]);
}

#[test]
fn a_torn_last_segment_is_cut_and_a_damaged_earlier_one_is_corruption() {
    let dir = dir("torn");
    drop(filled(&dir, 7));
    let segments = list_segments(&dir, "t").unwrap();
    let last = segments.last().unwrap();
    std::fs::OpenOptions::new().write(true).open(&last.path).unwrap().set_len(last.len - 3).unwrap();
    let (_, replay) = SegmentedLog::open(&dir, "t", 60).unwrap();
    assert_eq!(replay, (0..6).map(payload).collect::<Vec<_>>());

    let middle = &segments[1];
    let mut bytes = std::fs::read(&middle.path).unwrap();
    let at = bytes.len() - 2;
    bytes[at] ^= 0xff;
    std::fs::write(&middle.path, &bytes).unwrap();
    let error = SegmentedLog::open(&dir, "t", 60).err().expect("corruption is refused");
    assert!(matches!(error, LogError::Corrupt { ref path, .. } if *path == middle.path), "{error}");
    assert!(read_only(&dir, "t").is_err());
}

#[test]
fn compaction_replaces_closed_segments_while_appends_continue() {
    let dir = dir("compact");
    let mut log = filled(&dir, 7);
    let job = log.compaction_due().unwrap().expect("several closed segments");
    assert!(log.compaction_due().unwrap().is_none(), "one compaction at a time");
    log.append(&payload(7)).unwrap();
    let stats = job.run(concat).unwrap();
    assert!(stats.segments_in >= 2 && stats.bytes_out < stats.bytes_in, "{stats:?}");
    log.append(&payload(8)).unwrap();
    drop(log);
    let (_, replay) = SegmentedLog::open(&dir, "t", 60).unwrap();
    let closed: Vec<u8> = (0..6).flat_map(payload).collect();
    let mut expected = vec![closed];
    expected.extend((6..9).map(payload));
    assert_eq!(replay, expected);
}

#[test]
fn a_crash_between_rename_and_delete_replays_the_compacted_segment_once() {
    let dir = dir("crash");
    let log = filled(&dir, 7);
    let segments = list_segments(&dir, "t").unwrap();
    let closed: Vec<Segment> = segments.iter().filter(|s| s.number < log.active_number()).cloned().collect();
    drop(log);
    // What `Compaction::run` leaves after its rename if the process dies before the deletes.
    let (_, old) = read_segments(&closed, Tail::Refuse, &mut |p| Ok(p.to_vec())).unwrap();
    let last = closed.last().unwrap();
    write_segment(&last.path, last.number, &concat(old).unwrap()).unwrap();
    std::fs::write(dir.join("t-0000000099.seg.tmp"), b"half a compaction").unwrap();
    let (_, replay) = SegmentedLog::open(&dir, "t", 60).unwrap();
    assert_eq!(replay[0], (0..6).flat_map(payload).collect::<Vec<u8>>());
    assert_eq!(replay[1..], [payload(6)]);
    let left = list_segments(&dir, "t").unwrap();
    assert_eq!(left.first().map(|s| s.number), Some(last.number), "superseded segments are deleted");
    assert!(!dir.join("t-0000000099.seg.tmp").exists());
}

#[test]
fn a_legacy_single_file_log_is_adopted() {
    let dir = dir("legacy");
    std::fs::create_dir_all(&dir).unwrap();
    let (mut legacy, _) = FrameLog::open(FileMedium::open(&dir.join("t.log")).unwrap()).unwrap();
    legacy.append(&payload(1)).unwrap();
    drop(legacy);
    let (mut log, replay) = SegmentedLog::open(&dir, "t", 60).unwrap();
    assert_eq!(replay, vec![payload(1)]);
    log.append(&payload(2)).unwrap();
    drop(log);
    assert_eq!(read_only(&dir, "t").unwrap(), vec![payload(1), payload(2)]);
    remove(&dir, "t").unwrap();
    assert!(list_segments(&dir, "t").unwrap().is_empty());
}
