//! Reading AWS Kinesis Data Streams: connecting with the standard AWS configuration, listing shards,
//! and one polling reader per shard that respects Kinesis's limits.
//!
//! This is the only crate that depends on the AWS SDK. It knows nothing of rows, formats, SQL or
//! dataflows: it hands raw records (bytes, sequence numbers) to a callback.
