//! `temper-bench` runs every scenario end to end against a spawned `temper` process (tiny
//! sizes; no timing is asserted), and the e2e scenario on PostgreSQL when one is reachable.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_temper-bench"))
        .args(args)
        .args(["--server-binary", env!("CARGO_BIN_EXE_temper")])
        .args(["--visibility-queries", "5"])
        .output()
        .expect("temper-bench runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn all_scenarios_run_at_smoke_sizes() {
    let output = bench(&["all", "--smoke"]);
    assert!(output.status.success(), "temper-bench failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for scenario in [
        "e2e",
        "e2e-latency",
        "starts",
        "timers",
        "recovery",
        "long-history",
        "footprint",
    ] {
        assert!(
            stdout.contains(&format!("temper {scenario}: ")),
            "no `{scenario}` figures in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn e2e_runs_on_postgres() {
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        println!("skipped: no PostgreSQL on 127.0.0.1:5432");
        return;
    }
    let output = bench(&[
        "e2e",
        "--workflows",
        "50",
        "--concurrency",
        "10",
        "--postgres",
        "host=127.0.0.1 user=postgres dbname=test",
    ]);
    assert!(output.status.success(), "temper-bench failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("temper e2e: 50 workflows"), "{stdout}");
}
