//! Tests of parsing: splitting, the extension statements, statement text, and redaction.

use super::*;

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";

fn one(sql: &str) -> Statement {
    let mut statements = parse(sql).unwrap();
    assert_eq!(statements.len(), 1, "{sql}");
    statements.remove(0)
}

fn create_source(sql: &str) -> CreateSourceStatement {
    match one(sql) {
        Statement::CreateSource(stmt) => stmt,
        other => panic!("not CREATE SOURCE: {other:?}"),
    }
}

fn parse_err(sql: &str) -> String {
    let err = parse(sql).unwrap_err();
    assert_eq!(err.sqlstate(), "42601", "{sql}: {err}");
    err.to_string()
}

#[test]
fn empty_input_has_no_statements() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("  ;; ; ").unwrap().is_empty());
    assert!(parse("-- just a comment\n").unwrap().is_empty());
}

#[test]
fn mixed_statements_split_on_semicolons() {
    let sql = format!(
        "CREATE TABLE t (a int); SHOW SOURCES; CREATE SOURCE s FROM KINESIS ARN '{ARN}' FORMAT TEXT;SELECT ';'"
    );
    let statements = parse(&sql).unwrap();
    assert_eq!(statements.len(), 4);
    assert!(matches!(&statements[0], Statement::Sql(s) if matches!(**s, sqlparser::ast::Statement::CreateTable(_))));
    assert!(matches!(statements[1], Statement::ShowObjects(ObjectKind::Source)));
    assert!(matches!(&statements[2], Statement::CreateSource(s) if s.name == "s"));
    assert!(matches!(&statements[3], Statement::Sql(s) if s.to_string() == "SELECT ';'"));
}

#[test]
fn create_source_with_every_clause() {
    let sql = format!(
        "CREATE SOURCE IF NOT EXISTS \"Src\" (a, B) FROM KINESIS ARN '{ARN}' \
         WITH (access_key_id = 'AK', Secret_Access_Key = 'SK', region 'eu-west-1') \
         FORMAT CSV WITH 2 COLUMNS ENVELOPE NONE EXPOSE PROGRESS AS src_prog"
    );
    let stmt = create_source(&sql);
    assert_eq!(
        stmt,
        CreateSourceStatement {
            name: "Src".into(),
            if_not_exists: true,
            columns: vec!["a".into(), "b".into()],
            arn: ARN.into(),
            options: vec![
                ("access_key_id".into(), "AK".into()),
                ("secret_access_key".into(), "SK".into()),
                ("region".into(), "eu-west-1".into()),
            ],
            format: FormatSpec::Csv { columns: 2 },
            envelope: Some("NONE".into()),
            progress_name: Some("src_prog".into()),
            sql: sql.clone(),
        }
    );
}

#[test]
fn create_source_formats() {
    let format =
        |clause: &str| create_source(&format!("create source s from kinesis arn '{ARN}' format {clause}")).format;
    assert_eq!(format("BYTES"), FormatSpec::Bytes);
    assert_eq!(format("text"), FormatSpec::Text);
    assert_eq!(format("JSON"), FormatSpec::Json);
    assert_eq!(format("CSV WITH 3 COLUMNS"), FormatSpec::Csv { columns: 3 });
    assert_eq!(format("REGEX '(?P<a>\\d+)'"), FormatSpec::Regex { pattern: "(?P<a>\\d+)".into() });
    assert_eq!(
        format("PROTOBUF MESSAGE 'pkg.Order' USING SCHEMA FILE '/tmp/order.pb'"),
        FormatSpec::Protobuf { message: "pkg.Order".into(), schema_file: "/tmp/order.pb".into() }
    );
}

