//! Write groups: requests sent at once are committed together (one transaction; on
//! PostgreSQL one statement per kind of row, `postgres_group.rs`), each with its own outcome;
//! and a PostgreSQL store outlives the loss of its connections (`postgres_connection.rs`).

use super::{DEFAULT_POSTGRES, backends, connect, execution, signal_write, write_of};
use crate::postgres::PostgresStore;
use crate::{ExecutionWrite, Store, StoreError};

/// A write of run `run_id` of `workflow_id` from `version - 1` to `version`, leaving it with
/// `status` (the first write makes it current).
fn run_write(run_id: &str, workflow_id: &str, version: i64, status: i32) -> ExecutionWrite {
    let mut exec = execution(run_id, version, version + 1);
    exec.workflow_id = workflow_id.into();
    exec.status = status;
    write_of(exec)
}

#[tokio::test]
async fn a_group_of_every_kind_of_write_commits_each_one() {
    for (name, store, _dir) in backends().await {
        let creates = (0..16)
            .map(|i| store.write(vec![run_write(&format!("g{i}"), &format!("wf-g{i}"), 1, 1)]));
        for result in futures_util::future::join_all(creates).await {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // Sent at once, so that groups mix them: even runs take a signal; odd runs close and
        // chain to a new run of their workflow id, in one request of two writes.
        let requests = (0..16).map(|i| {
            let (run, workflow) = (format!("g{i}"), format!("wf-g{i}"));
            if i % 2 == 0 {
                let mut write = run_write(&run, &workflow, 2, 1);
                write.signal_request_ids = vec![format!("signal-{i}")];
                store.write(vec![write])
            } else {
                let closed = run_write(&run, &workflow, 2, 2);
                let next = run_write(&format!("{run}-next"), &workflow, 1, 1);
                store.write(vec![closed, next])
            }
        });
        for result in futures_util::future::join_all(requests).await {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for i in 0..16 {
            let (run, workflow) = (format!("g{i}"), format!("wf-g{i}"));
            let loaded = store.load_execution(&run).await.unwrap().expect(name);
            assert_eq!(loaded.db_version, 2, "{name}: {run}");
            assert_eq!(
                store.read_history(&run, 1, 10).await.unwrap().len(),
                2,
                "{name}"
            );
            let current = store.current_run("default", &workflow).await.unwrap();
            let expected = if i % 2 == 0 {
                run.clone()
            } else {
                format!("{run}-next")
            };
            assert_eq!(current, Some(expected), "{name}: {workflow}");
        }
        let again = store
            .write(vec![signal_write("g0", 3, &["signal-0"])])
            .await;
        assert!(
            matches!(again, Err(StoreError::DuplicateSignal { .. })),
            "{name}: {again:?}"
        );
    }
}

#[tokio::test]
async fn of_two_starts_of_one_workflow_id_sent_at_once_one_wins() {
    for (name, store, _dir) in backends().await {
        let starts =
            ["first", "second"].map(|run| store.write(vec![run_write(run, "wf-twice", 1, 1)]));
        let results = futures_util::future::join_all(starts).await;
        let won: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{name}: {results:?}");
        let winner = if won[0] { "first" } else { "second" };
        let current = store.current_run("default", "wf-twice").await.unwrap();
        assert_eq!(current.as_deref(), Some(winner), "{name}");
    }
}

#[tokio::test]
async fn a_postgresql_store_reconnects_after_its_connections_end() {
    let Ok((admin, url)) =
        connect(std::env::var("TEMPER_TEST_POSTGRES").ok(), DEFAULT_POSTGRES).await
    else {
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (name, schema) = (format!("reconnect_{id}"), format!("temper_test_{now}_{id}"));
    let store = PostgresStore::connect(&format!("{url} application_name={name}"), Some(&schema))
        .await
        .expect("store");
    store
        .write(vec![run_write("before", "wf-before", 1, 1)])
        .await
        .unwrap();
    let ended: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&name],
        )
        .await
        .expect("terminate")
        .get(0);
    assert_eq!(ended, 2, "the reader's and the writer's connections");
    // Calls that find a connection closed fail; the next ones open a new one.
    let mut failed = 0;
    while let Err(error) = store
        .write(vec![run_write("after", "wf-after", 1, 1)])
        .await
    {
        failed += 1;
        assert!(failed < 100, "no reconnection: {error}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut failed = 0;
    let before = loop {
        match store.load_execution("before").await {
            Ok(loaded) => break loaded,
            Err(error) => {
                failed += 1;
                assert!(failed < 100, "no reconnection: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(before.map(|run| run.db_version), Some(1));
    assert!(store.load_execution("after").await.unwrap().is_some());
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
}
