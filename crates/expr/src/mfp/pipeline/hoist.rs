//! Hoisting for pipelines over rows assembled from two parts. A flat map runs its pipeline on its
//! input row followed by each row its table function produced: a subexpression that reads only the
//! input row's columns (`date_time / 2000 * 2000` in Nexmark q5) has one value for all the rows
//! produced from it, and one that reads only the produced columns (`k * 2000`) has one value per
//! produced row when the function produces the same rows for every input (constant arguments).
//! `HoistedPipeline` lets the caller evaluate each once per part instead of once per row.
//!
//! Results are unchanged. A hoisted value is read where the subexpression it replaces stood, so
//! evaluation order and short-circuiting (`CASE`, `AND`, `COALESCE`) are as before; and where a
//! hoisted subexpression fails for some part, that part's rows go through the plain pipeline, which
//! reports an error exactly where, and whether, it did before. This module must not decide when
//! parts repeat; the caller knows that.

use freshet_repr::{Datum, EvalError, Row};

use super::{RowPipeline, Scalars, SlotOp};
use crate::ScalarExpr;

/// First slot of the outer part's hoisted values; far above any row's own slots.
pub(super) const OUTER_BASE: usize = usize::MAX / 4;
/// First slot of the inner part's hoisted values. `usize::MAX`, which compiling a pipeline uses for
/// a reference past the columns, stays out of range here too.
const INNER_BASE: usize = usize::MAX / 2;

/// The hoisted values a pipeline's steps read.
#[derive(Clone, Copy)]
pub(super) struct Hoisted<'a> {
    outer: &'a [Datum],
    inner: &'a [Datum],
}

impl<'a> Hoisted<'a> {
    pub(super) const NONE: Hoisted<'static> = Hoisted { outer: &[], inner: &[] };

    pub(super) fn get(&self, slot: usize) -> Option<&'a Datum> {
        match slot.checked_sub(INNER_BASE) {
            Some(index) => self.inner.get(index),
            None => self.outer.get(slot - OUTER_BASE),
        }
    }
}

/// A pipeline over rows of an outer part (the first `outer_width` columns) and an inner part (the
/// rest), with the subexpressions that read only one part taken out to be evaluated per part.
#[derive(Clone, Debug)]
pub struct HoistedPipeline {
    /// Subexpressions over the outer part's columns.
    outer: Scalars,
    /// Subexpressions over the inner part's columns.
    inner: Scalars,
    /// The steps, reading hoisted values in place of those subexpressions.
    hoisted: RowPipeline,
    /// The steps as they were, for parts whose hoisted values failed.
    plain: RowPipeline,
    outer_width: usize,
}

impl HoistedPipeline {
    /// `pipeline` with the subexpressions worth hoisting taken out: those of the outer part, and
    /// those of the inner part when `hoist_inner`. `None` when there are none.
    pub fn new(pipeline: &RowPipeline, outer_width: usize, hoist_inner: bool) -> Option<HoistedPipeline> {
        let mut hoister =
            Hoister { outer_width, arity: pipeline.input_arity, hoist_inner, outer: Vec::new(), inner: Vec::new() };
        let mut hoisted = pipeline.clone();
        for op in &mut hoisted.ops {
            match op {
                SlotOp::Map(expr) | SlotOp::Filter(expr) => hoister.hoist(expr),
                SlotOp::JsonMembers { .. } => {}
            }
        }
        if hoister.outer.is_empty() && hoister.inner.is_empty() {
            return None;
        }
        hoisted.specialize();
        Some(HoistedPipeline {
            outer: Scalars::new(&hoister.outer),
            inner: Scalars::new(&hoister.inner),
            hoisted,
            plain: pipeline.clone(),
            outer_width,
        })
    }

    /// The outer part's columns that the steps read other than through hoisted values, ascending.
    /// Two outer parts that agree on these and on their hoisted values have the same results with
    /// any inner part, whichever way (hoisted or plain) each row goes.
    pub fn direct_outer_columns(&self) -> Vec<usize> {
        self.hoisted.reads_below(self.outer_width)
    }

    /// The outer part's hoisted values into `values`, from a row that starts with that part;
    /// `false` (and `values` empty) if any fails.
    pub fn outer_values(&self, row: &[Datum], values: &mut Vec<Datum>) -> bool {
        values.clear();
        for value in self.outer.eval(row) {
            match value {
                Ok(value) => values.push(value),
                Err(_) => {
                    values.clear();
                    return false;
                }
            }
        }
        true
    }

    /// The inner part's hoisted values, from a whole row; `None` if any fails.
    pub fn inner_values(&self, row: &[Datum]) -> Option<Vec<Datum>> {
        self.inner.eval(row).map(Result::ok).collect()
    }

    /// The row after every step into `out` (see `RowPipeline::apply_into`), given its parts'
    /// hoisted values (`None` for a part whose values failed: the row then goes through the plain
    /// steps).
    pub fn apply_into(
        &self,
        row: &[Datum],
        outer: Option<&[Datum]>,
        inner: Option<&[Datum]>,
        out: &mut Row,
    ) -> Result<bool, EvalError> {
        match (outer, inner) {
            (Some(outer), Some(inner)) => self.hoisted.apply_with(row, Hoisted { outer, inner }, out),
            _ => self.plain.apply_into(row, out),
        }
    }
}

/// Which part of the row an expression reads.
#[derive(PartialEq)]
enum Part {
    Outer,
    Inner,
    /// Both, computed slots, or no column at all.
    Neither,
}

struct Hoister {
    outer_width: usize,
    arity: usize,
    hoist_inner: bool,
    outer: Vec<ScalarExpr>,
    inner: Vec<ScalarExpr>,
}

impl Hoister {
    /// Replaces the largest subexpressions of `expr` that read one part with reads of their
    /// hoisted values; bare columns and literals stay, as reading them costs no less.
    fn hoist(&mut self, expr: &mut ScalarExpr) {
        if !matches!(expr, ScalarExpr::Column(_) | ScalarExpr::Literal(..)) {
            let part = self.part(expr);
            if part == Part::Outer {
                *expr = ScalarExpr::Column(OUTER_BASE + slot_of(&mut self.outer, expr));
                return;
            }
            if part == Part::Inner && self.hoist_inner {
                *expr = ScalarExpr::Column(INNER_BASE + slot_of(&mut self.inner, expr));
                return;
            }
        }
        expr.for_each_child_mut(|child| self.hoist(child));
    }

    fn part(&self, expr: &ScalarExpr) -> Part {
        let (mut outer, mut inner, mut other) = (false, false, false);
        expr.visit(&mut |e| {
            if let ScalarExpr::Column(slot) = e {
                match *slot {
                    slot if slot < self.outer_width => outer = true,
                    slot if slot < self.arity => inner = true,
                    _ => other = true,
                }
            }
        });
        match (outer, inner, other) {
            (true, false, false) => Part::Outer,
            (false, true, false) => Part::Inner,
            _ => Part::Neither,
        }
    }
}

/// The index of `expr` in `hoisted`, added if new: a subexpression used twice is evaluated once.
fn slot_of(hoisted: &mut Vec<ScalarExpr>, expr: &ScalarExpr) -> usize {
    hoisted.iter().position(|e| e == expr).unwrap_or_else(|| {
        hoisted.push(expr.clone());
        hoisted.len() - 1
    })
}

#[cfg(test)]
mod tests;
