//! One shard's polling loop: GetShardIterator, then GetRecords at most five times a second,
//! through throttling, expired iterators and network trouble, until the shard ends or the stream
//! is gone.
//!
//! This module must never block the sink's caller and must never re-deliver a record it already
//! delivered: every fresh iterator starts after the last delivered sequence number.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, sleep_until, Instant};

use crate::backoff::Backoff;
use crate::client::StreamApi;
use crate::error::{ApiError, ErrorKind};
use crate::{ReaderEvent, StartPosition};

/// Kinesis allows five GetRecords calls per second per shard: calls start at least this far apart.
const MIN_CALL_GAP: Duration = Duration::from_millis(200);
/// Poll interval once caught up, start to start: a little above the limit, leaving room for other
/// consumers.
const CAUGHT_UP_GAP: Duration = Duration::from_millis(250);
/// A retrying reader repeats its complaint at most this often.
const ERROR_REPORT_GAP: Duration = Duration::from_secs(30);

/// What the reader tasks share: the API and the sink, which forwards at most one fatal error.
pub(crate) struct ReaderContext {
    pub api: StreamApi,
    sink: Box<dyn Fn(ReaderEvent) + Send + Sync>,
    fatal_sent: AtomicBool,
}

impl ReaderContext {
    pub(crate) fn new(api: StreamApi, sink: Box<dyn Fn(ReaderEvent) + Send + Sync>) -> ReaderContext {
        ReaderContext { api, sink, fatal_sent: AtomicBool::new(false) }
    }

    /// Forwards an event unless a fatal error has already ended the reader.
    pub(crate) fn send(&self, event: ReaderEvent) {
        if !self.fatal_sent.load(Ordering::SeqCst) {
            (self.sink)(event);
        }
    }

    /// Reports a fatal error, once for the whole reader.
    pub(crate) fn fatal(&self, message: String) {
        if !self.fatal_sent.swap(true, Ordering::SeqCst) {
            (self.sink)(ReaderEvent::Error { message, fatal: true });
        }
    }
}

/// When the GetRecords call after one that started at `called` may start. The gaps run from start
/// to start: a call that took a while (a large page, a far region) already used part of its gap,
/// and waiting a whole gap after the answer read a shard that is behind at less than its limit.
fn next_call(called: Instant, behind: bool) -> Instant {
    called + if behind { MIN_CALL_GAP } else { CAUGHT_UP_GAP }
}

/// How a shard task finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ShardOutcome {
    /// Read to the end of a closed shard; `ShardEnded` was sent.
    Ended,
    /// The shard vanished (trimmed) while the stream still exists; nothing more to read.
    Gone,
    /// A fatal error was reported; the whole reader should stop.
    Fatal,
}

/// Rate-limits repeated transient error reports.
struct ErrorReporter {
    last: Option<Instant>,
}

impl ErrorReporter {
    fn report(&mut self, ctx: &ReaderContext, shard_id: &str, err: &ApiError) {
        let due = self.last.is_none_or(|t| t.elapsed() >= ERROR_REPORT_GAP);
        tracing::debug!(shard_id, error = %err.message, "Kinesis request failed; retrying");
        if due {
            self.last = Some(Instant::now());
            ctx.send(ReaderEvent::Error {
                message: format!("shard {shard_id}: {} (retrying)", err.message),
                fatal: false,
            });
        }
    }

    fn clear(&mut self) {
        self.last = None;
    }
}

/// Reads `shard_id` from `start` until it ends or a fatal error occurs.
pub(crate) async fn read_shard(ctx: Arc<ReaderContext>, shard_id: String, start: StartPosition) -> ShardOutcome {
    let mut reader = ShardReader {
        ctx,
        shard_id,
        start,
        last_sequence: None,
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        errors: ErrorReporter { last: None },
        failing: false,
    };
    reader.run().await
}

struct ShardReader {
    ctx: Arc<ReaderContext>,
    shard_id: String,
    start: StartPosition,
    /// The last sequence number handed to the sink: where a fresh iterator resumes.
    last_sequence: Option<String>,
    backoff: Backoff,
    errors: ErrorReporter,
    /// The last GetRecords call failed.
    failing: bool,
}

