//! Compiled row pipelines: a `MapFilterProject` turned into steps over numbered slots, ready to
//! run on many rows.
//!
//! Compiling removes the copies between steps (a projection only renumbers slots) and reads the
//! members of a JSON document that the steps take with `->`/`->>` and constant keys in one pass
//! over it, each into a slot of its own (`members`). This module must not know about dataflows: it
//! turns one row into one row, or none.

use freshet_repr::{Datum, EvalError, Row};
use smallvec::SmallVec;

use super::{MapFilterProject, RowStep};

mod fast;
mod hoist;
mod members;

use crate::{Columns, ScalarExpr};
use fast::{Fast, Stop};
use hoist::Hoisted;
pub use hoist::HoistedPipeline;

/// One step of a compiled pipeline; column references are slots (see `RowPipeline`).
#[derive(Clone, Debug)]
enum SlotOp {
    /// Evaluates the expression into the next slot.
    Map(ScalarExpr),
    /// Drops the row unless the expression is true.
    Filter(ScalarExpr),
    /// Members of a document read with `->`/`->>` and constant keys: each of `reads` (the operator
    /// and an index into `keys`) into a slot of its own, in order, from one pass over the document.
    /// `doc` is a jsonb slot (`Column`), or the cast of a text slot whose document nothing else
    /// reads, which is then never built (see `members`).
    JsonMembers { doc: ScalarExpr, keys: Vec<String>, reads: Vec<members::MemberRead> },
}

/// A `MapFilterProject` ready to run on many rows. Each row has one slot per input column (read in
/// place, never copied), then one per mapped scalar; a projection only renumbers which slots later
/// steps and the output see, so nothing is copied between steps. Each output datum is copied from
/// the input, or moved out of its computed slot at its last use.
#[derive(Clone, Debug)]
pub struct RowPipeline {
    input_arity: usize,
    ops: Vec<SlotOp>,
    /// Per op: its bigint fast path, if it has one (see `fast`).
    fast: Vec<Option<Fast>>,
    /// Per output column: its slot, and whether a later output column reads the same slot.
    outputs: Vec<(usize, bool)>,
}

impl RowPipeline {
    pub(super) fn new(mfp: &MapFilterProject, input_arity: usize) -> RowPipeline {
        // `columns[i]` is the slot holding logical column `i` of the current step's input.
        let mut columns: Vec<usize> = (0..input_arity).collect();
        let mut slots = input_arity;
        let mut ops = Vec::new();
        let to_slots = |expr: &ScalarExpr, columns: &[usize]| {
            let mut expr = expr.clone();
            // A reference past the columns is a plan bug; it stays out of range and fails to evaluate.
            expr.permute(&|i| columns.get(i).copied().unwrap_or(usize::MAX));
            expr
        };
        for step in &mfp.steps {
            match step {
                RowStep::Map(scalars) => {
                    for scalar in scalars {
                        ops.push(SlotOp::Map(to_slots(scalar, &columns)));
                        columns.push(slots);
                        slots += 1;
                    }
                }
                RowStep::Filter(predicates) => {
                    ops.extend(predicates.iter().map(|p| SlotOp::Filter(to_slots(p, &columns))));
                }
                RowStep::Project(outputs) => {
                    columns = outputs.iter().map(|&i| columns.get(i).copied().unwrap_or(usize::MAX)).collect();
                }
            }
        }
        members::read_only_json_members(&mut ops, input_arity, &mut columns);
        members::shared_json_members(&mut ops, input_arity, &mut columns);
        let outputs = columns.iter().enumerate().map(|(i, slot)| (*slot, columns[i + 1..].contains(slot))).collect();
        let mut pipeline = RowPipeline { input_arity, ops, fast: Vec::new(), outputs };
        pipeline.specialize();
        pipeline
    }

    /// Finds each op's fast path; after any change to the ops.
    fn specialize(&mut self) {
        self.fast = self
            .ops
            .iter()
            .map(|op| match op {
                SlotOp::Map(expr) | SlotOp::Filter(expr) => Fast::compile(expr),
                SlotOp::JsonMembers { .. } => None,
            })
            .collect();
    }

