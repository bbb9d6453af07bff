//! `temper-server` is Temper's service layer: the gRPC frontend ([`frontend`]) that validates
//! requests and builds responses, the history side ([`history`], one module per RPC family) that
//! applies engine transitions to runs and commits them, matching ([`matching`]) with long-poll task queues, the timer service ([`timers`]),
//! the namespace registry ([`namespaces`]), time skipping ([`time_skipping`]) and [`serve`],
//! which wires them together on one port next to gRPC health and reflection.

pub mod activity_executions;
pub mod auth;
pub mod batches;
pub mod clock;
pub mod cluster;
pub mod deployments;
pub mod errors;
pub mod frontend;
pub mod guard;
mod health;
pub mod history;
pub mod matching;
mod metered_store;
pub mod metrics;
pub mod namespaces;
pub mod nexus;
mod operator;
pub mod rate_limits;
mod records;
mod reflection;
mod retention;
mod rpc_layer;
pub mod schedules;
pub mod task_queue_configs;
pub mod time_skipping;
pub mod timers;
pub mod tls;
mod token_bucket;
pub mod tokens;
mod validation;
pub mod visibility;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use temper_api::cluster::cluster_service_server::ClusterServiceServer;
use temper_api::health::health_server::HealthServer;
use temper_api::operatorservice::operator_service_server::OperatorServiceServer;
use temper_api::testservice::test_service_server::TestServiceServer;
use temper_api::workflowservice::workflow_service_server::WorkflowServiceServer;
use temper_store::Store;
use tokio_stream::StreamExt;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tower::Layer;

use crate::activity_executions::ActivityExecutions;
use crate::clock::{Clock, SystemClock, VirtualClock};
use crate::history::History;
use crate::matching::Matching;
use crate::namespaces::Namespaces;
use crate::schedules::Schedules;
use crate::timers::TimerQueue;

/// How often closed runs past their namespace's retention are looked for.
const RETENTION_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Largest header list (request metadata) a client may send: grpc-go's, which Temporal's
/// frontend runs with.
const MAX_HEADER_LIST_BYTES: u32 = 16 << 20;
/// Largest message the transport passes on; the codec refuses requests over 4 MiB itself
/// (`temper_api::codec::MAX_REQUEST_BYTES`), and responses (history pages) may be larger.
pub(crate) const MAX_MESSAGE_SIZE: usize = 128 * 1024 * 1024;

pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where to serve Prometheus metrics (port 0: a free port, logged); none when `None`.
    pub metrics_listen: Option<SocketAddr>,
    /// Where to serve Temporal's HTTP API (port 0: a free port); none when `None`.
    pub http_listen: Option<SocketAddr>,
    /// Where to serve the Web UI; none when `None`.
    pub ui_listen: Option<SocketAddr>,
    /// Print where the server can be reached (a command-line server; not an embedded one).
    pub banner: bool,
    /// Namespaces to create at start-up besides `default`.
    pub namespaces: Vec<String>,
    pub store: Arc<dyn Store>,
    /// Serve the TestService and run on a virtual clock that skips idle time.
    pub time_skipping: bool,
    pub history_limits: temper_engine::HistoryLimits,
    /// Custom search attributes (name → `IndexedValueType`) registered in every namespace at
    /// start-up (`--search-attribute`).
    pub search_attributes: std::collections::HashMap<String, i32>,
    /// Serve every port over TLS (mutual TLS when it names a client CA).
    pub tls: Option<Arc<tls::ReloadingTls>>,
    /// Authorize every request by its bearer token (none: everyone may do everything).
    pub authorizer: Option<Arc<dyn auth::Authorizer>>,
    /// Requests per second each namespace may make (none: unlimited).
    pub namespace_rps: Option<f64>,
    /// Log one `temper::audit` line per mutating request.
    pub audit_log: bool,
    /// Concurrent long polls each namespace may hold per API.
    pub long_polls_per_namespace: usize,
    /// Budget of the run cache (estimated bytes of run states held in memory).
    pub run_cache_bytes: usize,
    /// The most run tasks a task queue holds in memory (more wait in the store).
    pub queued_tasks_per_queue: usize,
    /// Share the database with other nodes (PostgreSQL): serve only while holding the shard
    /// leases ([`cluster`]).
    pub cluster: Option<cluster::ClusterConfig>,
}

