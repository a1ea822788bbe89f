//! End-to-end tests of the cluster: tables, views of every operator family, peeks, errors as
//! data, transient peeks, drops and compaction, all on two workers.

use std::time::Duration;

use freshet_dataflow::{Cluster, ClusterConfig};
use freshet_expr::func::{BinaryFunc, UnaryFunc};
use freshet_expr::relation::ColumnOrder;
use freshet_expr::{AggregateExpr, AggregateFunc, JoinKind, RelationExpr, ScalarExpr, TableFunc};
use freshet_repr::{
    ColumnType, DataflowError, Datum, Diff, EvalError, GlobalId, RelationDesc, RelationType, Row, ScalarType,
};

fn start(workers: usize) -> Cluster {
    let runtime = tokio::runtime::Handle::current();
    Cluster::start(ClusterConfig { workers, runtime, data_dir: None, log_segment_bytes: 1 << 20, collect_freed: None })
        .unwrap()
}

fn int(v: i64) -> Datum {
    Datum::Int64(v)
}

fn row(datums: &[Datum]) -> Row {
    Row::new(datums.to_vec())
}

fn ints(values: &[i64]) -> Row {
    values.iter().map(|v| int(*v)).collect()
}

fn typ(arity: usize) -> RelationType {
    RelationType::new(vec![ColumnType::new(ScalarType::Int64, true); arity])
}

fn desc(arity: usize) -> RelationDesc {
    RelationDesc::new((0..arity).map(|i| (format!("c{i}"), ColumnType::new(ScalarType::Int64, true))).collect())
}

fn get(id: u64, arity: usize) -> RelationExpr {
    RelationExpr::Get { id: GlobalId(id), typ: typ(arity) }
}

fn col(i: usize) -> ScalarExpr {
    ScalarExpr::Column(i)
}

fn lit(v: i64) -> ScalarExpr {
    ScalarExpr::Literal(int(v), ScalarType::Int64)
}

fn eq(a: ScalarExpr, b: ScalarExpr) -> ScalarExpr {
    a.call_binary(b, BinaryFunc::Eq)
}

fn sorted(mut rows: Vec<(Row, Diff)>) -> Vec<(Row, Diff)> {
    rows.sort();
    rows
}

/// Creates table `id` with `arity` columns at time 0.
fn table(cluster: &Cluster, id: u64, arity: usize) {
    cluster.create_table(GlobalId(id), &desc(arity), 0);
}

/// A peek that must finish quickly.
async fn peek(cluster: &Cluster, id: u64, ts: u64) -> Result<Vec<(Row, Diff)>, DataflowError> {
    tokio::time::timeout(Duration::from_secs(20), cluster.peek(GlobalId(id), ts)).await.expect("peek timed out")
}

