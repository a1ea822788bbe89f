//! Rendering of row pipelines: a chain of maps, filters and projections becomes one operator that
//! runs a compiled `RowPipeline` on each row, and over a stored collection it reads the imported
//! arrangement in place.
//!
//! One operator per chain matters for more than the operator count: timely runs an operator over
//! its whole input before the next one starts, so a step that materialised (say) every parsed
//! jsonb document of a million-row table would hold all of them at once. Fused, each row goes from
//! the arrangement to its final, usually much smaller, form in one call. This module must not
//! decide which chains exist; `RenderContext` peels them off the plan.

use differential_dataflow::operators::arrange::Arranged;
use differential_dataflow::trace::wrappers::frontier::TraceFrontier;
use differential_dataflow::trace::{Cursor, Navigable};
use freshet_expr::RowPipeline;
use freshet_repr::{DataflowError, Diff, Timestamp};

use super::{fork_collection, split, ErrCollection, OkCollection, OkTrace};

/// How many rows ahead of the one it reads a scan of an arrangement prefetches: enough to cover
/// a miss to memory with the work on the rows between.
const PREFETCH_AHEAD: usize = 8;

/// A stored collection's rows as a dataflow imports them: still arranged.
pub type ImportedRows<'s> = Arranged<'s, TraceFrontier<OkTrace>>;

/// Runs `pipeline` on every row of `input`.
pub fn over_collection<'s>(input: OkCollection<'s>, pipeline: RowPipeline) -> (OkCollection<'s>, ErrCollection<'s>) {
    split(input, "RowPipeline", move |row, time, diff, out| {
        if let Some(result) = pipeline.apply(row.datums()).map_err(DataflowError::from).transpose() {
            out.result(result, time, diff);
        }
    })
}

/// Runs `pipeline` on every row of an imported arrangement, reading each row where it is stored:
/// only the datums the pipeline keeps are copied, once per row, whatever number of times the row
/// has.
pub fn over_arrangement<'s>(input: &ImportedRows<'s>, pipeline: RowPipeline) -> (OkCollection<'s>, ErrCollection<'s>) {
    let mut times: Vec<(Timestamp, Diff)> = Vec::new();
    fork_collection(input.stream.clone(), "RowPipeline", move |spans, out| {
        for span in spans.iter() {
            let Some(batch) = span.inner.as_ref() else { continue };
            let rows = &batch.inner().storage.keys;
            let mut cursor = batch.cursor();
            let mut index = 0;
            while let Some(row) = cursor.get_key(batch) {
                if let Some(ahead) = rows.get(index + PREFETCH_AHEAD) {
                    ahead.prefetch();
                }
                index += 1;
                // Rows are keys with a unit value: one value per key.
                while cursor.get_val(batch).is_some() {
                    times.clear();
                    cursor.map_times(batch, |time, diff| times.push((*time, *diff)));
                    if let Some(((last_time, last_diff), earlier)) = times.split_last() {
                        let result = pipeline.apply(row.datums()).map_err(DataflowError::from).transpose();
                        if let Some(result) = result {
                            for (time, diff) in earlier {
                                out.result(result.clone(), *time, *diff);
                            }
                            out.result(result, *last_time, *last_diff);
                        }
                    }
                    cursor.step_val(batch);
                }
                cursor.step_key(batch);
            }
        }
    })
}
