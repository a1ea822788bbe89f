//! Compiled row pipelines: a `MapFilterProject` turned into steps over numbered slots, ready to
//! run on many rows.
//!
//! Compiling removes the copies between steps (a projection only renumbers slots) and, where a text
//! column is cast to jsonb only to read some of its keys with `->`/`->>`, reads those members
//! straight from the text into slots of their own (`freshet_repr::jsonb::visit_members`): no
//! document is built. This module must not know about dataflows: it turns one row into one row,
//! or none.

use std::borrow::Cow;

use freshet_repr::{Datum, EvalError, Row, ScalarType};
use serde_json::Value;
use smallvec::SmallVec;

use super::{MapFilterProject, RowStep};

mod fast;
mod hoist;

use crate::func::jsonb::member_datum;
use crate::func::{BinaryFunc, UnaryFunc};
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
    /// `cast` (of a text slot to jsonb) when later steps only read members of the result with
    /// `->`/`->>` and constant keys, and nothing outputs it: each of those `reads` (the operator
    /// and an index into `keys`) into a slot of its own, in order, instead of the document.
    JsonMembers { cast: ScalarExpr, keys: Vec<String>, reads: Vec<(BinaryFunc, usize)> },
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
        read_only_json_members(&mut ops, input_arity, &mut columns);
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

    /// How many casts to jsonb parse only the members later steps read.
    #[cfg(test)]
    pub(super) fn partial_json_casts(&self) -> usize {
        self.ops.iter().filter(|op| matches!(op, SlotOp::JsonMembers { .. })).count()
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
                SlotOp::JsonMembers { cast, keys, reads } => {
                    let values = json_members(cast, keys, reads, &slots)?;
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
                SlotOp::Map(expr) | SlotOp::Filter(expr) | SlotOp::JsonMembers { cast: expr, .. } => note(expr),
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

/// The values of `reads` of the document `cast` makes, read from its text in one pass that builds
/// only the members read; whatever that pass does not take (not text, not one valid object) goes
/// through the cast itself, for its value or its error.
fn json_members(
    cast: &ScalarExpr,
    keys: &[String],
    reads: &[(BinaryFunc, usize)],
    slots: &Slots<'_>,
) -> Result<SmallVec<[Datum; 4]>, EvalError> {
    if let Some(Datum::Text(text)) = cast_input(cast).and_then(|slot| slots.column(slot)) {
        let mut members: SmallVec<[Option<Value>; 4]> = SmallVec::from_elem(None, keys.len());
        let found = freshet_repr::jsonb::visit_members(text, keys, |index, value| {
            if let Some(member) = members.get_mut(index) {
                *member = Some(value);
            }
        });
        if found.is_some() {
            let member = |key: usize| members.get(key).and_then(Option::as_ref).map(Cow::Borrowed);
            return Ok(reads.iter().map(|(func, key)| member_datum(func, member(*key))).collect());
        }
    }
    let doc = cast.eval_in(slots)?;
    reads
        .iter()
        .map(|(func, key)| match &doc {
            Datum::Null => Ok(Datum::Null),
            doc => func.eval_json_get(doc.clone(), &Datum::text(keys[*key].as_str())),
        })
        .collect()
}

/// The slot a cast of a slot reads.
fn cast_input(cast: &ScalarExpr) -> Option<usize> {
    match cast {
        ScalarExpr::CallUnary { expr, .. } => match expr.as_ref() {
            ScalarExpr::Column(slot) => Some(*slot),
            _ => None,
        },
        _ => None,
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

/// Turns each map that casts a text slot to jsonb into `SlotOp::JsonMembers` when every later use
/// of its slot reads a constant key of it and `outputs` does not hold it. Its member reads take
/// slots of their own in its place, so the slots after it move (in the later steps and `outputs`).
fn read_only_json_members(ops: &mut [SlotOp], input_arity: usize, outputs: &mut [usize]) {
    let mut slot = input_arity;
    for index in 0..ops.len() {
        let this = slot;
        let SlotOp::Map(expr) = &ops[index] else { continue };
        slot += 1;
        if !is_text_slot_to_jsonb(expr) || outputs.contains(&this) {
            continue;
        }
        let mut reads = Vec::new();
        let later_uses_are_keyed = ops[index + 1..].iter().all(|op| only_keyed_reads(op.expr(), this, &mut reads));
        if !later_uses_are_keyed {
            continue;
        }
        let cast = expr.clone();
        for op in &mut ops[index + 1..] {
            move_member_reads(op.expr_mut(), this, &reads);
        }
        for output in outputs.iter_mut() {
            *output = moved(*output, this, reads.len());
        }
        slot = this + reads.len();
        let mut keys: Vec<String> = Vec::new();
        let reads = reads
            .into_iter()
            .map(|(func, key)| {
                let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                    keys.push(key);
                    keys.len() - 1
                });
                (func, index)
            })
            .collect();
        ops[index] = SlotOp::JsonMembers { cast, keys, reads };
    }
}

impl SlotOp {
    /// The expression of a map or filter, or the cast of a document's members.
    fn expr(&self) -> &ScalarExpr {
        match self {
            SlotOp::Map(expr) | SlotOp::Filter(expr) | SlotOp::JsonMembers { cast: expr, .. } => expr,
        }
    }

    fn expr_mut(&mut self) -> &mut ScalarExpr {
        match self {
            SlotOp::Map(expr) | SlotOp::Filter(expr) | SlotOp::JsonMembers { cast: expr, .. } => expr,
        }
    }
}

fn is_text_slot_to_jsonb(expr: &ScalarExpr) -> bool {
    match expr {
        ScalarExpr::CallUnary { func: UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Jsonb }, expr } => {
            matches!(expr.as_ref(), ScalarExpr::Column(_))
        }
        _ => false,
    }
}

/// `slot -> 'key'` or `slot ->> 'key'`: the operator and the key; `Err(())` when `expr` is such
/// a read of `slot` with a key that is not constant text.
fn member_read(expr: &ScalarExpr, slot: usize) -> Result<Option<(&BinaryFunc, &String)>, ()> {
    match expr {
        ScalarExpr::CallBinary { func: func @ (BinaryFunc::JsonGet | BinaryFunc::JsonGetText), expr1, expr2 }
            if **expr1 == ScalarExpr::Column(slot) =>
        {
            match expr2.as_ref() {
                ScalarExpr::Literal(Datum::Text(key), _) => Ok(Some((func, key))),
                _ => Err(()),
            }
        }
        _ => Ok(None),
    }
}

/// Whether `expr` reads `slot` only as `slot -> 'key'` or `slot ->> 'key'` with constant text keys,
/// collecting those reads, each once.
fn only_keyed_reads(expr: &ScalarExpr, slot: usize, reads: &mut Vec<(BinaryFunc, String)>) -> bool {
    match member_read(expr, slot) {
        Err(()) => return false,
        Ok(Some((func, key))) => {
            if !reads.iter().any(|(f, k)| f == func && k == key) {
                reads.push((func.clone(), key.clone()));
            }
            return true;
        }
        Ok(None) => {}
    }
    match expr {
        ScalarExpr::Column(column) => *column != slot,
        ScalarExpr::Literal(..) | ScalarExpr::Param { .. } => true,
        ScalarExpr::CallUnary { expr, .. } => only_keyed_reads(expr, slot, reads),
        ScalarExpr::CallBinary { expr1, expr2, .. } => {
            only_keyed_reads(expr1, slot, reads) && only_keyed_reads(expr2, slot, reads)
        }
        ScalarExpr::CallVariadic { exprs, .. } => exprs.iter().all(|e| only_keyed_reads(e, slot, reads)),
        ScalarExpr::If { cond, then, els } => {
            only_keyed_reads(cond, slot, reads)
                && only_keyed_reads(then, slot, reads)
                && only_keyed_reads(els, slot, reads)
        }
    }
}

/// Replaces each of `reads` of the document in `this` by the slot its value takes (`this` and on,
/// in order), and moves the slots after `this` past them.
fn move_member_reads(expr: &mut ScalarExpr, this: usize, reads: &[(BinaryFunc, String)]) {
    if let Ok(Some((func, key))) = member_read(expr, this) {
        let position = reads.iter().position(|(f, k)| f == func && k == key);
        // Every read was collected before; one that was not stays out of range and fails.
        *expr = ScalarExpr::Column(position.map_or(usize::MAX, |p| this + p));
        return;
    }
    match expr {
        ScalarExpr::Column(slot) => *slot = moved(*slot, this, reads.len()),
        _ => expr.for_each_child_mut(|child| move_member_reads(child, this, reads)),
    }
}

/// Where a slot goes when the one slot `this` becomes `width` slots. Hoisted values and references
/// out of range (far above) stay.
fn moved(slot: usize, this: usize, width: usize) -> usize {
    if slot > this && slot < hoist::OUTER_BASE {
        slot - 1 + width
    } else {
        slot
    }
}
