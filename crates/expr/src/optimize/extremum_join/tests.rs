use freshet_repr::{ColumnType, Datum, GlobalId, RelationType, ScalarType};

use super::*;
use crate::func::BinaryFunc;

/// `bid(auction, price, date_time)`.
fn bids(price: ScalarType) -> RelationExpr {
    let columns = vec![
        ColumnType::new(ScalarType::Int64, true),
        ColumnType::new(price, true),
        ColumnType::new(ScalarType::Int64, true),
    ];
    RelationExpr::Get { id: GlobalId(7), typ: RelationType::new(columns) }
}

fn window(c: usize) -> ScalarExpr {
    ScalarExpr::Column(c).call_binary(ScalarExpr::Literal(Datum::Int64(10), ScalarType::Int64), BinaryFunc::Div)
}

/// `SELECT date_time / 10, max(price) FROM bid GROUP BY 1`, over a projection `(price, date_time)`.
fn highest(func: AggregateFunc, price: ScalarType) -> RelationExpr {
    RelationExpr::Reduce {
        input: Box::new(bids(price).project(vec![1, 2])),
        group_key: vec![window(1)],
        aggregates: vec![AggregateExpr { func, expr: ScalarExpr::Column(0), distinct: false }],
    }
}

/// `bid JOIN highest ON bid.date_time / 10 = window AND bid.price = highest`.
fn join(
    left: RelationExpr,
    right: RelationExpr,
    left_key: Vec<ScalarExpr>,
    right_key: Vec<ScalarExpr>,
) -> RelationExpr {
    RelationExpr::Join {
        left: Box::new(left),
        right: Box::new(right),
        left_key,
        right_key,
        residual: Vec::new(),
        kind: JoinKind::Inner,
    }
}

fn q7(func: AggregateFunc, price: ScalarType) -> RelationExpr {
    join(
        bids(price),
        highest(func, price),
        vec![ScalarExpr::Column(1), window(2)],
        vec![ScalarExpr::Column(1), ScalarExpr::Column(0)],
    )
}

fn rewritten(mut expr: RelationExpr) -> RelationExpr {
    rank_extremum_joins(&mut expr);
    expr
}

#[test]
fn rows_holding_their_group_maximum_become_a_ranking_with_ties() {
    let expected_input = bids(ScalarType::Int64).map(vec![window(2)]).filter(vec![
        ScalarExpr::Column(3).call_unary(UnaryFunc::IsNotNull),
        ScalarExpr::Column(1).call_unary(UnaryFunc::IsNotNull),
    ]);
    let expected = RelationExpr::TopK {
        input: Box::new(expected_input),
        group_key: vec![3],
        order_by: vec![ColumnOrder { column: 1, desc: true, nulls_last: true }],
        limit: Some(1),
        offset: 0,
        with_ties: true,
    }
    .project(vec![0, 1, 2, 3, 1]);
    let original = q7(AggregateFunc::Max, ScalarType::Int64);
    assert_eq!(rewritten(original.clone()), expected);
    assert_eq!(expected.arity(), original.arity());
}

#[test]
fn a_minimum_ranks_ascending() {
    let RelationExpr::Project { input, .. } = rewritten(q7(AggregateFunc::Min, ScalarType::Int64)) else { panic!() };
    let RelationExpr::TopK { order_by, .. } = *input else { panic!("{input:?}") };
    assert!(!order_by[0].desc);
}

#[test]
fn rows_on_the_right_keep_the_join_column_order() {
    let swapped = join(
        highest(AggregateFunc::Max, ScalarType::Int64),
        bids(ScalarType::Int64),
        vec![ScalarExpr::Column(1), ScalarExpr::Column(0)],
        vec![ScalarExpr::Column(1), window(2)],
    );
    let RelationExpr::Project { input, outputs } = rewritten(swapped.clone()) else { panic!() };
    // The ranking's own projection, composed: window, max, then the bid's three columns.
    let RelationExpr::Project { outputs: inner, .. } = *input else { panic!() };
    let composed: Vec<usize> = outputs.iter().map(|&c| inner[c]).collect();
    assert_eq!(composed, vec![3, 1, 0, 1, 2]);
}

#[test]
fn joins_the_ranking_would_change_are_left_alone() {
    let floats = q7(AggregateFunc::Max, ScalarType::Float64);
    let sums = q7(AggregateFunc::Sum, ScalarType::Int64);
    let key_unjoined = join(
        bids(ScalarType::Int64),
        highest(AggregateFunc::Max, ScalarType::Int64),
        vec![ScalarExpr::Column(1)],
        vec![ScalarExpr::Column(1)],
    );
    let other_window = join(
        bids(ScalarType::Int64),
        highest(AggregateFunc::Max, ScalarType::Int64),
        vec![ScalarExpr::Column(1), window(0)],
        vec![ScalarExpr::Column(1), ScalarExpr::Column(0)],
    );
    let other_relation = join(
        bids(ScalarType::Int64).filter(vec![ScalarExpr::Column(0).call_unary(UnaryFunc::IsNull)]),
        highest(AggregateFunc::Max, ScalarType::Int64),
        vec![ScalarExpr::Column(1), window(2)],
        vec![ScalarExpr::Column(1), ScalarExpr::Column(0)],
    );
    let mut with_residual = q7(AggregateFunc::Max, ScalarType::Int64);
    let mut left_outer = with_residual.clone();
    if let RelationExpr::Join { residual, .. } = &mut with_residual {
        residual.push(ScalarExpr::Column(0).call_unary(UnaryFunc::IsNull));
    }
    if let RelationExpr::Join { kind, .. } = &mut left_outer {
        *kind = JoinKind::LeftOuter;
    }
    for expr in [floats, sums, key_unjoined, other_window, other_relation, with_residual, left_outer] {
        assert_eq!(rewritten(expr.clone()), expr);
    }
}
