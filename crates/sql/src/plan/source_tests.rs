//! Tests of `CREATE SOURCE` validation, with a fake environment for the endpoint variables.

use freshet_repr::ScalarType;
use freshet_storage::{KinesisCredentials, SourceFormat};

use super::source::plan_create_source_with_env;
use super::tests::TestCatalog;
use crate::plan::Plan;
use crate::{parse, SqlError, Statement};

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";

/// Plans a CREATE SOURCE with `env` as the process environment.
fn plan_with_env(sql: &str, env: &[(&str, &str)]) -> Result<Plan, SqlError> {
    let statements = parse(sql)?;
    let Statement::CreateSource(stmt) = &statements[0] else { panic!("{statements:?}") };
    let lookup = |var: &str| env.iter().find(|(k, _)| *k == var).map(|(_, v)| v.to_string());
    plan_create_source_with_env(&TestCatalog::standard(), stmt, &lookup)
}

fn source(clauses: &str) -> String {
    format!("CREATE SOURCE src FROM KINESIS ARN '{ARN}' {clauses}")
}

fn ok(sql: &str) -> Plan {
    plan_with_env(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn err(sql: &str) -> (&'static str, String) {
    err_with_env(sql, &[])
}

fn err_with_env(sql: &str, env: &[(&str, &str)]) -> (&'static str, String) {
    match plan_with_env(sql, env) {
        Ok(plan) => panic!("{sql} planned: {plan:?}"),
        Err(e) => (e.sqlstate(), e.to_string()),
    }
}

#[test]
fn plans_a_plain_source() {
    let Plan::CreateSource { name, if_not_exists, source, desc, progress_name, create_sql } =
        ok(&source("FORMAT TEXT"))
    else {
        panic!()
    };
    assert_eq!((name.as_str(), if_not_exists, progress_name.as_str()), ("src", false, "src_progress"));
    assert_eq!(source.connection.region, "us-east-1");
    assert_eq!(source.connection.stream_name, "orders");
    assert_eq!(source.connection.arn, ARN);
    assert_eq!(source.connection.endpoint, None);
    assert_eq!(source.connection.credentials, KinesisCredentials::DefaultChain);
    assert_eq!(source.format, SourceFormat::Text);
    assert_eq!(desc.names, vec!["text".to_string()]);
    assert_eq!(desc.typ.columns[0].scalar_type, ScalarType::Text);
    assert_eq!(create_sql, format!("CREATE SOURCE src FROM KINESIS ARN '{ARN}' FORMAT TEXT"));
}

#[test]
fn arn_errors() {
    let bad = "CREATE SOURCE src FROM KINESIS ARN 'arn:aws:kinesis:us-east-1:123:table/x' FORMAT TEXT";
    assert_eq!(err(bad), ("22023", "Unable to parse provided ARN: arn:aws:kinesis:us-east-1:123:table/x".into()));
    let no_region = "CREATE SOURCE src FROM KINESIS ARN 'arn:aws:kinesis::123:stream/x' FORMAT TEXT";
    assert_eq!(err(no_region), ("22023", "Provided ARN does not include an AWS region".into()));
    let Plan::CreateSource { source, .. } = ok(&no_region.replace("FORMAT", "WITH (region = 'eu-west-1') FORMAT"))
    else {
        panic!()
    };
    assert_eq!(source.connection.region, "eu-west-1");
}

#[test]
fn placeholder_region_needs_an_endpoint() {
    let docs = "CREATE SOURCE src FROM KINESIS ARN 'arn:aws:kinesis:aws-region::stream/fake-stream' FORMAT BYTES";
    let (code, message) = err(docs);
    assert_eq!(code, "22023");
    assert!(message.starts_with("Provided ARN region \"aws-region\" is not a known AWS region"), "{message}");
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS"] {
        let plan = plan_with_env(docs, &[(var, "http://localhost:4567")]).unwrap();
        let Plan::CreateSource { source, .. } = plan else { panic!() };
        assert_eq!(source.connection.region, "aws-region");
        assert_eq!(source.connection.endpoint, None, "the SDK reads the variable itself");
    }
    assert_eq!(err_with_env(docs, &[("AWS_ENDPOINT_URL", " ")]).0, "22023");
    let with_endpoint = docs.replace("FORMAT", "WITH (endpoint = 'http://localhost:4567') FORMAT");
    let Plan::CreateSource { source, .. } = ok(&with_endpoint) else { panic!() };
    assert_eq!(source.connection.endpoint.as_deref(), Some("http://localhost:4567"));
    assert_eq!(err(&docs.replace("FORMAT", "WITH (endpoint = 'localhost') FORMAT")).0, "22023");
}

#[test]
fn option_errors() {
    let (code, message) = err(&source("WITH (colour = 'blue') FORMAT TEXT"));
    assert_eq!(code, "22023");
    assert!(message.starts_with("unknown CREATE SOURCE option \"colour\""), "{message}");
    assert_eq!(
        err(&source("WITH (region = 'us-east-1', REGION = 'us-east-2') FORMAT TEXT")).1,
        "option \"region\" specified more than once"
    );
    assert_eq!(
        err(&source("WITH (secret_access_key = 's') FORMAT TEXT")),
        ("22023", "secret_access_key requires access_key_id".into())
    );
    assert_eq!(err(&source("WITH (access_key_id = 'k') FORMAT TEXT")).1, "access_key_id requires secret_access_key");
    assert_eq!(err(&source("WITH (token = 't') FORMAT TEXT")).1, "token requires access_key_id and secret_access_key");
    assert_eq!(
        err(&source("WITH (profile = 'p', access_key_id = 'k', secret_access_key = 's') FORMAT TEXT")).1,
        "profile cannot be combined with access_key_id, secret_access_key or token"
    );
    assert_eq!(
        err(&source("WITH (role_arn = 'admin') FORMAT TEXT")).1,
        "role_arn must be the ARN of an IAM role, got \"admin\""
    );
}

#[test]
fn credentials_and_redaction() {
    let sql = source("WITH (access_key_id = 'AK', secret_access_key = 'SK', token = 'TK') FORMAT BYTES");
    let Plan::CreateSource { source: desc, create_sql, .. } = ok(&sql) else { panic!() };
    assert_eq!(
        desc.connection.credentials,
        KinesisCredentials::Static {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
            token: Some("TK".into())
        }
    );
    assert!(create_sql.contains("access_key_id = 'AK'"), "{create_sql}");
    assert!(!create_sql.contains("'SK'") && !create_sql.contains("'TK'"), "{create_sql}");
    let role = "arn:aws:iam::123456789012:role/reader";
    let Plan::CreateSource { source: desc, .. } =
        ok(&source(&format!("WITH (profile = 'dev', role_arn = '{role}') FORMAT BYTES")))
    else {
        panic!()
    };
    assert_eq!(desc.connection.credentials, KinesisCredentials::Profile("dev".into()));
    assert_eq!(desc.connection.role_arn.as_deref(), Some(role));
}

#[test]
fn envelopes_other_than_none_are_unsupported() {
    for envelope in ["UPSERT", "DEBEZIUM"] {
        assert_eq!(
            err(&source(&format!("FORMAT JSON ENVELOPE {envelope}"))),
            (
                "0A000",
                format!(
                    "ENVELOPE {envelope} is not supported for Kinesis sources; only ENVELOPE NONE (append-only) is supported"
                )
            )
        );
    }
    assert!(matches!(ok(&source("FORMAT JSON ENVELOPE NONE")), Plan::CreateSource { .. }));
}

#[test]
fn column_names_must_fit_the_format() {
    let csv = |columns: &str, n: usize| {
        format!("CREATE SOURCE src {columns} FROM KINESIS ARN '{ARN}' FORMAT CSV WITH {n} COLUMNS")
    };
    assert_eq!(err(&csv("(a, b)", 3)), ("22023", "CSV source declares 3 columns but 2 column names were given".into()));
    assert_eq!(err(&csv("", 0)).1, "CSV sources need at least one column");
    assert_eq!(err(&csv("(a, a)", 2)).0, "42701");
    let text = format!("CREATE SOURCE src (a, b) FROM KINESIS ARN '{ARN}' FORMAT TEXT");
    assert_eq!(err(&text).0, "22023");
    let Plan::CreateSource { desc, .. } =
        ok(&format!("CREATE SOURCE src (body) FROM KINESIS ARN '{ARN}' FORMAT BYTES"))
    else {
        panic!()
    };
    assert_eq!(desc.names, vec!["body".to_string()]);
}

#[test]
fn csv_names_its_columns() {
    let sql = format!("CREATE SOURCE src (x, y) FROM KINESIS ARN '{ARN}' FORMAT CSV WITH 2 COLUMNS");
    let Plan::CreateSource { source, desc, .. } = ok(&sql) else { panic!() };
    assert_eq!(source.format, SourceFormat::Csv { columns: 2 });
    assert_eq!(desc.names, vec!["x".to_string(), "y".to_string()]);
}

#[test]
fn protobuf_schema_file_must_exist() {
    let sql = source("FORMAT PROTOBUF MESSAGE 'a.B' USING SCHEMA FILE '/nonexistent/schema.pb'");
    let (code, message) = err(&sql);
    assert_eq!(code, "22023");
    assert!(message.starts_with("unable to read protobuf schema file \"/nonexistent/schema.pb\""), "{message}");
}

#[test]
fn names_must_be_free() {
    assert_eq!(
        err(&format!("CREATE SOURCE t FROM KINESIS ARN '{ARN}' FORMAT TEXT")),
        ("42P07", "relation \"t\" already exists".into())
    );
    assert_eq!(
        err(&format!("CREATE SOURCE new FROM KINESIS ARN '{ARN}' FORMAT TEXT EXPOSE PROGRESS AS v")).1,
        "relation \"v\" already exists"
    );
    assert_eq!(err(&format!("CREATE SOURCE s FROM KINESIS ARN '{ARN}' FORMAT TEXT")).0, "42P07");
    let Plan::CreateSource { if_not_exists, progress_name, .. } =
        ok(&format!("CREATE SOURCE IF NOT EXISTS s FROM KINESIS ARN '{ARN}' FORMAT TEXT EXPOSE PROGRESS AS p"))
    else {
        panic!()
    };
    assert!(if_not_exists);
    assert_eq!(progress_name, "p");
    assert_eq!(err(&source("FORMAT TEXT EXPOSE PROGRESS AS src")).0, "22023");
}

#[test]
fn protobuf_schema_file_is_read_at_plan_time() {
    let path = std::env::temp_dir().join(format!("freshet-sql-test-{}.pb", std::process::id()));
    std::fs::write(&path, [0xff, 0xff, 0xff]).unwrap();
    let sql = source(&format!("FORMAT PROTOBUF MESSAGE 'a.B' USING SCHEMA FILE '{}'", path.display()));
    let (code, message) = err(&sql);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, "22023");
    assert!(!message.starts_with("unable to read"), "the file was read; the descriptors are bad: {message}");
}
