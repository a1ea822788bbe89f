//! Protocol tests through tokio-postgres against the scripted server (`scripted`): simple and
//! extended queries, binary formats, Describe, portals, cancellation, startup and shutdown.

mod scripted;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use scripted::Server;

fn command_counts(messages: &[SimpleQueryMessage]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn text_rows(messages: &[SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn simple_query_runs_statements_in_order() {
    let server = Server::start().await;
    let client = server.connect().await;
    let messages = client.simple_query("INSERT 3; ROWS 2").await.unwrap();
    assert_eq!(command_counts(&messages), vec![3, 2]);
    assert_eq!(text_rows(&messages), vec!["0", "1"]);
    // tokio-postgres reports an EmptyQueryResponse as a completion with no rows.
    assert_eq!(command_counts(&client.simple_query("").await.unwrap()), vec![0]);
    assert_eq!(command_counts(&client.simple_query(" ; ").await.unwrap()), vec![0]);
    assert_eq!(server.log.lock().unwrap().len(), 2, "empty queries execute nothing");
    server.stop().await;
}

#[tokio::test]
async fn simple_query_stops_at_first_error() {
    let server = Server::start().await;
    let client = server.connect().await;
    let err = client.simple_query("INSERT 1; FAIL; INSERT 2").await.unwrap_err();
    let db = err.as_db_error().expect("server error");
    assert_eq!((db.code(), db.message(), db.severity()), (&SqlState::from_code("58030"), "scripted failure", "ERROR"));
    assert_eq!(*server.log.lock().unwrap(), vec!["INSERT 1".to_string(), "FAIL".to_string()]);
    server.stop().await;
}

#[tokio::test]
async fn panics_become_internal_errors_and_serving_continues() {
    let server = Server::start().await;
    let client = server.connect().await;
    let other = server.connect().await;
    let err = client.simple_query("PANIC").await.unwrap_err();
    let db = err.as_db_error().expect("server error");
    assert_eq!((db.code(), db.message()), (&SqlState::INTERNAL_ERROR, "internal error: scripted panic"));
    let err = client.query("PANIC", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INTERNAL_ERROR));
    assert_eq!(client.query("ROWS 1", &[]).await.unwrap().len(), 1);
    assert_eq!(other.query("ROWS 2", &[]).await.unwrap().len(), 2);
    server.stop().await;
}

/// A value sent and received as raw binary bytes of a given type, to test types that
/// tokio-postgres cannot encode itself (numeric, interval).
#[derive(Debug, PartialEq, Clone)]
struct Raw(Vec<u8>);

impl ToSql for Raw {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    accepts!(NUMERIC, INTERVAL);
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Raw, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    accepts!(NUMERIC, INTERVAL);
}

#[tokio::test]
async fn binary_parameters_and_results_round_trip() {
    let server = Server::start().await;
    let client = server.connect().await;
    let types = [
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::TEXT,
        Type::BYTEA,
        Type::JSONB,
        Type::DATE,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
        Type::NUMERIC,
        Type::INTERVAL,
    ];
    let statement = client.prepare_typed(&format!("ECHO {}", types.len()), &types).await.unwrap();
    assert_eq!(statement.params(), &types);
    let column_types: Vec<Type> = statement.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(column_types, types);

    let date = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let ts = NaiveDateTime::parse_from_str("2024-02-29 13:14:15.5", "%Y-%m-%d %H:%M:%S%.f").unwrap();
    let tz: DateTime<Utc> = ts.and_utc();
    let json = serde_json::json!({"k": [1, "two"], "a": null});
    // 12345.678 and `1 mon 2 days 00:00:03` in PostgreSQL's binary layouts.
    let numeric = Raw([3i16, 1, 0, 3, 1, 2345, 6780].iter().flat_map(|v| v.to_be_bytes()).collect());
    let interval =
        Raw([3_000_000i64.to_be_bytes().to_vec(), 2i32.to_be_bytes().to_vec(), 1i32.to_be_bytes().to_vec()].concat());
    let row = client
        .query_one(
            &statement,
            &[
                &true,
                &-2i16,
                &40_000i32,
                &(1i64 << 40),
                &1.5f32,
                &-0.25f64,
                &"héllo",
                &vec![0u8, 255],
                &json,
                &date,
                &ts,
                &tz,
                &numeric,
                &interval,
            ],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i16>(1), -2);
    assert_eq!(row.get::<_, i32>(2), 40_000);
    assert_eq!(row.get::<_, i64>(3), 1 << 40);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), -0.25);
    assert_eq!(row.get::<_, String>(6), "héllo");
    assert_eq!(row.get::<_, Vec<u8>>(7), vec![0, 255]);
    assert_eq!(row.get::<_, serde_json::Value>(8), json);
    assert_eq!(row.get::<_, NaiveDate>(9), date);
    assert_eq!(row.get::<_, NaiveDateTime>(10), ts);
    assert_eq!(row.get::<_, DateTime<Utc>>(11), tz);
    assert_eq!(row.get::<_, Raw>(12), numeric);
    assert_eq!(row.get::<_, Raw>(13), interval);

    // NULL parameters come back as NULL.
    let statement = client.prepare_typed("ECHO 1", &[Type::INT4]).await.unwrap();
    let row = client.query_one(&statement, &[&None::<i32>]).await.unwrap();
    assert_eq!(row.get::<_, Option<i32>>(0), None);
    server.stop().await;
}

