//! Server processes under test: spawns Temper (`temper server start-dev`) or Temporal's dev
//! server (`temporal server start-dev`) as a child process on a free port over a fresh store,
//! times how long it takes from spawn to accepting TCP connections ("listening") and to
//! answering `GetSystemInfo` ("serving"), and reads its CPU time and resident memory from
//! `/proc`. With `--target` nothing is spawned: the benchmark drives an already running server
//! and process readings are unavailable.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use temper_api::proto::workflowservice::v1::{
    DescribeNamespaceRequest, DescribeNamespaceResponse, GetSystemInfoRequest,
    GetSystemInfoResponse,
};

use crate::Error;
use crate::grpc::{self, Client};

/// How often readiness is probed, and how long before giving up.
const PROBE_EVERY: Duration = Duration::from_millis(5);
const PROBE_FOR: Duration = Duration::from_secs(30);
/// How long `stop` waits for the process to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What to run the benchmark against.
#[derive(Clone, Debug)]
pub enum Launcher {
    /// `temper server start-dev` over a fresh SQLite file, or a fresh PostgreSQL schema.
    Temper {
        binary: PathBuf,
        postgres: Option<String>,
    },
    /// `temporal server start-dev` (Temporal's CLI) over a fresh SQLite file.
    Temporal { binary: PathBuf },
    /// An already running server at HOST:PORT.
    Target { address: String },
}

impl Launcher {
    /// The label printed in front of this server's figures.
    pub fn label(&self) -> &'static str {
        match self {
            Launcher::Temper { .. } => "temper",
            Launcher::Temporal { .. } => "temporal",
            Launcher::Target { .. } => "target",
        }
    }

    /// Starts the server (or connects to the target) and waits until it serves.
    pub async fn launch(&self, gzip: bool) -> Result<Server, Error> {
        match self {
            Launcher::Target { address } => {
                let client = Client::connect(address, 4, gzip).await?;
                wait_for_namespace(&client, Instant::now()).await?;
                Ok(Server {
                    address: address.clone(),
                    process: None,
                })
            }
            _ => {
                let process = ServerProcess::spawn(self).await?;
                Ok(Server {
                    address: process.address.to_string(),
                    process: Some(process),
                })
            }
        }
    }
}

/// A server under test: its address and, when the benchmark spawned it, its process.
pub struct Server {
    pub address: String,
    pub process: Option<ServerProcess>,
}

impl Server {
    /// Server CPU time so far (user + system), when the process is ours.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.process.as_ref().and_then(ServerProcess::cpu_seconds)
    }

    /// Resident memory of the server process, when it is ours.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.process.as_ref().and_then(ServerProcess::rss_bytes)
    }

    /// Stops the server process (if ours) and removes what it stored.
    pub async fn shut_down(mut self) {
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
    }
}

/// The command line a server process was spawned with, kept to restart it on the same store.
#[derive(Clone, Debug)]
struct Spawn {
    program: PathBuf,
    args: Vec<String>,
    /// Temporal's dev server creates the `default` namespace shortly after it starts serving.
    needs_namespace: bool,
    /// The PostgreSQL connection string and schema, dropped when the process is stopped.
    postgres: Option<(String, String)>,
}

/// A spawned server process.
pub struct ServerProcess {
    child: Child,
    spawn: Spawn,
    pub address: SocketAddr,
    /// Holds the SQLite file and the server's log; removed on drop.
    dir: tempfile::TempDir,
    pub spawned_at: Instant,
    /// Spawn to first accepted TCP connection.
    pub to_listening: Duration,
    /// Spawn to first successful `GetSystemInfo`.
    pub to_serving: Duration,
}

impl ServerProcess {
    async fn spawn(launcher: &Launcher) -> Result<ServerProcess, Error> {
        let dir = tempfile::tempdir()?;
        let address = free_address()?;
        let spawn = command_line(launcher, address, dir.path())?;
        let (child, spawned_at) = start(&spawn, dir.path())?;
        let mut process = ServerProcess {
            child,
            spawn,
            address,
            dir,
            spawned_at,
            to_listening: Duration::ZERO,
            to_serving: Duration::ZERO,
        };
        process.wait_until_serving().await?;
        Ok(process)
    }

    /// Kills the process with SIGKILL and starts it again on the same store and port.
    pub async fn kill_and_restart(&mut self) -> Result<(), Error> {
        self.kill();
        let (child, spawned_at) = start(&self.spawn, self.dir.path())?;
        self.child = child;
        self.spawned_at = spawned_at;
        self.wait_until_serving().await
    }

    /// SIGKILL, and reap the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it has not exited within a few seconds; then drops the
    /// PostgreSQL schema the run created, if any.
    pub async fn stop(mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        if let Some((url, schema)) = &self.spawn.postgres {
            drop_schema(url, schema).await;
        }
    }

