//! Descriptions of sources: where records come from and how they decode. Plain data, shared by the
//! planner (which builds them from CREATE SOURCE), the catalog (which stores them) and the dataflow
//! layer (which runs them).

use serde::{Deserialize, Serialize};

use crate::SourceFormat;

/// How to reach one Kinesis data stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KinesisConnection {
    /// The ARN as the user wrote it.
    pub arn: String,
    pub region: String,
    pub stream_name: String,
    /// An explicit endpoint (`endpoint = '...'`); otherwise `AWS_ENDPOINT_URL[_KINESIS]` or AWS's.
    pub endpoint: Option<String>,
    pub credentials: KinesisCredentials,
    /// A role to assume with the credentials above.
    pub role_arn: Option<String>,
}

/// Where credentials come from. Secrets must never be printed: `Debug` redacts them.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KinesisCredentials {
    /// The standard AWS chain (environment, shared config, web identity, instance metadata).
    DefaultChain,
    /// A named profile of the shared AWS config files.
    Profile(String),
    Static {
        access_key_id: String,
        secret_access_key: String,
        token: Option<String>,
    },
}

impl std::fmt::Debug for KinesisCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KinesisCredentials::DefaultChain => f.write_str("DefaultChain"),
            KinesisCredentials::Profile(p) => f.debug_tuple("Profile").field(p).finish(),
            KinesisCredentials::Static { access_key_id, token, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field("token", &token.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// Everything needed to run a source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceDesc {
    pub connection: KinesisConnection,
    pub format: SourceFormat,
}
