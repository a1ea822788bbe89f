//! Where a log's bytes live: the `LogMedium` trait and its file implementation.
//!
//! A medium is a dumb byte store (read everything, append at the end, fsync, cut back). It must not
//! know about frames, checksums or batches: `FrameLog` owns that, so that every medium, including
//! the fault-injecting one of the tests, runs the same commit and recovery code.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The byte store under a `FrameLog`.
pub trait LogMedium {
    /// Every byte currently in the medium (durable or not).
    fn read_all(&mut self) -> io::Result<Vec<u8>>;
    /// Writes `bytes` at the end. On error an unknown prefix of `bytes` may have been written.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable. An error leaves durability unknown.
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the medium back to `len` bytes (not durable until `sync`).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// A name for error messages (a path).
    fn describe(&self) -> String;
}

/// A log file on the local file system, opened for appending.
pub struct FileMedium {
    path: PathBuf,
    file: File,
}

impl FileMedium {
    /// Opens (creating if needed) the file at `path`.
    pub fn open(path: &Path) -> io::Result<FileMedium> {
        let file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        // A new file's directory entry is durable only once its directory is synced.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)?.sync_all()?;
        }
        Ok(FileMedium { path: path.to_path_buf(), file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl LogMedium for FileMedium {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        // The file is in append mode: every write goes to the current end, also after a truncate.
        self.file.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        // sync_all, not sync_data: a truncate changes the length, which is metadata.
        self.file.sync_all()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
