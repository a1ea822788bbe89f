//! Point reads (`first column = constant`): answered from a waiting worker's state on the
//! reader's thread, or by the worker when it is busy or the time is not complete yet. Either way
//! they must agree with a full read of the collection.

use std::time::{Duration, Instant};

use freshet_dataflow::{Cluster, ClusterConfig};
use freshet_expr::func::BinaryFunc;
use freshet_expr::{MapFilterProject, RelationExpr, ScalarExpr};
use freshet_repr::{
    ColumnType, DataflowError, Datum, Diff, GlobalId, RelationDesc, RelationType, Row, ScalarType, Timestamp,
};

const TIMEOUT: Duration = Duration::from_secs(20);

fn start() -> Cluster {
    let runtime = tokio::runtime::Handle::current();
    Cluster::start(ClusterConfig {
        workers: 2,
        runtime,
        data_dir: None,
        log_segment_bytes: 1 << 20,
        collect_freed: None,
    })
    .unwrap()
}

fn ints(values: &[i64]) -> Row {
    values.iter().map(|v| Datum::Int64(*v)).collect()
}

fn get(id: u64, arity: usize) -> RelationExpr {
    let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int64, true); arity]);
    RelationExpr::Get { id: GlobalId(id), typ }
}

fn table(cluster: &Cluster, id: u64, arity: usize) {
    let columns = (0..arity).map(|i| (format!("c{i}"), ColumnType::new(ScalarType::Int64, true))).collect();
    cluster.create_table(GlobalId(id), &RelationDesc::new(columns), 0);
}

/// `SELECT * FROM <id> WHERE c0 = key` as the coordinator hands it to the cluster.
fn key_filter(id: u64, arity: usize, key: i64) -> MapFilterProject {
    let predicate =
        ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Int64(key), ScalarType::Int64), BinaryFunc::Eq);
    let (_, mfp) = MapFilterProject::extract(&get(id, arity).filter(vec![predicate])).expect("a filter over a Get");
    assert_eq!(mfp.leading_column_literal(), Some(Datum::Int64(key)));
    mfp
}

async fn point_read(cluster: &Cluster, id: u64, ts: Timestamp, key: i64) -> Result<Vec<(Row, Diff)>, DataflowError> {
    let read = cluster.peek_with(GlobalId(id), ts, key_filter(id, 2, key));
    tokio::time::timeout(TIMEOUT, read).await.expect("point read timed out")
}

