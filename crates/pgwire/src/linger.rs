//! Lingering: after answering a Sync, a connection that is the only one in use waits a moment
//! for its client's next message on the CPU instead of parking its thread.
//!
//! One client issuing statements back to back pays, per round trip, for waking the server
//! thread when the request arrives, and nothing can overlap that wake-up. A thread that is still
//! running when the request arrives finds it at once, so a lone client's round trip shortens by
//! a wake-up. The same wait costs throughput as soon as other connections need the thread, so a
//! connection lingers only when no other connection has finished a round trip within
//! [`ALONE_WINDOW`] (simple-query round trips count too), and for at most [`LINGER`]. A client
//! that pipelines (its next messages already read into the connection's buffer, where a peek at
//! the socket cannot see them) would lose a whole linger per Sync, so a connection whose next
//! message turns up right after a linger ran out, [`PIPELINED_STREAK`] times in a row, stops
//! lingering for its next [`PIPELINED_SKIP`] Syncs; so does one whose next request is already
//! waiting on the socket [`WAITING_STREAK`] times in a row (lingering is pointless for it and
//! costs a system call per Sync). A connection streaming a
//! SUBSCRIBE or COPY makes no round trips and is not seen: next to one, a lingering connection
//! holds a runtime thread for at most [`LINGER`] per round trip.
//!
//! This module only peeks at the socket: it never consumes bytes, and it must not decide
//! anything about the protocol.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a lone connection waits on the CPU for its client's next message.
const LINGER: Duration = Duration::from_micros(100);

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
        self.finished_round_trip_at(id, self.now_micros())
    }

    /// [`Activity::finished_round_trip`] at `now`, microseconds since `epoch`.
    fn finished_round_trip_at(&self, id: u16, now: u64) -> bool {
        let now = now & TIME_MASK;
        let previous = self.latest.swap((u64::from(id) << (64 - ID_BITS)) | now, Ordering::Relaxed);
        let previous_id = (previous >> (64 - ID_BITS)) as u16;
        // Another connection may have read the clock after this one and stored first: a "negative"
        // distance (upper half of the ring) is as recent as it gets.
        let since = now.wrapping_sub(previous & TIME_MASK) & TIME_MASK;
        let quiet = since > ALONE_WINDOW.as_micros() as u64 && since <= TIME_MASK / 2;
        previous_id == id || previous == 0 || quiet
    }

    fn now_micros(&self) -> u64 {
        (self.epoch.elapsed().as_micros() as u64).max(1)
    }
}

/// A message that arrives this soon after a linger ran out was probably already buffered.
const PIPELINED_GAP_MICROS: u64 = 10;
/// That many such messages in a row, with no linger answered by a request between them, mark the
/// client as pipelining. One alone happens to a client that is merely slow now and then.
const PIPELINED_STREAK: u32 = 3;
/// Syncs a pipelining client is not lingered for, before lingering is tried again.
const PIPELINED_SKIP: u32 = 1024;
/// Lingers in a row that found the next request already waiting, which mark a pipelining client.
const WAITING_STREAK: u32 = 8;

/// The connection's socket, peeked at while lingering.
#[cfg(unix)]
pub type SocketFd = std::os::fd::RawFd;
#[cfg(not(unix))]
pub type SocketFd = ();

/// One connection's side of lingering.
pub struct Lingerer {
    id: u16,
    socket: SocketFd,
    /// When the last linger ran out without a message (`Activity` clock), 0 when it did not.
    ran_out_at: AtomicU64,
    /// Messages in a row that arrived right after a linger ran out.
    streak: AtomicU32,
    /// Lingers in a row that found the next request already waiting.
    waiting: AtomicU32,
    /// Syncs still to answer without lingering.
    skip: AtomicU32,
}

impl Lingerer {
    pub fn new(activity: &Activity, socket: SocketFd) -> Self {
        Lingerer {
            id: activity.register(),
            socket,
            ran_out_at: AtomicU64::new(0),
            streak: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            skip: AtomicU32::new(0),
        }
    }

    /// Call when a message is handled: notices a client whose messages were already buffered.
    pub fn message_arrived(&self, activity: &Activity) {
        // Every message comes here: read the clock only after a linger ran out.
        if self.ran_out_at.load(Ordering::Relaxed) != 0 {
            self.message_arrived_at(activity.now_micros());
        }
    }

    /// [`Lingerer::message_arrived`] at `now` on the `Activity` clock.
    fn message_arrived_at(&self, now: u64) {
        let ran_out_at = self.ran_out_at.swap(0, Ordering::Relaxed);
        if ran_out_at == 0 {
            return;
        }
        if now.saturating_sub(ran_out_at) >= PIPELINED_GAP_MICROS {
            self.streak.store(0, Ordering::Relaxed);
        } else if self.streak.fetch_add(1, Ordering::Relaxed) + 1 >= PIPELINED_STREAK {
            self.streak.store(0, Ordering::Relaxed);
            self.skip.store(PIPELINED_SKIP, Ordering::Relaxed);
        }
    }

    /// Call when a simple query has been answered: counts as activity for the other connections.
    pub fn simple_round_trip(&self, activity: &Activity) {
        activity.finished_round_trip(self.id);
    }

