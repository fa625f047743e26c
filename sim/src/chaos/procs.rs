//! The chaos run's real processes and files: a Mosquitto broker (child
//! process, persistence in a temp dir, killable and restartable on the same
//! port), the `gate-agent` binary (child process, SIGKILL/SIGTERM, optional
//! libfaketime), the lane's state directory (a size-limited tmpfs when the
//! run may mount one) and a small client of the agent's control socket.
//!
//! Every child is killed when its owner is dropped (also on error or panic).

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr().context("local_addr")?.port())
}

/// Sends `sig` (e.g. "TERM") to `pid` with kill(1).
fn signal(pid: u32, sig: &str) -> Result<()> {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running kill(1)")?;
    if !st.success() {
        bail!("kill -{sig} {pid}: {st}");
    }
    Ok(())
}

/// Waits for `child` to exit, at most `timeout`; SIGKILL after that.
async fn reap(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

fn append_log(path: &Path) -> Result<(Stdio, Stdio)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let g = f.try_clone().context("log file handle")?;
    Ok((Stdio::from(f), Stdio::from(g)))
}

// ---------------------------------------------------------------------------
// Mosquitto

/// A Mosquitto broker on 127.0.0.1:`port` with persistence in `dir`.
pub struct Mosquitto {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Mosquitto {
    /// Writes the configuration and starts the broker (waits until it listens).
    pub async fn start(dir: &Path, port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let conf = dir.join("mosquitto.conf");
        // `user root`: started as root, mosquitto would drop to its own user
        // and could not write its persistence file here (no effect otherwise).
        // Persistence saved after every change (`autosave_on_changes` with
        // an interval of 1 change): a broker that PUBACKs a message and is
        // then SIGKILLed must not lose it (saving every second lost what
        // came in the last second). Queues large enough for a subscriber
        // that was away during a whole outage.
        std::fs::write(
            &conf,
            format!(
                "user root\nallow_anonymous true\npersistence true\npersistence_location {d}/\nautosave_on_changes true\nautosave_interval 1\nmax_queued_messages 100000\nlog_dest file {d}/mosquitto.log\nlistener {port} 127.0.0.1\n",
                d = dir.display()
            ),
        )
        .with_context(|| format!("writing {}", conf.display()))?;
        let mut m = Self {
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        m.spawn().await?;
        Ok(m)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the broker again (after a stop or a kill); waits until it listens.
    pub async fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let (out, err) = append_log(&self.dir.join("mosquitto.stdout"))?;
        // Debian installs it in /usr/sbin, not always on PATH.
        let prog = if Path::new("/usr/sbin/mosquitto").exists() {
            "/usr/sbin/mosquitto"
        } else {
            "mosquitto"
        };
        let child = Command::new(prog)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting mosquitto (Debian package `mosquitto`; `cargo xtask install`)")?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    bail!(
                        "mosquitto exited at start ({st}); see {}/mosquitto.log",
                        self.dir.display()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "mosquitto did not listen on {addr} within 10 s; see {}/mosquitto.log",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM (mosquitto saves its persistence file), wait at most 5 s.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM")?;
            reap(&mut c, Duration::from_secs(5)).await;
        }
        Ok(())
    }

    /// SIGKILL: whatever was not saved yet is lost.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            reap(&mut c, Duration::from_secs(5)).await;
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// libfaketime

/// The agent's wall clock offset, through libfaketime's timestamp file.
pub struct FakeTime {
    pub lib: PathBuf,
    pub file: PathBuf,
    pub offset_s: i64,
}

impl FakeTime {
    /// Where Debian's `faketime` package puts the library (multi-threaded
    /// variant preferred), if installed.
    pub fn find_lib() -> Option<PathBuf> {
        let dirs = [
            "/usr/lib/x86_64-linux-gnu/faketime",
            "/usr/lib/aarch64-linux-gnu/faketime",
            "/usr/lib/faketime",
        ];
        for d in dirs {
            for f in ["libfaketimeMT.so.1", "libfaketime.so.1"] {
                let p = Path::new(d).join(f);
                if p.exists() {
                    return Some(p);
                }
            }
        }
        None
    }

    pub fn new(lib: PathBuf, file: PathBuf) -> Result<Self> {
        let f = Self {
            lib,
            file,
            offset_s: 0,
        };
        f.set(0)?;
        Ok(f)
    }

    /// Sets the offset of the agent's wall clock from the real one (seconds).
    /// The agent sees it within [`FakeTime::CACHE_S`] seconds.
    pub fn set(&self, offset_s: i64) -> Result<()> {
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset_s:+}\n"))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.file)
            .with_context(|| format!("renaming to {}", self.file.display()))
    }

