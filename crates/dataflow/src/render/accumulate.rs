//! Rendering of grouped aggregations whose aggregates are all `count` or integer `sum`: the running
//! totals travel in the updates' multiplicities, so a group's new value costs one addition per
//! changed row instead of a pass over every value the group holds.
//!
//! This module decides nothing about SQL semantics beyond these two aggregates; everything else is
//! rendered by `reduce`, which keeps each group's values.

use bigdecimal::BigDecimal;
use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use differential_dataflow::operators::CountTotal as _;
use freshet_expr::{AggregateExpr, AggregateFunc};
use freshet_repr::{ColumnType, DataflowError, Datum, Diff, EvalError, Row, ScalarType, Timestamp};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

mod pre_aggregate;

use super::batcher::arrange_by_self;
use super::flat_map::Expansion;
use super::{fork_collection, Rendered};
use pre_aggregate::pre_aggregate;

/// What one aggregate accumulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accumulable {
    /// `count(expr)` of an argument that is never NULL (`count(*)`): the group's rows.
    CountRows,
    /// `count(expr)`: non-null values.
    Count,
    /// `sum` of `smallint`/`integer` (a `bigint` result) or of `bigint` (a `numeric` result).
    SumInt { numeric_result: bool },
}

/// The accumulable form of `aggregates` over rows of `input` types, if every one has one.
pub fn accumulable(aggregates: &[AggregateExpr], input: &[ColumnType]) -> Option<Vec<Accumulable>> {
    aggregates
        .iter()
        .map(|agg| {
            if agg.distinct {
                return None;
            }
            let arg = freshet_expr::func::infer_type(&agg.expr, input);
            match (&agg.func, arg.scalar_type) {
                // Sound only because types never call a column non-null that can be NULL.
                (AggregateFunc::Count, _) if !arg.nullable => Some(Accumulable::CountRows),
                (AggregateFunc::Count, _) => Some(Accumulable::Count),
                (AggregateFunc::Sum, ScalarType::Int16 | ScalarType::Int32) => {
                    Some(Accumulable::SumInt { numeric_result: false })
                }
                (AggregateFunc::Sum, ScalarType::Int64) => Some(Accumulable::SumInt { numeric_result: true }),
                _ => None,
            }
        })
        .collect()
}

/// A group's totals: `[rows, then per aggregate: non-null count (and for sums, the sum)]`, where a
/// count of rows adds no field. Inline up to three fields (`count(*)` and a `sum`): every update of
/// the aggregation carries one, and a heap block each was a tenth of an aggregation's time.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Totals(SmallVec<[i128; 3]>);

