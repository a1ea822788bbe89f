//! Turning a [`StreamConfig`] into an AWS SDK client: region, credentials (static, profile, the
//! default chain, an assumed role), endpoint override, and short timeouts with bounded retries.
//!
//! This module owns the SDK's configuration only; it must not issue Kinesis requests itself.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::{Credentials, KinesisError, StreamConfig};

/// How long to wait for a TCP/TLS connection: long enough for a far region, short enough that a
/// dead endpoint fails CREATE SOURCE quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of one request; GetRecords of up to 10 MiB must fit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// All attempts of one request.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
/// The reader retries on its own with its own backoff, so the SDK only retries once.
const MAX_ATTEMPTS: u32 = 2;

/// Builds a Kinesis SDK client for `config`. The SDK itself honours `AWS_ENDPOINT_URL_KINESIS` and
/// `AWS_ENDPOINT_URL` when `config.endpoint` is not set.
pub(crate) async fn build_client(config: &StreamConfig) -> Result<aws_sdk_kinesis::Client, KinesisError> {
    let sdk = load_sdk_config(config).await;
    let mut builder = aws_sdk_kinesis::config::Builder::from(&sdk);
    if let Some(endpoint) = &config.endpoint {
        if endpoint.trim().is_empty() {
            return Err(KinesisError::Config("the endpoint must not be empty".into()));
        }
        builder = builder.endpoint_url(endpoint.clone());
    }
    if let Some(role_arn) = &config.role_arn {
        let provider =
            AssumeRoleProvider::builder(role_arn.clone()).session_name("freshet").configure(&sdk).build().await;
        builder = builder.credentials_provider(provider);
    }
    if sdk.region().is_none() {
        return Err(KinesisError::Config("no AWS region: give one in the stream ARN or set AWS_REGION".into()));
    }
    Ok(aws_sdk_kinesis::Client::from_conf(builder.build()))
}

async fn load_sdk_config(config: &StreamConfig) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).retry_config(retries);
    if !config.region.is_empty() {
        loader = loader.region(Region::new(config.region.clone()));
    }
    loader = match &config.credentials {
        Credentials::DefaultChain => loader,
        Credentials::Profile(name) => loader.profile_name(name),
        Credentials::Static { access_key_id, secret_access_key, token } => {
            loader.credentials_provider(aws_sdk_kinesis::config::Credentials::new(
                access_key_id.clone(),
                secret_access_key.clone(),
                token.clone(),
                None,
                "freshet-static",
            ))
        }
    };
    loader.load().await
}