    /// libfaketime re-reads the file at most this often.
    pub const CACHE_S: u64 = 1;

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.lib.display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file.display().to_string(),
            ),
            // Only the wall clock jumps (an NTP step, a bad RTC); the
            // monotonic clock never does.
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
            ("FAKETIME_CACHE_DURATION".into(), Self::CACHE_S.to_string()),
        ]
    }
}

// ---------------------------------------------------------------------------
// The agent process

/// The real `gate-agent` binary as a child process.
pub struct AgentProc {
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
    pub faketime: Option<FakeTime>,
    child: Option<Child>,
    /// Processes started.
    pub starts: u64,
}

impl AgentProc {
    pub fn new(bin: PathBuf, config: PathBuf, log: PathBuf, faketime: Option<FakeTime>) -> Self {
        Self {
            bin,
            config,
            log,
            faketime,
            child: None,
            starts: 0,
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the agent (does not wait for it to be ready).
    pub fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let (out, err) = append_log(&self.log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        if let Some(ft) = &self.faketime {
            cmd.envs(ft.env());
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.starts += 1;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(
                f,
                "=== chaos: agent start #{} pid {}",
                self.starts,
                child.id()
            );
        }
        self.child = Some(child);
        Ok(())
    }

    /// The exit status if the agent exited by itself (it is then not running).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let st = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if st.is_some() {
            self.child = None;
        }
        st
    }

    /// SIGKILL.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            reap(&mut c, Duration::from_secs(5)).await;
        }
    }

    /// SIGTERM (a clean stop), SIGKILL after 10 s.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM")?;
            reap(&mut c, Duration::from_secs(10)).await;
        }
        Ok(())
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The lane's state directory

/// The directory holding the agent's databases, on a size-limited tmpfs when
/// it could be mounted (root), so that the disk can be filled.
pub struct StateDir {
    pub path: PathBuf,
    pub mounted: bool,
    pub size_mb: u64,
    /// Why no tmpfs (when not mounted).
    pub mount_error: Option<String>,
}

impl StateDir {
    pub fn new(path: &Path, size_mb: u64) -> Result<Self> {
        std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m,mode=0755")])
            .arg("tmpfs")
            .arg(path)
            .stdin(Stdio::null())
            .output();
        let (mounted, mount_error) = match out {
            Ok(o) if o.status.success() => (true, None),
            Ok(o) => (
                false,
                Some(String::from_utf8_lossy(&o.stderr).trim().to_string()),
            ),
            Err(e) => (false, Some(e.to_string())),
        };
        Ok(Self {
            path: path.to_path_buf(),
            mounted,
            size_mb,
            mount_error,
        })
    }

    fn ballast(&self) -> PathBuf {
        self.path.join("ballast.bin")
    }

    /// Fills the filesystem with a ballast file until it is full. Returns the
    /// bytes written.
    pub fn fill(&self) -> Result<u64> {
        let path = self.ballast();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let chunk = vec![0xA5u8; 64 * 1024];
        let mut written = 0u64;
        // Bounded: never more than the filesystem's size plus one chunk.
        let max = (self.size_mb + 1) * 1024 * 1024;
        while written < max {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(_) => break,
            }
        }
        // The last partial blocks.
        for _ in 0..64 {
            if f.write(&chunk[..512]).is_err() {
                break;
            }
            written += 512;
        }
        let _ = f.flush();
        Ok(written)
    }

    /// Removes the ballast.
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_file(self.ballast()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context("removing the ballast"),
        }
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.mounted {
            let ok = Command::new("umount")
                .arg(&self.path)
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&self.path).status();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Control socket

/// One request to the agent's control socket (docs/control-protocol.md);
/// the answer's `data`, or None when the agent does not answer in time.
pub async fn control(sock: &Path, cmd: &str) -> Option<serde_json::Value> {
    let fut = async {
        let s = tokio::net::UnixStream::connect(sock).await.ok()?;
        let (r, mut w) = s.into_split();
        let req = format!("{{\"v\":1,\"cmd\":\"{cmd}\"}}\n");
        w.write_all(req.as_bytes()).await.ok()?;
        let mut line = String::new();
        let mut r = BufReader::new(r);
        r.read_line(&mut line).await.ok()?;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        if v.get("ok")?.as_bool()? {
            v.get("data").cloned()
        } else {
            None
        }
    };
    tokio::time::timeout(Duration::from_millis(700), fut)
        .await
        .ok()
        .flatten()
}