impl IsZero for Totals {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

impl Semigroup for Totals {
    fn plus_equals(&mut self, rhs: &Self) {
        if self.0.len() < rhs.0.len() {
            self.0.resize(rhs.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&rhs.0) {
            *mine = mine.wrapping_add(*theirs);
        }
    }
}

impl Multiply<Diff> for Totals {
    type Output = Totals;
    fn multiply(mut self, rhs: &Diff) -> Totals {
        self.0.iter_mut().for_each(|v| *v = v.wrapping_mul(i128::from(*rhs)));
        self
    }
}

/// One input row's contribution: one row, and each aggregate's argument.
#[cfg(test)]
fn contribution(kinds: &[Accumulable], args: &[Datum]) -> Result<Totals, EvalError> {
    let mut totals = Totals::zero(kinds);
    add_contribution(&mut totals, kinds, args, 1)?;
    Ok(totals)
}

impl Totals {
    /// The totals of no rows, laid out for `kinds`.
    fn zero(kinds: &[Accumulable]) -> Totals {
        let width = 1 + kinds.iter().map(|kind| kind.fields()).sum::<usize>();
        Totals(smallvec::smallvec![0; width])
    }
}

impl Accumulable {
    /// How many fields of `Totals` this aggregate adds beside the row count.
    fn fields(self) -> usize {
        match self {
            Accumulable::CountRows => 0,
            Accumulable::Count => 1,
            Accumulable::SumInt { .. } => 2,
        }
    }
}

/// Adds `diff` copies of one row with aggregate arguments `args` to `totals` (laid out for `kinds`);
/// an argument a sum cannot take leaves `totals` unchanged.
fn add_contribution(totals: &mut Totals, kinds: &[Accumulable], args: &[Datum], diff: Diff) -> Result<(), EvalError> {
    for (kind, arg) in kinds.iter().zip(args) {
        if matches!(kind, Accumulable::SumInt { .. })
            && !matches!(arg, Datum::Null | Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_))
        {
            return Err(EvalError::Internal(format!("integer sum over {arg:?}")));
        }
    }
    let diff = i128::from(diff);
    let mut fields = totals.0.iter_mut();
    let mut add = |value: i128| {
        if let Some(field) = fields.next() {
            *field = field.wrapping_add(value.wrapping_mul(diff));
        }
    };
    add(1);
    for (kind, arg) in kinds.iter().zip(args) {
        if *kind == Accumulable::CountRows {
            continue;
        }
        add(i128::from(!arg.is_null()));
        if *kind != Accumulable::Count {
            add(match arg {
                Datum::Int16(v) => i128::from(*v),
                Datum::Int32(v) => i128::from(*v),
                Datum::Int64(v) => i128::from(*v),
                _ => 0,
            });
        }
    }
    Ok(())
}

/// The output row of a group: its key, then each aggregate read off its totals.
fn output_row(key: &Row, totals: &Totals, kinds: &[Accumulable]) -> Result<Row, DataflowError> {
    let negative = || EvalError::Internal("negative multiplicity in aggregate input".into());
    let out_of_range = || EvalError::NumericOutOfRange("bigint out of range".into());
    let mut fields = totals.0.iter().copied();
    // count_total only emits non-zero totals, so a group without rows here had rows retracted
    // that it never held (with other values than they were added with).
    let rows = fields.next().unwrap_or(0);
    if rows <= 0 {
        return Err(negative().into());
    }
    let mut row = key.with_room(kinds.len());
    for kind in kinds {
        let present = if *kind == Accumulable::CountRows { rows } else { fields.next().unwrap_or(0) };
        if !(0..=rows).contains(&present) {
            return Err(negative().into());
        }
        row.push(match kind {
            Accumulable::CountRows | Accumulable::Count => {
                Datum::Int64(i64::try_from(present).map_err(|_| out_of_range())?)
            }
            Accumulable::SumInt { numeric_result } => {
                let sum = fields.next().unwrap_or(0);
                if present == 0 && sum != 0 {
                    return Err(negative().into());
                }
                match (present, numeric_result) {
                    (0, _) => Datum::Null,
                    (_, true) => Datum::numeric(BigDecimal::from(sum)),
                    (_, false) => Datum::Int64(i64::try_from(sum).map_err(|_| out_of_range())?),
                }
            }
        });
    }
    Ok(row)
}

/// Groups rows of `[key..., argument...]` (the first `key_arity` columns are the group key), the
/// rows that `input`'s rows stand for per `expansion`, and computes the accumulable aggregates of
/// the given `kinds`, one per argument column.
pub fn render_accumulable<'s>(
    input: Rendered<'s>,
    expansion: Expansion,
    key_arity: usize,
    kinds: Vec<Accumulable>,
) -> Rendered<'s> {
    let (keyed, eval_err) = pre_aggregate(input.ok, expansion, key_arity, kinds.clone());
    let counted = arrange_by_self(keyed, "Arrange: CountTotal").count_total_core::<Diff>();
    let (ok, agg_err) = fork_collection(
        counted.inner,
        "AggregateOutput",
        move |batch: &mut Vec<((Row, Totals), Timestamp, Diff)>, out| {
            for ((key, totals), time, diff) in batch.drain(..) {
                out.result(output_row(&key, &totals, &kinds), time, diff);
            }
        },
    );
    Rendered { ok, err: input.err.concat(eval_err).concat(agg_err) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_and_cancel_out() {
        let kinds = [Accumulable::Count, Accumulable::SumInt { numeric_result: true }];
        let mut totals = contribution(&kinds, &[Datum::Int64(5), Datum::Int64(7)]).unwrap();
        totals.plus_equals(&contribution(&kinds, &[Datum::Null, Datum::Null]).unwrap());
        let key = Row::new(vec![Datum::text("k")]);
        let row = output_row(&key, &totals, &kinds).unwrap();
        assert_eq!(row.datums()[1..], [Datum::Int64(1), Datum::numeric(BigDecimal::from(7))]);
        let mut gone = totals.clone();
        gone.plus_equals(&totals.multiply(&-1));
        assert!(gone.is_zero());
    }

    #[test]
    fn sums_of_only_nulls_are_null_and_retractions_below_zero_are_errors() {
        let kinds = [Accumulable::SumInt { numeric_result: false }];
        let key = Row::new(vec![]);
        let nulls = contribution(&kinds, &[Datum::Null]).unwrap();
        assert_eq!(output_row(&key, &nulls, &kinds).unwrap().datums(), &[Datum::Null]);
        let negative = contribution(&kinds, &[Datum::Int32(3)]).unwrap().multiply(&-1);
        assert!(output_row(&key, &negative, &kinds).is_err());
        // Adding 5 and retracting 3 leaves no rows but a sum of 2: inconsistent input, an error.
        let mut phantom = contribution(&kinds, &[Datum::Int32(5)]).unwrap();
        phantom.plus_equals(&contribution(&kinds, &[Datum::Int32(3)]).unwrap().multiply(&-1));
        assert!(!phantom.is_zero() && output_row(&key, &phantom, &kinds).is_err());
    }

    #[test]
    fn counts_of_never_null_arguments_are_row_counts_without_a_field_of_their_own() {
        use freshet_expr::ScalarExpr;
        let count =
            |column| AggregateExpr { func: AggregateFunc::Count, expr: ScalarExpr::Column(column), distinct: false };
        let input = [ColumnType::new(ScalarType::Int64, false), ColumnType::new(ScalarType::Int64, true)];
        let kinds = accumulable(&[count(0), count(1)], &input).unwrap();
        assert_eq!(kinds, [Accumulable::CountRows, Accumulable::Count]);
        assert_eq!(Totals::zero(&kinds).0.len(), 2);
        let mut totals = contribution(&kinds, &[Datum::Int64(1), Datum::Null]).unwrap();
        totals.plus_equals(&contribution(&kinds, &[Datum::Int64(2), Datum::Int64(3)]).unwrap());
        let row = output_row(&Row::empty(), &totals, &kinds).unwrap();
        assert_eq!(row.datums(), &[Datum::Int64(2), Datum::Int64(1)]);
    }
}
