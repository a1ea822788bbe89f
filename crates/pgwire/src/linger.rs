//! Lingering: after answering a Sync, a connection that is the only one in use waits a moment
//! for its client's next message on the CPU instead of parking its thread.
//!
//! One client issuing statements back to back pays, per round trip, for waking the server
//! thread when the request arrives, and nothing can overlap that wake-up. A thread that is still
//! running when the request arrives finds it at once, so a lone client's round trip shortens by
//! a wake-up. The same wait costs throughput as soon as other connections need the thread, so a
//! connection lingers only when no other connection has finished a round trip within
//! [`ALONE_WINDOW`], and for at most [`LINGER`].
//!
//! This module only peeks at the socket: it never consumes bytes, and it must not decide
//! anything about the protocol.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a lone connection waits on the CPU for its client's next message.
pub const LINGER: Duration = Duration::from_micros(100);

/// A connection is alone when no other connection finished a round trip within this window.
const ALONE_WINDOW: Duration = Duration::from_millis(1);

const ID_BITS: u32 = 16;
const TIME_MASK: u64 = (1 << (64 - ID_BITS)) - 1;

/// The latest Sync answered by any connection: its connection id and its time.
pub struct Activity {
    epoch: Instant,
    /// Connection id in the top `ID_BITS`, microseconds since `epoch` below (wrapping).
    latest: AtomicU64,
    next_id: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { epoch: Instant::now(), latest: AtomicU64::new(0), next_id: AtomicU64::new(1) }
    }
}

impl Activity {
    /// A tag for a new connection. Tags wrap; two connections sharing one only linger more.
    pub fn register(&self) -> u16 {
        self.next_id.fetch_add(1, Ordering::Relaxed) as u16
    }

    /// Records that connection `id` answered a Sync now; true when no other connection did
    /// within the window.
    pub fn finished_round_trip(&self, id: u16) -> bool {
        self.finished_round_trip_at(id, self.epoch.elapsed().as_micros() as u64)
    }

    /// [`Activity::finished_round_trip`] at `now`, microseconds since `epoch`.
    fn finished_round_trip_at(&self, id: u16, now: u64) -> bool {
        let now = now & TIME_MASK;
        let previous = self.latest.swap((u64::from(id) << (64 - ID_BITS)) | now, Ordering::Relaxed);
        let previous_id = (previous >> (64 - ID_BITS)) as u16;
        let since = now.wrapping_sub(previous & TIME_MASK) & TIME_MASK;
        previous_id == id || previous == 0 || since > ALONE_WINDOW.as_micros() as u64
    }
}

/// Waits up to `budget` for the socket `fd` to have bytes to read (or to close), without reading.
#[cfg(unix)]
pub fn wait_readable(fd: std::os::fd::RawFd, budget: Duration) {
    let started = Instant::now();
    let mut byte = 0u8;
    loop {
        // SAFETY: `fd` is the connection's socket, open for as long as the connection's task runs
        // (and this runs inside it); the buffer is one valid byte; MSG_PEEK leaves the data queued.
        let peeked = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        let would_block =
            peeked < 0 && matches!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN | libc::EINTR));
        if !would_block || started.elapsed() >= budget {
            return;
        }
        std::hint::spin_loop();
    }
}

#[cfg(not(unix))]
pub fn wait_readable(_fd: (), _budget: Duration) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_alone_until_another_finishes_a_round_trip() {
        let activity = Activity::default();
        let (a, b) = (activity.register(), activity.register());
        let window = ALONE_WINDOW.as_micros() as u64;
        assert!(activity.finished_round_trip_at(a, 10));
        assert!(activity.finished_round_trip_at(a, 20));
        assert!(!activity.finished_round_trip_at(b, 30), "a finished a round trip just now");
        assert!(!activity.finished_round_trip_at(a, 40), "b finished a round trip just now");
        assert!(activity.finished_round_trip_at(b, 41 + window), "a has been quiet for longer than the window");
    }

    #[cfg(unix)]
    #[test]
    fn waiting_returns_as_soon_as_bytes_arrive_and_leaves_them_unread() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();

        let started = Instant::now();
        wait_readable(server.as_raw_fd(), Duration::from_millis(5));
        assert!(started.elapsed() >= Duration::from_millis(5), "nothing was sent, so the whole budget passes");

        client.write_all(b"x").unwrap();
        let started = Instant::now();
        wait_readable(server.as_raw_fd(), Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5), "bytes are waiting, so it returns early");
        server.set_nonblocking(false).unwrap();
        let mut byte = [0u8; 1];
        server.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }
}