/// The run cache's default budget, in MiB.
pub const RUN_CACHE_MIB: usize = 64;

/// What the timer queue wakes: runs, schedules and standalone activities.
#[derive(Clone)]
struct Wakeable {
    history: Arc<History>,
    schedules: Arc<Schedules>,
    activities: Arc<ActivityExecutions>,
}

/// A timer-queue wake-up: a schedule's, a standalone activity's or a run's.
async fn on_wake(wakeable: &Wakeable, key: &str) {
    if let Some((namespace, schedule_id)) = schedules::parse_wake_key(key) {
        wakeable.schedules.on_timer(namespace, schedule_id).await;
    } else if let Some((namespace, activity_id, run_id)) = activity_executions::parse_wake_key(key)
    {
        let activities = &wakeable.activities;
        activities.on_timer(namespace, activity_id, run_id).await;
    } else {
        wakeable.history.on_timer(key).await;
    }
}

/// Recovers the open runs (the server already serves meanwhile), then does the work that came
/// due while the server was down (timeouts, timers) one run after another, and only then
/// starts follow-up work: a parent whose children all closed meanwhile learns of them in one
/// pass, in the order it started them, whatever the timing of this process. RPCs' follow-ups
/// wait their turn, and no timer fires before recovery has registered every run's wake-up.
/// The overdue wake-ups are taken before the timer service starts, so it cannot race them.
/// On a node of a spread cluster: from the moment it becomes the coordinator (the previous
/// one died), it runs the schedules, batch operations and standalone activities, as the
/// previous one left them.
async fn take_over_when_coordinating(
    shards: Arc<cluster::Shards>,
    schedules: Arc<Schedules>,
    batches: Arc<batches::Batches>,
    activities: Arc<ActivityExecutions>,
) {
    let mut coordinator_changes = shards.coordinator_changes();
    let mut held_changes = shards.held_changes();
    let mut coordinating = shards.holds(0);
    loop {
        tokio::select! {
            changed = coordinator_changes.changed() => if changed.is_err() { return },
            changed = held_changes.changed() => if changed.is_err() { return },
        }
        let now_coordinating = shards.holds(0);
        if now_coordinating && !coordinating {
            tracing::info!(
                "coordinating: taking over schedules, batches and standalone activities"
            );
            if let Err(error) = schedules.take_over().await {
                tracing::warn!(%error, "reading the schedules failed");
            }
            if let Err(error) = batches.take_over().await {
                tracing::warn!(%error, "reading the batch operations failed");
            }
            if let Err(error) = activities.take_over().await {
                tracing::warn!(%error, "reading the standalone activities failed");
            }
        }
        coordinating = now_coordinating;
    }
}

async fn recover_then_catch_up(wakeable: Wakeable, timers: Arc<TimerQueue>, clock: Arc<dyn Clock>) {
    let recovered = wakeable.history.recover().await;
    tracing::info!(open_executions = recovered, "recovered state");
    let overdue = timers.take_overdue(clock.now_ms()).await;
    let woken = wakeable.clone();
    tokio::spawn(timers.run(
        move || clock.now_ms(),
        move |key| {
            let wakeable = woken.clone();
            async move { on_wake(&wakeable, &key).await }
        },
    ));
    for key in overdue {
        on_wake(&wakeable, &key).await;
    }
    wakeable.history.spawn_follow_ups();
}

/// Pending connections the gRPC port queues before they are accepted.
const LISTEN_BACKLOG: u32 = 1024;

/// A socket bound to `address` but not listening yet (connections are refused until it is).
fn reserve(address: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As the standard library's listeners: a restarted server may bind while old connections
    // of its predecessor linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket)
}

/// Serves `/metrics` on `listener`; the address bound.
fn start_metrics(
    listener: tokio::net::TcpListener,
    history: Arc<History>,
    matching: Arc<Matching>,
    tls: Option<&Arc<tls::ReloadingTls>>,
) -> std::io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "metrics at {}://{bound}/metrics", scheme(tls));
    match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls.clone())?;
            tokio::spawn(metrics::serve(listener, history, matching))
        }
        None => tokio::spawn(metrics::serve(listener, history, matching)),
    };
    Ok(bound)
}

