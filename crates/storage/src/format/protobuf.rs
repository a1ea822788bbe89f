//! FORMAT PROTOBUF MESSAGE 'name': decodes each record as that message of a compiled
//! FileDescriptorSet into one column per field. Scalars get SQL types; enums become their value
//! names; nested messages, repeated and map fields become jsonb (protobuf's JSON mapping).

use bigdecimal::BigDecimal;
use freshet_repr::{ColumnType, Datum, Jsonb, ScalarType};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions, Value,
};

use super::DecodeFailure;

pub(super) struct ProtobufDecoder {
    message: MessageDescriptor,
    fields: Vec<FieldDescriptor>,
}

impl ProtobufDecoder {
    pub(super) fn new(message: &str, descriptors: &[u8]) -> Result<ProtobufDecoder, DecodeFailure> {
        let pool = DescriptorPool::decode(descriptors)
            .map_err(|e| DecodeFailure(format!("invalid protobuf descriptors: {e}")))?;
        let name = message.strip_prefix('.').unwrap_or(message);
        let message = pool
            .get_message_by_name(name)
            .ok_or_else(|| DecodeFailure(format!("protobuf message \"{name}\" is not in the descriptors")))?;
        let fields = message.fields().collect();
        Ok(ProtobufDecoder { message, fields })
    }

    pub(super) fn columns(&self) -> Vec<(String, ColumnType)> {
        self.fields
            .iter()
            .map(|f| (f.name().to_string(), ColumnType::new(column_type(f), f.supports_presence())))
            .collect()
    }

    pub(super) fn decode(&self, bytes: &[u8]) -> Result<Vec<Datum>, DecodeFailure> {
        let message = DynamicMessage::decode(self.message.clone(), bytes)
            .map_err(|e| DecodeFailure(format!("invalid protobuf message {}: {e}", self.message.full_name())))?;
        let json = if self.fields.iter().any(|f| column_type(f) == ScalarType::Jsonb) {
            Some(to_json(&message)?)
        } else {
            None
        };
        self.fields
            .iter()
            .map(|field| {
                if field.supports_presence() && !message.has_field(field) {
                    return Ok(Datum::Null);
                }
                match json.as_ref().filter(|_| column_type(field) == ScalarType::Jsonb) {
                    Some(json) => Ok(json_field(json, field)),
                    None => scalar_datum(field, &message.get_field(field)),
                }
            })
            .collect()
    }
}

fn column_type(field: &FieldDescriptor) -> ScalarType {
    if field.is_list() || field.is_map() {
        return ScalarType::Jsonb;
    }
    match field.kind() {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ScalarType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint32 | Kind::Fixed32 => ScalarType::Int64,
        Kind::Uint64 | Kind::Fixed64 => ScalarType::Numeric,
        Kind::Float => ScalarType::Float32,
        Kind::Double => ScalarType::Float64,
        Kind::Bool => ScalarType::Bool,
        Kind::String | Kind::Enum(_) => ScalarType::Text,
        Kind::Bytes => ScalarType::Bytes,
        Kind::Message(_) => ScalarType::Jsonb,
    }
}

fn scalar_datum(field: &FieldDescriptor, value: &Value) -> Result<Datum, DecodeFailure> {
    Ok(match value {
        Value::Bool(b) => Datum::Bool(*b),
        Value::I32(v) => Datum::Int32(*v),
        Value::I64(v) => Datum::Int64(*v),
        Value::U32(v) => Datum::Int64(i64::from(*v)),
        Value::U64(v) => Datum::numeric(BigDecimal::from(*v)),
        Value::F32(v) => Datum::float32(*v),
        Value::F64(v) => Datum::float64(*v),
        Value::String(s) => Datum::Text(s.clone()),
        Value::Bytes(b) => Datum::Bytes(b.to_vec()),
        Value::EnumNumber(n) => {
            // An enum number this schema does not know (a newer writer) is kept as its number.
            let name = field.kind().as_enum().and_then(|e| e.get_value(*n)).map(|v| v.name().to_string());
            Datum::Text(name.unwrap_or_else(|| n.to_string()))
        }
        Value::Message(_) | Value::List(_) | Value::Map(_) => {
            return Err(DecodeFailure(format!("field {} is not a scalar", field.name())));
        }
    })
}

fn to_json(message: &DynamicMessage) -> Result<serde_json::Value, DecodeFailure> {
    // Numbers stay numbers in jsonb; field names are the .proto names, as the columns are.
    let options =
        SerializeOptions::new().use_proto_field_name(true).skip_default_fields(false).stringify_64_bit_integers(false);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| DecodeFailure(format!("cannot convert protobuf message to JSON: {e}")))
}

fn json_field(message_json: &serde_json::Value, field: &FieldDescriptor) -> Datum {
    match message_json.get(field.name()) {
        Some(serde_json::Value::Null) => Datum::Null,
        Some(value) => Datum::Jsonb(Jsonb::from_value(value).compact()),
        // The serializer leaves out nothing with `skip_default_fields(false)`; an empty collection is the safe reading.
        None if field.is_map() => Datum::Jsonb(Jsonb::from_value(&serde_json::json!({}))),
        None if field.is_list() => Datum::Jsonb(Jsonb::from_value(&serde_json::json!([]))),
        None => Datum::Null,
    }
}