    /// How many ops read documents' members in one pass, and how many of those documents are
    /// casts of text that are never built.
    #[cfg(test)]
    pub(super) fn json_member_ops(&self) -> (usize, usize) {
        let members = self.ops.iter().filter_map(|op| match op {
            SlotOp::JsonMembers { doc, .. } => Some(!matches!(doc, ScalarExpr::Column(_))),
            _ => None,
        });
        members.fold((0, 0), |(all, unbuilt), cast| (all + 1, unbuilt + usize::from(cast)))
    }

    /// Whether every row passes unchanged.
    pub fn is_identity(&self) -> bool {
        self.ops.is_empty()
            && self.outputs.len() == self.input_arity
            && self.outputs.iter().enumerate().all(|(i, (slot, _))| i == *slot)
    }

    /// The row after every step, `None` if a filter dropped it.
    pub fn apply(&self, input: &[Datum]) -> Result<Option<Row>, EvalError> {
        let mut out = Row::with_capacity(self.outputs.len());
        Ok(self.apply_into(input, &mut out)?.then_some(out))
    }

    /// `apply` into `out` (cleared first), so that a caller keeping only some results reuses one
    /// row: whether a filter kept the row. On an error or a dropped row, `out` holds no result.
    pub fn apply_into(&self, input: &[Datum], out: &mut Row) -> Result<bool, EvalError> {
        self.apply_with(input, Hoisted::NONE, out)
    }

    /// `apply_into`, with the values of hoisted subexpressions that the steps read (see `hoist`).
    fn apply_with(&self, input: &[Datum], hoisted: Hoisted<'_>, out: &mut Row) -> Result<bool, EvalError> {
        out.clear();
        if input.len() != self.input_arity {
            return Err(EvalError::Internal(format!(
                "row of {} columns where the plan expects {}",
                input.len(),
                self.input_arity
            )));
        }
        // On the stack for the usual few maps: this runs once per row, often per produced row.
        let mut computed: SmallVec<[Datum; 4]> = SmallVec::with_capacity(self.ops.len());
        for (op, fast) in self.ops.iter().zip(&self.fast) {
            let slots = Slots { input, computed: &computed, hoisted };
            match op {
                SlotOp::Map(expr) => {
                    let value = eval_step(expr, fast.as_ref(), &slots)?;
                    computed.push(value);
                }
                SlotOp::Filter(expr) => {
                    if !eval_step(expr, fast.as_ref(), &slots)?.is_true() {
                        return Ok(false);
                    }
                }
                SlotOp::JsonMembers { doc, keys, reads } => {
                    let values = members::json_members(doc, keys, reads, &slots)?;
                    computed.extend(values);
                }
            }
        }
        let missing = |slot| EvalError::Internal(format!("projection of missing column {slot}"));
        for &(slot, read_again) in &self.outputs {
            let datum = match slot.checked_sub(self.input_arity) {
                None => input[slot].clone(),
                Some(index) => {
                    let Some(datum) = computed.get_mut(index) else {
                        out.clear();
                        return Err(missing(slot));
                    };
                    if read_again {
                        datum.clone()
                    } else {
                        std::mem::replace(datum, Datum::Null)
                    }
                }
            };
            out.push(datum);
        }
        Ok(true)
    }

    /// The input columns that the steps or the output read, ascending: rows that agree on them
    /// have the same result.
    pub fn input_columns(&self) -> Vec<usize> {
        self.reads_below(self.input_arity)
    }

    /// The slots below `width` that the steps or the output read directly, ascending.
    fn reads_below(&self, width: usize) -> Vec<usize> {
        let mut read = vec![false; width];
        let mut note = |expr: &ScalarExpr| {
            expr.visit(&mut |e| {
                if let ScalarExpr::Column(slot) = e {
                    if let Some(read) = read.get_mut(*slot) {
                        *read = true;
                    }
                }
            })
        };
        for op in &self.ops {
            match op {
                SlotOp::Map(expr) | SlotOp::Filter(expr) | SlotOp::JsonMembers { doc: expr, .. } => note(expr),
            }
        }
        for (slot, _) in &self.outputs {
            note(&ScalarExpr::Column(*slot));
        }
        (0..width).filter(|slot| read[*slot]).collect()
    }
}