#[test]
fn create_source_envelopes_and_defaults() {
    let stmt = create_source(&format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' FORMAT BYTES ENVELOPE UPSERT"));
    assert_eq!(stmt.envelope.as_deref(), Some("UPSERT"));
    assert_eq!(stmt.progress_name, None);
    assert!(stmt.options.is_empty() && stmt.columns.is_empty() && !stmt.if_not_exists);
}

#[test]
fn create_source_syntax_errors() {
    let missing_format = parse_err(&format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}'"));
    assert!(missing_format.starts_with("Expected: FORMAT"), "{missing_format}");
    assert!(!missing_format.contains("sql parser error"), "{missing_format}");
    let bad_format = parse_err(&format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' FORMAT AVRO"));
    assert!(bad_format.contains("one of BYTES, TEXT, JSON, CSV, REGEX or PROTOBUF"), "{bad_format}");
    assert!(parse_err("CREATE SOURCE s FROM KINESIS ARN unquoted FORMAT TEXT").contains("a quoted string"));
    assert!(parse_err(&format!("CREATE SOURCE s FROM KAFKA ARN '{ARN}' FORMAT TEXT")).contains("KINESIS"));
    let envelope = parse_err(&format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' FORMAT TEXT ENVELOPE MAGIC"));
    assert!(envelope.contains("NONE, UPSERT or DEBEZIUM"), "{envelope}");
    let trailing = parse_err(&format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' FORMAT TEXT garbage"));
    assert!(trailing.contains("end of statement"), "{trailing}");
    assert!(parse_err("SELECT FROM WHERE").contains("Expected"));
}

#[test]
fn show_objects() {
    assert!(matches!(one("SHOW SOURCES"), Statement::ShowObjects(ObjectKind::Source)));
    assert!(matches!(one("show tables"), Statement::ShowObjects(ObjectKind::Table)));
    assert!(matches!(one("SHOW VIEWS;"), Statement::ShowObjects(ObjectKind::View)));
    assert!(matches!(one("SHOW MATERIALIZED VIEWS"), Statement::ShowObjects(ObjectKind::MaterializedView)));
}

#[test]
fn show_create() {
    let show = |sql: &str| match one(sql) {
        Statement::ShowCreate { kind, name } => (kind, name),
        other => panic!("{other:?}"),
    };
    assert_eq!(show("SHOW CREATE SOURCE s"), (ObjectKind::Source, "s".into()));
    assert_eq!(show("SHOW CREATE MATERIALIZED VIEW public.MV"), (ObjectKind::MaterializedView, "mv".into()));
    assert_eq!(show("SHOW CREATE TABLE t"), (ObjectKind::Table, "t".into()));
    assert_eq!(show("SHOW CREATE VIEW \"V\""), (ObjectKind::View, "V".into()));
    assert!(parse_err("SHOW CREATE INDEX i").contains("TABLE, VIEW, MATERIALIZED VIEW or SOURCE"));
}

#[test]
fn drop_source() {
    match one("DROP SOURCE IF EXISTS a, B CASCADE") {
        Statement::Drop { kind, names, if_exists, cascade } => {
            assert_eq!(
                (kind, names, if_exists, cascade),
                (ObjectKind::Source, vec!["a".into(), "b".into()], true, true)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(one("DROP SOURCE a RESTRICT"), Statement::Drop { cascade: false, if_exists: false, .. }));
    assert!(matches!(one("DROP SOURCE a"), Statement::Drop { cascade: false, .. }));
}

#[test]
fn standard_statements_still_parse() {
    for sql in
        ["DROP MATERIALIZED VIEW v", "CREATE MATERIALIZED VIEW v AS SELECT 1", "SHOW COLUMNS FROM t", "SET x = 1"]
    {
        assert!(matches!(one(sql), Statement::Sql(_)), "{sql}");
    }
}

#[test]
fn statement_text_is_kept_exactly() {
    let sql = format!("SELECT 1;\n  CREATE SOURCE s\n  FROM KINESIS ARN '{ARN}' -- the stream\n  FORMAT TEXT ;  ");
    let statements = parse(&sql).unwrap();
    let Statement::CreateSource(stmt) = &statements[1] else { panic!("{statements:?}") };
    assert_eq!(stmt.sql, format!("CREATE SOURCE s\n  FROM KINESIS ARN '{ARN}' -- the stream\n  FORMAT TEXT"));
    let unicode = create_source(&format!("CREATE SOURCE \"héllo\" FROM KINESIS ARN '{ARN}' FORMAT TEXT"));
    assert_eq!(unicode.sql, format!("CREATE SOURCE \"héllo\" FROM KINESIS ARN '{ARN}' FORMAT TEXT"));
}

#[test]
fn redaction_replaces_only_secret_values() {
    let sql = format!(
        "CREATE SOURCE s FROM KINESIS ARN '{ARN}' WITH (access_key_id = 'AKIA', secret_access_key = 'sekrit', \
         TOKEN 'tok''en', region = 'us-east-1') FORMAT TEXT"
    );
    let redacted = redact_create_source_sql(&sql);
    assert_eq!(
        redacted,
        format!(
            "CREATE SOURCE s FROM KINESIS ARN '{ARN}' WITH (access_key_id = 'AKIA', secret_access_key = '<redacted>', \
             TOKEN '<redacted>', region = 'us-east-1') FORMAT TEXT"
        )
    );
    assert!(!redacted.contains("sekrit") && !redacted.contains("tok"));
}

#[test]
fn redaction_leaves_lookalikes_alone() {
    let sql = format!("CREATE SOURCE s (token, secret_access_key) FROM KINESIS ARN '{ARN}' FORMAT REGEX 'token (.*)'");
    assert_eq!(redact_create_source_sql(&sql), sql);
    let quoted_key = format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' WITH (\"token\" = 'x') FORMAT TEXT");
    assert!(!redact_create_source_sql(&quoted_key).contains("'x'"));
    assert_eq!(redact_create_source_sql("CREATE SOURCE 'unterminated"), REDACTED);
}

#[test]
fn byte_offsets_follow_lines_and_chars() {
    let sql = "ab\ncdé\nf";
    assert_eq!(byte_offset(sql, Location { line: 1, column: 1 }), Some(0));
    assert_eq!(byte_offset(sql, Location { line: 2, column: 3 }), Some(5));
    assert_eq!(byte_offset(sql, Location { line: 3, column: 2 }), Some(sql.len()));
    assert_eq!(byte_offset(sql, Location { line: 0, column: 0 }), None);
}

#[test]
fn tokenizer_errors_are_syntax_errors() {
    let message = parse_err("SELECT 'unterminated");
    assert!(message.contains("Unterminated string literal"), "{message}");
    assert_eq!(parse("SELECT 1; SELECT 2;").unwrap().len(), 2);
}

#[test]
fn statements_render_as_redacted_sql() {
    let sql = format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' WITH (access_key_id = 'a', token = 't') FORMAT TEXT");
    let rendered = one(&sql).to_redacted_sql();
    assert!(rendered.contains("token = '<redacted>'") && !rendered.contains("'t'"), "{rendered}");
    assert_eq!(one("show materialized views").to_redacted_sql(), "SHOW MATERIALIZED VIEWS");
    assert_eq!(one("DROP SOURCE IF EXISTS a CASCADE").to_redacted_sql(), "DROP SOURCE IF EXISTS \"a\" CASCADE");
    assert_eq!(one("SHOW CREATE SOURCE a").to_redacted_sql(), "SHOW CREATE SOURCE \"a\"");
    assert_eq!(one("select 1").to_redacted_sql(), "SELECT 1");
    for rendered in ["SHOW SOURCES", "DROP SOURCE \"x\"", "SHOW CREATE MATERIALIZED VIEW \"m\""] {
        assert_eq!(one(rendered).to_redacted_sql(), rendered, "round trip");
    }
}

#[test]
fn subscribe_takes_a_name_or_a_query_and_options() {
    for (sql, rendered) in [
        ("SUBSCRIBE mv", "SUBSCRIBE (SELECT * FROM mv)"),
        ("subscribe to \"My View\"", "SUBSCRIBE (SELECT * FROM \"My View\")"),
        (
            "SUBSCRIBE (SELECT a FROM t WHERE a > 1) WITH (SNAPSHOT = false)",
            "SUBSCRIBE (SELECT a FROM t WHERE a > 1) WITH (snapshot = false)",
        ),
    ] {
        assert!(matches!(one(sql), Statement::Subscribe { .. }), "{sql}");
        assert_eq!(one(sql).to_redacted_sql(), rendered);
    }
    let copy = one("copy (subscribe mv with (snapshot = false)) to stdout with (format text)");
    assert!(matches!(&copy, Statement::Subscribe { copy: Some(options), .. } if options.len() == 1));
    assert_eq!(
        copy.to_redacted_sql(),
        "COPY (SUBSCRIBE (SELECT * FROM mv) WITH (snapshot = false)) TO STDOUT WITH (format = text)"
    );
    assert!(matches!(one("COPY t TO STDOUT"), Statement::Sql(_)), "other COPYs stay sqlparser's");
    parse_err("SUBSCRIBE");
    parse_err("SUBSCRIBE (SELECT 1");
    parse_err("SUBSCRIBE mv extra");
    parse_err("COPY (SUBSCRIBE mv) TO");
}
