//! An idle cluster must park its workers instead of spinning, and so must a cluster whose only
//! work is point reads (answered on the readers' threads). These tests live in their own binary
//! because they measure CPU time of the process and its threads; they run one at a time.

use std::time::{Duration, Instant};

use freshet_dataflow::{Cluster, ClusterConfig};
use freshet_expr::func::BinaryFunc;
use freshet_expr::{MapFilterProject, RelationExpr, ScalarExpr};
use freshet_repr::{ColumnType, Datum, GlobalId, RelationDesc, RelationType, Row, ScalarType};

/// Held by each test: another test running beside one would add to the CPU time it measures.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn start() -> Cluster {
    Cluster::start(ClusterConfig {
        workers: 2,
        runtime: tokio::runtime::Handle::current(),
        data_dir: None,
        log_segment_bytes: 1 << 20,
        collect_freed: None,
    })
    .unwrap()
}

/// Clock ticks (user + system) in a `/proc/.../stat` line.
#[cfg(target_os = "linux")]
fn ticks_of(stat: &str) -> u64 {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// CPU time of this process's dataflow worker threads, in clock ticks.
#[cfg(target_os = "linux")]
fn worker_ticks() -> u64 {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if name.starts_with("timely:work") {
            ticks += std::fs::read_to_string(task.path().join("stat")).map_or(0, |stat| ticks_of(&stat));
        }
    }
    ticks
}

/// CPU time (user + system) of this process, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks() -> u64 {
    ticks_of(&std::fs::read_to_string("/proc/self/stat").unwrap())
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_do_not_spin() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = start();
    let column = ColumnType::new(ScalarType::Int64, false);
    cluster.create_table(GlobalId(1), &RelationDesc::new(vec![("a".into(), column)]), 0);
    let get = RelationExpr::Get { id: GlobalId(1), typ: RelationType::new(vec![column]) };
    cluster.create_view(GlobalId(2), &get.distinct(), 0);
    cluster.update_table(GlobalId(1), vec![(Row::new(vec![Datum::Int64(1)]), 1)], 1);
    cluster.advance_tables(2);
    assert_eq!(cluster.peek(GlobalId(2), 1).await.unwrap().len(), 1);
    let before = cpu_ticks();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks() - before;
    // Two spinning workers would burn ~400 ticks (at 100 Hz) in two seconds.
    assert!(used < 60, "idle cluster used {used} ticks in 2 s");
}

/// Readers hammering a collection with point reads find its workers waiting and read on their own
/// threads; the few reads that meet a busy worker go to it, and must not keep it from parking
/// again (it did: each such read kept it polling, holding its state, so the next reads went to
/// it too, and the workers spun for as long as the reads came).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_reads_let_the_workers_park() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = std::sync::Arc::new(start());
    let column = ColumnType::new(ScalarType::Int64, false);
    cluster.create_table(GlobalId(1), &RelationDesc::new(vec![("a".into(), column)]), 0);
    let rows = (0..1000).map(|i| (Row::new(vec![Datum::Int64(i)]), 1)).collect();
    cluster.update_table(GlobalId(1), rows, 1);
    cluster.advance_tables(2);
    assert_eq!(cluster.peek(GlobalId(1), 1).await.unwrap().len(), 1000);
    let get = RelationExpr::Get { id: GlobalId(1), typ: RelationType::new(vec![column]) };
    let reads_for = Duration::from_secs(2);
    let before = worker_ticks();
    let readers: Vec<_> = (0..2)
        .map(|reader| {
            let (cluster, get) = (std::sync::Arc::clone(&cluster), get.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let mut reads = 0i64;
                while started.elapsed() < reads_for {
                    let key = Datum::Int64((reads * 7 + reader) % 1000);
                    let predicate =
                        ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(key, ScalarType::Int64), BinaryFunc::Eq);
                    let (_, mfp) = MapFilterProject::extract(&get.clone().filter(vec![predicate])).unwrap();
                    assert_eq!(cluster.peek_with(GlobalId(1), 1, mfp).await.unwrap().len(), 1);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    let used = worker_ticks() - before;
    assert!(reads > 1000, "only {reads} point reads in {reads_for:?}");
    // At 100 Hz, debug build, 2 cores: workers kept awake by the reads that reach them took
    // 117-131 ticks in two seconds; parking between those reads, 40-45; with readers also
    // waiting for each other's turn instead of sending reads to the worker, 28-33.
    assert!(used < 80, "the workers used {used} ticks during {reads} point reads in {reads_for:?}");
}
