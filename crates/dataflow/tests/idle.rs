//! An idle cluster must park its workers instead of spinning. This test lives in its own binary
//! because it measures the CPU time of the whole process.

use std::time::Duration;

use freshet_dataflow::{Cluster, ClusterConfig};
use freshet_expr::RelationExpr;
use freshet_repr::{ColumnType, Datum, GlobalId, RelationDesc, RelationType, Row, ScalarType};

/// CPU time (user + system) of this process, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_do_not_spin() {
    let runtime = tokio::runtime::Handle::current();
    let cluster = Cluster::start(ClusterConfig {
        workers: 2,
        runtime,
        data_dir: None,
        log_segment_bytes: 1 << 20,
        collect_freed: None,
    })
    .unwrap();
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
