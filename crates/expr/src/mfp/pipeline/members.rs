//! Reading the members of JSON documents that a pipeline's steps take with `->`/`->>` and constant
//! keys, all of one document's in one pass, each into a slot of its own (`SlotOp::JsonMembers`).
//!
//! Two shapes. A text column cast to jsonb that nothing but such reads uses is never built: its
//! members come straight from the text (building the document, every key and value allocated and
//! freed, cost more than the rest of such a query together). A jsonb slot, such as a JSON source's
//! `data`, read for several keys is gone through once instead of once per key (a source keeps each
//! document as its text). Results and errors are those of the steps as written: whatever a pass
//! does not take (not text, not one valid object, NULL) goes through the expressions themselves.
//! This module owns only these rewrites and their evaluation; the slot layout is the pipeline's.

use std::borrow::Cow;
use std::collections::BTreeMap;

use freshet_repr::{Datum, EvalError, ScalarType};
use serde_json::Value;
use smallvec::SmallVec;

use super::hoist::OUTER_BASE;
use super::SlotOp;
use crate::func::jsonb::member_datum;
use crate::func::{BinaryFunc, UnaryFunc};
use crate::{Columns, ScalarExpr};

/// One member read of a `SlotOp::JsonMembers`: `->` (`JsonGet`) or `->>` (`JsonGetText`) of
/// `keys[key]`. The last read of each key `takes` the member instead of borrowing it, so a string
/// member becomes its text without a copy.
#[derive(Clone, Debug)]
pub(super) struct MemberRead {
    func: BinaryFunc,
    key: usize,
    takes: bool,
}

