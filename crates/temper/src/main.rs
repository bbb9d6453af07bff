//! `temper`: the Temper server binary.
//!
//! `temper server start-dev` accepts the flags of `temporal server start-dev` (in-memory
//! SQLite unless `--db-filename` is given); `temper server start` runs the durable default, a
//! SQLite file under `--data-dir`. Flags Temper does not act on yet are accepted and logged.
//! `temper PORT [FLAGS]` is the command line of Temporal's Java test server, which the SDKs'
//! time-skipping environments launch: a time-skipping dev server on PORT. `temper verify`
//! checks a stopped server's database (see `verify.rs`).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod cluster_status;
mod config_file;
mod verify;

use clap::{Args, Parser, Subcommand};
use temper_engine::HistoryLimits;
use temper_query::AttributeType;
use temper_server::ServerConfig;
use temper_server::cluster::ClusterConfig;
use temper_store::Store;
use temper_store::postgres::PostgresStore;
use temper_store::sqlite::SqliteStore;

#[derive(Parser)]
#[command(
    name = "temper",
    version,
    about = "A durable-execution server that speaks Temporal's gRPC API"
)]
struct Cli {
    /// Log level: debug, info, warn, error or never.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log format: text, pretty or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Logging configuration file (accepted for compatibility; not read).
    #[arg(long, global = true)]
    log_config: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up; its size does not matter
enum Command {
    /// Run the server.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Check a stopped server's database: every run's state must be what replaying its
    /// history gives. Exits with status 1 and names each run that differs.
    Verify(VerifyArgs),
    /// Inspect a cluster of nodes sharing one PostgreSQL database.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Print the cluster's nodes, the shards each owns and the age of their heartbeats and
    /// leases, as the node at `--address` sees them.
    Status {
        /// A node's gRPC address, `host:port`.
        #[arg(long, default_value = "127.0.0.1:7233")]
        address: String,
        #[command(flatten)]
        tls: cluster_status::ClientTls,
        /// A token for a node with authorization (sent as `authorization: Bearer …`, as the
        /// `temporal` CLI sends its `--api-key`); it needs a server-wide reader role.
        #[arg(long)]
        api_key: Option<String>,
    },
    /// Print the shard a workflow id's runs or a task queue live in, and the node that holds
    /// it, as the node at `--address` sees them.
    Locate {
        /// A node's gRPC address, `host:port`.
        #[arg(long, default_value = "127.0.0.1:7233")]
        address: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        /// A workflow id.
        #[arg(
            long,
            required_unless_present = "task_queue",
            conflicts_with = "task_queue"
        )]
        workflow_id: Option<String>,
        /// A task queue's name (a sticky queue's own name for a sticky queue).
        #[arg(long)]
        task_queue: Option<String>,
        #[command(flatten)]
        tls: cluster_status::ClientTls,
        /// As for `cluster status`.
        #[arg(long)]
        api_key: Option<String>,
    },
}

#[derive(Args)]
struct VerifyArgs {
    /// SQLite file to check (as given to `server start-dev --db-filename`).
    #[arg(short = 'f', long, required_unless_present = "postgres")]
    db_filename: Option<PathBuf>,
    #[command(flatten)]
    postgres: PostgresArgs,
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Start a development server (the flags of `temporal server start-dev`).
    StartDev(StartDevArgs),
    /// Start a durable server that keeps its state under a data directory. `--config FILE`
    /// reads these flags from a TOML file first (flags given here win).
    #[command(args_override_self = true)]
    Start(StartArgs),
}

