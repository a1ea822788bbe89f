//! Kinesis sources end to end: the real `freshet` binary reads a real emulator (npm `kinesis-local`)
//! and is queried over TCP. Covers the reference page's examples verbatim, every format, records
//! flowing into a materialized view, the progress collection, invalid CREATE SOURCE statements,
//! malformed records, secrets redaction, and an emulator restart mid-stream.

#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/server.rs"]
mod server;
#[path = "support/sql.rs"]
mod sql;

use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use emulator::Emulator;
use server::TestServer;
use sql::{count, eventually, query, DEADLINE};

fn server_for(emulator: &Emulator) -> TestServer {
    TestServer::start_with_env(emulator.env_vars().into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A client for the emulator speaking as region `region` (the reference page uses `aws-region`).
fn client_in_region(emulator: &Emulator, region: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("access_key_id", "secret_access_key", None, None, "test"))
        .endpoint_url(emulator.endpoint())
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

async fn create_stream_in(client: &aws_sdk_kinesis::Client, stream: &str, shards: i32) {
    client.create_stream().stream_name(stream).shard_count(shards).send().await.expect("create stream");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let summary = client.describe_stream_summary().stream_name(stream).send().await;
        let active = summary.ok().and_then(|s| {
            s.stream_description_summary().map(|d| d.stream_status() == &aws_sdk_kinesis::types::StreamStatus::Active)
        });
        if active == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "stream did not become active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_page_examples_run_verbatim() {
    let emulator = Emulator::start().await;
    let kinesis = client_in_region(&emulator, "aws-region");
    create_stream_in(&kinesis, "fake-stream", 2).await;
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        let record = format!(r#"{{"field1":"{key}1","field2":"{key}2","field3":{i}}}"#);
        kinesis
            .put_record()
            .stream_name("fake-stream")
            .partition_key(*key)
            .data(Blob::new(record.into_bytes()))
            .send()
            .await
            .expect("put");
    }
    let server = TestServer::start_with_env(vec![("AWS_ENDPOINT_URL".into(), emulator.endpoint())]);
    let client = server.connect().await;
    let statements = [
        "CREATE SOURCE json_source
  FROM KINESIS ARN 'arn:aws:kinesis:aws-region::stream/fake-stream'
  WITH ( access_key_id = 'access_key_id',
         secret_access_key = 'secret_access_key' )
  FORMAT BYTES;",
        "CREATE MATERIALIZED VIEW jsonified_kinesis_source AS
  SELECT
    data->>'field1' AS field_1,
    data->>'field2' AS field_2,
    data->>'field3' AS field_3
  FROM (SELECT CONVERT_FROM(data, 'utf8')::jsonb AS data FROM json_source);",
        "CREATE SOURCE text_source
  FROM KINESIS ARN 'arn:aws:kinesis:aws-region::stream/fake-stream'
  WITH ( access_key_id = 'access_key_id',
         secret_access_key = 'secret_access_key' )
  FORMAT TEXT;",
        "CREATE SOURCE csv_source (col_foo, col_bar, col_baz)
  FROM KINESIS ARN 'arn:aws:kinesis:aws-region::stream/fake-stream'
  WITH ( access_key_id = 'access_key_id',
         secret_access_key = 'secret_access_key' )
  FORMAT CSV WITH 3 COLUMNS;",
    ];
    for sql in statements {
        query(&client, sql).await.unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
    }
    eventually(
        &client,
        "SELECT field_1, field_2, field_3 FROM jsonified_kinesis_source",
        &[&["a1", "a2", "0"], &["b1", "b2", "1"], &["c1", "c2", "2"]],
    )
    .await;
    eventually(&client, "SELECT count(*) FROM text_source WHERE text LIKE '{%'", &[&["3"]]).await;
    eventually(
        &client,
        "SELECT col_foo FROM csv_source",
        &[&[r#"{"field1":"a1""#], &[r#"{"field1":"b1""#], &[r#"{"field1":"c1""#]],
    )
    .await;
    eventually(
        &client,
        "SHOW SOURCES",
        &[
            &["csv_source", "kinesis"],
            &["csv_source_progress", "progress"],
            &["json_source", "kinesis"],
            &["json_source_progress", "progress"],
            &["text_source", "kinesis"],
            &["text_source_progress", "progress"],
        ],
    )
    .await;
    let shown = query(&client, "SHOW CREATE SOURCE json_source").await.expect("show create");
    let sql = shown[0][1].clone().unwrap_or_default();
    assert!(sql.contains("'<redacted>'") && !sql.contains("'secret_access_key'"), "secret not redacted: {sql}");
    assert!(sql.contains("access_key_id = 'access_key_id'"), "key id is not a secret: {sql}");
    // The catalog stores the secret (sources restart with it) but only its owner may read it.
    use std::os::unix::fs::PermissionsExt;
    let catalog = server.data_dir().join("catalog.json");
    let mode = std::fs::metadata(&catalog).expect("catalog file").permissions().mode();
    assert_eq!(mode & 0o077, 0, "catalog.json is readable by others: {mode:o}");
    assert!(!server.log().contains("secret_access_key'"), "the server log shows a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_flow_into_a_materialized_view_and_progress_advances() {
    let emulator = Emulator::start().await;
    emulator.create_stream("clicks", 4).await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("clicks");
    query(&client, &format!("CREATE SOURCE clicks FROM KINESIS ARN '{arn}' FORMAT JSON")).await.expect("source");
    query(
        &client,
        "CREATE MATERIALIZED VIEW per_page AS
           SELECT data->>'page' AS page, count(*) AS hits, sum((data->>'ms')::bigint) AS total_ms
           FROM clicks GROUP BY data->>'page'",
    )
    .await
    .expect("view");
    let mut last_sequence = std::collections::BTreeMap::new();
    for i in 0..40 {
        let page = ["home", "cart", "help"][i % 3];
        let record = format!(r#"{{"page":"{page}","ms":{i}}}"#);
        let (shard, seq) = emulator.put_record("clicks", &format!("user-{i}"), record.as_bytes()).await;
        last_sequence.insert(shard, seq);
    }
    eventually(
        &client,
        "SELECT page, hits, total_ms FROM per_page",
        &[&["cart", "13", "247"], &["help", "13", "260"], &["home", "14", "273"]],
    )
    .await;
    let progress: Vec<Vec<String>> =
        last_sequence.iter().map(|(shard, seq)| vec![shard.clone(), seq.clone()]).collect();
    let expected: Vec<Vec<&str>> = progress.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    let expected: Vec<&[&str]> = expected.iter().map(Vec::as_slice).collect();
    eventually(&client, "SELECT shard_id, sequence_number FROM clicks_progress", &expected).await;
    // More records after the first read: the view moves on.
    emulator.put_record("clicks", "late", br#"{"page":"home","ms":1000}"#).await;
    eventually(&client, "SELECT hits, total_ms FROM per_page WHERE page = 'home'", &[&["15", "1273"]]).await;
}

/// Sources keep JSON records as the text they arrived in; what they mean must not depend on how
/// they were written: key order, white space, escapes and `1.50` against `1.5` do not count, a
/// repeated key means its last value, and such documents equal (and join with, and group with) the
/// same document built by SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_records_mean_the_same_however_they_are_written() {
    let emulator = Emulator::start().await;
    emulator.create_stream("docs", 2).await;
    let records: [&[u8]; 5] = [
        br#"{"a":1,"b":[1.50]}"#,
        b" { \"b\" : [ 1.5 ],\n \"a\" : 1 } ",
        br#"{"a":1,"a":2,"b":[1.5]}"#,
        br#"{"n\u0061me":"x"}"#,
        br#"{"name":"x"}"#,
    ];
    for (i, record) in records.iter().enumerate() {
        emulator.put_record("docs", &format!("k{i}"), record).await;
    }
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("docs");
    query(&client, &format!("CREATE SOURCE docs FROM KINESIS ARN '{arn}' FORMAT JSON")).await.expect("source");
    query(&client, "CREATE TABLE wanted (doc jsonb, label text)").await.expect("table");
    query(&client, r#"INSERT INTO wanted VALUES ('{"b": [1.5], "a": 1}', 'one'), ('{"name": "x"}', 'x')"#)
        .await
        .expect("insert");
    eventually(
        &client,
        "SELECT data::text, count(*) FROM docs GROUP BY data ORDER BY 1",
        &[&[r#"{"a": 1, "b": [1.5]}"#, "2"], &[r#"{"a": 2, "b": [1.5]}"#, "1"], &[r#"{"name": "x"}"#, "2"]],
    )
    .await;
    eventually(
        &client,
        "SELECT w.label, count(*) FROM docs d JOIN wanted w ON d.data = w.doc GROUP BY w.label ORDER BY 1",
        &[&["one", "2"], &["x", "2"]],
    )
    .await;
    eventually(&client, "SELECT data->>'a' FROM docs WHERE data->'b' = '[1.5]' ORDER BY 1", &[&["1"], &["1"], &["2"]])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_decodes_and_malformed_records_fail_queries_until_dropped() {
    let emulator = Emulator::start().await;
    emulator.create_stream("mixed", 2).await;
    emulator.put_record("mixed", "k1", b"1,alpha,x").await;
    emulator.put_record("mixed", "k2", b"2,beta,y").await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("mixed");
    for (name, format) in [
        ("as_bytes", "BYTES"),
        ("as_text", "TEXT"),
        ("as_csv", "CSV WITH 3 COLUMNS"),
        ("as_regex", r"REGEX '(?P<id>\d+),(?P<word>[a-z]+),(.*)'"),
        ("as_json", "JSON"),
    ] {
        query(&client, &format!("CREATE SOURCE {name} FROM KINESIS ARN '{arn}' FORMAT {format}"))
            .await
            .unwrap_or_else(|e| panic!("{format}: {e}"));
    }
    eventually(&client, "SELECT data FROM as_bytes", &[&[r"\x312c616c7068612c78"], &[r"\x322c626574612c79"]]).await;
    eventually(&client, "SELECT text FROM as_text", &[&["1,alpha,x"], &["2,beta,y"]]).await;
    eventually(&client, "SELECT column1, column2, column3 FROM as_csv", &[&["1", "alpha", "x"], &["2", "beta", "y"]])
        .await;
    eventually(&client, "SELECT id, word, column3 FROM as_regex", &[&["1", "alpha", "x"], &["2", "beta", "y"]]).await;
    // Not JSON: the JSON source reports a decode error naming shard and sequence number.
    let deadline = Instant::now() + DEADLINE;
    let error = loop {
        match query(&client, "SELECT * FROM as_json").await {
            Err(e) if e.contains("Decode error") => break e,
            other => assert!(Instant::now() < deadline, "no decode error yet: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        error.contains("shard") && error.contains("sequence number") && error.contains("original bytes"),
        "{error}"
    );
    // A malformed CSV record breaks the CSV source and the views on it, but not the others.
    query(&client, "CREATE VIEW csv_ids AS SELECT column1 FROM as_csv").await.expect("view");
    emulator.put_record("mixed", "k3", b"only,two").await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        match query(&client, "SELECT * FROM csv_ids").await {
            Err(e) if e.contains("Decode error") => break,
            other => assert!(Instant::now() < deadline, "no CSV decode error yet: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(&client, "SELECT count(*) FROM as_text", &[&["3"]]).await;
    query(&client, "DROP SOURCE as_csv CASCADE").await.expect("drop");
    eventually(&client, "SELECT count(*) FROM as_bytes", &[&["3"]]).await;
    let gone = query(&client, "SELECT * FROM as_csv_progress").await;
    assert!(gone.is_err_and(|e| e.starts_with("42P01")), "progress collection dropped with its source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_create_source_statements_say_what_is_wrong() {
    let emulator = Emulator::start().await;
    emulator.create_stream("exists", 1).await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("exists");
    let cases = [
        ("CREATE SOURCE s FROM KINESIS ARN 'not-an-arn' FORMAT BYTES".to_string(), "Unable to parse provided ARN"),
        (
            "CREATE SOURCE s FROM KINESIS ARN 'arn:aws:kinesis:::stream/exists' FORMAT BYTES".to_string(),
            "does not include an AWS region",
        ),
        (
            format!("CREATE SOURCE s FROM KINESIS ARN '{arn}' WITH (secret_access_key = 'x') FORMAT BYTES"),
            "access_key_id",
        ),
        (format!("CREATE SOURCE s FROM KINESIS ARN '{arn}' WITH (token = 't') FORMAT BYTES"), "token"),
        (
            format!(
                "CREATE SOURCE s FROM KINESIS ARN '{arn}' WITH (profile = 'p', access_key_id = 'a',                  secret_access_key = 'b') FORMAT BYTES"
            ),
            "profile",
        ),
        (format!("CREATE SOURCE s FROM KINESIS ARN '{arn}' WITH (colour = 'red') FORMAT BYTES"), "colour"),
        (format!("CREATE SOURCE s FROM KINESIS ARN '{arn}' FORMAT BYTES ENVELOPE UPSERT"), "0A000"),
        (
            format!("CREATE SOURCE s FROM KINESIS ARN '{}' FORMAT BYTES", emulator.stream_arn("missing")),
            "does not exist",
        ),
    ];
    for (sql, expected) in cases {
        let err = query(&client, &sql).await.expect_err(&sql);
        assert!(
            err.contains(expected),
            "{sql}
expected an error containing {expected:?}, got {err:?}"
        );
    }
    query(&client, &format!("CREATE SOURCE s FROM KINESIS ARN '{arn}' FORMAT BYTES")).await.expect("valid source");
    let err = query(&client, &format!("CREATE SOURCE s FROM KINESIS ARN '{arn}' FORMAT BYTES")).await.expect_err("dup");
    assert!(err.starts_with("42P07"), "{err}");
    query(&client, &format!("CREATE SOURCE IF NOT EXISTS s FROM KINESIS ARN '{arn}' FORMAT BYTES"))
        .await
        .expect("if not exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_restart_mid_stream_loses_and_duplicates_nothing() {
    let mut emulator = Emulator::start().await;
    emulator.create_stream("ledger", 2).await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("ledger");
    query(&client, &format!("CREATE SOURCE ledger FROM KINESIS ARN '{arn}' FORMAT TEXT")).await.expect("source");
    for i in 0..50 {
        emulator.put_record("ledger", &format!("k{i}"), format!("{i}").as_bytes()).await;
    }
    eventually(&client, "SELECT count(*), count(DISTINCT text) FROM ledger", &[&["50", "50"]]).await;
    emulator.restart().await;
    for i in 50..100 {
        emulator.put_record("ledger", &format!("k{i}"), format!("{i}").as_bytes()).await;
    }
    eventually(
        &client,
        "SELECT count(*), count(DISTINCT text), sum(text::int) FROM ledger",
        &[&["100", "100", "4950"]],
    )
    .await;
    assert_eq!(count(&client, "SELECT count(*) FROM ledger").await, Ok(100));
}

/// `demo.Order { string id = 1; int64 qty = 2; repeated string tags = 3; }` as a compiled
/// FileDescriptorSet, the form `USING SCHEMA FILE` takes (what `protoc --descriptor_set_out` writes).
fn order_descriptors() -> Vec<u8> {
    use prost_reflect::prost::Message;
    use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
    use prost_reflect::prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};
    let field = |name: &str, number: i32, ty: Type, label: Label| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        r#type: Some(ty as i32),
        label: Some(label as i32),
        json_name: Some(name.into()),
        ..Default::default()
    };
    let order = DescriptorProto {
        name: Some("Order".into()),
        field: vec![
            field("id", 1, Type::String, Label::Optional),
            field("qty", 2, Type::Int64, Label::Optional),
            field("tags", 3, Type::String, Label::Repeated),
        ],
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("order.proto".into()),
        package: Some("demo".into()),
        syntax: Some("proto3".into()),
        message_type: vec![order],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }.encode_to_vec()
}

fn encode_order(descriptors: &[u8], id: &str, qty: i64, tags: &[&str]) -> Vec<u8> {
    use prost_reflect::prost::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage, Value};
    let pool = DescriptorPool::decode(descriptors).expect("descriptors");
    let mut message = DynamicMessage::new(pool.get_message_by_name("demo.Order").expect("message"));
    message.set_field_by_name("id", Value::String(id.into()));
    message.set_field_by_name("qty", Value::I64(qty));
    message.set_field_by_name("tags", Value::List(tags.iter().map(|t| Value::String(t.to_string())).collect()));
    message.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_source_has_one_typed_column_per_field() {
    let emulator = Emulator::start().await;
    emulator.create_stream("orders", 2).await;
    let descriptors = order_descriptors();
    let schema = server::TempDir::new("proto");
    let schema_path = schema.0.join("order.desc");
    std::fs::write(&schema_path, &descriptors).expect("write descriptor set");
    emulator.put_record("orders", "a", &encode_order(&descriptors, "o-1", 3, &["new", "gift"])).await;
    emulator.put_record("orders", "b", &encode_order(&descriptors, "o-2", 40, &[])).await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("orders");
    query(
        &client,
        &format!(
            "CREATE SOURCE orders FROM KINESIS ARN '{arn}' FORMAT PROTOBUF MESSAGE 'demo.Order' USING SCHEMA FILE '{}'",
            schema_path.display()
        ),
    )
    .await
    .expect("protobuf source");
    let columns = query(&client, "SHOW COLUMNS FROM orders").await.expect("columns");
    let types: Vec<(String, String)> =
        columns.into_iter().map(|r| (r[0].clone().unwrap_or_default(), r[2].clone().unwrap_or_default())).collect();
    assert_eq!(
        types,
        vec![("id".into(), "text".into()), ("qty".into(), "bigint".into()), ("tags".into(), "jsonb".into())]
    );
    eventually(
        &client,
        "SELECT id, qty * 2, tags->>0, jsonb_array_length(tags) FROM orders",
        &[&["o-1", "6", "new", "2"], &["o-2", "80", "NULL", "0"]],
    )
    .await;
    let missing = query(
        &client,
        &format!(
            "CREATE SOURCE bad FROM KINESIS ARN '{arn}' FORMAT PROTOBUF MESSAGE 'demo.Nope' USING SCHEMA FILE '{}'",
            schema_path.display()
        ),
    )
    .await
    .expect_err("unknown message");
    assert!(missing.contains("demo.Nope"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_becomes_an_error_of_its_source_only() {
    let emulator = Emulator::start().await;
    emulator.create_stream("doomed", 1).await;
    emulator.create_stream("steady", 1).await;
    emulator.put_record("doomed", "k", b"before").await;
    emulator.put_record("steady", "k", b"fine").await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    for name in ["doomed", "steady"] {
        let arn = emulator.stream_arn(name);
        query(&client, &format!("CREATE SOURCE {name} FROM KINESIS ARN '{arn}' FORMAT TEXT")).await.expect("source");
    }
    eventually(&client, "SELECT text FROM doomed", &[&["before"]]).await;
    emulator.delete_stream("doomed").await;
    let deadline = Instant::now() + DEADLINE;
    let error = loop {
        match query(&client, "SELECT count(*) FROM doomed").await {
            Err(e) => break e,
            Ok(rows) => assert!(Instant::now() < deadline, "deleting the stream raised no error: {rows:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("doomed"), "the error names the source or stream: {error}");
    emulator.put_record("steady", "k", b"still").await;
    eventually(&client, "SELECT text FROM steady", &[&["fine"], &["still"]]).await;
}
