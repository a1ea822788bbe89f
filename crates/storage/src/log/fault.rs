//! A seeded, fault-injecting in-memory `LogMedium` for tests of recovery paths.
//!
//! It keeps what a real disk keeps apart: the bytes written (the page cache) and the bytes made
//! durable by the last successful sync. Writes and syncs fail, tear, or report failure after they
//! happened, each with a configured probability; `crash` keeps the durable bytes plus a random
//! prefix of the unsynced ones, like power loss. It must stay deterministic for a given seed.

use std::io;

use super::medium::LogMedium;

/// Probabilities (0.0..=1.0) of each fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultConfig {
    pub seed: u64,
    /// A write fails, after writing a random prefix of its bytes.
    pub tear_write: f64,
    /// A write or sync succeeds but reports failure.
    pub fail_after_success: f64,
    /// A sync fails without making anything durable.
    pub fail_sync: f64,
    /// A truncate fails.
    pub fail_truncate: f64,
}

/// The fault-injecting medium.
#[derive(Clone, Debug)]
pub struct FaultyMedium {
    config: FaultConfig,
    rng: u64,
    written: Vec<u8>,
    durable: Vec<u8>,
    /// How many faults were injected, to check that a test exercised them.
    pub faults: usize,
}

impl FaultyMedium {
    pub fn new(config: FaultConfig) -> FaultyMedium {
        FaultyMedium {
            config,
            rng: config.seed ^ 0x9e37_79b9_7f4a_7c15,
            written: Vec::new(),
            durable: Vec::new(),
            faults: 0,
        }
    }

    /// splitmix64: small, seedable and good enough for choosing faults.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let hit = unit < p;
        self.faults += usize::from(hit);
        hit
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// Simulates power loss: what survives is the durable bytes plus a random prefix of the bytes
    /// written after them (or, after an unsynced truncate, either length).
    pub fn crash(mut self) -> FaultyMedium {
        let survived = if self.written.starts_with(&self.durable) {
            let extra = self.below(self.written.len() - self.durable.len() + 1);
            self.written[..self.durable.len() + extra].to_vec()
        } else if self.below(2) == 0 {
            self.durable.clone()
        } else {
            self.written.clone()
        };
        self.written = survived.clone();
        self.durable = survived;
        self
    }

    /// The bytes a reader sees now.
    pub fn bytes(&self) -> &[u8] {
        &self.written
    }

    /// Replaces the content (durably), e.g. to corrupt it.
    pub fn set_bytes(&mut self, bytes: Vec<u8>) {
        self.written = bytes.clone();
        self.durable = bytes;
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl LogMedium for FaultyMedium {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        Ok(self.written.clone())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.chance(self.config.tear_write) {
            let keep = self.below(bytes.len());
            self.written.extend_from_slice(&bytes[..keep]);
            return Err(injected("torn write"));
        }
        self.written.extend_from_slice(bytes);
        if self.chance(self.config.fail_after_success) {
            return Err(injected("write (after writing)"));
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.chance(self.config.fail_sync) {
            return Err(injected("fsync"));
        }
        self.durable = self.written.clone();
        if self.chance(self.config.fail_after_success) {
            return Err(injected("fsync (after syncing)"));
        }
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.chance(self.config.fail_truncate) {
            return Err(injected("truncate"));
        }
        self.written.truncate(len as usize);
        Ok(())
    }

    fn describe(&self) -> String {
        format!("<faulty medium, seed {}>", self.config.seed)
    }
}
