//! Source formats: how one record's bytes become one row (or a decode failure).

use freshet_repr::{ColumnType, Datum, RelationDesc, Row, ScalarType};
use serde::{Deserialize, Serialize};

/// A source's FORMAT clause.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceFormat {
    Bytes,
    Text,
    Json,
    Csv { columns: usize },
    Regex { pattern: String },
    /// `message` is the fully qualified message name; `descriptors` is a compiled FileDescriptorSet.
    Protobuf { message: String, descriptors: Vec<u8> },
}

/// Why one record did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeFailure(pub String);

/// A format made ready to decode many records (regexes compiled, descriptors loaded).
pub struct Decoder {
    format: SourceFormat,
}

impl Decoder {
    pub fn new(format: &SourceFormat) -> Result<Decoder, DecodeFailure> {
        Ok(Decoder { format: format.clone() })
    }

    /// The relation this format produces; `column_names` overrides the default names when given.
    pub fn relation_desc(&self, column_names: &[String]) -> Result<RelationDesc, DecodeFailure> {
        let defaults: Vec<(String, ColumnType)> = match &self.format {
            SourceFormat::Bytes => vec![("data".into(), ColumnType::new(ScalarType::Bytes, false))],
            SourceFormat::Text => vec![("text".into(), ColumnType::new(ScalarType::Text, false))],
            SourceFormat::Json => vec![("data".into(), ColumnType::new(ScalarType::Jsonb, false))],
            other => return Err(DecodeFailure(format!("format {other:?} is not supported yet"))),
        };
        rename(defaults, column_names)
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<Row, DecodeFailure> {
        match &self.format {
            SourceFormat::Bytes => Ok(Row::new(vec![Datum::Bytes(bytes.to_vec())])),
            other => Err(DecodeFailure(format!("format {other:?} is not supported yet"))),
        }
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
