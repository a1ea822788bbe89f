//! Rendering of table functions (`FlatMap`): calling the function per input row, reusing its rows
//! when its arguments are constant, and running the pipeline above it on the joined datums without
//! building them into rows first. This module must not decide which pipelines sit above a flat
//! map, nor whether an aggregation consumes it; `RenderContext` decides both.

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
struct Through {
    plain: RowPipeline,
    hoisted: Option<HoistedPipeline>,
    /// The current input row's hoisted values, if they evaluated.
    outer: Option<Vec<Datum>>,
    /// Per reused produced row, by position: its hoisted values (`None`: they fail to evaluate).
    inner: Vec<Option<Vec<Datum>>>,
}

impl Through {
    /// `pipeline` over rows of `input_arity` input columns followed by `call`'s columns.
    fn new(pipeline: RowPipeline, input_arity: usize, call: &TableCall) -> Self {
        let hoisted = HoistedPipeline::new(&pipeline, input_arity, call.is_constant());
        Through { plain: pipeline, hoisted, outer: Some(Vec::new()), inner: Vec::new() }
    }

    /// Computes the hoisted values of the input row that `row` starts with.
    fn start(&mut self, row: &[Datum]) {
        if let Some(hoisted) = &self.hoisted {
            let mut values = self.outer.take().unwrap_or_default();
            self.outer = hoisted.outer_values(row, &mut values).then_some(values);
        }
    }

    /// The pipeline's result for `row`, an input row (given to `start`) followed by a produced
    /// row, into `out`; `position` is the produced row's index when the call's rows are reused,
    /// so that its hoisted values are too. Whether the pipeline kept the row.
    fn apply_into(&mut self, row: &[Datum], position: Option<usize>, out: &mut Row) -> Result<bool, EvalError> {
        let Some(hoisted) = &self.hoisted else {
            return self.plain.apply_into(row, out);
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
        hoisted.apply_into(row, self.outer.as_deref(), inner, out)
    }
}

/// A table function call and the pipeline above it, if any: the rows that one input row stands
/// for. With a pipeline, the joined datums are assembled in a scratch buffer and never become a
/// row of their own (hopping windows made five such rows per bid in Nexmark q5); each result is
/// handed over in one reused row, which the receiver takes or leaves, so that an aggregation
/// summing the results allocates nothing for the rows whose group it already holds.
pub(super) struct FlatMap {
    call: TableCall,
    through: Option<Through>,
    scratch: Vec<Datum>,
    result: Row,
    /// The input columns a signature copies (see `signature`); `None` when the call's rows depend
    /// on the input row.
    signature_columns: Option<Vec<usize>>,
}

impl FlatMap {
    /// `func` of `exprs` over rows of `input_arity` columns, then `pipeline` when given.
    pub(super) fn new(
        func: &TableFunc,
        exprs: &[ScalarExpr],
        input_arity: usize,
        pipeline: Option<RowPipeline>,
    ) -> Self {
        let call = TableCall::new(func, exprs);
        let through = pipeline.map(|pipeline| Through::new(pipeline, input_arity, &call));
        let signature_columns = call.is_constant().then(|| match &through {
            None => (0..input_arity).collect(),
            Some(Through { hoisted: Some(hoisted), .. }) => hoisted.direct_outer_columns(),
            Some(Through { plain, .. }) => plain.input_columns().into_iter().filter(|c| *c < input_arity).collect(),
        });
        FlatMap { call, through, scratch: Vec::new(), result: Row::default(), signature_columns }
    }

