//! `fork`: one operator that turns its input into rows and errors and sends each to its own output.
//!
//! Every rendering step that can fail per row (expressions, table functions, aggregates, join keys)
//! yields rows and errors. Producing `Result`s and separating them in a second operator (timely's
//! `ok_err`) costs each row an extra move, a match and an operator hop; that second operator was a
//! tenth of Nexmark q5's time. This module owns only that plumbing, not what the steps compute.

use differential_dataflow::{AsCollection, VecCollection};
use freshet_repr::{DataflowError, Diff, Row, Timestamp};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{OutputBuilder, Session};
use timely::dataflow::operators::InputCapability;
use timely::dataflow::Stream;
use timely::progress::operate::FrontierInterest;
use timely::Container;

use super::ErrCollection;

type OkSession<'a, 'b, U> = Session<'a, 'b, Timestamp, CapacityContainerBuilder<Vec<U>>, InputCapability<Timestamp>>;
type ErrSession<'a, 'b> = Session<
    'a,
    'b,
    Timestamp,
    CapacityContainerBuilder<Vec<(DataflowError, Timestamp, Diff)>>,
    InputCapability<Timestamp>,
>;

/// The two outputs of a `fork`, open for one input container: updates `U` (of rows, usually) and
/// errors.
pub struct Outputs<'o, 'a, 'b, U: 'static = (Row, Timestamp, Diff)> {
    ok: &'o mut OkSession<'a, 'b, U>,
    err: &'o mut ErrSession<'a, 'b>,
}

impl<U: Clone + 'static> Outputs<'_, '_, '_, U> {
    /// Sends an update to the first output.
    #[inline]
    pub fn update(&mut self, update: U) {
        self.ok.give(update);
    }

    /// Sends an error, at `time` with `diff`, to the error output.
    #[inline]
    pub fn error(&mut self, error: DataflowError, time: Timestamp, diff: Diff) {
        self.err.give((error, time, diff));
    }
}

impl<D: Clone + 'static> Outputs<'_, '_, '_, (D, Timestamp, Diff)> {
    /// Sends `row` at `time` with `diff` to the first output.
    #[inline]
    pub fn row(&mut self, row: D, time: Timestamp, diff: Diff) {
        self.ok.give((row, time, diff));
    }

    /// Sends a row or an error to its output.
    #[inline]
    pub fn result(&mut self, result: Result<D, DataflowError>, time: Timestamp, diff: Diff) {
        match result {
            Ok(row) => self.row(row, time, diff),
            Err(error) => self.error(error, time, diff),
        }
    }
}

/// Runs `logic` on every container of `input`, in order; what it gives to its `Outputs` leaves at
/// the container's time. `logic` may keep state across containers (a pre-aggregation's table).
pub fn fork<'s, C, U, L>(
    input: Stream<'s, Timestamp, C>,
    name: &str,
    mut logic: L,
) -> (Stream<'s, Timestamp, Vec<U>>, ErrCollection<'s>)
where
    C: Container + Default,
    U: Clone + 'static,
    L: FnMut(&mut C, &mut Outputs<'_, '_, '_, U>) + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_owned(), input.scope());
    let mut input = builder.new_input(input, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (ok_output, ok) = builder.new_output();
    let (err_output, err) = builder.new_output();
    let mut ok_output = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(ok_output);
    let mut err_output = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(err_output);
    builder.build(move |_| {
        move |_frontiers| {
            let mut ok_handle = ok_output.activate();
            let mut err_handle = err_output.activate();
            input.for_each_stamp(|capability, containers| {
                let mut ok = ok_handle.session(&capability);
                let mut err = err_handle.session(&capability);
                let mut outputs = Outputs { ok: &mut ok, err: &mut err };
                for container in containers {
                    logic(container, &mut outputs);
                }
            });
        }
    });
    (ok, err.as_collection())
}

/// `fork` whose updates are `(data, time, diff)`: a collection of `D` beside the errors.
pub fn fork_collection<'s, C, D, L>(
    input: Stream<'s, Timestamp, C>,
    name: &str,
    logic: L,
) -> (VecCollection<'s, Timestamp, D, Diff>, ErrCollection<'s>)
where
    C: Container + Default,
    D: Clone + 'static,
    L: FnMut(&mut C, &mut Outputs<'_, '_, '_, (D, Timestamp, Diff)>) + 'static,
{
    let (ok, err) = fork(input, name, logic);
    (ok.as_collection(), err)
}
