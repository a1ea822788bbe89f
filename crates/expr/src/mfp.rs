//! Row-at-a-time pipelines (maps, filters and projections) peeled off the top of a plan, so that a
//! query reading one stored collection can be answered from that collection's arrangement without
//! building a dataflow.

use freshet_repr::{Datum, GlobalId};
use serde::{Deserialize, Serialize};

use crate::{RelationExpr, ScalarExpr};

mod pipeline;

pub use pipeline::{HoistedPipeline, Predicates, RowPipeline, Scalars};

/// One row-at-a-time step, with `RelationExpr`'s meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowStep {
    Map(Vec<ScalarExpr>),
    Filter(Vec<ScalarExpr>),
    Project(Vec<usize>),
}

/// Steps applied in order to each row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MapFilterProject {
    pub steps: Vec<RowStep>,
}

impl MapFilterProject {
    /// Splits `expr` into the stored collection it reads and the row steps above it, when `expr`
    /// is only maps, filters and projections over one `Get`.
    pub fn extract(expr: &RelationExpr) -> Option<(GlobalId, MapFilterProject)> {
        match MapFilterProject::peel(expr) {
            (RelationExpr::Get { id, .. }, mfp) => Some((*id, mfp)),
            _ => None,
        }
    }

    /// Splits `expr` into the relation under its topmost maps, filters and projections, and those
    /// steps (none when `expr` starts with another operator).
    pub fn peel(expr: &RelationExpr) -> (&RelationExpr, MapFilterProject) {
        let mut steps = Vec::new();
        let mut current = expr;
        loop {
            match current {
                RelationExpr::Map { input, scalars } => {
                    steps.push(RowStep::Map(scalars.clone()));
                    current = input;
                }
                RelationExpr::Filter { input, predicates } => {
                    steps.push(RowStep::Filter(predicates.clone()));
                    current = input;
                }
                RelationExpr::Project { input, outputs } => {
                    steps.push(RowStep::Project(outputs.clone()));
                    current = input;
                }
                _ => {
                    steps.reverse();
                    return (current, MapFilterProject { steps });
                }
            }
        }
    }

    /// The steps prepared to run on many rows of `input_arity` columns.
    pub fn compile(&self, input_arity: usize) -> RowPipeline {
        RowPipeline::new(self, input_arity)
    }

    pub fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether every row comes out with no columns at all (what `count(*)` reads): the rows then
    /// differ only in their number.
    pub fn projects_no_columns(&self) -> bool {
        let mut arity = None;
        for step in &self.steps {
            match step {
                RowStep::Project(outputs) => arity = Some(outputs.len()),
                RowStep::Map(scalars) => arity = arity.map(|a| a + scalars.len()),
                RowStep::Filter(_) => {}
            }
        }
        arity == Some(0)
    }

    /// The value the input's first column must equal for a row to pass, when a filter ahead of
    /// every map and projection says `#0 = <constant>`. Rows are ordered by their first column
    /// first, so a reader can seek to that value instead of scanning; the filter still runs.
    pub fn leading_column_literal(&self) -> Option<Datum> {
        for step in &self.steps {
            let RowStep::Filter(predicates) = step else { return None };
            if let Some(value) = predicates.iter().find_map(column_zero_equals) {
                return Some(value);
            }
        }
        None
    }
}

