//! `temper-bench`: benchmark scenarios that drive a server from this separate process over
//! real gRPC (raw unary calls, the way an SDK's worker and client talk to the server) and read
//! the server process's CPU time and memory from `/proc`.
//!
//! Each scenario spawns a fresh `temper server start-dev` (over a SQLite file in a temporary
//! directory, or a fresh PostgreSQL schema with `--postgres`), runs, stops it and prints one
//! line per server. With `--baseline PATH` it then runs the same scenario against Temporal's
//! dev server (`PATH server start-dev`, spawned the same way) and prints each figure's ratio
//! Temper/Temporal. With `--target HOST:PORT` it drives an already running server instead
//! (process readings are then "n/a", and the scenarios that restart the server are skipped).
//! `all` runs every scenario in turn; `all --smoke` with tiny sizes.

mod e2e;
mod footprint;
mod grpc;
mod long_history;
mod recovery;
mod server;
mod starts;
mod timers;
mod visibility;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use server::{Launcher, Server};

pub type Error = grpc::Error;

#[derive(Parser)]
#[command(
    name = "temper-bench",
    about = "Benchmarks a Temper server process over gRPC, optionally against Temporal's dev server"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// The `temper` binary to spawn (default: `temper` next to this program).
    #[arg(long, global = true)]
    server_binary: Option<PathBuf>,
    /// Spawn Temper on PostgreSQL (a connection string; each run uses a fresh schema, dropped
    /// afterwards) instead of a SQLite file.
    #[arg(long, global = true)]
    postgres: Option<String>,
    /// Drive an already running server at HOST:PORT instead of spawning Temper.
    #[arg(long, global = true)]
    target: Option<String>,
    /// Temporal's CLI (`temporal`): also run each scenario against `temporal server start-dev`
    /// and print the ratios.
    #[arg(long, global = true)]
    baseline: Option<PathBuf>,
    /// Send requests gzip-compressed and accept gzip responses, as the SDKs do.
    #[arg(long, global = true)]
    gzip: bool,
    /// e2e: visibility queries of each kind (count, list page) timed after the load; 0 skips.
    #[arg(long, global = true, default_value_t = 200)]
    visibility_queries: usize,
}

#[derive(Subcommand, Clone)]
enum Scenario {
    /// One-activity workflows end to end: throughput, latency, server CPU per workflow.
    E2e(e2e::Options),
    /// StartWorkflowExecution alone, no workers.
    Starts(starts::Options),
    /// One 1-second timer per workflow: how late timers fire.
    Timers(timers::Options),
    /// Kill the server with many open runs, restart it, time until it serves them.
    Recovery(recovery::Options),
    /// One workflow's history grown by signals on a sticky queue: cost per round as it grows.
    LongHistory(long_history::Options),
    /// Start-up time and idle memory on an empty store.
    Footprint,
    /// Every scenario in turn.
    All {
        /// Tiny sizes, for a quick check that everything runs.
        #[arg(long)]
        smoke: bool,
    },
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Scenario::E2e(options) if options.concurrency == 1 => "e2e-latency",
            Scenario::E2e(_) => "e2e",
            Scenario::Starts(_) => "starts",
            Scenario::Timers(_) => "timers",
            Scenario::Recovery(_) => "recovery",
            Scenario::LongHistory(_) => "long-history",
            Scenario::Footprint => "footprint",
            Scenario::All { .. } => "all",
        }
    }

    /// Whether the scenario needs a server process of its own (to kill it or watch it start).
    fn needs_process(&self) -> bool {
        matches!(self, Scenario::Recovery(_) | Scenario::Footprint)
    }

    async fn run(&self, server: &mut Server, shared: &Shared) -> Result<Box<dyn Report>, Error> {
        Ok(match self {
            Scenario::E2e(options) => Box::new(e2e::run(server, options, shared).await?),
            Scenario::Starts(options) => Box::new(starts::run(server, options, shared).await?),
            Scenario::Timers(options) => Box::new(timers::run(server, options, shared).await?),
            Scenario::Recovery(options) => Box::new(recovery::run(server, options, shared).await?),
            Scenario::LongHistory(options) => {
                Box::new(long_history::run(server, options, shared).await?)
            }
            Scenario::Footprint => Box::new(footprint::run(server).await?),
            Scenario::All { .. } => return Err("`all` is not a single scenario".into()),
        })
    }
}

/// The scenarios of `all`, at smoke or default sizes.
fn all_scenarios(smoke: bool) -> Vec<Scenario> {
    let e2e = |workflows, concurrency| e2e::Options {
        workflows,
        concurrency,
        pollers: 8,
    };
    let (e2e_load, e2e_latency, starts, timers, open_runs, events) = if smoke {
        (e2e(50, 10), e2e(20, 1), 500, 100, 500, 200)
    } else {
        (e2e(2000, 200), e2e(500, 1), 20_000, 10_000, 100_000, 10_000)
    };
    vec![
        Scenario::E2e(e2e_load),
        Scenario::E2e(e2e_latency),
        Scenario::Starts(starts::Options {
            workflows: starts,
            concurrency: 200,
        }),
        Scenario::Timers(timers::Options {
            timers,
            concurrency: 200,
            pollers: 16,
        }),
        Scenario::Recovery(recovery::Options {
            open_runs,
            concurrency: 400,
        }),
        Scenario::LongHistory(long_history::Options { events }),
        Scenario::Footprint,
    ]
}

/// Settings every scenario shares.
pub struct Shared {
    pub gzip: bool,
    pub visibility_queries: usize,
}

