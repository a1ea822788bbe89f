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
    snapshot: bool,
    cancel: CancelToken,
    /// The names of the relations read, for the error when one is dropped.
    names: HashMap<GlobalId, String>,
    /// Keeps the cluster (and so the subscription's dataflows) alive while the stream is read.
    _cluster: Arc<Cluster>,
}

impl std::fmt::Debug for SubscribeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeStream").field("as_of", &self.as_of).field("snapshot", &self.snapshot).finish()
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
            let updates = match batch {
                Ok(updates) => updates,
                Err(error) => return Some(Err(self.error(error))),
            };
            let rows: Vec<Row> = updates
                .into_iter()
                .filter(|(_, time, _)| self.snapshot || *time > self.as_of)
                .map(|(row, time, diff)| result_row(row, time, diff))
                .collect();
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

/// Starts SUBSCRIBE of `expr`, with the rows as of the start first when `snapshot`.
pub async fn start(
    client: &CoordClient,
    expr: RelationExpr,
    snapshot: bool,
    cancel: CancelToken,
) -> Result<SubscribeStream, CoordError> {
    let substituted = crate::introspection::substitute(client, &expr).await?;
    let expr = substituted.unwrap_or(expr);
    let names = {
        let catalog = client.inner.catalog.lock().await;
        expr.depends_on().into_iter().filter_map(|id| catalog.get(id).map(|e| (id, e.name.clone()))).collect()
    };
    let as_of = match crate::read::complete_read_timestamp(client, &expr)? {
        Some(ts) => ts,
        None => crate::read::read_timestamp(client)?,
    };
    let cluster = client.cluster()?;
    let subscription = cluster.subscribe(&expr, as_of);
    Ok(SubscribeStream { subscription, as_of, snapshot, cancel, names, _cluster: cluster })
}

fn result_row(row: Row, time: Timestamp, diff: i64) -> Row {
    let mut datums = Vec::with_capacity(row.len() + 2);
    datums.push(Datum::numeric(BigDecimal::from(time)));
    datums.push(Datum::Int64(diff));
    datums.extend(row.into_datums());
    Row::new(datums)
}