/// `v` when `predicate` is `#0 = v` or `v = #0` with `v` a non-null constant.
fn column_zero_equals(predicate: &ScalarExpr) -> Option<Datum> {
    let ScalarExpr::CallBinary { func: crate::func::BinaryFunc::Eq, expr1, expr2 } = predicate else { return None };
    let constant = match (expr1.as_ref(), expr2.as_ref()) {
        (ScalarExpr::Column(0), other) | (other, ScalarExpr::Column(0)) => other,
        _ => return None,
    };
    if !constant.is_constant() {
        return None;
    }
    constant.eval(&[]).ok().filter(|value| !value.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::{BinaryFunc, UnaryFunc};
    use freshet_repr::{ColumnType, EvalError, Jsonb, RelationType, Row, ScalarType};

    #[test]
    fn predicates_keep_only_true_and_report_errors() {
        let int = |v| ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64);
        // BETWEEN as a join residual plans it: two bigint comparisons, on the fast path.
        let between = [
            ScalarExpr::Column(0).call_binary(ScalarExpr::Column(1), BinaryFunc::Gte),
            ScalarExpr::Column(0).call_binary(int(10), BinaryFunc::Lte),
        ];
        let between = Predicates::new(&between);
        assert_eq!(between.hold(&[Datum::Int64(5), Datum::Int64(5)]), Ok(true));
        assert_eq!(between.hold(&[Datum::Int64(11), Datum::Int64(5)]), Ok(false));
        assert_eq!(between.hold(&[Datum::Int64(4), Datum::Int64(5)]), Ok(false));
        // NULL is not true.
        assert_eq!(between.hold(&[Datum::Null, Datum::Int64(5)]), Ok(false));
        // Another type goes the general way, with the general way's error.
        let bad_cast =
            ScalarExpr::Column(0).call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Int64 });
        let cast = Predicates::new(&[bad_cast.call_binary(int(1), BinaryFunc::Eq)]);
        assert!(matches!(cast.hold(&[Datum::text("x")]), Err(EvalError::InvalidTextRepresentation { .. })));
        assert_eq!(cast.hold(&[Datum::text("1")]), Ok(true));
        let first_fails =
            Predicates::new(&[int(1).call_binary(int(0), BinaryFunc::Div).call_binary(int(1), BinaryFunc::Eq)]);
        assert_eq!(first_fails.hold(&[]), Err(EvalError::DivisionByZero));
    }

    #[test]
    fn extracts_and_applies_steps_in_plan_order() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, false); 2]);
        let get = RelationExpr::Get { id: GlobalId(7), typ };
        let is_two =
            ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Int32(2), ScalarType::Int32), BinaryFunc::Eq);
        let expr = get.filter(vec![is_two]).map(vec![ScalarExpr::Column(1)]).project(vec![2, 0]);
        let (id, mfp) = MapFilterProject::extract(&expr).expect("pure row pipeline");
        assert_eq!(id, GlobalId(7));
        let row = |a, b| Row::new(vec![Datum::Int32(a), Datum::Int32(b)]);
        let pipeline = mfp.compile(2);
        assert_eq!(pipeline.apply(row(2, 9).datums()), Ok(Some(Row::new(vec![Datum::Int32(9), Datum::Int32(2)]))));
        assert_eq!(pipeline.apply(row(3, 9).datums()), Ok(None));
        assert!(MapFilterProject::extract(&expr.distinct()).is_none());
    }

    #[test]
    fn compiled_steps_renumber_columns_across_projections() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, false); 3]);
        let get = RelationExpr::Get { id: GlobalId(1), typ };
        let lit = |v| ScalarExpr::Literal(Datum::Int32(v), ScalarType::Int32);
        let plus = |a: ScalarExpr, b: ScalarExpr| a.call_binary(b, BinaryFunc::Add);
        // [a, b, c] -> [c, a] -> [c, a, c + a] -> [c + a + 1] twice, then a.
        let expr = get
            .project(vec![2, 0])
            .map(vec![plus(ScalarExpr::Column(0), ScalarExpr::Column(1))])
            .map(vec![plus(ScalarExpr::Column(2), lit(1))])
            .project(vec![3, 3, 1]);
        let (_, mfp) = MapFilterProject::extract(&expr).unwrap();
        let pipeline = mfp.compile(3);
        let input = [Datum::Int32(10), Datum::Int32(20), Datum::Int32(30)];
        let expected = Row::new(vec![Datum::Int32(41), Datum::Int32(41), Datum::Int32(10)]);
        assert_eq!(pipeline.apply(&input), Ok(Some(expected)));
        assert!(!pipeline.is_identity());
        assert!(MapFilterProject::default().compile(3).is_identity());
        assert!(pipeline.apply(&input[..2]).is_err(), "a row of the wrong width is an error");
        let past_the_end = MapFilterProject { steps: vec![RowStep::Project(vec![0, 3])] }.compile(3);
        assert!(past_the_end.apply(&input).is_err(), "a projection past the columns is an error");
    }

    #[test]
    fn a_filter_keeps_later_maps_from_failing_on_dropped_rows() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, false); 2]);
        let get = RelationExpr::Get { id: GlobalId(1), typ };
        let zero = ScalarExpr::Literal(Datum::Int32(0), ScalarType::Int32);
        let nonzero = ScalarExpr::Column(1).call_binary(zero, BinaryFunc::NotEq);
        let expr = get.filter(vec![nonzero]).map(vec![quotient()]).project(vec![2]);
        let pipeline = MapFilterProject::extract(&expr).unwrap().1.compile(2);
        assert_eq!(pipeline.apply(&[Datum::Int32(6), Datum::Int32(0)]), Ok(None));
        assert_eq!(pipeline.apply(&[Datum::Int32(6), Datum::Int32(3)]), Ok(Some(Row::new(vec![Datum::Int32(2)]))));
        let unfiltered = MapFilterProject { steps: vec![RowStep::Map(vec![quotient()])] }.compile(2);
        assert!(unfiltered.apply(&[Datum::Int32(6), Datum::Int32(0)]).is_err());
    }

    /// `[text] -> [text::jsonb]`, then `extra` maps over `[text, doc]`, then `outputs`.
    fn json_pipeline(extra: Vec<ScalarExpr>, outputs: Vec<usize>) -> RowPipeline {
        let cast = ScalarExpr::Column(0).call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Jsonb });
        MapFilterProject { steps: vec![RowStep::Map(vec![cast]), RowStep::Map(extra), RowStep::Project(outputs)] }
            .compile(1)
    }

    fn get_text(key: &str) -> ScalarExpr {
        let key = ScalarExpr::Literal(Datum::text(key), ScalarType::Text);
        ScalarExpr::Column(1).call_binary(key, BinaryFunc::JsonGetText)
    }

    #[test]
    fn a_jsonb_cast_read_only_by_constant_keys_parses_only_those_keys() {
        let amount = get_text("amount").call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Int64 });
        let partial = json_pipeline(vec![get_text("region"), amount.clone()], vec![2, 3]);
        assert_eq!(partial.json_member_ops(), (1, 1));
        let text = |s: &str| [Datum::text(s)];
        let row = |region: Datum, amount: Datum| Ok(Some(Row::new(vec![region, amount])));
        let record = r#"{"id": 1, "region": "eu", "amount": 12, "payload": {"deep": [1, 2]}}"#;
        assert_eq!(partial.apply(&text(record)), row(Datum::text("eu"), Datum::Int64(12)));
        // Not an object, JSON null members, missing members: what the whole document gives.
        assert_eq!(partial.apply(&text("[1, 2]")), row(Datum::Null, Datum::Null));
        assert_eq!(partial.apply(&text(r#"{"region": null}"#)), row(Datum::Null, Datum::Null));
        assert_eq!(partial.apply(&[Datum::Null]), row(Datum::Null, Datum::Null));
        // Invalid text fails as the cast does, also when the damage is in a member nobody reads.
        let whole = json_pipeline(vec![get_text("region"), amount], vec![1, 2, 3]);
        assert_eq!(whole.json_member_ops(), (1, 0), "the document itself is an output, built and read once");
        for bad in [r#"{"region": "eu", "x": tru}"#, r#"{"region": "eu"} 1"#] {
            let expected = whole.apply(&text(bad));
            assert!(expected.is_err());
            assert_eq!(partial.apply(&text(bad)), expected, "{bad}");
        }
    }

    #[test]
    fn member_reads_take_slots_of_their_own_and_the_later_slots_move() {
        let cast = ScalarExpr::Column(0).call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Jsonb });
        let user = ScalarExpr::Column(1)
            .call_binary(ScalarExpr::Literal(Datum::text("user"), ScalarType::Text), BinaryFunc::JsonGet);
        let five = ScalarExpr::Literal(Datum::Int64(5), ScalarType::Int64);
        let is_five = ScalarExpr::Column(4).call_binary(five.clone(), BinaryFunc::Eq);
        let ten = ScalarExpr::Column(4).call_binary(ScalarExpr::Column(4), BinaryFunc::Add);
        // Slots: 0 text, 1 doc, 2 region, 3 user, 4 five, 5 ten, 6 region again.
        let steps = |outputs: Vec<usize>| MapFilterProject {
            steps: vec![
                RowStep::Map(vec![cast.clone()]),
                RowStep::Map(vec![get_text("region"), user.clone(), five.clone()]),
                RowStep::Filter(vec![is_five.clone()]),
                RowStep::Map(vec![ten.clone(), get_text("region")]),
                RowStep::Project(outputs),
            ],
        };
        let partial = steps(vec![5, 2, 3, 6, 0, 4]).compile(1);
        assert_eq!(partial.json_member_ops(), (1, 1));
        let whole = steps(vec![5, 2, 3, 6, 0, 4, 1]).compile(1);
        assert_eq!(whole.json_member_ops(), (1, 0));
        let inputs = [
            Datum::text(r#"{"region": "eu", "user": {"id": 3}, "x": [1]}"#),
            Datum::text(r#"{"user": "u", "region": 1.5, "region": "last"}"#),
            Datum::text(r#"{"other": 1}"#),
            Datum::text("[1, 2]"),
            Datum::text(r#""region""#),
            Datum::Null,
            Datum::text(r#"{"region": "eu", "bad": tru}"#),
        ];
        for input in inputs {
            let expected = whole
                .apply(std::slice::from_ref(&input))
                .map(|row| row.map(|row| Row::new(row.datums()[..6].to_vec())));
            assert_eq!(partial.apply(std::slice::from_ref(&input)), expected, "{input:?}");
        }
        let first = partial.apply(&[Datum::text(r#"{"region": "eu", "user": {"id": 3}}"#)]).unwrap().unwrap();
        assert_eq!(first.datums()[..2], [Datum::Int64(10), Datum::text("eu")]);
    }

    #[test]
    fn a_jsonb_column_read_for_several_keys_is_gone_through_once() {
        let key = |k: &str| ScalarExpr::Literal(Datum::text(k), ScalarType::Text);
        let doc = || ScalarExpr::Column(0);
        let zero = ScalarExpr::Literal(Datum::Int64(0), ScalarType::Int64);
        let n = doc()
            .call_binary(key("n"), BinaryFunc::JsonGetText)
            .call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Int64 })
            .call_binary(ScalarExpr::Column(1), BinaryFunc::Add);
        // [doc, id] -> doc->>'a', doc->'b'; id > 0; (doc->>'n')::bigint + id; out: that, a, b, doc.
        let pipeline = MapFilterProject {
            steps: vec![
                RowStep::Map(vec![
                    doc().call_binary(key("a"), BinaryFunc::JsonGetText),
                    doc().call_binary(key("b"), BinaryFunc::JsonGet),
                ]),
                RowStep::Filter(vec![ScalarExpr::Column(1).call_binary(zero, BinaryFunc::Gt)]),
                RowStep::Map(vec![n, doc().call_binary(key("a"), BinaryFunc::JsonGetText)]),
                RowStep::Project(vec![4, 2, 3, 5, 0]),
            ],
        }
        .compile(2);
        assert_eq!(pipeline.json_member_ops(), (1, 0));
        let tree = Jsonb::parse(r#"{"a": "x", "b": [1], "n": 5}"#).unwrap();
        for doc in [tree.clone(), tree.clone().compact()] {
            let got = pipeline.apply(&[Datum::Jsonb(doc.clone()), Datum::Int64(2)]).unwrap().unwrap();
            let b = Datum::Jsonb(Jsonb::parse("[1]").unwrap());
            assert_eq!(
                got.datums(),
                [Datum::Int64(7), Datum::text("x"), b, Datum::text("x"), Datum::Jsonb(doc.clone())]
            );
            assert_eq!(pipeline.apply(&[Datum::Jsonb(doc), Datum::Int64(0)]), Ok(None));
        }
        let null = pipeline.apply(&[Datum::Null, Datum::Int64(1)]).unwrap().unwrap();
        assert!(null.datums().iter().all(Datum::is_null));
        let array = Datum::Jsonb(Jsonb::parse("[1]").unwrap().compact());
        let got = pipeline.apply(&[array.clone(), Datum::Int64(1)]).unwrap().unwrap();
        assert_eq!(got.datums(), [Datum::Null, Datum::Null, Datum::Null, Datum::Null, array]);
    }

    #[test]
    fn a_jsonb_cast_read_otherwise_is_parsed_whole() {
        let typeof_doc = ScalarExpr::Column(1).call_unary(UnaryFunc::JsonbTypeof);
        assert_eq!(json_pipeline(vec![get_text("a"), typeof_doc], vec![2, 3]).json_member_ops(), (0, 0));
        let key_column = ScalarExpr::Column(1).call_binary(ScalarExpr::Column(0), BinaryFunc::JsonGetText);
        assert_eq!(json_pipeline(vec![key_column], vec![2]).json_member_ops(), (0, 0));
    }

    fn quotient() -> ScalarExpr {
        ScalarExpr::Column(0).call_binary(ScalarExpr::Column(1), BinaryFunc::Div)
    }

    #[test]
    fn finds_the_leading_column_constant_only_ahead_of_maps_and_projections() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, false); 2]);
        let get = RelationExpr::Get { id: GlobalId(7), typ };
        let lit = |v| ScalarExpr::Literal(Datum::Int32(v), ScalarType::Int32);
        let first_is = |v| lit(v).call_binary(ScalarExpr::Column(0), BinaryFunc::Eq);
        let second_is = |v| ScalarExpr::Column(1).call_binary(lit(v), BinaryFunc::Eq);
        let leading = |expr: &RelationExpr| MapFilterProject::extract(expr).unwrap().1.leading_column_literal();
        assert_eq!(leading(&get.clone().filter(vec![second_is(1), first_is(5)])), Some(Datum::Int32(5)));
        assert_eq!(leading(&get.clone().filter(vec![second_is(1)])), None);
        assert_eq!(leading(&get.clone().project(vec![1, 0]).filter(vec![first_is(5)])), None);
        let null =
            ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Null, ScalarType::Int32), BinaryFunc::Eq);
        assert_eq!(leading(&get.filter(vec![null])), None);
    }
}
