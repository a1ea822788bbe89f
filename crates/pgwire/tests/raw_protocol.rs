//! Protocol tests with raw bytes against the scripted server (`scripted`): what a driver would
//! never send or would hide (transaction status bytes, the messages of one extended round trip,
//! garbage and oversized packets).

mod closing;
mod scripted;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use closing::expect_closed;
use scripted::Server;

/// A minimal raw client: sends a startup packet and reads messages as (type, body).
struct RawClient {
    socket: TcpStream,
}

impl RawClient {
    async fn connect(port: u16) -> RawClient {
        let socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        RawClient { socket }
    }

    fn startup_packet() -> Vec<u8> {
        let params = b"user\0raw\0database\0db\0\0";
        let mut packet = Vec::new();
        packet.extend_from_slice(&((8 + params.len()) as i32).to_be_bytes());
        packet.extend_from_slice(&196608i32.to_be_bytes());
        packet.extend_from_slice(params);
        packet
    }

    async fn read_message(&mut self) -> (u8, Vec<u8>) {
        let kind = self.socket.read_u8().await.unwrap();
        let len = self.socket.read_i32().await.unwrap();
        let mut body = vec![0; len as usize - 4];
        self.socket.read_exact(&mut body).await.unwrap();
        (kind, body)
    }

    /// Reads up to ReadyForQuery and returns its transaction status byte.
    async fn ready_status(&mut self) -> u8 {
        loop {
            let (kind, body) = self.read_message().await;
            if kind == b'Z' {
                return body[0];
            }
        }
    }

    /// Sends one frontend message: its type byte, then its length and body.
    async fn send(&mut self, kind: u8, body: &[u8]) {
        let mut msg = vec![kind];
        msg.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
        msg.extend_from_slice(body);
        self.socket.write_all(&msg).await.unwrap();
    }

    /// Parse of `sql` as statement "s" (when given), then Bind of "s" to the unnamed portal (no
    /// parameters, the given result format codes), Describe portal, Execute and Sync; the replies'
    /// types up to ReadyForQuery, and the RowDescription's per-field format codes if one came.
    async fn describe_and_run(&mut self, sql: Option<&str>, result_formats: &[i16]) -> (Vec<u8>, Vec<i16>) {
        if let Some(sql) = sql {
            let mut parse = b"s\0".to_vec();
            parse.extend_from_slice(sql.as_bytes());
            parse.extend_from_slice(&[0, 0, 0]);
            self.send(b'P', &parse).await;
        }
        let mut bind = b"\0s\0".to_vec();
        bind.extend_from_slice(&[0, 0, 0, 0]);
        bind.extend_from_slice(&(result_formats.len() as i16).to_be_bytes());
        for code in result_formats {
            bind.extend_from_slice(&code.to_be_bytes());
        }
        self.send(b'B', &bind).await;
        self.send(b'D', b"P\0").await;
        self.send(b'E', &[0, 0, 0, 0, 0]).await;
        self.send(b'S', &[]).await;
        let (mut kinds, mut formats) = (Vec::new(), Vec::new());
        loop {
            let (kind, body) = self.read_message().await;
            kinds.push(kind);
            if kind == b'T' {
                formats = row_description_formats(&body);
            }
            if kind == b'Z' {
                return (kinds, formats);
            }
        }
    }

    async fn query(&mut self, sql: &str) -> u8 {
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&((4 + sql.len() + 1) as i32).to_be_bytes());
        msg.extend_from_slice(sql.as_bytes());
        msg.push(0);
        self.socket.write_all(&msg).await.unwrap();
        self.ready_status().await
    }
}

#[tokio::test]
async fn ready_for_query_tracks_transaction_status() {
    let server = Server::start().await;
    let mut raw = RawClient::connect(server.port).await;
    raw.socket.write_all(&RawClient::startup_packet()).await.unwrap();
    assert_eq!(raw.ready_status().await, b'I');
    assert_eq!(raw.query("BEGIN").await, b'T');
    assert_eq!(raw.query("INSERT 1").await, b'T');
    assert_eq!(raw.query("FAIL").await, b'E');
    assert_eq!(raw.query("ROLLBACK").await, b'I');
    assert_eq!(raw.query("FAIL").await, b'I');
    assert_eq!(raw.query("BEGIN; INSERT 1; COMMIT").await, b'I');
    server.stop().await;
}

/// The format code of each field of a RowDescription body.
fn row_description_formats(body: &[u8]) -> Vec<i16> {
    let count = i16::from_be_bytes([body[0], body[1]]);
    let mut rest = &body[2..];
    (0..count)
        .map(|_| {
            let name_end = rest.iter().position(|b| *b == 0).unwrap();
            // name, NUL, table oid (4), column (2), type oid (4), size (2), modifier (4), format (2)
            let field = &rest[name_end + 1..name_end + 19];
            rest = &rest[name_end + 19..];
            i16::from_be_bytes([field[16], field[17]])
        })
        .collect()
}

#[tokio::test]
async fn describe_portal_reports_rows_in_their_formats_and_no_data_for_commands() {
    let server = Server::start().await;
    let mut raw = RawClient::connect(server.port).await;
    raw.socket.write_all(&RawClient::startup_packet()).await.unwrap();
    assert_eq!(raw.ready_status().await, b'I');
    // A statement without rows: NoData, as PostgreSQL answers (not an empty RowDescription).
    let (kinds, _) = raw.describe_and_run(Some("INSERT 3"), &[]).await;
    assert_eq!(kinds, b"12nCZ");
    // One prepared statement bound in binary, text, text and binary again: the described formats
    // follow each Bind, whatever was described before.
    let (kinds, described) = raw.describe_and_run(Some("ROWS 2"), &[1]).await;
    assert_eq!((kinds.as_slice(), described), (&b"12TDDCZ"[..], vec![1]));
    for formats in [vec![], vec![0], vec![1]] {
        let (kinds, described) = raw.describe_and_run(None, &formats).await;
        assert_eq!(kinds, b"2TDDCZ", "formats {formats:?}");
        let expected = if formats == [1] { 1 } else { 0 };
        assert_eq!(described, vec![expected], "formats {formats:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn garbage_closes_only_that_connection() {
    let server = Server::start().await;
    let client = server.connect().await;

    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    raw.write_all(&[0xff; 64]).await.unwrap();
    expect_closed(raw).await;

    // A valid startup, then a Query claiming a 2 GB body.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    raw.write_all(&RawClient::startup_packet()).await.unwrap();
    raw.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff, b'S']).await.unwrap();
    expect_closed(raw).await;

    // A valid startup, then an unknown message type.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    raw.write_all(&RawClient::startup_packet()).await.unwrap();
    raw.write_all(&[b'!', 0, 0, 0, 4]).await.unwrap();
    expect_closed(raw).await;

    // A negative length.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    raw.write_all(&RawClient::startup_packet()).await.unwrap();
    raw.write_all(&[b'Q', 0xff, 0xff, 0xff, 0xf0]).await.unwrap();
    expect_closed(raw).await;

    assert_eq!(client.query("ROWS 2", &[]).await.unwrap().len(), 2);
    let other = server.connect().await;
    assert_eq!(other.query("ROWS 3", &[]).await.unwrap().len(), 3);
    server.stop().await;
}