/// The values of `reads` of `doc` (a jsonb slot, or the cast of a text slot) from one pass over
/// it; anything the pass does not take goes through `doc` and each read as written.
pub(super) fn json_members<C: Columns + ?Sized>(
    doc: &ScalarExpr,
    keys: &[String],
    reads: &[MemberRead],
    slots: &C,
) -> Result<SmallVec<[Datum; 4]>, EvalError> {
    let mut members: SmallVec<[Option<Cow<'_, Value>>; 4]> = SmallVec::from_elem(None, keys.len());
    let mut found = |index: usize, value| {
        if let Some(member) = members.get_mut(index) {
            *member = Some(value);
        }
    };
    let passed = match doc {
        ScalarExpr::Column(slot) => match slots.column(*slot) {
            Some(Datum::Jsonb(doc)) => {
                doc.visit_members(keys, found);
                true
            }
            _ => false,
        },
        cast => match cast_input(cast).and_then(|slot| slots.column(slot)) {
            Some(Datum::Text(text)) => {
                freshet_repr::jsonb::visit_members(text, keys, |index, value| found(index, Cow::Owned(value))).is_some()
            }
            _ => false,
        },
    };
    if passed {
        let values = reads.iter().map(|read| {
            let member = match members.get_mut(read.key) {
                Some(member) if read.takes => member.take(),
                Some(member) => member.as_deref().map(Cow::Borrowed),
                None => None,
            };
            member_datum(&read.func, member)
        });
        return Ok(values.collect());
    }
    let doc = doc.eval_in(slots)?;
    reads
        .iter()
        .map(|read| match &doc {
            Datum::Null => Ok(Datum::Null),
            doc => read.func.eval_json_get(doc.clone(), &Datum::text(keys[read.key].as_str())),
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

/// Turns each map that casts a text slot to jsonb into `SlotOp::JsonMembers` when every later use
/// of its slot reads a constant key of it and `outputs` does not hold it. Its member reads take
/// slots of their own in its place, so the slots after it move (in the later steps and `outputs`).
pub(super) fn read_only_json_members(ops: &mut [SlotOp], input_arity: usize, outputs: &mut [usize]) {
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
        let doc = expr.clone();
        // The document's slot becomes the first of its reads' slots: the ones after it move by
        // one less than there are reads.
        let moved = |slot: usize| if slot > this && slot < OUTER_BASE { slot - 1 + reads.len() } else { slot };
        for op in &mut ops[index + 1..] {
            replace_member_reads(op.expr_mut(), this, this, &reads, &moved);
        }
        for output in outputs.iter_mut() {
            *output = moved(*output);
        }
        slot = this + reads.len();
        let (keys, reads) = keyed(reads);
        ops[index] = SlotOp::JsonMembers { doc, keys, reads };
    }
}

/// Gives each slot that two or more steps read with `->`/`->>` and constant keys (a jsonb
/// column, or a computed document) a `SlotOp::JsonMembers` right after the slot is filled, and
/// turns those reads into reads of its slots. The document's own slot stays for its other uses.
pub(super) fn shared_json_members(ops: &mut Vec<SlotOp>, input_arity: usize, outputs: &mut [usize]) {
    let mut reads_by_doc: BTreeMap<usize, Vec<(BinaryFunc, String)>> = BTreeMap::new();
    for op in ops.iter() {
        op.expr().visit(&mut |expr| {
            if let Ok(Some((ScalarExpr::Column(doc), func, key))) = member_read(expr) {
                note_read(reads_by_doc.entry(*doc).or_default(), func, key);
            }
        });
    }
    // From the last document back: a new op moves only the slots after it, so the documents
    // before it keep their numbers.
    for (doc, reads) in reads_by_doc.into_iter().rev().filter(|(_, reads)| reads.len() >= 2) {
        let Some((at, first)) = insertion_point(ops, input_arity, doc) else { continue };
        let moved = |slot: usize| if slot >= first && slot < OUTER_BASE { slot + reads.len() } else { slot };
        for op in &mut ops[at..] {
            replace_member_reads(op.expr_mut(), doc, first, &reads, &moved);
        }
        for output in outputs.iter_mut() {
            *output = moved(*output);
        }
        let (keys, reads) = keyed(reads);
        ops.insert(at, SlotOp::JsonMembers { doc: ScalarExpr::Column(doc), keys, reads });
    }
}

/// Where the members of `doc` can be read: the index of the first op after the one that fills
/// it (0 for an input column), and the slot the first read then takes.
fn insertion_point(ops: &[SlotOp], input_arity: usize, doc: usize) -> Option<(usize, usize)> {
    if doc < input_arity {
        return Some((0, input_arity));
    }
    let mut slot = input_arity;
    for (index, op) in ops.iter().enumerate() {
        let next = slot + op.width();
        if (slot..next).contains(&doc) {
            return Some((index + 1, next));
        }
        slot = next;
    }
    None
}

/// Adds a read to `reads` unless it is there already.
fn note_read(reads: &mut Vec<(BinaryFunc, String)>, func: &BinaryFunc, key: &String) {
    if !reads.iter().any(|(f, k)| f == func && k == key) {
        reads.push((func.clone(), key.clone()));
    }
}

/// `reads` with their keys listed once: the keys, and each read as a `MemberRead`.
fn keyed(reads: Vec<(BinaryFunc, String)>) -> (Vec<String>, Vec<MemberRead>) {
    let mut keys: Vec<String> = Vec::new();
    let mut reads: Vec<MemberRead> = reads
        .into_iter()
        .map(|(func, key)| {
            let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            MemberRead { func, key: index, takes: false }
        })
        .collect();
    for index in 0..reads.len() {
        let key = reads[index].key;
        reads[index].takes = !reads[index + 1..].iter().any(|later| later.key == key);
    }
    (keys, reads)
}

fn is_text_slot_to_jsonb(expr: &ScalarExpr) -> bool {
    match expr {
        ScalarExpr::CallUnary { func: UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Jsonb }, expr } => {
            matches!(expr.as_ref(), ScalarExpr::Column(_))
        }
        _ => false,
    }
}

/// `doc -> 'key'` or `doc ->> 'key'`: the document, the operator and the key; `Err(())` when
/// `expr` is such a read with a key that is not constant text.
#[allow(clippy::type_complexity)]
fn member_read(expr: &ScalarExpr) -> Result<Option<(&ScalarExpr, &BinaryFunc, &String)>, ()> {
    match expr {
        ScalarExpr::CallBinary { func: func @ (BinaryFunc::JsonGet | BinaryFunc::JsonGetText), expr1, expr2 } => {
            match expr2.as_ref() {
                ScalarExpr::Literal(Datum::Text(key), _) => Ok(Some((expr1, func, key))),
                _ => Err(()),
            }
        }
        _ => Ok(None),
    }
}

/// A read of slot `slot`'s member: its operator and key.
fn member_read_of(expr: &ScalarExpr, slot: usize) -> Result<Option<(&BinaryFunc, &String)>, ()> {
    match member_read(expr) {
        Ok(Some((ScalarExpr::Column(doc), func, key))) if *doc == slot => Ok(Some((func, key))),
        Err(()) if matches!(expr, ScalarExpr::CallBinary { expr1, .. } if **expr1 == ScalarExpr::Column(slot)) => {
            Err(())
        }
        _ => Ok(None),
    }
}

/// Whether `expr` reads `slot` only as `slot -> 'key'` or `slot ->> 'key'` with constant text keys,
/// collecting those reads, each once.
fn only_keyed_reads(expr: &ScalarExpr, slot: usize, reads: &mut Vec<(BinaryFunc, String)>) -> bool {
    match member_read_of(expr, slot) {
        Err(()) => return false,
        Ok(Some((func, key))) => {
            note_read(reads, func, key);
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

/// Replaces each of `reads` of slot `doc` by the slot its value takes (`first` and on, in order),
/// and every other slot by `moved(slot)`.
fn replace_member_reads(
    expr: &mut ScalarExpr,
    doc: usize,
    first: usize,
    reads: &[(BinaryFunc, String)],
    moved: &impl Fn(usize) -> usize,
) {
    if let Ok(Some((func, key))) = member_read_of(expr, doc) {
        let position = reads.iter().position(|(f, k)| f == func && k == key);
        // Every read was collected before; one that was not stays out of range and fails.
        *expr = ScalarExpr::Column(position.map_or(usize::MAX, |p| first + p));
        return;
    }
    match expr {
        ScalarExpr::Column(slot) => *slot = moved(*slot),
        _ => expr.for_each_child_mut(|child| replace_member_reads(child, doc, first, reads, moved)),
    }
}