    /// Call when a Sync has been answered and flushed: lingers if this connection is alone.
    pub fn after_sync(&self, activity: &Activity) {
        let alone = activity.finished_round_trip(self.id);
        let skip = self.skip.load(Ordering::Relaxed);
        if skip > 0 {
            self.skip.store(skip - 1, Ordering::Relaxed);
            return;
        }
        if !alone {
            return;
        }
        match wait_readable(self.socket, LINGER) {
            Wait::Waiting => {
                if self.waiting.fetch_add(1, Ordering::Relaxed) + 1 >= WAITING_STREAK {
                    self.waiting.store(0, Ordering::Relaxed);
                    self.skip.store(PIPELINED_SKIP, Ordering::Relaxed);
                }
            }
            Wait::Arrived => {
                self.streak.store(0, Ordering::Relaxed);
                self.waiting.store(0, Ordering::Relaxed);
            }
            Wait::RanOut => self.ran_out_at.store(activity.now_micros(), Ordering::Relaxed),
        }
    }
}

/// How a wait for the socket ended.
#[derive(Debug, PartialEq)]
enum Wait {
    /// Bytes (or the end of the stream, or an error) were there at the first look.
    Waiting,
    /// They came while waiting.
    Arrived,
    /// The budget ran out first.
    RanOut,
}

/// Waits up to `budget` for the socket `fd` to have bytes to read (or to close), without reading.
#[cfg(unix)]
fn wait_readable(fd: std::os::fd::RawFd, budget: Duration) -> Wait {
    let started = Instant::now();
    let mut byte = 0u8;
    let mut first = true;
    loop {
        // SAFETY: `fd` is the connection's socket, open for as long as the connection's task runs
        // (and this runs inside it); the buffer is one valid byte; MSG_PEEK leaves the data queued.
        let peeked = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        let would_block =
            peeked < 0 && matches!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN | libc::EINTR));
        if !would_block {
            return if first { Wait::Waiting } else { Wait::Arrived };
        }
        if started.elapsed() >= budget {
            return Wait::RanOut;
        }
        first = false;
        std::hint::spin_loop();
    }
}

#[cfg(not(unix))]
fn wait_readable(_fd: (), _budget: Duration) -> Wait {
    Wait::RanOut
}

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
        // b stored its time first although a read the clock earlier: a is not alone.
        assert!(!activity.finished_round_trip_at(a, 40 + window));
    }

    /// A linger that ran out at `at`, followed by a message `gap` microseconds later.
    fn ran_out_then_message(lingerer: &Lingerer, at: u64, gap: u64) {
        lingerer.ran_out_at.store(at, Ordering::Relaxed);
        lingerer.message_arrived_at(at + gap);
    }

    #[test]
    fn messages_right_after_lingers_ran_out_mark_the_client_as_pipelining() {
        let activity = Activity::default();
        let lingerer = Lingerer::new(&activity, socket_placeholder());
        for n in 1..PIPELINED_STREAK {
            ran_out_then_message(&lingerer, n as u64 * 1_000, 2);
            assert_eq!(lingerer.skip.load(Ordering::Relaxed), 0, "{n} in a row is not yet a streak");
        }
        ran_out_then_message(&lingerer, 9_000, 2);
        assert_eq!(lingerer.skip.load(Ordering::Relaxed), PIPELINED_SKIP);
        // The skipped Syncs count down without lingering.
        lingerer.after_sync(&activity);
        assert_eq!(lingerer.skip.load(Ordering::Relaxed), PIPELINED_SKIP - 1);
    }

    #[cfg(unix)]
    #[test]
    fn requests_already_waiting_at_every_sync_mark_the_client_as_pipelining() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        client.write_all(b"next request").unwrap();
        let activity = Activity::default();
        let lingerer = Lingerer::new(&activity, server.as_raw_fd());
        // Wait until the bytes are readable, so that every linger below finds them at once.
        assert_eq!(wait_readable(server.as_raw_fd(), Duration::from_secs(10)), Wait::Waiting);
        for _ in 0..WAITING_STREAK {
            assert_eq!(lingerer.skip.load(Ordering::Relaxed), 0);
            lingerer.after_sync(&activity);
        }
        assert_eq!(lingerer.skip.load(Ordering::Relaxed), PIPELINED_SKIP);
    }

    #[test]
    fn a_slow_request_between_them_breaks_the_streak() {
        let activity = Activity::default();
        let lingerer = Lingerer::new(&activity, socket_placeholder());
        for n in 0..PIPELINED_STREAK * 3 {
            let gap = if n % 2 == 0 { 2 } else { PIPELINED_GAP_MICROS };
            ran_out_then_message(&lingerer, 1_000 * (u64::from(n) + 1), gap);
        }
        assert_eq!(lingerer.skip.load(Ordering::Relaxed), 0);
        lingerer.message_arrived_at(50_000);
        assert_eq!(lingerer.skip.load(Ordering::Relaxed), 0, "no linger ran out before this message");
    }

    #[cfg(unix)]
    fn socket_placeholder() -> SocketFd {
        -1
    }

    #[cfg(not(unix))]
    fn socket_placeholder() -> SocketFd {}

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
        assert_eq!(wait_readable(server.as_raw_fd(), Duration::from_millis(5)), Wait::RanOut);
        assert!(started.elapsed() >= Duration::from_millis(5), "nothing was sent, so the whole budget passes");

        client.write_all(b"x").unwrap();
        let started = Instant::now();
        assert_eq!(wait_readable(server.as_raw_fd(), Duration::from_secs(10)), Wait::Waiting);
        assert!(started.elapsed() < Duration::from_secs(5), "bytes are waiting, so it returns early");

        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            client.write_all(b"y").unwrap();
        });
        let mut byte = [0u8; 1];
        server.set_nonblocking(false).unwrap();
        server.read_exact(&mut byte).unwrap();
        server.set_nonblocking(true).unwrap();
        assert_eq!(wait_readable(server.as_raw_fd(), Duration::from_secs(10)), Wait::Arrived);
        writer.join().unwrap();
        server.set_nonblocking(false).unwrap();
        server.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"y");
    }
}