#[derive(Args)]
struct ListenArgs {
    /// Port for the gRPC frontend.
    #[arg(short = 'p', long, default_value_t = 7233)]
    port: u16,
    /// IP address to bind the frontend to.
    #[arg(long, default_value = "localhost")]
    ip: String,
    /// Namespaces to create at start-up (`default` always exists). Repeatable.
    #[arg(short = 'n', long = "namespace")]
    namespaces: Vec<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Authorize requests by JWT bearer tokens signed by a key of this JWKS file (RS256,
    /// ES256); Temporal's `permissions` claim grants roles per namespace.
    #[arg(long)]
    auth_jwks_path: Option<PathBuf>,
    /// With `--tls-client-ca-path`: a JSON file of permissions by client-certificate common
    /// name (`{"worker-7": ["orders:worker"]}`), so certificate holders need no token.
    #[arg(long, requires = "tls_client_ca_path")]
    auth_certificate_roles: Option<PathBuf>,
    /// Requests per second each namespace may make (long polls not counted); over it, calls
    /// get RESOURCE_EXHAUSTED, which the SDKs retry. `start-dev` also reads Temporal's
    /// `--dynamic-config-value frontend.namespaceRPS=N`.
    #[arg(long)]
    namespace_rps: Option<f64>,
    /// Log one line per mutating request (target `temper::audit`): who, from where, which RPC
    /// on which namespace and workflow (or schedule, activity…), allowed or not.
    #[arg(long)]
    audit_log: bool,
    /// Concurrent long polls each namespace may hold per API (Temporal's
    /// `frontend.namespaceCount`, which `start-dev` also reads); over it, polls get
    /// RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = temper_server::rate_limits::DEFAULT_LONG_POLLS)]
    namespace_long_polls: usize,
    /// Memory for the states of recently used runs, in MiB (an estimate; the least recently
    /// used idle runs are dropped over it and read from the store again when next used).
    #[arg(long, default_value_t = temper_server::RUN_CACHE_MIB)]
    run_cache_mib: usize,
    /// The most workflow or activity tasks a task queue holds in memory (≈150 bytes each);
    /// further tasks wait in the store and are read back as the queue drains.
    #[arg(long, default_value_t = temper_server::matching::QUEUED_TASKS_PER_QUEUE)]
    queued_tasks_per_queue: usize,
}

/// TLS on every port the server opens; re-read when the files change.
#[derive(Args)]
struct TlsArgs {
    /// The server's certificate chain (PEM). Serves TLS with `--tls-key-path`.
    #[arg(long, requires = "tls_key_path")]
    tls_cert_path: Option<PathBuf>,
    /// The server certificate's private key (PEM).
    #[arg(long, requires = "tls_cert_path")]
    tls_key_path: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, requires = "tls_cert_path")]
    tls_client_ca_path: Option<PathBuf>,
}

impl TlsArgs {
    fn load(&self) -> Result<Option<Arc<temper_server::tls::ReloadingTls>>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert_path, &self.tls_key_path) else {
            return Ok(None);
        };
        let files = temper_server::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: self.tls_client_ca_path.clone(),
        };
        temper_server::tls::ReloadingTls::load(files)
            .map(Some)
            .map_err(|e| format!("TLS: {e}"))
    }
}

#[derive(Args)]
struct StartDevArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// SQLite file to persist to; in memory when omitted.
    #[arg(short = 'f', long)]
    db_filename: Option<PathBuf>,
    /// SQLite pragma NAME=VALUE. Repeatable.
    #[arg(long = "sqlite-pragma")]
    sqlite_pragmas: Vec<String>,
    #[command(flatten)]
    postgres: PostgresArgs,
    /// Do not serve the Web UI.
    #[arg(long)]
    headless: bool,
    /// Port for Temporal's HTTP API (a free port when not given).
    #[arg(long)]
    http_port: Option<u16>,
    /// Port for Prometheus metrics (a free port when not given).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Port for the Web UI (the gRPC port + 1000 when not given, as Temporal's dev server).
    #[arg(long)]
    ui_port: Option<u16>,
    /// IP address to bind the Web UI to (the frontend's when not given).
    #[arg(long)]
    ui_ip: Option<String>,
    #[arg(long)]
    ui_public_path: Option<String>,
    #[arg(long)]
    ui_asset_path: Option<String>,
    #[arg(long)]
    ui_codec_endpoint: Option<String>,
    #[arg(long)]
    ui_disable_news_fetch: bool,
    /// Dynamic config KEY=VALUE (JSON value). Repeatable; unknown keys are ignored.
    #[arg(long = "dynamic-config-value")]
    dynamic_config_values: Vec<String>,
    /// Custom search attribute NAME=Type. Repeatable.
    #[arg(long = "search-attribute")]
    search_attributes: Vec<String>,
    /// Run on a virtual clock that skips idle time and serve Temporal's TestService (what
    /// `WorkflowEnvironment.start_time_skipping` talks to).
    #[arg(long)]
    time_skipping: bool,
}