/// Binds the metrics, HTTP API and Web UI ports (those configured): the ones given a port
/// number first, then those asking for a free one, which the system could otherwise hand a
/// port another of them was told to use.
async fn bind_http_ports(
    addresses: [Option<SocketAddr>; 3],
) -> std::io::Result<[Option<tokio::net::TcpListener>; 3]> {
    let mut listeners = [None, None, None];
    for free_port in [false, true] {
        for (listener, address) in listeners.iter_mut().zip(addresses) {
            if let Some(address) = address.filter(|a| (a.port() == 0) == free_port) {
                *listener = Some(tokio::net::TcpListener::bind(address).await?);
            }
        }
    }
    Ok(listeners)
}

/// `https` when the server's ports speak TLS.
fn scheme(tls: Option<&Arc<tls::ReloadingTls>>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// Serves Temporal's HTTP API on `listener` over the gRPC services `grpc`; the address bound.
fn start_http(
    listener: tokio::net::TcpListener,
    grpc: temper_http::GrpcService,
    tls: Option<&Arc<tls::ReloadingTls>>,
) -> std::io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "HTTP API at {}://{bound}/api/v1", scheme(tls));
    match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls.clone())?;
            tokio::spawn(temper_http::serve(listener, grpc))
        }
        None => tokio::spawn(temper_http::serve(listener, grpc)),
    };
    Ok(bound)
}

/// Serves the Web UI on `listener` over the gRPC services `grpc`; the address bound.
fn start_ui(
    listener: tokio::net::TcpListener,
    grpc: temper_http::GrpcService,
    tls: Option<&Arc<tls::ReloadingTls>>,
) -> std::io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "web UI at {}://{bound}", scheme(tls));
    match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls.clone())?;
            tokio::spawn(temper_ui::serve(listener, grpc))
        }
        None => tokio::spawn(temper_ui::serve(listener, grpc)),
    };
    Ok(bound)
}

/// Every gRPC service the server answers, gzip accepted and sent as the SDKs expect.
fn grpc_routes(
    frontend: frontend::Frontend,
    operator: operator::Operator,
    health: health::HealthService,
    cluster: cluster::ClusterRpcs,
    test_service: Option<TestServiceServer<time_skipping::TestServiceHandler>>,
) -> Routes {
    let mut routes = Routes::new(
        WorkflowServiceServer::new(frontend)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE),
    )
    .add_service(
        OperatorServiceServer::new(operator)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE_SIZE),
    )
    .add_service(
        HealthServer::new(health)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip),
    )
    .add_service(
        ClusterServiceServer::new(cluster)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip),
    )
    .add_service(reflection::LazyReflection::default());
    if let Some(test_service) = test_service {
        routes = routes.add_service(test_service);
    }
    routes
}

/// The HTTP listeners a server opened besides gRPC.
struct HttpAddresses {
    ui: Option<SocketAddr>,
    api: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
}