    /// User + system CPU time of the process, from fields 14 and 15 of `/proc/PID/stat`.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The command name (field 2) may hold spaces: count fields after its closing paren,
        // where field 3 (state) is the first.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
        let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
        Some((utime + stime) as f64 / rustix::param::clock_ticks_per_second() as f64)
    }

    /// `VmRSS` of `/proc/PID/status`, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Probes every few milliseconds until the server accepts connections, then until it
    /// answers `GetSystemInfo` (and, for Temporal, knows the `default` namespace).
    async fn wait_until_serving(&mut self) -> Result<(), Error> {
        let deadline = self.spawned_at + PROBE_FOR;
        while TcpStream::connect_timeout(&self.address, PROBE_EVERY).is_err() {
            self.check_alive(deadline)?;
            tokio::time::sleep(PROBE_EVERY).await;
        }
        self.to_listening = self.spawned_at.elapsed();
        let client = loop {
            if let Ok(client) = Client::connect(&self.address.to_string(), 1, false).await {
                break client;
            }
            self.check_alive(deadline)?;
            tokio::time::sleep(PROBE_EVERY).await;
        };
        loop {
            let probe = client
                .call::<_, GetSystemInfoResponse>(grpc::GET_SYSTEM_INFO, GetSystemInfoRequest {});
            if tokio::time::timeout(Duration::from_secs(1), probe)
                .await
                .is_ok_and(|r| r.is_ok())
            {
                break;
            }
            self.check_alive(deadline)?;
            tokio::time::sleep(PROBE_EVERY).await;
        }
        self.to_serving = self.spawned_at.elapsed();
        if self.spawn.needs_namespace {
            wait_for_namespace(&client, self.spawned_at).await?;
        }
        Ok(())
    }

    /// An error (with the tail of the server's log) if the process exited or the deadline
    /// passed.
    fn check_alive(&mut self, deadline: Instant) -> Result<(), Error> {
        let problem = match self.child.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            Err(e) => format!("cannot be waited for: {e}"),
            Ok(None) if Instant::now() > deadline => {
                format!("did not serve within {} s", PROBE_FOR.as_secs())
            }
            Ok(None) => return Ok(()),
        };
        Err(format!(
            "{} {problem}; end of its log:\n{}",
            self.spawn.program.display(),
            log_tail(self.dir.path())
        )
        .into())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now: bind port 0, take the port, release it.
fn free_address() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn command_line(launcher: &Launcher, address: SocketAddr, dir: &Path) -> Result<Spawn, Error> {
    let port = address.port().to_string();
    let mut args: Vec<String> = ["server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        .map(String::from)
        .into();
    args.extend(["--port".to_string(), port]);
    let spawn = match launcher {
        Launcher::Temper { binary, postgres } => {
            args.extend(["--log-level", "warn"].map(String::from));
            let postgres = postgres.as_ref().map(|url| {
                let schema = format!("temper_bench_{}", uuid::Uuid::new_v4().simple());
                args.extend(["--postgres".into(), url.clone()]);
                args.extend(["--postgres-schema".into(), schema.clone()]);
                (url.clone(), schema)
            });
            if postgres.is_none() {
                args.extend(["--db-filename".into(), path_arg(&dir.join("bench.db"))?]);
            }
            Spawn {
                program: binary.clone(),
                args,
                needs_namespace: false,
                postgres,
            }
        }
        Launcher::Temporal { binary } => {
            args.extend(["--log-level", "error"].map(String::from));
            args.extend(["--db-filename".into(), path_arg(&dir.join("temporal.db"))?]);
            for flag in ["--http-port", "--metrics-port"] {
                args.extend([flag.to_string(), free_address()?.port().to_string()]);
            }
            Spawn {
                program: binary.clone(),
                args,
                needs_namespace: true,
                postgres: None,
            }
        }
        Launcher::Target { .. } => return Err("a target is not spawned".into()),
    };
    Ok(spawn)
}

fn path_arg(path: &Path) -> Result<String, Error> {
    path.to_str()
        .map(String::from)
        .ok_or_else(|| format!("{} is not UTF-8", path.display()).into())
}

/// Spawns the process with its stderr (and stdout) appended to `DIR/server.log`.
fn start(spawn: &Spawn, dir: &Path) -> Result<(Child, Instant), Error> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    let spawned_at = Instant::now();
    let child = Command::new(&spawn.program)
        .args(&spawn.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", spawn.program.display()))?;
    Ok((child, spawned_at))
}

fn log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Waits until `DescribeNamespace` of `default` succeeds.
async fn wait_for_namespace(client: &Client, since: Instant) -> Result<(), Error> {
    loop {
        let request = DescribeNamespaceRequest {
            namespace: "default".into(),
            ..Default::default()
        };
        let status = match client
            .call::<_, DescribeNamespaceResponse>(grpc::DESCRIBE_NAMESPACE, request)
            .await
        {
            Ok(_) => return Ok(()),
            Err(status) => status,
        };
        if since.elapsed() > PROBE_FOR {
            return Err(format!("namespace `default` not available: {status}").into());
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Drops a schema a benchmark run created in PostgreSQL; a failure is only reported.
async fn drop_schema(url: &str, schema: &str) {
    let dropped = async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await?;
        drop(client);
        let _ = connection.await;
        Ok::<_, tokio_postgres::Error>(())
    };
    if let Err(e) = dropped.await {
        eprintln!("could not drop PostgreSQL schema {schema}: {e}");
    }
}
