//! SUBSCRIBE: starts a subscription at a time that sees every acknowledged write and turns the
//! cluster's complete batches into result rows (`mz_timestamp`, `mz_diff`, then the columns),
//! until the client cancels, an input is dropped, or the inputs are complete forever.
//!
//! This module must not encode rows for the wire nor render dataflows.

use std::collections::HashMap;
use std::sync::Arc;

use bigdecimal::BigDecimal;
use freshet_dataflow::{Cluster, SubscribeError, Subscription};
use freshet_expr::RelationExpr;
use freshet_repr::{Datum, GlobalId, Row, Timestamp};

use crate::session::CancelToken;
use crate::{CoordClient, CoordError};

/// A running SUBSCRIBE, read batch by batch.
pub struct SubscribeStream {
    subscription: Subscription,
    /// Rows at or before this time are the snapshot.
    as_of: Timestamp,
    options: Options,
    /// The frontier the last progress row reported.
    progressed: Option<Timestamp>,
    cancel: CancelToken,
    /// The query's columns.
    arity: usize,
    /// The names of the relations read, for the error when one is dropped.
    names: HashMap<GlobalId, String>,
    /// Keeps the cluster (and so the subscription's dataflows) alive while the stream is read.
    _cluster: Arc<Cluster>,
}

impl std::fmt::Debug for SubscribeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeStream").field("as_of", &self.as_of).field("options", &self.options).finish()
    }
}

impl SubscribeStream {
    /// The next batch of result rows in time order; `None` once the inputs are complete forever.
    pub async fn next(&mut self) -> Option<Result<Vec<Row>, CoordError>> {
        loop {
            let batch = tokio::select! {
                batch = self.subscription.next() => batch?,
                _ = self.cancel.canceled() => return Some(Err(CoordError::Canceled)),
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => return Some(Err(self.error(error))),
            };
            let Options { snapshot, progress } = self.options;
            let mut rows: Vec<Row> = batch
                .updates
                .into_iter()
                .filter(|(_, time, _)| snapshot || *time > self.as_of)
                .map(|(row, time, diff)| update_row(row, time, diff, progress))
                .collect();
            if let (true, Some(upper)) = (progress, batch.upper) {
                // Frontiers up to the start say nothing: the snapshot is at the start.
                if upper > self.as_of && self.progressed.is_none_or(|p| upper > p) {
                    self.progressed = Some(upper);
                    rows.push(progress_row(upper, self.arity));
                }
            }
            if !rows.is_empty() {
                return Some(Ok(rows));
            }
        }
    }

    fn error(&self, error: SubscribeError) -> CoordError {
        match error {
            SubscribeError::Data(error) => CoordError::Dataflow(error),
            SubscribeError::InputDropped(id) => {
                let name = self.names.get(&id).cloned().unwrap_or_else(|| id.to_string());
                CoordError::SubscribeInputDropped(name)
            }
            SubscribeError::ClusterGone => CoordError::Internal("the cluster shut down during SUBSCRIBE".into()),
        }
    }
}

/// What a subscription sends besides the changes.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The rows as of the start first.
    pub snapshot: bool,
    /// A progress row whenever the stream is complete up to a later time.
    pub progress: bool,
}

/// Starts SUBSCRIBE of `expr`.
pub async fn start(
    client: &CoordClient,
    expr: RelationExpr,
    options: Options,
    cancel: CancelToken,
) -> Result<SubscribeStream, CoordError> {
    let substituted = crate::introspection::substitute(client, &expr).await?;
    let expr = freshet_expr::optimize(substituted.unwrap_or(expr));
    let names = {
        let catalog = client.inner.catalog.read().await;
        expr.depends_on().into_iter().filter_map(|id| catalog.get(id).map(|e| (id, e.name.clone()))).collect()
    };
    let as_of = crate::read::timestamp_for(client, &expr)?;
    let cluster = client.cluster()?;
    let subscription = cluster.subscribe(&expr, as_of);
    let arity = expr.arity();
    Ok(SubscribeStream { subscription, as_of, options, progressed: None, arity, cancel, names, _cluster: cluster })
}

/// `mz_timestamp`, (`mz_progressed` = false,) `mz_diff`, then the row.
fn update_row(row: Row, time: Timestamp, diff: i64, progress: bool) -> Row {
    let mut datums = Vec::with_capacity(row.len() + 3);
    datums.push(Datum::numeric(BigDecimal::from(time)));
    if progress {
        datums.push(Datum::Bool(false));
    }
    datums.push(Datum::Int64(diff));
    datums.extend(row.into_datums());
    Row::new(datums)
}

/// The row saying every later row has a time at or after `upper`.
fn progress_row(upper: Timestamp, arity: usize) -> Row {
    let mut datums = vec![Datum::numeric(BigDecimal::from(upper)), Datum::Bool(true)];
    datums.resize(arity + 3, Datum::Null);
    Row::new(datums)
}