async fn peek_expr(cluster: &Cluster, expr: &RelationExpr, ts: u64) -> Result<Vec<(Row, Diff)>, DataflowError> {
    tokio::time::timeout(Duration::from_secs(20), cluster.peek_expr(expr, ts)).await.expect("peek timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_updates_are_visible_at_their_times() {
    let cluster = start(2);
    table(&cluster, 1, 2);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 10]), 1), (ints(&[2, 20]), 2)], 1);
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 10]), -1), (ints(&[3, 30]), 1)], 2);
    cluster.advance_tables(3);
    assert_eq!(peek(&cluster, 1, 0).await.unwrap(), vec![]);
    assert_eq!(peek(&cluster, 1, 1).await.unwrap(), vec![(ints(&[1, 10]), 1), (ints(&[2, 20]), 2)]);
    assert_eq!(peek(&cluster, 1, 2).await.unwrap(), vec![(ints(&[2, 20]), 2), (ints(&[3, 30]), 1)]);
    assert!(cluster.upper(GlobalId(1)).is_some());
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_waits_for_the_frontier() {
    let cluster = start(2);
    table(&cluster, 1, 1);
    cluster.update_table(GlobalId(1), vec![(ints(&[7]), 1)], 5);
    let pending = cluster.peek(GlobalId(1), 5);
    tokio::pin!(pending);
    assert!(tokio::time::timeout(Duration::from_millis(200), &mut pending).await.is_err());
    cluster.advance_tables(6);
    let rows = tokio::time::timeout(Duration::from_secs(20), pending).await.unwrap().unwrap();
    assert_eq!(rows, vec![(ints(&[7]), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_map_project_view() {
    let cluster = start(2);
    table(&cluster, 1, 2);
    // SELECT b, (a = 2) FROM t WHERE a = 2 OR b = 10, as Filter, Map, Project.
    let predicate = eq(col(0), lit(2)).call_binary(eq(col(1), lit(10)), BinaryFunc::Or);
    let view = get(1, 2).filter(vec![predicate]).map(vec![eq(col(0), lit(2))]).project(vec![1, 2]);
    cluster.create_view(GlobalId(2), &view, 0);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 10]), 1), (ints(&[2, 20]), 1), (ints(&[3, 30]), 1)], 1);
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(1), vec![(ints(&[2, 20]), -1)], 2);
    cluster.advance_tables(3);
    let expected_1 = vec![(row(&[int(10), Datum::Bool(false)]), 1), (row(&[int(20), Datum::Bool(true)]), 1)];
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), expected_1);
    assert_eq!(peek(&cluster, 2, 2).await.unwrap(), vec![(row(&[int(10), Datum::Bool(false)]), 1)]);
    // A view created later sees the history accumulated to its as_of.
    cluster.create_view(GlobalId(3), &view, 2);
    assert_eq!(peek(&cluster, 3, 2).await.unwrap(), vec![(row(&[int(10), Datum::Bool(false)]), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inner_and_left_outer_joins() {
    let cluster = start(2);
    table(&cluster, 1, 2); // l(k, x)
    table(&cluster, 2, 2); // r(k, y)
    let join = |kind| RelationExpr::Join {
        left: Box::new(get(1, 2)),
        right: Box::new(get(2, 2)),
        left_key: vec![col(0)],
        right_key: vec![col(0)],
        residual: vec![],
        kind,
    };
    cluster.create_view(GlobalId(3), &join(JoinKind::Inner), 0);
    cluster.create_view(GlobalId(4), &join(JoinKind::LeftOuter), 0);
    cluster.create_view(GlobalId(5), &join(JoinKind::FullOuter), 0);
    let null_key = row(&[Datum::Null, int(100)]);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 10]), 1), (ints(&[2, 20]), 1), (null_key.clone(), 1)], 1);
    cluster.update_table(
        GlobalId(2),
        vec![(ints(&[1, 11]), 2), (ints(&[3, 33]), 1), (row(&[Datum::Null, int(0)]), 1)],
        1,
    );
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(2), vec![(ints(&[2, 22]), 1)], 2);
    cluster.advance_tables(3);

    assert_eq!(peek(&cluster, 3, 1).await.unwrap(), vec![(ints(&[1, 10, 1, 11]), 2)]);
    let null = Datum::Null;
    let padded = |k: i64, x: i64| row(&[int(k), int(x), null.clone(), null.clone()]);
    let expected = sorted(vec![
        (ints(&[1, 10, 1, 11]), 2),
        (padded(2, 20), 1),
        (row(&[null.clone(), int(100), null.clone(), null.clone()]), 1),
    ]);
    assert_eq!(peek(&cluster, 4, 1).await.unwrap(), expected);
    let expected = sorted(vec![
        (ints(&[1, 10, 1, 11]), 2),
        (ints(&[2, 20, 2, 22]), 1),
        (row(&[null.clone(), int(100), null.clone(), null.clone()]), 1),
    ]);
    assert_eq!(peek(&cluster, 4, 2).await.unwrap(), expected);
    let full = peek(&cluster, 5, 2).await.unwrap();
    let right_only = |k: Datum, y: i64| row(&[null.clone(), null.clone(), k, int(y)]);
    let expected = sorted(vec![
        (ints(&[1, 10, 1, 11]), 2),
        (ints(&[2, 20, 2, 22]), 1),
        (row(&[null.clone(), int(100), null.clone(), null.clone()]), 1),
        (right_only(int(3), 33), 1),
        (right_only(Datum::Null, 0), 1),
    ]);
    assert_eq!(full, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_residual_limits_matches() {
    let cluster = start(2);
    table(&cluster, 1, 2);
    table(&cluster, 2, 2);
    // l LEFT JOIN r ON l.k = r.k AND r.y = 5: a key match failing the residual is unmatched.
    let view = RelationExpr::Join {
        left: Box::new(get(1, 2)),
        right: Box::new(get(2, 2)),
        left_key: vec![col(0)],
        right_key: vec![col(0)],
        residual: vec![eq(col(3), lit(5))],
        kind: JoinKind::LeftOuter,
    };
    cluster.create_view(GlobalId(3), &view, 0);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 1]), 1), (ints(&[2, 2]), 1)], 1);
    cluster.update_table(GlobalId(2), vec![(ints(&[1, 5]), 1), (ints(&[2, 6]), 1)], 1);
    cluster.advance_tables(2);
    let expected = vec![(ints(&[1, 1, 1, 5]), 1), (row(&[int(2), int(2), Datum::Null, Datum::Null]), 1)];
    assert_eq!(peek(&cluster, 3, 1).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reduce_counts_and_groups_disappear() {
    let cluster = start(2);
    table(&cluster, 1, 2);
    let count = |expr, distinct| AggregateExpr { func: AggregateFunc::Count, expr, distinct };
    let view = RelationExpr::Reduce {
        input: Box::new(get(1, 2)),
        group_key: vec![col(0)],
        aggregates: vec![count(ScalarExpr::literal_true(), false), count(col(1), true), count(col(1), false)],
    };
    cluster.create_view(GlobalId(2), &view, 0);
    let updates = vec![(ints(&[1, 5]), 2), (ints(&[1, 6]), 1), (row(&[int(1), Datum::Null]), 1), (ints(&[2, 7]), 1)];
    cluster.update_table(GlobalId(1), updates, 1);
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(1), vec![(ints(&[2, 7]), -1)], 2);
    cluster.advance_tables(3);
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), vec![(ints(&[1, 4, 2, 3]), 1), (ints(&[2, 1, 1, 1]), 1)]);
    assert_eq!(peek(&cluster, 2, 2).await.unwrap(), vec![(ints(&[1, 4, 2, 3]), 1)]);
}

