//! Rendering of table functions (`FlatMap`): calling the function per input row, reusing its rows
//! when its arguments are constant, and running the pipeline above it on the joined datums without
//! building them into rows first. This module must not decide which pipelines sit above a flat
//! map; `RenderContext` peels them off the plan.

use std::borrow::Cow;

use freshet_expr::{HoistedPipeline, RowPipeline, ScalarExpr, TableFunc};
use freshet_repr::{DataflowError, Datum, EvalError, Row};

/// A table function applied to its argument expressions. When no argument reads the input row
/// (`generate_series(0, 4)`), the produced rows are computed at the first input row and reused for
/// every later one, provided they are few ([`MAX_REUSED_ROWS`]); an argument that fails to evaluate
/// is evaluated, and reported, per row as before.
pub(super) struct TableCall {
    func: TableFunc,
    exprs: Vec<ScalarExpr>,
    reuse: Reuse,
}

/// Whether a table call's rows are computed once.
enum Reuse {
    /// Constant arguments, not yet evaluated.
    Pending,
    Rows(Vec<Row>),
    PerRow,
}

/// Most rows a constant table call keeps for the operator's lifetime.
const MAX_REUSED_ROWS: usize = 10_000;

impl TableCall {
    pub(super) fn new(func: &TableFunc, exprs: &[ScalarExpr]) -> Self {
        let reuse = if exprs.iter().all(ScalarExpr::is_constant) { Reuse::Pending } else { Reuse::PerRow };
        TableCall { func: func.clone(), exprs: exprs.to_vec(), reuse }
    }

    /// Whether no argument reads the input row, so that the call may produce the same rows for
    /// every input.
    fn is_constant(&self) -> bool {
        !matches!(self.reuse, Reuse::PerRow)
    }

    fn eval(&self, datums: &[Datum]) -> Result<Vec<Row>, EvalError> {
        let args: Vec<Datum> = self.exprs.iter().map(|e| e.eval(datums)).collect::<Result<_, _>>()?;
        self.func.eval(&args)
    }

    /// The rows produced for `row`.
    fn produce(&mut self, row: &Row) -> Result<Cow<'_, [Row]>, EvalError> {
        if matches!(self.reuse, Reuse::Pending) {
            self.reuse = match self.eval(&[]) {
                Ok(rows) if rows.len() <= MAX_REUSED_ROWS => Reuse::Rows(rows),
                _ => Reuse::PerRow,
            };
        }
        match &self.reuse {
            Reuse::Rows(rows) => Ok(Cow::Borrowed(rows)),
            Reuse::Pending | Reuse::PerRow => self.eval(row.datums()).map(Cow::Owned),
        }
    }
}

/// A flat map's row pipeline, with the subexpressions hoisted out of it (see `HoistedPipeline`):
/// those reading only the input row are evaluated once per input row, and, when the call produces
/// the same rows for every input, those reading only a produced row once per produced row.
pub(super) struct Through {
    plain: RowPipeline,
    hoisted: Option<HoistedPipeline>,
    /// Per reused produced row, by position: its hoisted values (`None`: they fail to evaluate).
    inner: Vec<Option<Vec<Datum>>>,
}

impl Through {
    /// `pipeline` over rows of `input_arity` input columns followed by `call`'s columns.
    pub(super) fn new(pipeline: RowPipeline, input_arity: usize, call: &TableCall) -> Self {
        let hoisted = HoistedPipeline::new(&pipeline, input_arity, call.is_constant());
        Through { plain: pipeline, hoisted, inner: Vec::new() }
    }

    /// The hoisted values of an input row (`row` starts with it); `None` when there are none to
    /// compute or they fail.
    fn outer_values(&self, row: &[Datum]) -> Option<Vec<Datum>> {
        self.hoisted.as_ref().and_then(|hoisted| hoisted.outer_values(row))
    }

    /// The pipeline's result for `row`, an input row followed by a produced row; `outer` are the
    /// input row's hoisted values, and `position` the produced row's index when the call's rows
    /// are reused, so that its hoisted values are too.
    fn apply(
        &mut self,
        row: &[Datum],
        outer: Option<&[Datum]>,
        position: Option<usize>,
    ) -> Option<Result<Row, DataflowError>> {
        let Some(hoisted) = &self.hoisted else {
            return self.plain.apply(row).map_err(DataflowError::from).transpose();
        };
        let computed;
        let inner = match position {
            Some(position) => {
                // Reused rows come in the same order for every input row, so the first input
                // row fills the cache in order.
                if self.inner.len() == position {
                    self.inner.push(hoisted.inner_values(row));
                }
                self.inner.get(position).and_then(Option::as_deref)
            }
            None => {
                computed = hoisted.inner_values(row);
                computed.as_deref()
            }
        };
        hoisted.apply(row, outer, inner).map_err(DataflowError::from).transpose()
    }
}

