//! Checks made before a source is created: the stream must exist and be readable.

use freshet_dataflow::source::stream_config;
use freshet_kinesis::KinesisClient;
use freshet_storage::SourceDesc;

use crate::CoordError;

/// Fails with a clear message unless the source's stream exists and can be described.
pub async fn check_reachable(source: &SourceDesc) -> Result<(), CoordError> {
    let client = KinesisClient::connect(stream_config(&source.connection))
        .await
        .map_err(|e| CoordError::Source(e.to_string()))?;
    client.check_stream().await.map_err(|e| CoordError::Source(e.to_string()))
}