/// Counts over a flat map (windows, as in Nexmark q5) are summed where the windows are made and
/// held per time until the time completes; input rows that the windows read alike (here `a / 2`
/// and `10 / b`, not `c`) are expanded once. Each time reads its own sums, retractions remove
/// groups, and a window that fails to evaluate is an error until its row is retracted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_over_a_flat_map_per_time() {
    let cluster = start(2);
    table(&cluster, 1, 3);
    // SELECT a / 2 + k, count(*), count(10 / b) FROM t, generate_series(0, 1) AS k WHERE a <> 3
    // GROUP BY a / 2 + k
    let windows = RelationExpr::FlatMap {
        input: Box::new(get(1, 3)),
        func: TableFunc::GenerateSeriesInt(ScalarType::Int64),
        exprs: vec![lit(0), lit(1)],
    };
    let count = |expr| AggregateExpr { func: AggregateFunc::Count, expr, distinct: false };
    let view = RelationExpr::Reduce {
        input: Box::new(windows.filter(vec![eq(col(0), lit(3)).call_unary(UnaryFunc::Not)])),
        group_key: vec![col(0).call_binary(lit(2), BinaryFunc::Div).call_binary(col(3), BinaryFunc::Add)],
        aggregates: vec![count(ScalarExpr::literal_true()), count(lit(10).call_binary(col(1), BinaryFunc::Div))],
    };
    cluster.create_view(GlobalId(2), &view, 0);
    // Two times before either completes, so that both are held at once.
    let at_1 = vec![
        (ints(&[1, 5, 100]), 1),
        (ints(&[1, 5, 200]), 1),
        (ints(&[0, 5, 7]), 1),
        (ints(&[2, 10, 0]), 2),
        (ints(&[3, 0, 0]), 1),
    ];
    cluster.update_table(GlobalId(1), at_1, 1);
    let at_2 = vec![(ints(&[1, 5, 100]), -1), (ints(&[4, 0, 0]), 1), (ints(&[6, 5, 1]), 1), (ints(&[6, 5, 1]), -1)];
    cluster.update_table(GlobalId(1), at_2, 2);
    cluster.advance_tables(3);
    let expected = vec![(ints(&[0, 3, 3]), 1), (ints(&[1, 5, 5]), 1), (ints(&[2, 2, 2]), 1)];
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), expected);
    let error = peek(&cluster, 2, 2).await.unwrap_err();
    assert_eq!(error, DataflowError::Eval(EvalError::DivisionByZero));
    cluster.update_table(GlobalId(1), vec![(ints(&[4, 0, 0]), -1)], 3);
    cluster.advance_tables(4);
    let expected = vec![(ints(&[0, 2, 2]), 1), (ints(&[1, 4, 4]), 1), (ints(&[2, 2, 2]), 1)];
    assert_eq!(peek(&cluster, 2, 3).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_union_negate_threshold() {
    let cluster = start(2);
    table(&cluster, 1, 1);
    table(&cluster, 2, 1);
    cluster.create_view(GlobalId(3), &get(1, 1).distinct(), 0);
    cluster.create_view(GlobalId(4), &get(1, 1).union(get(2, 1)), 0);
    // EXCEPT ALL: threshold(a - b).
    cluster.create_view(GlobalId(5), &get(1, 1).union(get(2, 1).negate()).threshold(), 0);
    cluster.update_table(GlobalId(1), vec![(ints(&[1]), 3), (ints(&[2]), 1)], 1);
    cluster.update_table(GlobalId(2), vec![(ints(&[1]), 1), (ints(&[2]), 2), (ints(&[3]), 1)], 1);
    cluster.advance_tables(2);
    assert_eq!(peek(&cluster, 3, 1).await.unwrap(), vec![(ints(&[1]), 1), (ints(&[2]), 1)]);
    assert_eq!(peek(&cluster, 4, 1).await.unwrap(), vec![(ints(&[1]), 4), (ints(&[2]), 3), (ints(&[3]), 1)]);
    assert_eq!(peek(&cluster, 5, 1).await.unwrap(), vec![(ints(&[1]), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_k_per_group() {
    let cluster = start(2);
    table(&cluster, 1, 2);
    let order = vec![ColumnOrder { column: 1, desc: true, nulls_last: false }];
    let view = RelationExpr::TopK {
        input: Box::new(get(1, 2)),
        group_key: vec![0],
        order_by: order,
        limit: Some(2),
        offset: 1,
        with_ties: false,
    };
    cluster.create_view(GlobalId(2), &view, 0);
    let updates = vec![
        (ints(&[1, 1]), 1),
        (ints(&[1, 2]), 1),
        (ints(&[1, 3]), 1),
        (row(&[int(1), Datum::Null]), 1),
        (ints(&[2, 9]), 2),
    ];
    cluster.update_table(GlobalId(1), updates, 1);
    cluster.advance_tables(2);
    // Group 1 in order: NULL (nulls first), 3, 2, 1 -> offset 1, limit 2: 3, 2. Group 2: 9, 9 -> one 9.
    let expected = vec![(ints(&[1, 2]), 1), (ints(&[1, 3]), 1), (ints(&[2, 9]), 1)];
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_errors_surface_in_peeks() {
    let cluster = start(2);
    cluster.create_table(
        GlobalId(1),
        &RelationDesc::new(vec![("t".into(), ColumnType::new(ScalarType::Text, false))]),
        0,
    );
    let cast = col(0).call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Int32 });
    let view =
        RelationExpr::Get { id: GlobalId(1), typ: RelationType::new(vec![ColumnType::new(ScalarType::Text, false)]) }
            .map(vec![cast]);
    cluster.create_view(GlobalId(2), &view, 0);
    cluster.update_table(GlobalId(1), vec![(row(&[Datum::text("12")]), 1)], 1);
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(1), vec![(row(&[Datum::text("abc")]), 1)], 2);
    cluster.advance_tables(3);
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), vec![(row(&[Datum::text("12"), Datum::Int32(12)]), 1)]);
    let error = peek(&cluster, 2, 2).await.unwrap_err();
    assert!(matches!(error, DataflowError::Eval(EvalError::InvalidTextRepresentation { .. })), "{error:?}");
    // Retracting the bad row clears the error.
    cluster.update_table(GlobalId(1), vec![(row(&[Datum::text("abc")]), -1)], 3);
    cluster.advance_tables(4);
    assert_eq!(peek(&cluster, 2, 3).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_expr_renders_transient_dataflows() {
    let cluster = start(2);
    table(&cluster, 1, 2);
    cluster.update_table(GlobalId(1), vec![(ints(&[1, 10]), 1), (ints(&[2, 20]), 1)], 1);
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(1), vec![(ints(&[3, 30]), 1)], 2);
    cluster.advance_tables(3);
    let expr = get(1, 2).filter(vec![eq(col(0), lit(1)).call_binary(eq(col(0), lit(3)), BinaryFunc::Or)]);
    assert_eq!(peek_expr(&cluster, &expr, 1).await.unwrap(), vec![(ints(&[1, 10]), 1)]);
    assert_eq!(peek_expr(&cluster, &expr, 2).await.unwrap(), vec![(ints(&[1, 10]), 1), (ints(&[3, 30]), 1)]);
    let constant = RelationExpr::Constant { rows: vec![(ints(&[5]), 2)], typ: typ(1) };
    assert_eq!(peek_expr(&cluster, &constant, 2).await.unwrap(), vec![(ints(&[5]), 2)]);
    // Many transient dataflows come and go without disturbing the table.
    for _ in 0..5 {
        assert_eq!(peek_expr(&cluster, &expr, 2).await.unwrap().len(), 2);
    }
    assert_eq!(peek(&cluster, 1, 2).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_collections_cannot_be_read() {
    let cluster = start(2);
    table(&cluster, 1, 1);
    cluster.create_view(GlobalId(2), &get(1, 1).distinct(), 0);
    cluster.update_table(GlobalId(1), vec![(ints(&[1]), 2)], 1);
    cluster.advance_tables(2);
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), vec![(ints(&[1]), 1)]);
    cluster.drop_collection(GlobalId(2)).await;
    assert!(peek(&cluster, 2, 1).await.is_err());
    assert_eq!(peek(&cluster, 1, 1).await.unwrap(), vec![(ints(&[1]), 2)]);
    cluster.drop_collection(GlobalId(1)).await;
    assert!(peek(&cluster, 1, 1).await.is_err());
}

static COLLECTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_collect() {
    COLLECTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_returns_after_every_worker_collected_what_it_freed() {
    let runtime = tokio::runtime::Handle::current();
    let config = ClusterConfig {
        workers: 2,
        runtime,
        data_dir: None,
        log_segment_bytes: 1 << 20,
        collect_freed: Some(count_collect),
    };
    let cluster = Cluster::start(config).unwrap();
    table(&cluster, 1, 1);
    cluster.create_view(GlobalId(2), &get(1, 1).distinct(), 0);
    cluster.update_table(GlobalId(1), vec![(ints(&[1]), 1)], 1);
    cluster.advance_tables(2);
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), vec![(ints(&[1]), 1)]);
    assert_eq!(COLLECTS.load(std::sync::atomic::Ordering::SeqCst), 0);
    cluster.drop_collection(GlobalId(2)).await;
    assert_eq!(COLLECTS.load(std::sync::atomic::Ordering::SeqCst), 2);
    cluster.drop_collection(GlobalId(1)).await;
    assert_eq!(COLLECTS.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_times_are_refused() {
    let cluster = start(2);
    table(&cluster, 1, 1);
    cluster.update_table(GlobalId(1), vec![(ints(&[1]), 1)], 1);
    cluster.update_table(GlobalId(1), vec![(ints(&[2]), 1)], 5);
    cluster.advance_tables(10);
    assert_eq!(peek(&cluster, 1, 1).await.unwrap(), vec![(ints(&[1]), 1)]);
    cluster.allow_compaction(GlobalId(1), 8);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.since(GlobalId(1)) != Some(8) {
        assert!(std::time::Instant::now() < deadline, "compaction never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(peek(&cluster, 1, 1).await.is_err());
    assert_eq!(peek(&cluster, 1, 8).await.unwrap(), vec![(ints(&[1]), 1), (ints(&[2]), 1)]);
    assert!(peek_expr(&cluster, &get(1, 1), 1).await.is_err());
    assert_eq!(peek_expr(&cluster, &get(1, 1), 9).await.unwrap(), vec![(ints(&[1]), 1), (ints(&[2]), 1)]);
    // Automatic compaction trails the upper by about a second of timestamps.
    cluster.advance_tables(5_000);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.since(GlobalId(1)).unwrap_or(0) < 4_000 {
        assert!(std::time::Instant::now() < deadline, "automatic compaction never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(peek(&cluster, 1, 3_000).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_and_three_workers_agree() {
    let mut answers = Vec::new();
    for workers in [1, 3] {
        let cluster = start(workers);
        table(&cluster, 1, 2);
        table(&cluster, 2, 2);
        let joined = RelationExpr::Join {
            left: Box::new(get(1, 2)),
            right: Box::new(get(2, 2)),
            left_key: vec![col(0)],
            right_key: vec![col(0)],
            residual: vec![],
            kind: JoinKind::LeftOuter,
        };
        let count = AggregateExpr { func: AggregateFunc::Count, expr: col(3), distinct: false };
        let view = RelationExpr::Reduce { input: Box::new(joined), group_key: vec![col(1)], aggregates: vec![count] };
        cluster.create_view(GlobalId(3), &view, 0);
        let left: Vec<(Row, Diff)> = (0..40).map(|i| (ints(&[i % 7, i % 3]), 1)).collect();
        let right: Vec<(Row, Diff)> = (0..30).map(|i| (ints(&[i % 5, i]), 1)).collect();
        cluster.update_table(GlobalId(1), left, 1);
        cluster.update_table(GlobalId(2), right, 1);
        cluster.advance_tables(2);
        answers.push(peek(&cluster, 3, 1).await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_frontier_follows_the_wall_clock() {
    use freshet_storage::{KinesisConnection, KinesisCredentials, SourceDesc, SourceFormat};
    let cluster = start(2);
    let connection = KinesisConnection {
        arn: "arn:aws:kinesis:us-east-1:000000000000:stream/none".into(),
        region: "us-east-1".into(),
        stream_name: "none".into(),
        // Nothing listens here: the source reads no records, yet its time must advance.
        endpoint: Some("http://127.0.0.1:9".into()),
        credentials: KinesisCredentials::Static {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            token: None,
        },
        role_arn: None,
    };
    let source = SourceDesc { connection, format: SourceFormat::Bytes };
    let start_ms = freshet_dataflow::source::now_ms();
    cluster.create_source(GlobalId(1), GlobalId(2), "src", &source, &desc(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.upper(GlobalId(1)).is_none_or(|upper| upper <= start_ms + 100) {
        assert!(std::time::Instant::now() < deadline, "source frontier did not advance");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let upper = cluster.upper(GlobalId(1)).unwrap();
    match peek(&cluster, 1, upper.min(start_ms + 100)).await {
        Ok(rows) => assert!(rows.is_empty()),
        Err(error) => assert!(matches!(error, DataflowError::Source { .. }), "{error:?}"),
    }
    assert!(peek(&cluster, 2, upper.min(start_ms + 100)).await.is_ok());
    cluster.drop_collection(GlobalId(1)).await;
    cluster.drop_collection(GlobalId(2)).await;
    assert!(peek(&cluster, 1, start_ms).await.is_err());
    cluster.shutdown();
}

fn int32s(values: &[i32]) -> Row {
    values.iter().map(|v| Datum::Int32(*v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sum_min_max_and_division_by_zero() {
    let cluster = start(2);
    let int32 = ColumnType::new(ScalarType::Int32, true);
    cluster.create_table(GlobalId(1), &RelationDesc::new(vec![("a".into(), int32), ("b".into(), int32)]), 0);
    let input = RelationExpr::Get { id: GlobalId(1), typ: RelationType::new(vec![int32, int32]) };
    let agg = |func, expr| AggregateExpr { func, expr, distinct: false };
    let view = RelationExpr::Reduce {
        input: Box::new(input.clone()),
        group_key: vec![col(0)],
        aggregates: vec![
            agg(AggregateFunc::Sum, col(1)),
            agg(AggregateFunc::Min, col(1)),
            agg(AggregateFunc::Max, col(1)),
        ],
    };
    cluster.create_view(GlobalId(2), &view, 0);
    // a / b, and sum(a / b): both fail once b = 0 appears.
    let quotient = col(0).call_binary(col(1), BinaryFunc::Div);
    cluster.create_view(GlobalId(3), &input.clone().map(vec![quotient.clone()]), 0);
    let summed = RelationExpr::Reduce {
        input: Box::new(input),
        group_key: vec![],
        aggregates: vec![agg(AggregateFunc::Sum, quotient)],
    };
    cluster.create_view(GlobalId(4), &summed, 0);
    cluster.update_table(GlobalId(1), vec![(int32s(&[1, 2]), 2), (int32s(&[1, 5]), 1), (int32s(&[6, 3]), 1)], 1);
    cluster.advance_tables(2);
    cluster.update_table(GlobalId(1), vec![(int32s(&[4, 0]), 1)], 2);
    cluster.advance_tables(3);

    let group = |a: i32, sum: i64, min: i32, max: i32| {
        row(&[Datum::Int32(a), Datum::Int64(sum), Datum::Int32(min), Datum::Int32(max)])
    };
    assert_eq!(peek(&cluster, 2, 1).await.unwrap(), vec![(group(1, 9, 2, 5), 1), (group(6, 3, 3, 3), 1)]);
    let quotients = vec![(int32s(&[1, 2, 0]), 2), (int32s(&[1, 5, 0]), 1), (int32s(&[6, 3, 2]), 1)];
    assert_eq!(peek(&cluster, 3, 1).await.unwrap(), quotients);
    assert_eq!(peek(&cluster, 4, 1).await.unwrap(), vec![(row(&[Datum::Int64(2)]), 1)]);
    let division = DataflowError::Eval(EvalError::DivisionByZero);
    assert_eq!(peek(&cluster, 3, 2).await.unwrap_err(), division);
    assert_eq!(peek(&cluster, 4, 2).await.unwrap_err(), division);
    // A view created at a later time cannot be read before it.
    cluster.create_view(GlobalId(5), &get(1, 2).distinct(), 2);
    assert!(peek(&cluster, 5, 1).await.is_err());
    assert_eq!(peek(&cluster, 5, 2).await.unwrap().len(), 4);
}

#[test]
fn the_handle_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let cluster = Cluster::start(ClusterConfig {
        workers: 1,
        runtime: runtime.handle().clone(),
        data_dir: None,
        log_segment_bytes: 1 << 20,
        collect_freed: None,
    })
    .unwrap();
    assert_send_sync(&cluster);
    let future = cluster.peek(GlobalId(1), 0);
    assert_send(&future);
    drop(future);
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_peeks_hold_compaction_until_cancelled() {
    let cluster = start(2);
    table(&cluster, 1, 1);
    cluster.update_table(GlobalId(1), vec![(ints(&[1]), 1)], 1);
    cluster.advance_tables(2);
    // A peek at 5 cannot be answered yet; while it waits, `since` stays at or below 5.
    let waiting = cluster.peek(GlobalId(1), 5);
    tokio::pin!(waiting);
    assert!(tokio::time::timeout(Duration::from_millis(100), &mut waiting).await.is_err());
    cluster.update_table(GlobalId(1), vec![(ints(&[2]), 1)], 7);
    cluster.allow_compaction(GlobalId(1), 8);
    cluster.advance_tables(10);
    let rows = tokio::time::timeout(Duration::from_secs(20), &mut waiting).await.unwrap().unwrap();
    assert_eq!(rows, vec![(ints(&[1]), 1)]);

    // A cancelled peek no longer holds anything back.
    let abandoned = cluster.peek(GlobalId(1), 20);
    assert!(tokio::time::timeout(Duration::from_millis(100), abandoned).await.is_err());
    cluster.allow_compaction(GlobalId(1), 30);
    cluster.advance_tables(40);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.since(GlobalId(1)) != Some(30) {
        assert!(std::time::Instant::now() < deadline, "compaction stayed held: {:?}", cluster.since(GlobalId(1)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(peek(&cluster, 1, 30).await.unwrap(), vec![(ints(&[1]), 1), (ints(&[2]), 1)]);
}
