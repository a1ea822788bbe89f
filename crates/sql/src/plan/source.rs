//! Validation of `CREATE SOURCE ... FROM KINESIS` into a `SourceDesc`: the ARN, the WITH options
//! (credentials, region, endpoint), the format and column names, the envelope and the names.
//!
//! This module reads the protobuf schema file named by `FORMAT PROTOBUF` and the AWS endpoint
//! environment variables, nothing else; it must not contact AWS.
//!
//! Regions: an ARN's region must be a known AWS region, or look like one (`xx-name-N`, with an
//! optional `gov`/`iso*` part), so that regions AWS opens later work without a Freshet release.
//! Anything else (such as the docs' placeholder `aws-region`) is accepted only when an endpoint is
//! set, since emulators accept any region.

use freshet_repr::RelationDesc;
use freshet_storage::{Decoder, KinesisConnection, KinesisCredentials, SourceDesc, SourceFormat};

use crate::parse::redact_create_source_sql;
use crate::plan::{CreateSourceStatement, FormatSpec, Plan};
use crate::{SessionCatalog, SqlError};

/// AWS regions known when this was written; see the module docs for others.
const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// The WITH options `CREATE SOURCE` accepts.
const OPTIONS: &[&str] = &["access_key_id", "secret_access_key", "token", "profile", "role_arn", "region", "endpoint"];

/// Environment variables through which the AWS SDK takes an endpoint override.
const ENDPOINT_ENV_VARS: &[&str] = &["AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"];

fn invalid(message: impl Into<String>) -> SqlError {
    SqlError::InvalidParameter(message.into())
}

/// Reads an environment variable (a parameter so tests need not touch the process environment).
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Plans `CREATE SOURCE`, checking everything that can be checked without AWS.
pub fn plan_create_source(catalog: &dyn SessionCatalog, stmt: &CreateSourceStatement) -> Result<Plan, SqlError> {
    plan_create_source_with_env(catalog, stmt, &|var| std::env::var(var).ok())
}

pub(crate) fn plan_create_source_with_env(
    catalog: &dyn SessionCatalog,
    stmt: &CreateSourceStatement,
    env: EnvLookup,
) -> Result<Plan, SqlError> {
    if let Some(envelope) = stmt.envelope.as_deref().filter(|e| !e.eq_ignore_ascii_case("none")) {
        return Err(SqlError::FeatureNotSupported(format!(
            "ENVELOPE {} is not supported for Kinesis sources; only ENVELOPE NONE (append-only) is supported",
            envelope.to_uppercase()
        )));
    }
    let progress_name = stmt.progress_name.clone().unwrap_or_else(|| format!("{}_progress", stmt.name));
    if progress_name == stmt.name {
        return Err(invalid(format!("the progress collection cannot have the source's name \"{}\"", stmt.name)));
    }
    if !stmt.if_not_exists {
        for name in [&stmt.name, &progress_name] {
            if catalog.resolve(name).is_some() {
                return Err(SqlError::AlreadyExists { kind: "relation".into(), name: name.clone() });
            }
        }
    }
    let options = Options::from_pairs(&stmt.options)?;
    let connection = connection(&stmt.arn, &options, env)?;
    let format = source_format(&stmt.format)?;
    let desc = relation_desc(&format, &stmt.columns)?;
    Ok(Plan::CreateSource {
        name: stmt.name.clone(),
        if_not_exists: stmt.if_not_exists,
        source: SourceDesc { connection, format },
        desc,
        progress_name,
        create_sql: redact_create_source_sql(&stmt.sql),
    })
}