/// `call` over `row`: the input's datums followed by each produced row's, through `through` when
/// given, each result given to `out`. With a pipeline, the joined datums are assembled in `scratch`
/// and never become a row of their own (hopping windows made five such rows per bid in Nexmark q5).
pub(super) fn flat_map_through(
    call: &mut TableCall,
    mut through: Option<&mut Through>,
    row: Row,
    scratch: &mut Vec<Datum>,
    out: &mut impl FnMut(Result<Row, DataflowError>),
) {
    let produced = match call.produce(&row) {
        Ok(produced) => produced,
        Err(error) => return out(Err(error.into())),
    };
    scratch.clear();
    scratch.extend(row.into_datums());
    let width = scratch.len();
    let outer = through.as_deref().and_then(|through| through.outer_values(scratch));
    let mut emit = |scratch: &mut Vec<Datum>, position: Option<usize>| {
        let result = match through.as_deref_mut() {
            Some(through) => through.apply(scratch, outer.as_deref(), position),
            None => Some(Ok(scratch.iter().cloned().collect())),
        };
        if let Some(result) = result {
            out(result);
        }
    };
    // Rows computed for this input row are moved in; reused ones are cloned.
    match produced {
        Cow::Borrowed(rows) => rows.iter().enumerate().for_each(|(position, extra)| {
            scratch.truncate(width);
            scratch.extend(extra.iter().cloned());
            emit(scratch, Some(position));
        }),
        Cow::Owned(rows) => rows.into_iter().for_each(|extra| {
            scratch.truncate(width);
            scratch.extend(extra.into_datums());
            emit(scratch, None);
        }),
    }
}

#[cfg(test)]
mod tests {
    use freshet_expr::func::BinaryFunc;
    use freshet_repr::ScalarType;

    use super::*;

    fn ints(values: &[i64]) -> Row {
        values.iter().map(|v| Datum::Int64(*v)).collect()
    }

    fn series(start: ScalarExpr, stop: ScalarExpr) -> TableCall {
        TableCall::new(&TableFunc::GenerateSeriesInt(ScalarType::Int64), &[start, stop])
    }

    fn int(v: i64) -> ScalarExpr {
        ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64)
    }

    fn produced(call: &mut TableCall, input: &[i64]) -> Vec<Result<Row, DataflowError>> {
        let mut out = Vec::new();
        flat_map_through(call, None, ints(input), &mut Vec::new(), &mut |result| out.push(result));
        out
    }

    #[test]
    fn constant_table_calls_are_computed_once_and_agree_with_per_row_calls() {
        let mut constant = series(int(0), int(2));
        let mut per_row = series(int(0), ScalarExpr::Column(1));
        for input in [[7, 2], [8, 2]] {
            let expected: Vec<_> = (0..=2).map(|k| Ok(ints(&[input[0], input[1], k]))).collect();
            assert_eq!(produced(&mut constant, &input), expected);
            assert_eq!(produced(&mut per_row, &input), expected);
        }
        assert!(matches!(constant.reuse, Reuse::Rows(ref rows) if rows.len() == 3));
        assert!(matches!(per_row.reuse, Reuse::PerRow));
        // Too many rows to keep: evaluated per row instead.
        let mut large = series(int(1), int(MAX_REUSED_ROWS as i64 + 1));
        assert_eq!(produced(&mut large, &[1]).len(), MAX_REUSED_ROWS + 1);
        assert!(matches!(large.reuse, Reuse::PerRow));
    }

    #[test]
    fn a_failing_constant_argument_fails_every_row() {
        let overflow = int(i64::MAX).call_binary(int(1), BinaryFunc::Add);
        let mut call = series(int(0), overflow);
        for input in [[1], [2]] {
            let out = produced(&mut call, &input);
            assert!(matches!(out.as_slice(), [Err(DataflowError::Eval(_))]), "{out:?}");
        }
    }

    /// Every input row through `call` and `pipeline`, plain and hoisted.
    fn both_ways(call: impl Fn() -> TableCall, pipeline: &RowPipeline, inputs: &[Vec<i64>]) {
        let (mut plain_call, mut hoisted_call) = (call(), call());
        let mut plain = Through { plain: pipeline.clone(), hoisted: None, inner: Vec::new() };
        let mut hoisted = Through::new(pipeline.clone(), inputs[0].len(), &hoisted_call);
        assert!(hoisted.hoisted.is_some());
        for input in inputs {
            let (mut expected, mut got) = (Vec::new(), Vec::new());
            let mut scratch = Vec::new();
            flat_map_through(&mut plain_call, Some(&mut plain), ints(input), &mut scratch, &mut |r| expected.push(r));
            flat_map_through(&mut hoisted_call, Some(&mut hoisted), ints(input), &mut scratch, &mut |r| got.push(r));
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn hoisted_window_arithmetic_gives_the_plain_results_and_errors() {
        use freshet_expr::mfp::{MapFilterProject, RowStep};
        // [auction, date_time] x generate_series(0, 4) -> (auction, date_time / 10 * 10 - k * 10).
        let last = ScalarExpr::Column(1).call_binary(int(10), BinaryFunc::Div).call_binary(int(10), BinaryFunc::Mul);
        let shift = ScalarExpr::Column(2).call_binary(int(10), BinaryFunc::Mul);
        let start = last.call_binary(shift, BinaryFunc::Sub);
        let pipeline = MapFilterProject { steps: vec![RowStep::Map(vec![start]), RowStep::Project(vec![0, 3])] };
        let pipeline = pipeline.compile(3);
        let inputs = [vec![1, 123], vec![2, 129], vec![3, i64::MIN]];
        // Constant arguments: both parts hoist; the last input underflows in its outer value.
        both_ways(|| series(int(0), int(4)), &pipeline, &inputs);
        // Arguments from the row: the outer part alone hoists.
        both_ways(|| series(int(0), ScalarExpr::Column(0)), &pipeline, &inputs);
        // A produced row whose own value fails: k * 10 overflows for the last one only.
        both_ways(|| series(int(i64::MAX / 10 - 1), int(i64::MAX / 10 + 1)), &pipeline, &inputs);
    }
}
