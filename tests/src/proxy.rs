//! The real `edgeguard-proxy` binary as a child process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{client, poll};

/// Where cargo put the binary (see [`beside_this_program`]). `scripts/test` builds it
/// first; `EDGEGUARD_PROXY_BIN` overrides.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EDGEGUARD_PROXY_BIN") {
        return path.into();
    }
    beside_this_program("edgeguard-proxy")
}

/// A binary of this workspace next to the running program: a test runs from `deps/`, one
/// level below the binaries; a binary (the demo) runs beside them.
pub fn beside_this_program(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("the program's folder");
    let path = [dir.join(name), dir.parent().unwrap_or(dir).join(name)]
        .into_iter()
        .find(|p| p.exists());
    path.unwrap_or_else(|| {
        panic!(
            "{name} is missing beside {}: run `cargo build --workspace --bins` first (scripts/test does)",
            exe.display()
        )
    })
}

/// Arguments and environment for one proxy process.
#[derive(Debug, Clone)]
pub struct Builder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    internal: bool,
    fd_limit: Option<u64>,
    /// Set: stdout is not read while it is true.
    stdout_held: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Builder {
    /// Loopback listeners on free ports, JSON logs at info, and `source` as the secret source.
    pub fn new(source: &str) -> Self {
        let args = [
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--secret-source",
            source,
        ];
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("EDGEGUARD_LOG".into(), "info".into())],
            internal: false,
            fd_limit: None,
            stdout_held: None,
        }
    }

    /// Sets a flag; a flag given again replaces the earlier value, except the
    /// repeatable `--health-path`.
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        if flag != "--health-path" {
            if let Some(i) = self.args.iter().position(|a| a == flag) {
                self.args[i + 1] = value.into();
                return self;
            }
        }
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn envs(mut self, pairs: &[(&str, String)]) -> Self {
        for (k, v) in pairs {
            self = self.env(k, v);
        }
        self
    }

    /// Runs the proxy with at most `n` open file descriptors (RLIMIT_NOFILE).
    pub fn fd_limit(mut self, n: u64) -> Self {
        self.fd_limit = Some(n);
        self
    }

    /// Reads the process's stdout only while `held` is false (see
    /// [`crate::capture_output_gated`]).
    pub fn stdout_held_by(mut self, held: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.stdout_held = Some(held);
        self
    }

    pub fn internal(mut self) -> Self {
        self.internal = true;
        self.arg("--internal-listen", "127.0.0.1:0")
    }

    /// Starts the process and waits (polling its log) until every listener is bound.
    pub async fn spawn(self) -> Proxy {
        let mut command = Command::new(binary());
        command
            .args(&self.args)
            .args(fast_path_arg(&self.args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The test's own environment must not configure the proxy.
        for (key, _) in std::env::vars_os() {
            if let Some(k) = key.to_str() {
                if k.starts_with("EDGEGUARD_") || k == "RUST_LOG" {
                    command.env_remove(k);
                }
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(n) = self.fd_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().expect("start edgeguard-proxy");
        let lines = crate::capture_output_gated(&mut child, self.stdout_held.unwrap_or_default());
        let mut proxy = Proxy {
            child,
            lines,
            enforcing: None,
            internal: None,
            admin: None,
        };
        let wanted = if self.internal { 3 } else { 2 };
        poll(
            Duration::from_secs(20),
            "the proxy's listening lines",
            || {
                let found = proxy.listening();
                let exited = proxy.child.try_wait().ok().flatten();
                if let Some(status) = exited {
                    panic!(
                        "proxy exited ({status}) before listening:\n{}",
                        proxy.output()
                    );
                }
                std::future::ready((found.len() >= wanted).then_some(found))
            },
        )
        .await
        .into_iter()
        .for_each(|(name, addr)| match name.as_str() {
            "enforcing" => proxy.enforcing = Some(addr),
            "internal" => proxy.internal = Some(addr),
            "admin" => proxy.admin = Some(addr),
            _ => {}
        });
        proxy
    }
}

/// A running proxy; killed when dropped.
#[derive(Debug)]
pub struct Proxy {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    enforcing: Option<SocketAddr>,
    internal: Option<SocketAddr>,
    admin: Option<SocketAddr>,
}

impl Proxy {
    pub fn enforcing(&self) -> SocketAddr {
        self.enforcing.expect("enforcing listener")
    }
    pub fn internal(&self) -> SocketAddr {
        self.internal.expect("internal listener")
    }
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("admin listener")
    }
    /// Whether the process is still running.
    pub fn child_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The shared list of output lines, for a task that reads them as they come (the
    /// CloudWatch double's shipper).
    pub fn output_lines(&self) -> Arc<Mutex<Vec<String>>> {
        self.lines.clone()
    }

    /// Everything the process printed so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn listening(&self) -> Vec<(String, SocketAddr)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|v| v["message"] == "listening")
            .filter_map(|v| {
                let addr = v["addr"].as_str()?.parse().ok()?;
                Some((v["listener"].as_str()?.to_owned(), addr))
            })
            .collect()
    }

    /// The admin `/ready` status code.
    pub async fn ready_status(&self) -> u16 {
        client::get(self.admin(), "/ready", &[]).await.status
    }

    /// Polls `/ready` until 200.
    pub async fn wait_ready(&self) {
        poll(Duration::from_secs(20), "/ready to answer 200", || async {
            (self.ready_status().await == 200).then_some(())
        })
        .await;
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> String {
        client::get(self.admin(), "/metrics", &[]).await.text()
    }

    /// The value of one metric line (exact name with labels), or 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}) failed", self.pid());
    }

    /// Polls for the process's exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "proxy did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The suites that must hold on both of the proxy's HTTP/1.1 paths run twice (scripts/test):
/// `EDGEGUARD_TEST_H1_FAST_PATH=on|off` in the test's environment chooses the path of
/// every proxy it starts that does not choose one itself.
pub const FAST_PATH_ENV: &str = "EDGEGUARD_TEST_H1_FAST_PATH";

fn fast_path_arg(args: &[String]) -> Vec<String> {
    match std::env::var(FAST_PATH_ENV) {
        Ok(value) if !args.iter().any(|a| a == "--h1-fast-path") => {
            vec!["--h1-fast-path".to_owned(), value]
        }
        _ => Vec::new(),
    }
}

/// Runs the binary to completion with `args` and `env` (nothing else from the test's
/// environment); returns its exit code and combined output.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let out = command.output().expect("run edgeguard-proxy");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