impl ShardReader {
    async fn run(&mut self) -> ShardOutcome {
        let mut iterator = match self.fresh_iterator().await {
            Ok(it) => it,
            Err(outcome) => return outcome,
        };
        loop {
            let called = Instant::now();
            match self.ctx.api.get_records(&self.shard_id, &iterator).await {
                Ok(page) => {
                    self.failing = false;
                    self.backoff.reset();
                    self.errors.clear();
                    let had_records = !page.records.is_empty();
                    if let Some(last) = page.records.last() {
                        self.last_sequence = Some(last.sequence_number.clone());
                    }
                    self.ctx.send(ReaderEvent::Records {
                        shard_id: self.shard_id.clone(),
                        records: page.records,
                        millis_behind_latest: page.millis_behind_latest,
                    });
                    let Some(next) = page.next_iterator else {
                        self.ctx.send(ReaderEvent::ShardEnded { shard_id: self.shard_id.clone() });
                        return ShardOutcome::Ended;
                    };
                    iterator = next;
                    let behind = page.millis_behind_latest.is_some_and(|ms| ms > 0);
                    sleep_until(next_call(called, had_records && behind)).await;
                }
                Err(err) => match err.kind {
                    ErrorKind::NotFound | ErrorKind::Denied => return self.not_found_or_fatal(&err).await,
                    ErrorKind::Throttled => sleep(self.backoff.next_delay().max(MIN_CALL_GAP)).await,
                    ErrorKind::BadIterator | ErrorKind::Transient => {
                        // One expired iterator is routine (a slow sink, a long outage); anything
                        // repeated is reported and backed off so that it cannot spin.
                        if err.kind == ErrorKind::Transient || self.failing {
                            self.errors.report(&self.ctx, &self.shard_id, &err);
                            sleep(self.backoff.next_delay().max(MIN_CALL_GAP)).await;
                        } else {
                            sleep(MIN_CALL_GAP).await;
                        }
                        self.failing = true;
                        // After an expiry, a server restart or a lost connection the old iterator may
                        // be useless; a fresh one after the last delivered record loses nothing.
                        iterator = match self.fresh_iterator().await {
                            Ok(it) => it,
                            Err(outcome) => return outcome,
                        };
                    }
                },
            }
        }
    }

    /// Where a new iterator must start: after the last delivered record, else the original start.
    fn resume_position(&self) -> StartPosition {
        match &self.last_sequence {
            Some(seq) => StartPosition::AfterSequenceNumber(seq.clone()),
            None => self.start.clone(),
        }
    }

    /// Gets an iterator, retrying transient failures with backoff; `Err` means a fatal error was sent.
    async fn fresh_iterator(&mut self) -> Result<String, ShardOutcome> {
        loop {
            let position = self.resume_position();
            match self.ctx.api.shard_iterator(&self.shard_id, &position).await {
                Ok(it) => return Ok(it),
                Err(err) => match err.kind {
                    ErrorKind::NotFound | ErrorKind::Denied => return Err(self.not_found_or_fatal(&err).await),
                    ErrorKind::Throttled => sleep(self.backoff.next_delay().max(MIN_CALL_GAP)).await,
                    ErrorKind::BadIterator | ErrorKind::Transient => {
                        self.errors.report(&self.ctx, &self.shard_id, &err);
                        sleep(self.backoff.next_delay()).await;
                    }
                },
            }
        }
    }

    /// A shard that is gone while its stream still exists (trimmed after retention) is finished;
    /// anything else not found, or denied, ends the whole reader.
    async fn not_found_or_fatal(&self, err: &ApiError) -> ShardOutcome {
        if err.kind == ErrorKind::NotFound && self.ctx.api.describe().await.is_ok() {
            let message = format!("shard {} no longer exists; skipping it: {}", self.shard_id, err.message);
            self.ctx.send(ReaderEvent::Error { message, fatal: false });
            return ShardOutcome::Gone;
        }
        self.fatal(err)
    }

    fn fatal(&self, err: &ApiError) -> ShardOutcome {
        let reason = match err.kind {
            ErrorKind::NotFound => format!("Kinesis stream \"{}\" no longer exists", self.ctx.api.stream_name),
            _ => format!("reading Kinesis stream \"{}\" is not allowed", self.ctx.api.stream_name),
        };
        self.ctx.fatal(format!("{reason}: {}", err.message));
        ShardOutcome::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_start_a_gap_apart_however_long_each_took() {
        let called = Instant::now();
        assert_eq!(next_call(called, true) - called, MIN_CALL_GAP);
        assert_eq!(next_call(called, false) - called, CAUGHT_UP_GAP);
        // At most five calls a second: a shard behind is read at exactly its limit.
        assert!(MIN_CALL_GAP >= Duration::from_millis(200) && CAUGHT_UP_GAP > MIN_CALL_GAP);
    }
}