/// Whether a larger or a smaller value of a figure is better.
#[derive(Clone, Copy)]
pub enum Better {
    Higher,
    Lower,
}

/// One figure of a report, for the Temper/Temporal ratio.
pub struct Figure {
    pub name: &'static str,
    pub value: Option<f64>,
    pub better: Better,
}

impl Figure {
    pub fn higher(name: &'static str, value: impl Into<Option<f64>>) -> Figure {
        let value = value.into();
        Figure {
            name,
            value,
            better: Better::Higher,
        }
    }

    pub fn lower(name: &'static str, value: impl Into<Option<f64>>) -> Figure {
        let value = value.into();
        Figure {
            name,
            value,
            better: Better::Lower,
        }
    }
}

/// What a scenario measured on one server.
pub trait Report {
    /// The lines to print, each after "SERVER SCENARIO: ".
    fn lines(&self) -> Vec<String>;
    /// The figures to compare between Temper and the baseline.
    fn figures(&self) -> Vec<Figure>;
}

/// The `p` quantile (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round().max(0.0) as usize;
    sorted.get(index).copied().unwrap_or_default()
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Bytes as MiB, or "n/a".
pub fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    })
}

/// Seconds with two decimals, or "n/a".
pub fn secs(seconds: Option<f64>) -> String {
    seconds.map_or("n/a".into(), |s| format!("{s:.2} s"))
}

/// The change of a CPU reading over a stretch of work.
pub fn cpu_delta(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

/// Server CPU per 1,000 operations.
pub fn per_thousand(cpu: Option<f64>, operations: usize) -> Option<f64> {
    cpu.map(|c| c / operations.max(1) as f64 * 1000.0)
}

/// One fewer to wait for; never below 0 (a start that failed for the client may still have
/// started a workflow that then completes).
pub fn count_down(remaining: &std::sync::atomic::AtomicUsize) {
    use std::sync::atomic::Ordering::SeqCst;
    let _ = remaining.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
}

/// Polls `remaining` until it reaches 0; an error if it does not move for `stall`.
pub async fn wait_for_zero(
    remaining: &std::sync::atomic::AtomicUsize,
    stall: Duration,
) -> Result<(), Error> {
    let mut last = usize::MAX;
    let mut since = std::time::Instant::now();
    loop {
        let now = remaining.load(std::sync::atomic::Ordering::SeqCst);
        if now == 0 {
            return Ok(());
        }
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        } else if since.elapsed() > stall {
            return Err(format!("stalled: {now} unfinished for {} s", stall.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn print_ratios(scenario: &str, temper: &dyn Report, baseline: &dyn Report) {
    for (ours, theirs) in temper.figures().iter().zip(baseline.figures()) {
        let (Some(a), Some(b)) = (ours.value, theirs.value) else {
            continue;
        };
        if b == 0.0 {
            continue;
        }
        let better = match ours.better {
            Better::Higher => "higher",
            Better::Lower => "lower",
        };
        println!(
            "ratio temper/temporal {scenario}: {} {:.2}× Temporal ({better} is better)",
            ours.name,
            a / b
        );
    }
}

/// Runs one scenario against a fresh server of each launcher and prints the reports.
async fn run_scenario(scenario: &Scenario, launchers: &[Launcher], shared: &Shared) -> bool {
    let name = scenario.name();
    let mut reports = Vec::new();
    for launcher in launchers {
        let label = launcher.label();
        if scenario.needs_process() && matches!(launcher, Launcher::Target { .. }) {
            println!("{label} {name}: skipped (needs a server process of its own, not --target)");
            continue;
        }
        match run_on(scenario, launcher, shared).await {
            Ok(report) => {
                for line in report.lines() {
                    println!("{label} {name}: {line}");
                }
                reports.push((label, report));
            }
            Err(e) => {
                println!("{label} {name}: FAILED: {e}");
                return false;
            }
        }
    }
    if let [(_, temper), (_, baseline)] = &reports[..] {
        print_ratios(name, temper.as_ref(), baseline.as_ref());
    }
    true
}

async fn run_on(
    scenario: &Scenario,
    launcher: &Launcher,
    shared: &Shared,
) -> Result<Box<dyn Report>, Error> {
    let mut server = launcher.launch(shared.gzip).await?;
    let report = scenario.run(&mut server, shared).await;
    server.shut_down().await;
    report
}

fn launchers(cli: &Cli) -> Result<Vec<Launcher>, Error> {
    let temper = match (&cli.target, &cli.server_binary) {
        (Some(address), _) => Launcher::Target {
            address: address.clone(),
        },
        (None, Some(binary)) => Launcher::Temper {
            binary: binary.clone(),
            postgres: cli.postgres.clone(),
        },
        (None, None) => Launcher::Temper {
            binary: std::env::current_exe()?.with_file_name("temper"),
            postgres: cli.postgres.clone(),
        },
    };
    let mut launchers = vec![temper];
    if let Some(binary) = &cli.baseline {
        launchers.push(Launcher::Temporal {
            binary: binary.clone(),
        });
    }
    Ok(launchers)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let launchers = match launchers(&cli) {
        Ok(launchers) => launchers,
        Err(e) => {
            eprintln!("temper-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shared = Shared {
        gzip: cli.gzip,
        visibility_queries: cli.visibility_queries,
    };
    let scenarios = match &cli.scenario {
        Scenario::All { smoke } => all_scenarios(*smoke),
        single => vec![single.clone()],
    };
    let mut failed = Vec::new();
    for scenario in &scenarios {
        if !run_scenario(scenario, &launchers, &shared).await {
            failed.push(scenario.name());
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("temper-bench: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
