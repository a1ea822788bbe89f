//! What the protocol tests of both servers (`scripted` and the real coordinator) check about a
//! connection the server must drop.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Reads until the server closes the socket; fails if it stays open.
pub async fn expect_closed(mut socket: TcpStream) {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server kept a garbage connection open");
}