#[derive(Args)]
struct StartArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Directory holding the server's SQLite database.
    #[arg(long, default_value = "./temper-data")]
    data_dir: PathBuf,
    #[command(flatten)]
    postgres: PostgresArgs,
    /// Serve Prometheus metrics at /metrics on this port (off when not given).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Serve Temporal's HTTP API on this port (off when not given).
    #[arg(long)]
    http_port: Option<u16>,
    /// Serve the Web UI on this port (off when not given).
    #[arg(long)]
    ui_port: Option<u16>,
    /// IP address to bind the Web UI to (the frontend's when not given).
    #[arg(long)]
    ui_ip: Option<String>,
}

/// The HTTP ports a server opens besides gRPC (port 0: a free one).
struct HttpPorts {
    metrics: Option<u16>,
    api: Option<u16>,
    ui: Option<u16>,
    ui_ip: Option<String>,
}

/// Temper's extension to both server commands: state in PostgreSQL instead of SQLite.
#[derive(Args)]
struct PostgresArgs {
    /// Keep state in PostgreSQL: a connection string
    /// (`host=127.0.0.1 user=postgres dbname=temper`) or URL (`postgres://…`).
    #[arg(long)]
    postgres: Option<String>,
    /// With `--postgres`: the schema holding Temper's tables (created if missing).
    #[arg(long, requires = "postgres")]
    postgres_schema: Option<String>,
    /// With `--postgres`: connect over TLS and check the server's certificate (and host name)
    /// against this CA file (PEM). `sslmode=require` in the connection string encrypts
    /// without checking, as libpq does.
    #[arg(long, requires = "postgres")]
    postgres_ca_path: Option<PathBuf>,
    /// With `--postgres`: the `host:port` other nodes and `temper` commands reach this node
    /// at (the frontend's address when not given). Every node on one database and schema is
    /// one cluster; see docs/architecture.md.
    #[arg(long, requires = "postgres")]
    advertise_address: Option<String>,
    /// With `--postgres`: the shard count of a new cluster (kept once stored).
    #[arg(long, requires = "postgres", default_value_t = temper_server::cluster::DEFAULT_SHARDS)]
    shards: i32,
    /// With `--postgres`: how long a shard lease lasts, in seconds: a node that dies is
    /// replaced within this long.
    #[arg(long, requires = "postgres", default_value_t = temper_server::cluster::DEFAULT_LEASE.as_secs_f64())]
    shard_lease_seconds: f64,
    /// With `--postgres`: spread the shards (runs and task queues) over every live node,
    /// each serving its share. The default; kept so that existing command lines and
    /// configuration files still start.
    #[arg(long, requires = "postgres", conflicts_with = "cluster_active_standby")]
    cluster_spread_shards: bool,
    /// With `--postgres`: one node holds every shard and serves, the others stand by and
    /// forward every call to it, taking over when it dies (the mode before shards were
    /// spread); see docs/architecture.md.
    #[arg(long, requires = "postgres")]
    cluster_active_standby: bool,
    /// With `--postgres` and TLS: the CA (PEM) that signed the nodes' server certificates. A
    /// standby then passes the calls it receives on to the nodes holding the shards over TLS
    /// (without it, it keeps its ports closed until it serves).
    #[arg(long, requires = "postgres")]
    cluster_tls_ca_path: Option<PathBuf>,
    /// With `--cluster-tls-ca-path`: the certificate chain (PEM) this node presents to the
    /// others when they require client certificates (`--tls-client-ca-path`).
    #[arg(long, requires_all = ["cluster_tls_ca_path", "cluster_tls_key_path"])]
    cluster_tls_cert_path: Option<PathBuf>,
    /// The private key (PEM) of `--cluster-tls-cert-path`.
    #[arg(long, requires = "cluster_tls_cert_path")]
    cluster_tls_key_path: Option<PathBuf>,
}

