//! Source formats: how one record's bytes become one row (or a decode failure).
//!
//! A [`Decoder`] prepares a format once (compiles the regex, loads protobuf descriptors) and then
//! decodes records. It must not know where records come from (Kinesis) or where rows go.

mod csv;
mod protobuf;
mod regex;
#[cfg(test)]
mod tests;
mod text;

use freshet_repr::{ColumnType, Datum, RelationDesc, Row, ScalarType};
use serde::{Deserialize, Serialize};

use self::protobuf::ProtobufDecoder;
use self::regex::RegexDecoder;

/// A source's FORMAT clause.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceFormat {
    Bytes,
    Text,
    Json,
    Csv {
        columns: usize,
    },
    Regex {
        pattern: String,
    },
    /// `message` is the fully qualified message name; `descriptors` is a compiled FileDescriptorSet.
    Protobuf {
        message: String,
        descriptors: Vec<u8>,
    },
}

/// Why one record did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeFailure(pub String);

/// A format made ready to decode many records (regexes compiled, descriptors loaded).
pub struct Decoder {
    prepared: Prepared,
}

enum Prepared {
    Bytes,
    Text,
    Json,
    Csv { columns: usize },
    Regex(RegexDecoder),
    Protobuf(ProtobufDecoder),
}

impl Decoder {
    pub fn new(format: &SourceFormat) -> Result<Decoder, DecodeFailure> {
        let prepared = match format {
            SourceFormat::Bytes => Prepared::Bytes,
            SourceFormat::Text => Prepared::Text,
            SourceFormat::Json => Prepared::Json,
            SourceFormat::Csv { columns: 0 } => {
                return Err(DecodeFailure("CSV format needs at least one column".into()));
            }
            SourceFormat::Csv { columns } => Prepared::Csv { columns: *columns },
            SourceFormat::Regex { pattern } => Prepared::Regex(RegexDecoder::new(pattern)?),
            SourceFormat::Protobuf { message, descriptors } => {
                Prepared::Protobuf(ProtobufDecoder::new(message, descriptors)?)
            }
        };
        Ok(Decoder { prepared })
    }

    /// The relation this format produces; `column_names` overrides the default names when given.
    pub fn relation_desc(&self, column_names: &[String]) -> Result<RelationDesc, DecodeFailure> {
        let text = |name: String, nullable| (name, ColumnType::new(ScalarType::Text, nullable));
        let defaults: Vec<(String, ColumnType)> = match &self.prepared {
            Prepared::Bytes => vec![("data".into(), ColumnType::new(ScalarType::Bytes, false))],
            Prepared::Text => vec![text("text".into(), false)],
            Prepared::Json => vec![("data".into(), ColumnType::new(ScalarType::Jsonb, false))],
            Prepared::Csv { columns } => (1..=*columns).map(|i| text(format!("column{i}"), false)).collect(),
            Prepared::Regex(regex) => regex.column_names().into_iter().map(|name| text(name, true)).collect(),
            Prepared::Protobuf(proto) => proto.columns(),
        };
        rename(defaults, column_names)
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<Row, DecodeFailure> {
        let one = |datum: Datum| std::iter::once(datum).collect();
        Ok(match &self.prepared {
            Prepared::Bytes => one(Datum::Bytes(bytes.to_vec())),
            Prepared::Text => one(text::decode_text(bytes)?),
            Prepared::Json => one(text::decode_json(bytes)?),
            Prepared::Csv { columns } => Row::new(csv::decode_csv(bytes, *columns)?),
            Prepared::Regex(regex) => Row::new(regex.decode(bytes)?),
            Prepared::Protobuf(proto) => Row::new(proto.decode(bytes)?),
        })
    }
}

fn rename(columns: Vec<(String, ColumnType)>, names: &[String]) -> Result<RelationDesc, DecodeFailure> {
    if names.is_empty() {
        return Ok(RelationDesc::new(columns));
    }
    if names.len() != columns.len() {
        return Err(DecodeFailure(format!(
            "the source has {} columns but {} names were given",
            columns.len(),
            names.len()
        )));
    }
    Ok(RelationDesc::new(names.iter().cloned().zip(columns.into_iter().map(|(_, t)| t)).collect()))
}