/// Where to reach the server, on standard output, as Temporal's dev server prints it.
fn print_banner(listen: SocketAddr, addresses: &HttpAddresses) {
    let version = env!("CARGO_PKG_VERSION");
    println!(
        "Temper {version} (Temporal server API {})\n",
        frontend::SERVER_VERSION
    );
    println!("Server:  {listen}");
    if let Some(ui) = addresses.ui {
        println!("UI:      http://{ui}");
    }
    if let Some(http) = addresses.api {
        println!("HTTP:    http://{http}");
    }
    if let Some(metrics) = addresses.metrics {
        println!("Metrics: http://{metrics}/metrics");
    }
    println!();
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The services, loaded from the store, with their background work (recovery, timers, time
/// skipping, retention) started.
struct Loaded {
    clock: Arc<dyn Clock>,
    matching: Arc<Matching>,
    history: Arc<History>,
    namespaces: Arc<Namespaces>,
    endpoints: Arc<nexus::NexusEndpoints>,
    services: frontend::Services,
    test_service: Option<TestServiceServer<time_skipping::TestServiceHandler>>,
}

/// The server's clock: virtual (and persisted) when time skips, else the system's.
async fn choose_clock(
    config: &ServerConfig,
) -> Result<(Arc<dyn Clock>, Option<Arc<VirtualClock>>), BoxError> {
    if !config.time_skipping {
        return Ok((Arc::new(SystemClock), None));
    }
    let offset = config.store.load_clock_offset().await?;
    let clock = Arc::new(VirtualClock::new(offset));
    Ok((clock.clone(), Some(clock)))
}

/// Loads every service from the store and starts the background work.
async fn load(
    config: &ServerConfig,
    shards: Option<Arc<cluster::Shards>>,
    spread: Option<&Arc<cluster::Forwarder>>,
) -> Result<Loaded, BoxError> {
    let store = &config.store;
    let (clock, virtual_clock) = choose_clock(config).await?;
    let matching = Arc::new(Matching::with_capacity(config.queued_tasks_per_queue));
    let timers = Arc::new(TimerQueue::with_store(Some(store.clone())).in_cluster(shards.clone()));
    let namespaces = Arc::new(Namespaces::load(store.clone(), &config.namespaces).await?);
    namespaces
        .register_startup_attributes(&config.search_attributes)
        .await?;
    let endpoints =
        nexus::NexusEndpoints::load(store.clone(), namespaces.clone(), clock.clone()).await?;
    let mut history = History::new(
        store.clone(),
        clock.clone(),
        matching.clone(),
        timers.clone(),
        config.history_limits,
        endpoints.clone(),
        config.run_cache_bytes,
    );
    if let Some(shards) = shards {
        history = history.in_cluster(shards);
    }
    if let Some(forwarder) = spread {
        history = history.with_peers(cluster::Peers::new(forwarder.clone()));
        // The other nodes register and change namespaces too; Nexus endpoints change on the
        // coordinator and are read wherever a run schedules an operation.
        tokio::spawn(namespaces.clone().keep_refreshed());
        tokio::spawn(endpoints.clone().keep_refreshed());
    }
    let history = Arc::new(history);
    // Before recovery reads which shards this node holds: a shard taken meanwhile is loaded.
    if let Some(follow) = history.clone().follow_shard_moves() {
        tokio::spawn(follow);
    }
    let schedules = Schedules::load(
        store.clone(),
        history.clone(),
        namespaces.clone(),
        timers.clone(),
    )
    .await?;
    let activity_executions = ActivityExecutions::load(
        store.clone(),
        history.clone(),
        namespaces.clone(),
        timers.clone(),
    )
    .await?;
    if let Some(peers) = history.peers() {
        let shards = peers.shards().clone();
        tokio::spawn(
            activity_executions
                .clone()
                .offer_attempts_when_queues_move(shards),
        );
    }
    let deployments =
        deployments::Deployments::load(store.clone(), history.clone(), namespaces.clone()).await?;
    let batches =
        batches::Batches::load(store.clone(), history.clone(), namespaces.clone()).await?;
    if let Some(peers) = history.peers() {
        let shards = peers.shards().clone();
        tokio::spawn(take_over_when_coordinating(
            shards,
            schedules.clone(),
            batches.clone(),
            activity_executions.clone(),
        ));
    }
    let task_queue_configs = task_queue_configs::TaskQueueConfigs::load(
        store.clone(),
        history.clone(),
        namespaces.clone(),
    )
    .await?;
    if history.peers().is_some() {
        // The coordinator and the owners of queues change them; every node routes and
        // enforces them on the queues it holds.
        tokio::spawn(deployments.clone().keep_refreshed());
        tokio::spawn(task_queue_configs.clone().keep_refreshed());
    }
    let wakeable = Wakeable {
        history: history.clone(),
        schedules: schedules.clone(),
        activities: activity_executions.clone(),
    };
    tokio::spawn(history.clone().refill_spilled_queues());
    // Open runs are recovered while the server serves (see `history/recovery.rs`).
    tokio::spawn(recover_then_catch_up(
        wakeable,
        timers.clone(),
        clock.clone(),
    ));
    let test_service = virtual_clock.map(|clock| {
        let skipper = Arc::new(time_skipping::TimeSkipper::new(
            clock,
            timers,
            history.clone(),
            store.clone(),
        ));
        tokio::spawn(skipper.clone().run());
        TestServiceServer::new(time_skipping::TestServiceHandler::new(skipper))
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
    });
    tokio::spawn(retention::sweep(
        namespaces.clone(),
        history.clone(),
        activity_executions.clone(),
        RETENTION_SWEEP_INTERVAL,
    ));
    let services = frontend::Services {
        schedules,
        batches: batches.clone(),
        workers: Arc::new(workers::Workers::new(namespaces.clone(), clock.clone())),
        activity_executions,
        deployments,
        task_queue_configs,
    };
    Ok(Loaded {
        clock,
        matching,
        history,
        namespaces,
        endpoints,
        services,
        test_service,
    })
}

/// Runs the server until `shutdown` resolves: joins the cluster (on PostgreSQL), loads the
/// services, opens the HTTP ports (API, Web UI, metrics) and then the gRPC port.
pub async fn serve(
    mut config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), BoxError> {
    config.store = metered_store::MeteredStore::wrap(config.store);
    let spread = (config.cluster.as_ref()).is_some_and(|c| c.spread && spreads(&config, c));
    if let Some(cluster) = config.cluster.as_mut() {
        cluster.spread = spread;
    }
    let (shards, standby) = match &config.cluster {
        Some(cluster) => {
            let (shards, standby) = join_cluster(&config, cluster).await?;
            (Some(shards), standby)
        }
        None => (None, None),
    };
    let spread = spread_forwarder(&config, shards.as_ref()).await?;
    let loaded = load(&config, shards.clone(), spread.as_ref()).await?;
    // The gRPC port is taken (bound, not yet listening) before the HTTP ports are bound: those
    // may ask the system for a free port, which could otherwise be the one the gRPC frontend
    // was told to use. It listens last, so a client that reaches it finds every port up (a
    // standby's ports listened already, to forward).
    let (grpc_port, opened) = match standby {
        Some(standby) => (GrpcPort::Listening(standby.grpc), Some(standby.http)),
        None => (GrpcPort::Reserved(reserve(config.listen)?), None),
    };
    let (api_listen, ui_listen) = match opened {
        Some(_) => (None, None),
        None => (config.http_listen, config.ui_listen),
    };
    let [metrics, api, ui] =
        bind_http_ports([config.metrics_listen, api_listen, ui_listen]).await?;
    let metrics = match metrics {
        Some(listener) => Some(start_metrics(
            listener,
            loaded.history.clone(),
            loaded.matching.clone(),
            config.tls.as_ref(),
        )?),
        None => None,
    };
    let routes = routes_of(loaded, &config, shards.clone());
    let guard = guard_of(&config, spread.as_deref());
    let to_owner = cluster::ToOwnerLayer { forwarder: spread };
    // What the HTTP API and the Web UI call: the same services, behind the same guard.
    let local = temper_http::GrpcService::new(
        rpc_layer::layer().layer(guard.layer(to_owner.layer(routes.clone()))),
    );
    let addresses = match opened {
        Some(opened) => {
            let _ = opened.local.set(local);
            HttpAddresses {
                metrics,
                ..opened.addresses
            }
        }
        None => HttpAddresses {
            ui: ui
                .map(|l| start_ui(l, local.clone(), config.tls.as_ref()))
                .transpose()?,
            api: api
                .map(|l| start_http(l, local, config.tls.as_ref()))
                .transpose()?,
            metrics,
        },
    };
    if config.banner {
        print_banner(config.listen, &addresses);
    }
    let grpc_listener = grpc_port.listen()?;
    tracing::info!(address = %config.listen, tls = config.tls.is_some(), "serving");
    let layers = (guard, to_owner);
    let serving = serve_grpc(routes, layers, grpc_listener, config.tls.clone(), shutdown);
    let Some(shards) = shards else {
        return Ok(serving.await?);
    };
    // A lost lease ends the server at once, without draining: its cached runs are stale, and
    // long polls would keep it answering from them for a minute.
    tokio::select! {
        served = serving => served?,
        reason = shards.lost() => return Err(reason.into()),
    }
    shards.leave(config.store.as_ref()).await;
    Ok(())
}

/// The gRPC services over the loaded state.
fn routes_of(
    loaded: Loaded,
    config: &ServerConfig,
    shards: Option<Arc<cluster::Shards>>,
) -> Routes {
    let operator = operator::Operator::new(
        loaded.namespaces.clone(),
        loaded.history.clone(),
        loaded.services.schedules.clone(),
        loaded.services.batches.clone(),
        loaded.endpoints,
    );
    let health = health::HealthService::new(config.store.clone(), loaded.clock);
    let spread = loaded.history.peers().is_some();
    let frontend = frontend::Frontend::new(loaded.history, loaded.namespaces, loaded.services);
    let mut cluster = cluster::ClusterRpcs::new(config.store.clone(), shards);
    if spread {
        cluster = cluster.with_peer_host(Arc::new(frontend.clone()));
    }
    grpc_routes(frontend, operator, health, cluster, loaded.test_service)
}

/// Authorization, rate limits, long-poll limits and the audit log, as configured.
fn guard_of(config: &ServerConfig, spread: Option<&cluster::Forwarder>) -> guard::GuardLayer {
    guard::GuardLayer {
        authorizer: config.authorizer.clone(),
        cluster_secret: spread.map(|forwarder| Arc::from(forwarder.secret())),
        rate_limits: config
            .namespace_rps
            .map(rate_limits::NamespaceRateLimits::new),
        long_polls: rate_limits::LongPollLimits::new(config.long_polls_per_namespace),
        audit: config.audit_log,
    }
}

type Serving<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send + 'a>>;

/// Serves `routes` behind the RPC layer and `guard` on `listener` (over TLS when configured)
/// until `shutdown` resolves.
fn serve_grpc<'a>(
    routes: Routes,
    (guard, to_owner): (guard::GuardLayer, cluster::ToOwnerLayer),
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tls::ReloadingTls>>,
    shutdown: impl Future<Output = ()> + Send + 'a,
) -> Serving<'a> {
    let server = tonic::transport::Server::builder()
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .layer(rpc_layer::layer())
        .layer(guard)
        .layer(to_owner)
        .add_routes(routes);
    match tls {
        Some(tls) => {
            let connections = tls::accept(listener, tls, tls::Protocol::Grpc);
            let incoming = tokio_stream::wrappers::ReceiverStream::new(connections)
                .map(Ok::<_, std::io::Error>);
            Box::pin(server.serve_with_incoming_shutdown(incoming, shutdown))
        }
        None => {
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            Box::pin(server.serve_with_incoming_shutdown(incoming, shutdown))
        }
    }
}

