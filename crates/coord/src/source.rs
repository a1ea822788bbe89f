//! Checks made before a source is created: the stream must exist and be readable.

use freshet_kinesis::{Credentials, KinesisClient, StreamConfig};
use freshet_storage::{KinesisConnection, KinesisCredentials, SourceDesc};

use crate::CoordError;

/// The reader configuration for a connection.
pub fn stream_config(connection: &KinesisConnection) -> StreamConfig {
    let credentials = match &connection.credentials {
        KinesisCredentials::DefaultChain => Credentials::DefaultChain,
        KinesisCredentials::Profile(p) => Credentials::Profile(p.clone()),
        KinesisCredentials::Static { access_key_id, secret_access_key, token } => Credentials::Static {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            token: token.clone(),
        },
    };
    StreamConfig {
        region: connection.region.clone(),
        stream_name: connection.stream_name.clone(),
        endpoint: connection.endpoint.clone(),
        credentials,
        role_arn: connection.role_arn.clone(),
    }
}

/// Fails with a clear message unless the source's stream exists and can be described.
pub async fn check_reachable(source: &SourceDesc) -> Result<(), CoordError> {
    let client = KinesisClient::connect(stream_config(&source.connection))
        .await
        .map_err(|e| CoordError::Source(e.to_string()))?;
    client.check_stream().await.map_err(|e| CoordError::Source(e.to_string()))
}