    /// What of `row` its results depend on, into `signature` (cleared first): the input columns
    /// the pipeline reads directly, then the values hoisted out of it. Rows with equal signatures
    /// have the same results, so an aggregation may expand one of them with their multiplicities
    /// summed. `false` when there is none: the call's rows depend on the input row, a hoisted
    /// value fails (the row then goes the plain way, which reads every column), or a value's
    /// equality is looser than its behaviour (see `exact`).
    pub(super) fn signature(&mut self, row: &Row, signature: &mut Row) -> bool {
        let Some(columns) = &self.signature_columns else { return false };
        signature.clear();
        for column in columns {
            let Some(datum) = row.get(*column).filter(|datum| exact(datum)) else { return false };
            signature.push(datum.clone());
        }
        let Some(through) = self.through.as_mut().filter(|through| through.hoisted.is_some()) else {
            return true;
        };
        through.start(row.datums());
        let Some(values) = through.outer.as_ref().filter(|values| values.iter().all(exact)) else { return false };
        values.iter().for_each(|value| signature.push(value.clone()));
        true
    }

    /// Calls `each` with every result for `row`: the input's datums followed by each produced
    /// row's, through the pipeline when there is one; or with the error of the call or of one
    /// result. `each` may take the row it is handed (leaving any row behind).
    pub(super) fn expand(&mut self, row: Row, each: &mut impl FnMut(Result<&mut Row, DataflowError>)) {
        let FlatMap { call, through, scratch, result, .. } = self;
        let produced = match call.produce(&row) {
            Ok(produced) => produced,
            Err(error) => return each(Err(error.into())),
        };
        scratch.clear();
        scratch.extend(row.into_datums());
        let width = scratch.len();
        if let Some(through) = through.as_mut() {
            through.start(scratch);
        }
        let mut emit = |scratch: &[Datum], position: Option<usize>| {
            let kept = match through.as_mut() {
                Some(through) => through.apply_into(scratch, position, result),
                None => {
                    result.clear();
                    scratch.iter().for_each(|datum| result.push(datum.clone()));
                    Ok(true)
                }
            };
            match kept {
                Ok(true) => each(Ok(result)),
                Ok(false) => {}
                Err(error) => each(Err(error.into())),
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
}

/// Whether two datums of `datum`'s kind that are equal are the same value, so that any expression
/// gives both the same result. Not so for floats (-0 equals 0), numerics (1.0 equals 1.00),
/// intervals ('1 mon' equals '30 days') and jsonb (equal documents can be written differently).
fn exact(datum: &Datum) -> bool {
    matches!(
        datum,
        Datum::Null
            | Datum::Bool(_)
            | Datum::Int16(_)
            | Datum::Int32(_)
            | Datum::Int64(_)
            | Datum::Text(_)
            | Datum::Bytes(_)
            | Datum::Date(_)
            | Datum::Timestamp(_)
            | Datum::TimestampTz(_)
    )
}

/// The rows one input row stands for, as an aggregation reads them.
pub(super) enum Expansion {
    /// The row itself.
    Plain,
    FlatMap(Box<FlatMap>),
}

impl Expansion {
    /// `FlatMap::signature`; plain rows have none.
    pub(super) fn signature(&mut self, row: &Row, signature: &mut Row) -> bool {
        match self {
            Expansion::Plain => false,
            Expansion::FlatMap(flat_map) => flat_map.signature(row, signature),
        }
    }

    /// Calls `each` with every row `row` stands for, or an error (see `FlatMap::expand`).
    pub(super) fn expand(&mut self, mut row: Row, each: &mut impl FnMut(Result<&mut Row, DataflowError>)) {
        match self {
            Expansion::Plain => each(Ok(&mut row)),
            Expansion::FlatMap(flat_map) => flat_map.expand(row, each),
        }
    }
}

/// Takes a handed-over row, leaving behind an empty one with room for as many datums.
pub(super) fn take_row(row: &mut Row) -> Row {
    let width = row.len();
    std::mem::replace(row, Row::with_capacity(width))
}

#[cfg(test)]
mod tests {
    use freshet_expr::func::BinaryFunc;
    use freshet_repr::ScalarType;

    use super::*;

    fn ints(values: &[i64]) -> Row {
        values.iter().map(|v| Datum::Int64(*v)).collect()
    }

    fn series_through(
        start: ScalarExpr,
        stop: ScalarExpr,
        input_arity: usize,
        pipeline: Option<RowPipeline>,
    ) -> FlatMap {
        FlatMap::new(&TableFunc::GenerateSeriesInt(ScalarType::Int64), &[start, stop], input_arity, pipeline)
    }

    fn series(start: ScalarExpr, stop: ScalarExpr) -> FlatMap {
        series_through(start, stop, 1, None)
    }

    fn int(v: i64) -> ScalarExpr {
        ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64)
    }

    /// Every result for `input`, each taken out of the row it is handed over in.
    fn produced(flat_map: &mut FlatMap, input: &[i64]) -> Vec<Result<Row, DataflowError>> {
        let mut out = Vec::new();
        flat_map.expand(ints(input), &mut |result| out.push(result.map(take_row)));
        out
    }

    /// Every result for `input`, each cloned from the row it is handed over in, which stays.
    fn borrowed(flat_map: &mut FlatMap, input: &[i64]) -> Vec<Result<Row, DataflowError>> {
        let mut out = Vec::new();
        flat_map.expand(ints(input), &mut |result| out.push(result.map(|row| row.clone())));
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
        assert!(matches!(constant.call.reuse, Reuse::Rows(ref rows) if rows.len() == 3));
        assert!(matches!(per_row.call.reuse, Reuse::PerRow));
        // Too many rows to keep: evaluated per row instead.
        let mut large = series(int(1), int(MAX_REUSED_ROWS as i64 + 1));
        assert_eq!(produced(&mut large, &[1]).len(), MAX_REUSED_ROWS + 1);
        assert!(matches!(large.call.reuse, Reuse::PerRow));
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

    #[test]
    fn only_values_whose_equality_is_identity_sign_a_row() {
        let mut flat_map = series(int(0), int(1));
        let mut signature = Row::default();
        assert!(flat_map.signature(&ints(&[7]), &mut signature));
        assert_eq!(signature, ints(&[7]));
        // -0 equals 0, yet `(x * k)::text` tells them apart: such rows are expanded one by one.
        for loose in [Datum::float64(-0.0), Datum::numeric(bigdecimal::BigDecimal::from(1))] {
            assert!(!flat_map.signature(&Row::new(vec![loose]), &mut signature));
        }
        // A call whose rows depend on the input row has no signatures.
        let mut per_row = series(int(0), ScalarExpr::Column(0));
        assert!(!per_row.signature(&ints(&[7]), &mut signature));
    }

    /// Every input row through `make`'s call and `pipeline`, plain and hoisted, and hoisted with
    /// the result rows reused.
    fn both_ways(make: impl Fn(Option<RowPipeline>) -> FlatMap, pipeline: &RowPipeline, inputs: &[Vec<i64>]) {
        let mut plain = make(None);
        plain.through =
            Some(Through { plain: pipeline.clone(), hoisted: None, outer: Some(Vec::new()), inner: Vec::new() });
        let mut hoisted = make(Some(pipeline.clone()));
        assert!(hoisted.through.as_ref().is_some_and(|through| through.hoisted.is_some()));
        let mut reused = make(Some(pipeline.clone()));
        for input in inputs {
            let expected = produced(&mut plain, input);
            assert_eq!(produced(&mut hoisted, input), expected, "input {input:?}");
            assert_eq!(borrowed(&mut reused, input), expected, "input {input:?}");
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
        both_ways(|pipeline| series_through(int(0), int(4), 2, pipeline), &pipeline, &inputs);
        // Arguments from the row: the outer part alone hoists.
        both_ways(|pipeline| series_through(int(0), ScalarExpr::Column(0), 2, pipeline), &pipeline, &inputs);
        // A produced row whose own value fails: k * 10 overflows for the last one only.
        let (start, stop) = (int(i64::MAX / 10 - 1), int(i64::MAX / 10 + 1));
        both_ways(|pipeline| series_through(start.clone(), stop.clone(), 2, pipeline), &pipeline, &inputs);
    }
}