/// The gRPC port: bound, or already listening (a standby forwarded on it).
enum GrpcPort {
    Reserved(tokio::net::TcpSocket),
    Listening(tokio::net::TcpListener),
}

impl GrpcPort {
    fn listen(self) -> std::io::Result<tokio::net::TcpListener> {
        match self {
            GrpcPort::Reserved(socket) => socket.listen(LISTEN_BACKLOG),
            GrpcPort::Listening(listener) => Ok(listener),
        }
    }
}

/// The ports a standby opened, kept when it serves.
struct StandbyPorts {
    grpc: tokio::net::TcpListener,
    http: StandbyHttp,
}

/// A standby's HTTP API and Web UI, served over the serving node's services until `local`
/// holds this node's own.
struct StandbyHttp {
    addresses: HttpAddresses,
    local: Arc<std::sync::OnceLock<temper_http::GrpcService>>,
}

/// Joins the cluster sharing the store and waits until this node holds every shard. Meanwhile
/// (a standby) it forwards the calls it receives, gRPC and HTTP API, to the nodes holding the
/// shards, on the ports it returns; unless it cannot (see [`forwards`]), then its ports stay
/// closed until it serves.
async fn join_cluster(
    config: &ServerConfig,
    cluster: &cluster::ClusterConfig,
) -> Result<(Arc<cluster::Shards>, Option<StandbyPorts>), BoxError> {
    let store = &config.store;
    let shards = cluster::Shards::join(store.as_ref(), cluster).await?;
    cluster::take_leases(&shards, store.as_ref()).await;
    tokio::spawn(cluster::run_leases(shards.clone(), store.clone()));
    if shards.is_active() {
        tracing::info!(node = shards.node_id(), "holding every shard");
        return Ok((shards, None));
    }
    tracing::info!(
        node = shards.node_id(),
        "joined the cluster as a standby; waiting for the shard leases"
    );
    if !forwards(config, cluster) {
        shards.until_active().await;
        return Ok((shards, None));
    }
    let grpc = reserve(config.listen)?;
    let client_tls = cluster.client_tls.clone();
    let secret = cluster::secret::load_or_create(store.as_ref()).await?;
    let forwarder = cluster::Forwarder::new(shards.clone(), store.clone(), client_tls, secret)?;
    let http = open_standby_http(config, forwarder.clone()).await?;
    let grpc = grpc.listen(LISTEN_BACKLOG)?;
    tracing::info!(address = %config.listen, "forwarding to the nodes holding the shards");
    let tls = config.tls.clone();
    cluster::forward_until_active(&grpc, tls, forwarder, MAX_HEADER_LIST_BYTES).await;
    tracing::info!(node = shards.node_id(), "holding every shard");
    Ok((shards, Some(StandbyPorts { grpc, http })))
}