/// The WITH options after checking names and duplicates.
#[derive(Default)]
struct Options {
    values: Vec<(&'static str, String)>,
}

impl Options {
    fn from_pairs(pairs: &[(String, String)]) -> Result<Options, SqlError> {
        let mut options = Options::default();
        for (key, value) in pairs {
            let Some(known) = OPTIONS.iter().find(|o| **o == key.as_str()) else {
                return Err(invalid(format!(
                    "unknown CREATE SOURCE option \"{key}\"; expected one of: {}",
                    OPTIONS.join(", ")
                )));
            };
            if options.get(known).is_some() {
                return Err(invalid(format!("option \"{key}\" specified more than once")));
            }
            options.values.push((known, value.clone()));
        }
        Ok(options)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

/// The parts of a Kinesis stream ARN Freshet uses.
#[derive(Debug, PartialEq)]
struct StreamArn {
    region: String,
    stream_name: String,
}

/// Parses `arn:<partition>:kinesis:<region>:<account>:stream/<name>`. The account may be empty, as
/// in AWS's own examples and some emulators.
fn parse_arn(arn: &str) -> Result<StreamArn, SqlError> {
    let unparsable = || invalid(format!("Unable to parse provided ARN: {arn}"));
    let parts: Vec<&str> = arn.split(':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(unparsable());
    };
    let stream_name = resource.strip_prefix("stream/").ok_or_else(unparsable)?;
    let valid_name = !stream_name.is_empty()
        && stream_name.len() <= 128
        && stream_name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if *prefix != "arn"
        || !matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        || *service != "kinesis"
        || !account.chars().all(|c| c.is_ascii_digit())
        || !valid_name
    {
        return Err(unparsable());
    }
    Ok(StreamArn { region: region.to_string(), stream_name: stream_name.to_string() })
}

/// Whether `region` is a known AWS region or has the shape of one (`eu-west-1`, `us-gov-west-1`).
fn is_aws_region(region: &str) -> bool {
    if KNOWN_REGIONS.contains(&region) {
        return true;
    }
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase());
    match parts.as_slice() {
        [country, middle @ .., number] if (1..=2).contains(&middle.len()) => {
            country.len() == 2
                && lower(country)
                && middle.iter().all(|m| lower(m))
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// The endpoint override in effect: the `endpoint` option, else the AWS SDK's environment variables.
fn endpoint_override(options: &Options, env: EnvLookup) -> Result<(Option<String>, bool), SqlError> {
    if let Some(endpoint) = options.get("endpoint") {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(invalid(format!("endpoint must be an http:// or https:// URL, got \"{endpoint}\"")));
        }
        return Ok((Some(endpoint.to_string()), true));
    }
    let from_env = ENDPOINT_ENV_VARS.iter().any(|var| env(var).is_some_and(|v| !v.trim().is_empty()));
    Ok((None, from_env))
}

fn connection(arn: &str, options: &Options, env: EnvLookup) -> Result<KinesisConnection, SqlError> {
    let parsed = parse_arn(arn)?;
    let region = match options.get("region") {
        Some("") => return Err(invalid("region must not be empty")),
        Some(region) => region.to_string(),
        None if parsed.region.is_empty() => return Err(invalid("Provided ARN does not include an AWS region")),
        None => parsed.region.clone(),
    };
    let (endpoint, has_endpoint) = endpoint_override(options, env)?;
    if !has_endpoint && !is_aws_region(&region) {
        return Err(invalid(format!(
            "Provided ARN region \"{region}\" is not a known AWS region; set the endpoint option or \
             AWS_ENDPOINT_URL to use a non-AWS Kinesis endpoint"
        )));
    }
    let role_arn = options.get("role_arn").map(str::to_string);
    if let Some(role) = &role_arn {
        if !(role.starts_with("arn:") && role.contains(":role/")) {
            return Err(invalid(format!("role_arn must be the ARN of an IAM role, got \"{role}\"")));
        }
    }
    Ok(KinesisConnection {
        arn: arn.to_string(),
        region,
        stream_name: parsed.stream_name,
        endpoint,
        credentials: credentials(options)?,
        role_arn,
    })
}

fn credentials(options: &Options) -> Result<KinesisCredentials, SqlError> {
    let key = options.get("access_key_id");
    let secret = options.get("secret_access_key");
    let token = options.get("token");
    let profile = options.get("profile");
    if profile.is_some() && (key.is_some() || secret.is_some() || token.is_some()) {
        return Err(invalid("profile cannot be combined with access_key_id, secret_access_key or token"));
    }
    match (key, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(KinesisCredentials::Static {
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
            token: token.map(str::to_string),
        }),
        (Some(_), None) => Err(invalid("access_key_id requires secret_access_key")),
        (None, Some(_)) => Err(invalid("secret_access_key requires access_key_id")),
        (None, None) if token.is_some() => Err(invalid("token requires access_key_id and secret_access_key")),
        (None, None) => Ok(profile.map_or(KinesisCredentials::DefaultChain, |p| KinesisCredentials::Profile(p.into()))),
    }
}

fn source_format(spec: &FormatSpec) -> Result<SourceFormat, SqlError> {
    Ok(match spec {
        FormatSpec::Bytes => SourceFormat::Bytes,
        FormatSpec::Text => SourceFormat::Text,
        FormatSpec::Json => SourceFormat::Json,
        FormatSpec::Csv { columns: 0 } => return Err(invalid("CSV sources need at least one column")),
        FormatSpec::Csv { columns } => SourceFormat::Csv { columns: *columns },
        FormatSpec::Regex { pattern } => SourceFormat::Regex { pattern: pattern.clone() },
        FormatSpec::Protobuf { message, schema_file } => {
            let descriptors = std::fs::read(schema_file)
                .map_err(|e| invalid(format!("unable to read protobuf schema file \"{schema_file}\": {e}")))?;
            SourceFormat::Protobuf { message: message.clone(), descriptors }
        }
    })
}

fn relation_desc(format: &SourceFormat, columns: &[String]) -> Result<RelationDesc, SqlError> {
    if let SourceFormat::Csv { columns: n } = format {
        if !columns.is_empty() && columns.len() != *n {
            return Err(invalid(format!(
                "CSV source declares {n} columns but {} column names were given",
                columns.len()
            )));
        }
    }
    if let Some(dup) = columns.iter().enumerate().find_map(|(i, c)| columns[..i].contains(c).then_some(c)) {
        return Err(SqlError::DuplicateColumn(dup.clone()));
    }
    let decoder = Decoder::new(format).map_err(|e| invalid(e.to_string()))?;
    let desc = decoder.relation_desc(columns).map_err(|e| invalid(e.to_string()))?;
    if !columns.is_empty() && desc.arity() != columns.len() {
        return Err(invalid(format!(
            "the source has {} columns but {} column names were given",
            desc.arity(),
            columns.len()
        )));
    }
    Ok(desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parsing() {
        let arn = parse_arn("arn:aws:kinesis:us-east-1:123456789012:stream/orders").unwrap();
        assert_eq!(arn, StreamArn { region: "us-east-1".into(), stream_name: "orders".into() });
        assert_eq!(parse_arn("arn:aws:kinesis:aws-region::stream/fake-stream").unwrap().region, "aws-region");
        for bad in [
            "",
            "arn:aws:kinesis:us-east-1:123:orders",
            "arn:aws:s3:us-east-1:123:stream/x",
            "arn:aws:kinesis:us-east-1:123:stream/",
            "arn:aws:kinesis:us-east-1:12a:stream/x",
            "arn:aws:kinesis:us-east-1:123:stream/x:extra",
            "nope:aws:kinesis:us-east-1:123:stream/x",
        ] {
            let err = parse_arn(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("Unable to parse provided ARN: {bad}"));
            assert_eq!(err.sqlstate(), "22023");
        }
    }

    #[test]
    fn region_shapes() {
        assert!(is_aws_region("eu-west-1"));
        assert!(is_aws_region("us-gov-west-1"));
        assert!(is_aws_region("ap-southeast-9"), "future regions of the usual shape");
        assert!(is_aws_region("us-isob-east-1"));
        assert!(!is_aws_region("aws-region"));
        assert!(!is_aws_region("local"));
        assert!(!is_aws_region("us-east"));
        assert!(!is_aws_region("US-EAST-1"));
    }
}