impl PostgresArgs {
    /// The PostgreSQL store, when `--postgres` was given.
    async fn open(&self) -> Option<Result<Arc<dyn Store>, temper_store::StoreError>> {
        let url = self.postgres.as_ref()?;
        Some(
            PostgresStore::connect_with(
                url,
                self.postgres_schema.as_deref(),
                self.postgres_ca_path.as_deref(),
            )
            .await
            .map(|s| Arc::new(s) as Arc<dyn Store>),
        )
    }

    /// The cluster a node on PostgreSQL joins (every node on one database and schema is one),
    /// reached at `listen` unless an address is advertised.
    fn cluster(&self, listen: SocketAddr) -> Result<Option<ClusterConfig>, String> {
        if self.postgres.is_none() {
            return Ok(None);
        }
        let lease = Duration::try_from_secs_f64(self.shard_lease_seconds)
            .ok()
            .filter(|lease| !lease.is_zero())
            .ok_or("--shard-lease-seconds must be a positive number of seconds")?;
        if self.shards < 1 {
            return Err("--shards must be at least 1".into());
        }
        Ok(Some(ClusterConfig {
            advertise_address: self
                .advertise_address
                .clone()
                .unwrap_or_else(|| listen.to_string()),
            shards: self.shards,
            lease,
            client_tls: self.client_tls()?,
            spread: !self.cluster_active_standby,
        }))
    }
}

impl PostgresArgs {
    /// How this node dials the others over TLS, when `--cluster-tls-ca-path` says.
    fn client_tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
        let Some(ca) = &self.cluster_tls_ca_path else {
            return Ok(None);
        };
        let identity = self
            .cluster_tls_cert_path
            .as_deref()
            .zip(self.cluster_tls_key_path.as_deref());
        let files = temper_server::tls::client::ClientTlsFiles { ca, identity };
        temper_server::tls::client::config(&files)
            .map(Some)
            .map_err(|e| format!("--cluster-tls: {e}"))
    }
}

fn init_logging(level: &str, format: &str) {
    // `RUST_LOG` (tracing's filter syntax, e.g. `info,temper_server=debug`) wins over
    // `--log-level`, which takes a level or the same syntax.
    let filter = match (std::env::var("RUST_LOG"), level) {
        (Ok(filter), _) if !filter.is_empty() => filter,
        (_, "never" | "off") => "off".to_string(),
        (_, other) => format!("{other},h2=warn,hyper=warn,tower=warn"),
    };
    // Colour only for a person at a terminal: log files and pipes get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        "json" => builder.json().init(),
        "pretty" => builder.pretty().init(),
        _ => builder.init(),
    }
}

fn resolve(listen: &ListenArgs) -> Result<SocketAddr, String> {
    resolve_host(&listen.ip, listen.port, "--ip")
}