/// Expressions ready to evaluate on many rows (a join's keys), each with its bigint fast path.
#[derive(Clone, Debug)]
pub struct Scalars {
    exprs: Vec<(ScalarExpr, Option<Fast>)>,
    /// The columns read, when every expression reads a column as it is (most join keys).
    columns: Option<Vec<usize>>,
}

impl Scalars {
    pub fn new(exprs: &[ScalarExpr]) -> Scalars {
        let columns = exprs
            .iter()
            .map(|e| match e {
                ScalarExpr::Column(column) => Some(*column),
                _ => None,
            })
            .collect();
        Scalars { exprs: exprs.iter().map(|e| (e.clone(), Fast::compile(e))).collect(), columns }
    }

    /// The columns the expressions read, when each is a column as it is: the caller can read the
    /// datums in place instead of evaluating copies of them.
    pub fn columns(&self) -> Option<&[usize]> {
        self.columns.as_deref()
    }

    pub fn len(&self) -> usize {
        self.exprs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exprs.is_empty()
    }

    /// The expressions, in order.
    pub fn exprs(&self) -> impl Iterator<Item = &ScalarExpr> {
        self.exprs.iter().map(|(expr, _)| expr)
    }

    /// Each expression's value over `datums`, in order.
    pub fn eval<'a>(&'a self, datums: &'a [Datum]) -> impl Iterator<Item = Result<Datum, EvalError>> + 'a {
        self.exprs.iter().map(move |(expr, fast)| eval_step(expr, fast.as_ref(), datums))
    }
}

/// Predicates ready to test many rows (a join's residual), each with its bigint fast path.
#[derive(Clone, Debug)]
pub struct Predicates {
    predicates: Scalars,
}

impl Predicates {
    pub fn new(predicates: &[ScalarExpr]) -> Predicates {
        Predicates { predicates: Scalars::new(predicates) }
    }

    pub fn is_empty(&self) -> bool {
        self.predicates.is_empty()
    }

    /// Whether every predicate is true of `datums` (NULL is not); the first predicate that fails
    /// to evaluate is the error.
    pub fn hold(&self, datums: &[Datum]) -> Result<bool, EvalError> {
        for value in self.predicates.eval(datums) {
            if !value?.is_true() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A map's or filter's expression over `slots`, the fast way when it has one and can take it.
#[inline]
fn eval_step<C: Columns + ?Sized>(expr: &ScalarExpr, fast: Option<&Fast>, slots: &C) -> Result<Datum, EvalError> {
    match fast.map(|fast| fast.eval(slots)) {
        Some(Ok(datum)) => Ok(datum),
        Some(Err(Stop::Error(error))) => Err(error),
        Some(Err(Stop::NotBigint)) | None => expr.eval_in(slots),
    }
}

/// A row's slots: the input row, read in place, then the values computed so far; far above them,
/// the values of hoisted subexpressions.
struct Slots<'a> {
    input: &'a [Datum],
    computed: &'a [Datum],
    hoisted: Hoisted<'a>,
}

impl Columns for Slots<'_> {
    fn column(&self, index: usize) -> Option<&Datum> {
        if index >= hoist::OUTER_BASE {
            return self.hoisted.get(index);
        }
        match index.checked_sub(self.input.len()) {
            None => self.input.get(index),
            Some(computed) => self.computed.get(computed),
        }
    }

    fn width(&self) -> usize {
        self.input.len() + self.computed.len()
    }
}

impl SlotOp {
    /// The expression of a map or filter, or the document of a members op.
    fn expr(&self) -> &ScalarExpr {
        match self {
            SlotOp::Map(expr) | SlotOp::Filter(expr) | SlotOp::JsonMembers { doc: expr, .. } => expr,
        }
    }

    fn expr_mut(&mut self) -> &mut ScalarExpr {
        match self {
            SlotOp::Map(expr) | SlotOp::Filter(expr) | SlotOp::JsonMembers { doc: expr, .. } => expr,
        }
    }

    /// How many slots the op fills.
    fn width(&self) -> usize {
        match self {
            SlotOp::Map(_) => 1,
            SlotOp::Filter(_) => 0,
            SlotOp::JsonMembers { reads, .. } => reads.len(),
        }
    }
}
