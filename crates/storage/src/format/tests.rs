//! Unit tests of every format, including malformed records.

use bigdecimal::BigDecimal;
use freshet_repr::{Datum, Jsonb, ScalarType};
use prost_reflect::prost::Message;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet, MessageOptions,
};
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, Value};

use super::{DecodeFailure, Decoder, SourceFormat};

fn decoder(format: SourceFormat) -> Decoder {
    Decoder::new(&format).unwrap()
}

fn columns(d: &Decoder, names: &[&str]) -> Vec<(String, ScalarType, bool)> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let desc = d.relation_desc(&names).unwrap();
    desc.iter().map(|(n, t)| (n.to_string(), t.scalar_type, t.nullable)).collect()
}

fn text(s: &str) -> Datum {
    Datum::Text(s.into())
}

#[test]
fn bytes_keeps_every_byte() {
    let d = decoder(SourceFormat::Bytes);
    assert_eq!(columns(&d, &[]), vec![("data".into(), ScalarType::Bytes, false)]);
    assert_eq!(d.decode(&[0, 255, 10]).unwrap().datums(), &[Datum::Bytes(vec![0, 255, 10])]);
}

#[test]
fn text_requires_utf8() {
    let d = decoder(SourceFormat::Text);
    assert_eq!(columns(&d, &["line"]), vec![("line".into(), ScalarType::Text, false)]);
    assert_eq!(d.decode("héllo".as_bytes()).unwrap().datums(), &[text("héllo")]);
    let err = d.decode(&[0x66, 0xff]).unwrap_err();
    assert!(err.0.contains("UTF-8"), "{err}");
}

