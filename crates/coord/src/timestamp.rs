//! The timestamp oracle: chooses the time of every write and read so that reads see every write
//! acknowledged before them (read-your-writes across sessions) and table inputs never receive an
//! update behind their frontier.

use freshet_repr::Timestamp;

#[derive(Debug, Default)]
pub struct Oracle {
    last_write: Timestamp,
    /// Tables have been promised to receive nothing before this time.
    advanced_to: Timestamp,
    /// The latest time any read was given; later reads never go back before it.
    last_read: Timestamp,
}

pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as Timestamp).unwrap_or(0)
}

impl Oracle {
    pub fn new(start: Timestamp) -> Oracle {
        Oracle { last_write: start, advanced_to: start, last_read: start }
    }

    /// A time for a new write: after every earlier write and not behind the table frontier.
    pub fn write_ts(&mut self) -> Timestamp {
        let ts = now_ms().max(self.last_write + 1).max(self.advanced_to);
        self.last_write = ts;
        ts
    }

    /// A time for a read that sees every acknowledged write.
    pub fn read_ts(&mut self) -> Timestamp {
        let ts = now_ms().max(self.last_write).max(self.last_read);
        self.last_read = ts;
        ts
    }

    /// The freshest time at which inputs whose least upper frontier is `upper` and greatest since
    /// is `since` can be read without waiting, if that time still sees every acknowledged write
    /// and is not before an earlier read. Inputs complete forever (`upper == MAX`) give no time.
    pub fn complete_read_ts(&mut self, upper: Timestamp, since: Timestamp) -> Option<Timestamp> {
        if upper == Timestamp::MAX {
            return None;
        }
        let ts = upper.checked_sub(1)?;
        if ts < self.last_write || ts < self.last_read || ts < since {
            return None;
        }
        self.last_read = ts;
        Some(ts)
    }

    /// Records that tables are closed before `ts`; returns whether that moved the frontier (and so
    /// the cluster must be told).
    pub fn advance_to(&mut self, ts: Timestamp) -> bool {
        if ts > self.advanced_to {
            self.advanced_to = ts;
            true
        } else {
            false
        }
    }

    pub fn advanced_to(&self) -> Timestamp {
        self.advanced_to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_strictly_increasing_and_never_behind_the_frontier() {
        let mut oracle = Oracle::new(now_ms());
        let a = oracle.write_ts();
        let b = oracle.write_ts();
        assert!(b > a);
        assert!(oracle.advance_to(b + 1000));
        assert!(oracle.write_ts() >= b + 1000);
        assert!(oracle.read_ts() >= b + 1000);
        assert!(!oracle.advance_to(b));
    }

    #[test]
    fn complete_reads_see_every_write_and_never_go_back() {
        let mut oracle = Oracle::new(1_000);
        let w = oracle.write_ts();
        assert_eq!(oracle.complete_read_ts(w, 0), None, "upper at the write: the write is not complete yet");
        assert_eq!(oracle.complete_read_ts(w + 10, 0), Some(w + 9));
        assert_eq!(oracle.complete_read_ts(w + 5, 0), None, "an earlier read was at w + 9");
        assert_eq!(oracle.complete_read_ts(w + 20, w + 30), None, "compacted past the candidate");
        assert_eq!(oracle.complete_read_ts(Timestamp::MAX, 0), None);
        assert!(oracle.read_ts() >= w + 9);
    }
}