/// Waits until every worker reports `id` complete past `ts`.
async fn wait_complete(cluster: &Cluster, id: u64, ts: Timestamp) {
    let deadline = Instant::now() + TIMEOUT;
    while cluster.upper(GlobalId(id)).is_none_or(|upper| upper <= ts) {
        assert!(Instant::now() < deadline, "collection {id} never became complete at {ts}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every key's rows in `rows`, the answer a point read must give.
fn rows_of(rows: &[(Row, Diff)], key: i64) -> Vec<(Row, Diff)> {
    rows.iter().filter(|(row, _)| row.get(0) == Some(&Datum::Int64(key))).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_reads_agree_with_full_reads_at_every_time() {
    let cluster = start();
    table(&cluster, 1, 2);
    // Keys 0..50 with two values each, one row twice; then key 7 retracted and key 60 added.
    let first: Vec<(Row, Diff)> = (0..100).map(|i| (ints(&[i % 50, i]), if i == 3 { 2 } else { 1 })).collect();
    cluster.update_table(GlobalId(1), first, 1);
    cluster.update_table(GlobalId(1), vec![(ints(&[7, 7]), -1), (ints(&[7, 57]), -1), (ints(&[60, 0]), 1)], 2);
    cluster.advance_tables(3);
    wait_complete(&cluster, 1, 2).await;
    for ts in [0, 1, 2] {
        let all = cluster.peek(GlobalId(1), ts).await.unwrap();
        for key in -1..62 {
            let answer = point_read(&cluster, 1, ts, key).await.unwrap();
            assert_eq!(answer, rows_of(&all, key), "key {key} at {ts}");
        }
    }
    assert_eq!(point_read(&cluster, 1, 2, 7).await.unwrap(), vec![]);
    assert_eq!(point_read(&cluster, 1, 1, 3).await.unwrap(), vec![(ints(&[3, 3]), 2), (ints(&[3, 53]), 1)]);
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projected_point_read_is_consolidated() {
    let cluster = start();
    table(&cluster, 1, 2);
    cluster.update_table(GlobalId(1), vec![(ints(&[5, 2]), 1), (ints(&[5, 1]), 1), (ints(&[6, 1]), 1)], 1);
    cluster.advance_tables(2);
    wait_complete(&cluster, 1, 1).await;
    // SELECT c0 FROM t WHERE c0 = 5: two rows project to the same one.
    let predicate =
        ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Int64(5), ScalarType::Int64), BinaryFunc::Eq);
    let query = get(1, 2).filter(vec![predicate]).project(vec![0]);
    let (_, mfp) = MapFilterProject::extract(&query).expect("a filter and a projection over a Get");
    for _ in 0..20 {
        let read = cluster.peek_with(GlobalId(1), 1, mfp.clone());
        let answer = tokio::time::timeout(TIMEOUT, read).await.expect("point read timed out").unwrap();
        assert_eq!(answer, vec![(ints(&[5]), 2)]);
    }
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_read_at_an_incomplete_time_waits_for_it() {
    let cluster = start();
    table(&cluster, 1, 2);
    cluster.update_table(GlobalId(1), vec![(ints(&[5, 1]), 1)], 4);
    let pending = point_read(&cluster, 1, 4, 5);
    tokio::pin!(pending);
    assert!(tokio::time::timeout(Duration::from_millis(200), &mut pending).await.is_err());
    cluster.advance_tables(5);
    assert_eq!(pending.await.unwrap(), vec![(ints(&[5, 1]), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_reads_stay_right_while_the_workers_are_busy() {
    let cluster = std::sync::Arc::new(start());
    table(&cluster, 1, 2);
    table(&cluster, 2, 2);
    cluster.update_table(GlobalId(1), (0..1000).map(|i| (ints(&[i, i * 10]), 1)).collect(), 1);
    cluster.advance_tables(2);
    wait_complete(&cluster, 1, 1).await;
    // Another table keeps the workers stepping while the reads run.
    let writer = {
        let cluster = std::sync::Arc::clone(&cluster);
        tokio::spawn(async move {
            for ts in 2..200u64 {
                cluster.update_table(GlobalId(2), (0..200).map(|i| (ints(&[i, ts as i64]), 1)).collect(), ts);
                cluster.advance_tables(ts + 1);
                tokio::task::yield_now().await;
            }
        })
    };
    for key in 0..1000 {
        let answer = point_read(&cluster, 1, 1, key).await.unwrap();
        assert_eq!(answer, vec![(ints(&[key, key * 10]), 1)]);
    }
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_read_reports_an_error_anywhere_in_the_collection() {
    let cluster = start();
    table(&cluster, 1, 2);
    // c0, 10 / c1: row (2, 0) divides by zero, on whichever worker holds it.
    let divide =
        ScalarExpr::Literal(Datum::Int64(10), ScalarType::Int64).call_binary(ScalarExpr::Column(1), BinaryFunc::Div);
    let view = get(1, 2).map(vec![divide]).project(vec![0, 2]);
    cluster.create_view(GlobalId(2), &view, 0);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 5]), 1), (ints(&[2, 0]), 1)], 1);
    cluster.advance_tables(2);
    wait_complete(&cluster, 2, 1).await;
    for key in [1, 2, 3] {
        assert!(point_read(&cluster, 2, 1, key).await.is_err(), "key {key} read past the error");
    }
    cluster.update_table(GlobalId(1), vec![(ints(&[2, 0]), -1)], 2);
    cluster.advance_tables(3);
    wait_complete(&cluster, 2, 2).await;
    assert_eq!(point_read(&cluster, 2, 2, 1).await.unwrap(), vec![(ints(&[1, 2]), 1)]);
    cluster.shutdown();
}
