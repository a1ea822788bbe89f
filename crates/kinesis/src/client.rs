//! Thin wrappers over the Kinesis requests Freshet issues (DescribeStreamSummary, ListShards,
//! GetShardIterator, GetRecords), returning plain data and classified errors.
//!
//! One request per call: retry policy belongs to the callers (`reader`, `check_stream`).

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};

use crate::error::{ApiError, ErrorKind};
use crate::{KinesisRecord, StartPosition};

/// Kinesis allows up to 10,000 records per GetRecords call.
const GET_RECORDS_LIMIT: i32 = 10_000;

/// A shard as ListShards describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    pub shard_id: String,
    /// `ParentShardId` and `AdjacentParentShardId`, when set.
    pub parents: Vec<String>,
}

/// One GetRecords answer.
#[derive(Debug)]
pub(crate) struct RecordsPage {
    pub records: Vec<KinesisRecord>,
    /// `None` once a closed shard has been read to its end.
    pub next_iterator: Option<String>,
    pub millis_behind_latest: Option<i64>,
}

/// The requests of one stream.
#[derive(Clone)]
pub(crate) struct StreamApi {
    pub client: aws_sdk_kinesis::Client,
    pub stream_name: String,
}

impl StreamApi {
    /// Succeeds when the stream exists and is not being deleted.
    pub(crate) async fn describe(&self) -> Result<(), ApiError> {
        let output = self
            .client
            .describe_stream_summary()
            .stream_name(&self.stream_name)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("DescribeStreamSummary", e))?;
        let deleting = output.stream_description_summary().map(|s| s.stream_status()) == Some(&StreamStatus::Deleting);
        if deleting {
            return Err(ApiError {
                kind: ErrorKind::NotFound,
                message: format!("stream \"{}\" is being deleted", self.stream_name),
            });
        }
        Ok(())
    }

    /// Every shard of the stream, following `NextToken` pages.
    pub(crate) async fn list_shards(&self) -> Result<Vec<ShardInfo>, ApiError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // ListShards rejects a stream name together with a pagination token.
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.stream_name),
            };
            let page = request.send().await.map_err(|e| ApiError::from_sdk("ListShards", e))?;
            shards.extend(page.shards().iter().map(|s| ShardInfo {
                shard_id: s.shard_id().to_string(),
                parents:
                    s.parent_shard_id().into_iter().chain(s.adjacent_parent_shard_id()).map(String::from).collect(),
            }));
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(shards),
            }
        }
    }

    pub(crate) async fn shard_iterator(&self, shard_id: &str, position: &StartPosition) -> Result<String, ApiError> {
        let mut request = self.client.get_shard_iterator().stream_name(&self.stream_name).shard_id(shard_id);
        request = match position {
            StartPosition::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            StartPosition::AfterSequenceNumber(seq) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq)
            }
        };
        let output = request.send().await.map_err(|e| ApiError::from_sdk("GetShardIterator", e))?;
        output.shard_iterator().map(String::from).ok_or_else(|| ApiError {
            kind: ErrorKind::Transient,
            message: format!("GetShardIterator returned no iterator for shard {shard_id}"),
        })
    }

    pub(crate) async fn get_records(&self, shard_id: &str, iterator: &str) -> Result<RecordsPage, ApiError> {
        let output = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(GET_RECORDS_LIMIT)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("GetRecords", e))?;
        let records = output
            .records()
            .iter()
            .map(|r| KinesisRecord {
                shard_id: shard_id.to_string(),
                sequence_number: r.sequence_number().to_string(),
                partition_key: r.partition_key().unwrap_or_default().to_string(),
                data: r.data().as_ref().to_vec(),
                arrival_ms: r.approximate_arrival_timestamp().and_then(|t| t.to_millis().ok()),
            })
            .collect();
        Ok(RecordsPage {
            records,
            next_iterator: output.next_shard_iterator().map(String::from),
            millis_behind_latest: output.millis_behind_latest(),
        })
    }
}