#[tokio::test]
async fn malformed_binary_parameter_is_an_error() {
    let server = Server::start().await;
    let client = server.connect().await;
    // Declared int4 but sent as 3 raw bytes through a numeric-typed wrapper is impossible with
    // tokio-postgres' type checks, so declare numeric and send garbage numeric bytes.
    let statement = client.prepare_typed("ECHO 1", &[Type::NUMERIC]).await.unwrap();
    let err = client.query_one(&statement, &[&Raw(vec![0, 1, 2])]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::from_code("22P03")));
    assert_eq!(client.query("ROWS 1", &[]).await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn describe_reports_inferred_types_and_no_data() {
    let server = Server::start().await;
    let client = server.connect().await;
    let statement = client.prepare("ECHO 2").await.unwrap();
    assert_eq!(statement.params(), &[Type::TEXT, Type::TEXT]);
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, vec!["p0", "p1"]);
    let insert = client.prepare("INSERT 5").await.unwrap();
    assert!(insert.columns().is_empty());
    assert_eq!(client.execute(&insert, &[]).await.unwrap(), 5);

    let err = client.prepare("ROWS 1; ROWS 2").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
    let err = client.prepare("FAIL").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::from_code("58030")));
    server.stop().await;
}

#[tokio::test]
async fn large_results_stream_and_portals_suspend() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    let messages = client.simple_query("ROWS 100000").await.unwrap();
    assert_eq!(command_counts(&messages), vec![100_000]);
    let rows = client.query("ROWS 100000", &[]).await.unwrap();
    assert_eq!(rows.len(), 100_000);
    assert_eq!(rows[99_999].get::<_, i64>(0), 99_999);

    let transaction = client.transaction().await.unwrap();
    let statement = transaction.prepare("ROWS 25").await.unwrap();
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = transaction.query_portal(&portal, 10).await.unwrap();
        if batch.is_empty() {
            break;
        }
        seen.push(batch.len());
        assert_eq!(batch[0].get::<_, i64>(0), 10 * (seen.len() as i64 - 1));
    }
    assert_eq!(seen, vec![10, 10, 5]);
    transaction.commit().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn cancel_request_cancels_the_running_statement() {
    let server = Server::start().await;
    let client = Arc::new(server.connect().await);
    let running = {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.simple_query("SLEEP").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), running).await.expect("canceled in time").unwrap();
    assert_eq!(result.unwrap_err().code(), Some(&SqlState::QUERY_CANCELED));
    server.stop().await;
}

#[tokio::test]
async fn startup_sends_session_parameters_and_accepts_any_user() {
    static PORT_USERS: AtomicU32 = AtomicU32::new(0);
    let server = Server::start().await;
    let user = format!("someone{}", PORT_USERS.fetch_add(1, Ordering::SeqCst));
    let config = format!("host=127.0.0.1 port={} user={user} dbname=anything application_name=wiretest", server.port);
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await.expect("connects");
    assert_eq!(connection.parameter("server_version"), Some("15.0 (scripted)"));
    assert_eq!(connection.parameter("TimeZone"), Some("UTC"));
    assert_eq!(connection.parameter("application_name"), Some("wiretest"));
    tokio::spawn(connection);
    let messages = client.simple_query("USER").await.unwrap();
    assert_eq!(text_rows(&messages), vec![user]);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let server = Server::start().await;
    let client = server.connect().await;
    server.stop().await;
    assert!(client.simple_query("ROWS 1").await.is_err());
}
