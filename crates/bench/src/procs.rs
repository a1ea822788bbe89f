//! Where things are (the repository, the target directory, the freshet binary) and the small process
//! helpers every service wrapper shares: temporary directories, free loopback ports, child commands.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{BenchError, Result};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Result<TempDir> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("freshet-bench-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| BenchError::io(format!("create {}", path.display()), e))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::io("find a free loopback port", e))
}

/// The repository root: the nearest ancestor of this crate holding `tests/emulator/package.json`.
pub fn repo_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("tests/emulator/package.json").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| BenchError::Setup(format!("no tests/emulator/package.json above {}", manifest_dir.display())))
}

/// The profile directory this benchmark binary was built into (`target/release`, `target/debug`).
pub fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| BenchError::io("find the benchmark's own executable", e))?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| BenchError::Setup(format!("{} has no parent directory", exe.display())))
}

/// The cargo profile name of `profile_dir` (`debug` is the `dev` profile's directory).
pub fn profile_name(profile_dir: &Path) -> String {
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    }
}

/// The freshet binary of the same profile as this one, built (or brought up to date) with cargo
/// first when `build` is set, so that `cargo run -p freshet-bench` never measures a stale server.
pub fn freshet_binary(build: bool) -> Result<PathBuf> {
    let dir = profile_dir()?;
    if build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let root = repo_root()?;
        let mut command = Command::new(cargo);
        command.current_dir(&root).args(["build", "--bin", "freshet", "--profile"]).arg(profile_name(&dir));
        run(&mut command, "cargo build --bin freshet")?;
    }
    let bin = dir.join("freshet");
    if !bin.is_file() {
        return Err(BenchError::Setup(format!(
            "{} does not exist: build it with `cargo build --bin freshet` in the same profile",
            bin.display()
        )));
    }
    Ok(bin)
}

/// Runs a command to completion; its stdout on success, its stderr in the error otherwise.
pub fn run(command: &mut Command, label: &str) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| BenchError::io(format!("run {label}"), e))?;
    if !out.status.success() {
        return Err(BenchError::Command {
            program: label.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Resident set size of a process in bytes, from `VmRSS` in `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {path}"), e))?;
    parse_vm_rss(&text).ok_or_else(|| BenchError::Parse { what: path, detail: "no VmRSS line".into() })
}

/// CPU time a process has used, user and system, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {path}"), e))?;
    parse_cpu_ticks(&text).ok_or_else(|| BenchError::Parse { what: path, detail: "no utime/stime fields".into() })
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; the fields after it start at the
    // last ')'. utime and stime are fields 14 and 15, the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_user_plus_system_even_with_odd_command_names() {
        let stat = "4242 (fresh et) (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 269 0 0 20 0 9 0 55 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1000));
        assert_eq!(parse_cpu_ticks("4242 (freshet) S 1"), None);
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tfreshet\nVmPeak:\t  999 kB\nVmRSS:\t  128644 kB\nThreads: 4\n";
        assert_eq!(parse_vm_rss(status), Some(128644 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn own_rss_is_positive() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn profile_names_follow_cargo() {
        assert_eq!(profile_name(Path::new("/x/target/debug")), "dev");
        assert_eq!(profile_name(Path::new("/x/target/release")), "release");
    }
}