/// The forwarder of a node whose cluster spreads its shards (`None` otherwise): it passes
/// the calls for other nodes' shards on and carries the task calls between nodes.
async fn spread_forwarder(
    config: &ServerConfig,
    shards: Option<&Arc<cluster::Shards>>,
) -> Result<Option<Arc<cluster::Forwarder>>, BoxError> {
    let (Some(shards), Some(cluster)) = (shards, &config.cluster) else {
        return Ok(None);
    };
    if !cluster.spread {
        return Ok(None);
    }
    let client_tls = cluster.client_tls.clone();
    let secret = cluster::secret::load_or_create(config.store.as_ref()).await?;
    let forwarder =
        cluster::Forwarder::new(shards.clone(), config.store.clone(), client_tls, secret)?;
    Ok(Some(forwarder))
}

/// Whether the shards may be spread over the nodes: only when they can pass calls on to
/// each other ([`forwards`]); otherwise the cluster runs active/standby, where one node
/// serves every call.
fn spreads(config: &ServerConfig, cluster: &cluster::ClusterConfig) -> bool {
    let can = forwards(config, cluster);
    if !can {
        tracing::warn!(
            "the shards are not spread over the nodes (one node serves, the others stand \
             by): over TLS the nodes need --cluster-tls-ca-path to call each other, and \
             with roles by client certificate a forwarded call would be judged by the \
             forwarding node's certificate"
        );
    }
    can
}