#[test]
fn json_parses_and_canonicalises() {
    let d = decoder(SourceFormat::Json);
    assert_eq!(columns(&d, &[]), vec![("data".into(), ScalarType::Jsonb, false)]);
    let row = d.decode(br#"{"b": 1, "a": [true, null]}"#).unwrap();
    assert_eq!(row.datums(), &[Datum::Jsonb(Jsonb::parse(r#"{"a":[true,null],"b":1}"#).unwrap())]);
    assert!(d.decode(b"{not json").unwrap_err().0.starts_with("invalid JSON"));
    assert!(d.decode(b"").is_err());
}

#[test]
fn csv_splits_quoted_fields_and_checks_the_count() {
    let d = decoder(SourceFormat::Csv { columns: 3 });
    let names: Vec<String> = columns(&d, &[]).into_iter().map(|c| c.0).collect();
    assert_eq!(names, vec!["column1", "column2", "column3"]);
    assert_eq!(columns(&d, &["a", "b", "c"])[2], ("c".into(), ScalarType::Text, false));
    assert!(d.relation_desc(&["a".into()]).is_err());
    let row = d
        .decode(
            br#"1,"two, with comma","say ""hi"""
"#,
        )
        .unwrap();
    assert_eq!(row.datums(), &[text("1"), text("two, with comma"), text("say \"hi\"")]);
    assert_eq!(d.decode(b"a,b").unwrap_err(), DecodeFailure("expected 3 columns, got 2".into()));
    assert_eq!(d.decode(b"a,b,c,d").unwrap_err(), DecodeFailure("expected 3 columns, got 4".into()));
    assert!(d.decode(b"a,b,c\nd,e,f").is_err());
    assert!(d.decode(&[b'a', b',', 0xff, b',', b'c']).is_err());
    let one = decoder(SourceFormat::Csv { columns: 1 });
    assert_eq!(one.decode(b"").unwrap().datums(), &[text("")]);
    assert!(Decoder::new(&SourceFormat::Csv { columns: 0 }).is_err());
}

#[test]
fn regex_names_groups_and_rejects_non_matching_records() {
    let d = decoder(SourceFormat::Regex { pattern: r"(?P<user>\w+) (\d+)( ms)?".into() });
    assert_eq!(
        columns(&d, &[]),
        vec![
            ("user".into(), ScalarType::Text, true),
            ("column2".into(), ScalarType::Text, true),
            ("column3".into(), ScalarType::Text, true)
        ]
    );
    assert_eq!(d.decode(b"alice 42 ms").unwrap().datums(), &[text("alice"), text("42"), text(" ms")]);
    assert_eq!(d.decode(b"bob 7").unwrap().datums(), &[text("bob"), text("7"), Datum::Null]);
    assert!(d.decode(b"!!!").unwrap_err().0.contains("does not match"));
    assert!(Decoder::new(&SourceFormat::Regex { pattern: "(unclosed".into() }).is_err());
    assert!(Decoder::new(&SourceFormat::Regex { pattern: "no groups".into() }).is_err());
}

fn field(name: &str, number: i32, ty: Type, label: Label, type_name: Option<&str>) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        r#type: Some(ty as i32),
        label: Some(label as i32),
        type_name: type_name.map(String::from),
        json_name: Some(name.into()),
        ..Default::default()
    }
}

/// `test.Event` covering every scalar kind, an enum, a nested message, a repeated and a map field.
fn descriptors() -> Vec<u8> {
    let opt = Label::Optional;
    let counts_entry = DescriptorProto {
        name: Some("CountsEntry".into()),
        field: vec![field("key", 1, Type::String, opt, None), field("value", 2, Type::Int32, opt, None)],
        options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
        ..Default::default()
    };
    let event = DescriptorProto {
        name: Some("Event".into()),
        field: vec![
            field("i32", 1, Type::Int32, opt, None),
            field("s64", 2, Type::Sint64, opt, None),
            field("u32", 3, Type::Uint32, opt, None),
            field("u64", 4, Type::Uint64, opt, None),
            field("f", 5, Type::Float, opt, None),
            field("d", 6, Type::Double, opt, None),
            field("b", 7, Type::Bool, opt, None),
            field("s", 8, Type::String, opt, None),
            field("raw", 9, Type::Bytes, opt, None),
            field("color", 10, Type::Enum, opt, Some(".test.Color")),
            field("inner", 11, Type::Message, opt, Some(".test.Inner")),
            field("nums", 12, Type::Int32, Label::Repeated, None),
            field("counts", 13, Type::Message, Label::Repeated, Some(".test.Event.CountsEntry")),
        ],
        nested_type: vec![counts_entry],
        ..Default::default()
    };
    let inner = DescriptorProto {
        name: Some("Inner".into()),
        field: vec![field("label", 1, Type::String, opt, None)],
        ..Default::default()
    };
    let value = |name: &str, number| EnumValueDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        ..Default::default()
    };
    let color = EnumDescriptorProto {
        name: Some("Color".into()),
        value: vec![value("RED", 0), value("GREEN", 1)],
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("test.proto".into()),
        package: Some("test".into()),
        syntax: Some("proto3".into()),
        message_type: vec![event, inner],
        enum_type: vec![color],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }.encode_to_vec()
}

fn protobuf_decoder() -> (Decoder, DescriptorPool) {
    let bytes = descriptors();
    let pool = DescriptorPool::decode(bytes.as_slice()).unwrap();
    (decoder(SourceFormat::Protobuf { message: "test.Event".into(), descriptors: bytes }), pool)
}

#[test]
fn protobuf_columns_are_typed_per_field() {
    let (d, _) = protobuf_decoder();
    let cols = columns(&d, &[]);
    let types: Vec<(&str, ScalarType, bool)> = cols.iter().map(|(n, t, null)| (n.as_str(), *t, *null)).collect();
    assert_eq!(
        types,
        vec![
            ("i32", ScalarType::Int32, false),
            ("s64", ScalarType::Int64, false),
            ("u32", ScalarType::Int64, false),
            ("u64", ScalarType::Numeric, false),
            ("f", ScalarType::Float32, false),
            ("d", ScalarType::Float64, false),
            ("b", ScalarType::Bool, false),
            ("s", ScalarType::Text, false),
            ("raw", ScalarType::Bytes, false),
            ("color", ScalarType::Text, false),
            ("inner", ScalarType::Jsonb, true),
            ("nums", ScalarType::Jsonb, false),
            ("counts", ScalarType::Jsonb, false),
        ]
    );
}

#[test]
fn protobuf_decodes_every_kind_of_field() {
    let (d, pool) = protobuf_decoder();
    let desc = pool.get_message_by_name("test.Event").unwrap();
    let mut msg = DynamicMessage::new(desc);
    msg.set_field_by_name("i32", Value::I32(-5));
    msg.set_field_by_name("s64", Value::I64(-9_000_000_000));
    msg.set_field_by_name("u32", Value::U32(4_000_000_000));
    msg.set_field_by_name("u64", Value::U64(u64::MAX));
    msg.set_field_by_name("f", Value::F32(1.5));
    msg.set_field_by_name("d", Value::F64(-2.25));
    msg.set_field_by_name("b", Value::Bool(true));
    msg.set_field_by_name("s", Value::String("hi".into()));
    msg.set_field_by_name("raw", Value::Bytes(vec![1, 2].into()));
    msg.set_field_by_name("color", Value::EnumNumber(1));
    let mut inner = DynamicMessage::new(pool.get_message_by_name("test.Inner").unwrap());
    inner.set_field_by_name("label", Value::String("x".into()));
    msg.set_field_by_name("inner", Value::Message(inner));
    msg.set_field_by_name("nums", Value::List(vec![Value::I32(3), Value::I32(4)]));
    let counts = [(MapKey::String("k".into()), Value::I32(7))].into_iter().collect();
    msg.set_field_by_name("counts", Value::Map(counts));

    let row = d.decode(&msg.encode_to_vec()).unwrap();
    let json = |s: &str| Datum::Jsonb(Jsonb::parse(s).unwrap());
    assert_eq!(
        row.datums(),
        &[
            Datum::Int32(-5),
            Datum::Int64(-9_000_000_000),
            Datum::Int64(4_000_000_000),
            Datum::numeric(BigDecimal::from(u64::MAX)),
            Datum::float32(1.5),
            Datum::float64(-2.25),
            Datum::Bool(true),
            text("hi"),
            Datum::Bytes(vec![1, 2]),
            text("GREEN"),
            json(r#"{"label":"x"}"#),
            json("[3,4]"),
            json(r#"{"k":7}"#),
        ]
    );
}

#[test]
fn protobuf_defaults_unset_messages_and_malformed_input() {
    let (d, _) = protobuf_decoder();
    // An empty message: proto3 defaults, the unset message field is NULL, collections are empty.
    let row = d.decode(&[]).unwrap();
    assert_eq!(row.get(0), Some(&Datum::Int32(0)));
    assert_eq!(row.get(9), Some(&text("RED")));
    assert_eq!(row.get(10), Some(&Datum::Null));
    assert_eq!(row.get(11), Some(&Datum::Jsonb(Jsonb::parse("[]").unwrap())));
    assert_eq!(row.get(12), Some(&Datum::Jsonb(Jsonb::parse("{}").unwrap())));
    // Field 1 as a varint with its value cut off.
    assert!(d.decode(&[0x08]).unwrap_err().0.contains("invalid protobuf"));
    assert!(d.decode(&[0xff, 0xff, 0xff]).is_err());
}

#[test]
fn protobuf_rejects_unknown_messages_and_bad_descriptors() {
    let unknown = SourceFormat::Protobuf { message: "test.Nope".into(), descriptors: descriptors() };
    let Err(err) = Decoder::new(&unknown) else { panic!("an unknown message was accepted") };
    assert!(err.0.contains("test.Nope"), "{err}");
    let bad = SourceFormat::Protobuf { message: "test.Event".into(), descriptors: vec![0xff, 0x01] };
    assert!(Decoder::new(&bad).is_err());
    let dotted = SourceFormat::Protobuf { message: ".test.Event".into(), descriptors: descriptors() };
    assert!(Decoder::new(&dotted).is_ok());
}
