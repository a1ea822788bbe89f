//! The reader supervisor: lists the stream's shards every few seconds, starts one shard task per
//! owned shard (children only after their parents ended, to keep per-key order across
//! resharding), and stops everything on a fatal error.
//!
//! It must not read records itself (that is `shard`) and must not block the sink's caller.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::sleep;

use crate::backoff::Backoff;
use crate::client::ShardInfo;
use crate::error::ErrorKind;
use crate::shard::{read_shard, ReaderContext, ShardOutcome};
use crate::{ReaderEvent, StartPosition};

/// How often to look for new shards (resharding) when nothing else happens.
const LIST_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) type OwnsShard = Box<dyn Fn(&str) -> bool + Send + Sync>;
pub(crate) type StartAt = Box<dyn Fn(&str) -> StartPosition + Send + Sync>;

/// Which shards exist, which have been started and which have ended.
#[derive(Debug, Default)]
pub(crate) struct ShardSet {
    listed: BTreeMap<String, Vec<String>>,
    started: HashSet<String>,
    ended: HashSet<String>,
}

impl ShardSet {
    /// Replaces the listing with the latest ListShards answer.
    pub(crate) fn update(&mut self, shards: Vec<ShardInfo>) {
        self.listed = shards.into_iter().map(|s| (s.shard_id, s.parents)).collect();
    }

    /// Owned shards not yet started whose parents are done. A parent blocks its child only while
    /// it is still listed (not yet trimmed by retention), owned by this reader and not ended: a
    /// parent owned elsewhere cannot be observed here.
    pub(crate) fn ready(&self, owns: &dyn Fn(&str) -> bool) -> Vec<String> {
        self.listed
            .iter()
            .filter(|(id, _)| !self.started.contains(*id) && owns(id))
            .filter(|(_, parents)| {
                parents.iter().all(|p| self.ended.contains(p) || !self.listed.contains_key(p) || !owns(p))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(crate) fn mark_started(&mut self, shard_id: &str) {
        self.started.insert(shard_id.to_string());
    }

    pub(crate) fn mark_ended(&mut self, shard_id: &str) {
        self.ended.insert(shard_id.to_string());
    }
}

/// Runs until a fatal error; dropping (aborting) it drops the `JoinSet`, which aborts every shard task.
pub(crate) async fn supervise(ctx: Arc<ReaderContext>, owns: OwnsShard, start: StartAt) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, ShardOutcome)>();
    let mut tasks = JoinSet::new();
    let mut shards = ShardSet::default();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut reported_listing_error = false;
    loop {
        let wait = match ctx.api.list_shards().await {
            Ok(listed) => {
                shards.update(listed);
                backoff.reset();
                reported_listing_error = false;
                LIST_INTERVAL
            }
            Err(err) if matches!(err.kind, ErrorKind::NotFound | ErrorKind::Denied) => {
                ctx.fatal(format!(
                    "cannot list the shards of Kinesis stream \"{}\": {}",
                    ctx.api.stream_name, err.message
                ));
                return;
            }
            Err(err) => {
                tracing::debug!(error = %err.message, "ListShards failed; retrying");
                if !reported_listing_error {
                    reported_listing_error = true;
                    ctx.send(ReaderEvent::Error { message: format!("{} (retrying)", err.message), fatal: false });
                }
                backoff.next_delay()
            }
        };
        for shard_id in shards.ready(&owns) {
            shards.mark_started(&shard_id);
            let position = start(&shard_id);
            let (ctx, done_tx) = (ctx.clone(), done_tx.clone());
            tasks.spawn(async move {
                let outcome = read_shard(ctx, shard_id.clone(), position).await;
                // The supervisor may be gone already; nothing to tell then.
                let _ = done_tx.send((shard_id, outcome));
            });
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = sleep(wait) => {}
            Some((shard_id, outcome)) = done_rx.recv() => match outcome {
                ShardOutcome::Fatal => return,
                // Loop at once: the ended shard's children can start now.
                ShardOutcome::Ended | ShardOutcome::Gone => shards.mark_ended(&shard_id),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parents: &[&str]) -> ShardInfo {
        ShardInfo { shard_id: id.into(), parents: parents.iter().map(|p| p.to_string()).collect() }
    }

    #[test]
    fn children_wait_for_listed_parents() {
        let mut set = ShardSet::default();
        set.update(vec![shard("a", &[]), shard("b", &["a"]), shard("c", &["a", "x"])]);
        let all = |_: &str| true;
        // "x" is not listed (trimmed), so only "a" blocks the children.
        assert_eq!(set.ready(&all), vec!["a".to_string()]);
        set.mark_started("a");
        assert!(set.ready(&all).is_empty());
        set.mark_ended("a");
        assert_eq!(set.ready(&all), vec!["b".to_string(), "c".to_string()]);
        set.mark_started("b");
        assert_eq!(set.ready(&all), vec!["c".to_string()]);
    }

    #[test]
    fn only_owned_shards_start() {
        let mut set = ShardSet::default();
        set.update(vec![shard("a", &[]), shard("b", &[]), shard("c", &["a"])]);
        let owns = |id: &str| id != "a";
        // "a" is owned elsewhere, so its child "c" cannot wait for it here.
        assert_eq!(set.ready(&owns), vec!["b".to_string(), "c".to_string()]);
    }

    #[test]
    fn new_shards_appear_on_relisting() {
        let mut set = ShardSet::default();
        set.update(vec![shard("a", &[])]);
        set.mark_started("a");
        set.update(vec![shard("a", &[]), shard("d", &[])]);
        assert_eq!(set.ready(&|_: &str| true), vec!["d".to_string()]);
    }
}