/// The address `ip` (a name or an address; `localhost` is IPv4's) and `port` stand for.
fn resolve_host(ip: &str, port: u16, flag: &str) -> Result<SocketAddr, String> {
    let host = if ip == "localhost" { "127.0.0.1" } else { ip };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {flag} {ip}: {e}"))?
        .next()
        .ok_or_else(|| format!("{flag} {ip} resolves to no address"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn log_accepted_flags(args: &StartDevArgs) {
    let ignored = [
        ("--ui-public-path", args.ui_public_path.clone()),
        ("--ui-asset-path", args.ui_asset_path.clone()),
        ("--ui-codec-endpoint", args.ui_codec_endpoint.clone()),
        (
            "--ui-disable-news-fetch",
            args.ui_disable_news_fetch.then(String::new),
        ),
    ];
    for (flag, value) in ignored {
        if let Some(value) = value {
            tracing::info!(flag, value, "accepted; Temper has no web UI yet");
        }
    }
    for value in &args.dynamic_config_values {
        let key = value.split_once('=').map_or(value.as_str(), |(key, _)| key);
        if !HISTORY_LIMIT_KEYS.contains(&key) && key != NAMESPACE_RPS_KEY && key != LONG_POLLS_KEY {
            tracing::info!(value, "--dynamic-config-value accepted and ignored");
        }
    }
}

/// Custom search attributes from `--search-attribute NAME=TYPE` flags.
fn search_attributes(values: &[String]) -> Result<HashMap<String, i32>, String> {
    values
        .iter()
        .map(|pair| {
            let (name, ty) = pair
                .split_once('=')
                .ok_or_else(|| format!("--search-attribute {pair:?} is not NAME=TYPE"))?;
            let ty = AttributeType::from_name(ty.trim()).ok_or_else(|| {
                format!("--search-attribute {pair:?}: unknown type {ty:?} (Text, Keyword, Int, Double, Bool, Datetime, KeywordList)")
            })?;
            Ok((name.trim().to_string(), ty.to_proto()))
        })
        .collect()
}

/// The dynamic-config keys Temper acts on: Temporal's history length and size limits.
const HISTORY_LIMIT_KEYS: [&str; 4] = [
    "limit.historyCount.suggestContinueAsNew",
    "limit.historySize.suggestContinueAsNew",
    "limit.historyCount.error",
    "limit.historySize.error",
];

/// Temporal's per-namespace request rate, which `start-dev` takes as `--namespace-rps`.
const NAMESPACE_RPS_KEY: &str = "frontend.namespaceRPS";

/// Temporal's concurrent long polls per namespace, which `start-dev` takes as
/// `--namespace-long-polls`.
const LONG_POLLS_KEY: &str = "frontend.namespaceCount";

/// `frontend.namespaceCount` from `--dynamic-config-value KEY=VALUE` pairs.
fn namespace_long_polls(values: &[String]) -> Result<Option<usize>, String> {
    let mut count = None;
    for (key, value) in values.iter().filter_map(|pair| pair.split_once('=')) {
        if key.trim() == LONG_POLLS_KEY {
            count = Some(value.trim().parse::<usize>().map_err(|_| {
                format!("--dynamic-config-value {key}: {value:?} is not a whole number")
            })?);
        }
    }
    Ok(count)
}

/// `frontend.namespaceRPS` from `--dynamic-config-value KEY=VALUE` pairs.
fn namespace_rps(values: &[String]) -> Result<Option<f64>, String> {
    let mut rps = None;
    for (key, value) in values.iter().filter_map(|pair| pair.split_once('=')) {
        if key.trim() == NAMESPACE_RPS_KEY {
            let parsed = value.trim().parse::<f64>();
            let valid = parsed.ok().filter(|v| *v >= 0.0);
            rps =
                Some(valid.ok_or_else(|| {
                    format!("--dynamic-config-value {key}: {value:?} is not a rate")
                })?);
        }
    }
    Ok(rps)
}

/// History limits from `--dynamic-config-value KEY=VALUE` pairs (values are JSON numbers).
fn history_limits(values: &[String]) -> Result<HistoryLimits, String> {
    let mut limits = HistoryLimits::default();
    for pair in values {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("--dynamic-config-value {pair:?} is not KEY=VALUE"));
        };
        let slot = match key.trim() {
            "limit.historyCount.suggestContinueAsNew" => &mut limits.suggest_continue_as_new_count,
            "limit.historySize.suggestContinueAsNew" => &mut limits.suggest_continue_as_new_size,
            "limit.historyCount.error" => &mut limits.max_count,
            "limit.historySize.error" => &mut limits.max_size,
            _ => continue,
        };
        *slot = value.trim().parse().map_err(|_| {
            format!("--dynamic-config-value {key}: {value:?} is not a whole number")
        })?;
    }
    Ok(limits)
}

/// Rewrites the Java test server's command line (`PORT [FLAGS]`) into
/// `server start-dev --time-skipping --port PORT --headless [FLAGS]`.
fn test_server_argv(args: Vec<String>) -> Vec<String> {
    match args.get(1) {
        Some(port) if port.parse::<u16>().is_ok() => {
            let mut rewritten: Vec<String> = vec![
                args[0].clone(),
                "server".into(),
                "start-dev".into(),
                "--time-skipping".into(),
                "--headless".into(),
                "--log-level".into(),
                "warn".into(),
                "--port".into(),
                port.clone(),
            ];
            rewritten.extend(args[2..].iter().cloned());
            rewritten
        }
        _ => args,
    }
}

fn main() {
    // Built by hand for the stack size: see `temper_api::codec::THREAD_STACK_BYTES`. The
    // server runs in a spawned task, so nothing decodes on the main thread's smaller stack.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(temper_api::codec::THREAD_STACK_BYTES)
        .build();
    let outcome = runtime
        .map_err(|e| format!("starting the runtime: {e}"))
        .and_then(|runtime| {
            runtime
                .block_on(async { tokio::spawn(run_command()).await })
                .map_err(|e| format!("server task: {e}"))
        });
    if let Err(message) = outcome {
        eprintln!("temper: {message}");
        std::process::exit(1);
    }
}

async fn run_command() {
    let argv = match config_file::expand(test_server_argv(std::env::args().collect())) {
        Ok(argv) => argv,
        Err(message) => {
            eprintln!("temper: {message}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(argv);
    init_logging(&cli.log_level, &cli.log_format);
    if let Some(path) = &cli.log_config {
        tracing::info!(path, "--log-config accepted and ignored");
    }
    let result = match cli.command {
        Command::Server(ServerCommand::StartDev(mut args)) => {
            log_accepted_flags(&args);
            let dynamic = &args.dynamic_config_values;
            match (namespace_rps(dynamic), namespace_long_polls(dynamic)) {
                (Ok(rps), Ok(long_polls)) => {
                    args.listen.namespace_rps = args.listen.namespace_rps.or(rps);
                    if let Some(long_polls) = long_polls {
                        args.listen.namespace_long_polls = long_polls;
                    }
                }
                (Err(message), _) | (_, Err(message)) => {
                    eprintln!("temper: {message}");
                    std::process::exit(1);
                }
            }
            let store = match args.postgres.open().await {
                Some(store) => store,
                None => match &args.db_filename {
                    Some(path) => SqliteStore::open_file(path, &args.sqlite_pragmas),
                    None => SqliteStore::open_in_memory(),
                }
                .map(|s| Arc::new(s) as Arc<dyn Store>),
            };
            match (
                history_limits(&args.dynamic_config_values),
                search_attributes(&args.search_attributes),
            ) {
                (Ok(limits), Ok(attributes)) => {
                    // As Temporal's dev server: metrics and the HTTP API on the given
                    // ports, or on free ones.
                    let ui_port = args
                        .ui_port
                        .unwrap_or(args.listen.port.saturating_add(1000));
                    let ports = HttpPorts {
                        metrics: Some(args.metrics_port.unwrap_or(0)),
                        api: Some(args.http_port.unwrap_or(0)),
                        ui: (!args.headless).then_some(ui_port),
                        ui_ip: args.ui_ip.clone(),
                    };
                    let skipping = args.time_skipping;
                    let cluster = &args.postgres;
                    run(
                        &args.listen,
                        store,
                        skipping,
                        limits,
                        attributes,
                        ports,
                        cluster,
                    )
                    .await
                }
                (Err(message), _) | (_, Err(message)) => Err(message),
            }
        }
        Command::Server(ServerCommand::Start(args)) => {
            let store = match args.postgres.open().await {
                Some(store) => store,
                None => SqliteStore::open_file(&args.data_dir.join("temper.db"), &[])
                    .map(|s| Arc::new(s) as Arc<dyn Store>),
            };
            run(
                &args.listen,
                store,
                false,
                HistoryLimits::default(),
                HashMap::new(),
                HttpPorts {
                    metrics: args.metrics_port,
                    api: args.http_port,
                    ui: args.ui_port,
                    ui_ip: args.ui_ip.clone(),
                },
                &args.postgres,
            )
            .await
        }
        Command::Verify(args) => verify_store(args).await,
        Command::Cluster(ClusterCommand::Status {
            address,
            tls,
            api_key,
        }) => cluster_status::print_status(&address, &tls, api_key.as_deref()).await,
        Command::Cluster(ClusterCommand::Locate {
            address,
            namespace,
            workflow_id,
            task_queue,
            tls,
            api_key,
        }) => {
            // A workflow id and a task queue are hashed alike (clap asks for one of them).
            match workflow_id.or(task_queue) {
                Some(key) => {
                    let key = (namespace.as_str(), key.as_str());
                    cluster_status::print_location(&address, &tls, api_key.as_deref(), key).await
                }
                None => Err("give --workflow-id or --task-queue".into()),
            }
        }
    };
    if let Err(message) = result {
        eprintln!("temper: {message}");
        std::process::exit(1);
    }
}

async fn verify_store(args: VerifyArgs) -> Result<(), String> {
    let store = match (args.postgres.open().await, &args.db_filename) {
        (Some(store), _) => store,
        (None, Some(path)) => {
            SqliteStore::open_file(path, &[]).map(|s| Arc::new(s) as Arc<dyn Store>)
        }
        (None, None) => return Err("give --db-filename or --postgres".into()),
    }
    .map_err(|e| e.to_string())?;
    let report = verify::verify(store).await?;
    for difference in &report.differences {
        eprintln!("{difference}");
    }
    eprintln!(
        "temper verify: {} runs checked, {} differ from their history",
        report.runs,
        report.differences.len()
    );
    if report.differences.is_empty() {
        Ok(())
    } else {
        Err("the state of some runs is not what their history gives".into())
    }
}

async fn run(
    listen: &ListenArgs,
    store: Result<Arc<dyn Store>, temper_store::StoreError>,
    time_skipping: bool,
    history_limits: HistoryLimits,
    search_attributes: HashMap<String, i32>,
    ports: HttpPorts,
    postgres: &PostgresArgs,
) -> Result<(), String> {
    let store = store.map_err(|e| e.to_string())?;
    let address = resolve(listen)?;
    let cluster = postgres.cluster(address)?;
    let config = ServerConfig {
        listen: address,
        metrics_listen: ports
            .metrics
            .map(|port| SocketAddr::new(address.ip(), port)),
        http_listen: ports.api.map(|port| SocketAddr::new(address.ip(), port)),
        ui_listen: match (ports.ui, &ports.ui_ip) {
            (Some(port), Some(ip)) => Some(resolve_host(ip, port, "--ui-ip")?),
            (Some(port), None) => Some(SocketAddr::new(address.ip(), port)),
            (None, _) => None,
        },
        // A time-skipping server is a test's (the SDKs launch it, and their output is the
        // test's): it prints nothing, as Temporal's test server.
        banner: !time_skipping,
        namespaces: listen.namespaces.clone(),
        store,
        time_skipping,
        history_limits,
        search_attributes,
        tls: listen.tls.load()?,
        namespace_rps: listen.namespace_rps,
        audit_log: listen.audit_log,
        long_polls_per_namespace: listen.namespace_long_polls,
        run_cache_bytes: listen.run_cache_mib.saturating_mul(1 << 20),
        queued_tasks_per_queue: listen.queued_tasks_per_queue,
        cluster,
        authorizer: match (&listen.auth_jwks_path, &listen.auth_certificate_roles) {
            (None, None) => None,
            (jwks, roles) => {
                let loaded =
                    temper_server::auth::JwtAuthorizer::load(jwks.as_deref(), roles.as_deref())
                        .map_err(|e| format!("auth: {e}"))?;
                Some(loaded as Arc<dyn temper_server::auth::Authorizer>)
            }
        },
    };
    temper_server::serve(config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}