/// Whether a standby can pass calls on: always over plain TCP; over TLS when it has client
/// TLS for dialling the other nodes and no client certificate grants roles (the receiving
/// node would judge the forwarding node's certificate, not the caller's).
fn forwards(config: &ServerConfig, cluster: &cluster::ClusterConfig) -> bool {
    if config.tls.is_none() {
        return true;
    }
    let by_certificate = config
        .authorizer
        .as_ref()
        .is_some_and(|authorizer| authorizer.grants_roles_by_certificate());
    let forwards = cluster.client_tls.is_some() && !by_certificate;
    if !forwards {
        tracing::info!(
            "over TLS without --cluster-tls-ca-path, or with roles by client certificate, a \
             standby keeps its ports closed until it serves"
        );
    }
    forwards
}

/// Opens a standby's HTTP API and Web UI ports (those configured) over the serving node.
async fn open_standby_http(
    config: &ServerConfig,
    forwarder: Arc<cluster::Forwarder>,
) -> Result<StandbyHttp, BoxError> {
    let [_, api, ui] = bind_http_ports([None, config.http_listen, config.ui_listen]).await?;
    let local = Arc::new(std::sync::OnceLock::new());
    let backend = cluster::http_backend(forwarder, local.clone());
    let tls = config.tls.as_ref();
    let addresses = HttpAddresses {
        ui: ui.map(|l| start_ui(l, backend.clone(), tls)).transpose()?,
        api: api.map(|l| start_http(l, backend, tls)).transpose()?,
        metrics: None,
    };
    Ok(StandbyHttp { addresses, local })
}
