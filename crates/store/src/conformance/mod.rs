//! The behaviour every [`Store`] backend must show. Each check runs against every backend.

use temper_api::proto::history::v1::HistoryEvent;
use temper_engine::Execution;

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{
    EncodedEvent, ExecutionWrite, NamespaceRecord, RecordKind, Store, StoreError, StoredRecord,
};

mod groups;
mod shards;

async fn backends() -> Vec<(&'static str, Box<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = SqliteStore::open_file(&dir.path().join("temper.db"), &[]).expect("open file");
    let mut all: Vec<(&'static str, Box<dyn Store>, Option<tempfile::TempDir>)> = vec![
        (
            "sqlite-memory",
            Box::new(SqliteStore::open_in_memory().expect("open memory")),
            None,
        ),
        ("sqlite-file", Box::new(file), Some(dir)),
    ];
    if let Some(postgres) = postgres_store().await {
        all.push(("postgres", Box::new(postgres), None));
    }
    all
}

/// The local server the PostgreSQL checks use when `$TEMPER_TEST_POSTGRES` is unset.
const DEFAULT_POSTGRES: &str = "host=127.0.0.1 user=postgres dbname=test";

/// Connects to `configured` (`$TEMPER_TEST_POSTGRES`), or else to `default`; returns the
/// client and the connection string. Not reaching a configured server fails the test:
/// scripts/test.sh always sets the variable, so a run meant to cover PostgreSQL never passes
/// without it. Not reaching the unconfigured default means this machine has no server (a
/// plain `cargo test` on a laptop): `Err` with the message saying the checks were skipped.
async fn connect(
    configured: Option<String>,
    default: &str,
) -> Result<(tokio_postgres::Client, String), String> {
    let is_configured = configured.is_some();
    let url = configured.unwrap_or_else(|| default.to_string());
    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Ok((client, url))
        }
        Err(e) => {
            // tokio-postgres's own message leaves out the cause ("Connection refused").
            let e = match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            };
            if is_configured {
                panic!("PostgreSQL at $TEMPER_TEST_POSTGRES ({url:?}): {e}");
            }
            Err(format!(
                "SKIPPED: PostgreSQL conformance checks: no usable server at {url:?} ({e}); \
                 set TEMPER_TEST_POSTGRES or run scripts/test.sh, which starts one"
            ))
        }
    }
}

/// A PostgreSQL store in a fresh schema of its own, on `$TEMPER_TEST_POSTGRES` (a
/// connection string) or the local server; `None` when there is none (see [`connect`]).
/// Schemas older than an hour from earlier runs are dropped first, so test runs do not pile up.
async fn postgres_store() -> Option<PostgresStore> {
    postgres_store_and_client().await.map(|(store, _)| store)
}

/// [`postgres_store`], with a connection of its own to the store's schema.
async fn postgres_store_and_client() -> Option<(PostgresStore, tokio_postgres::Client)> {
    let (client, url) =
        match connect(std::env::var("TEMPER_TEST_POSTGRES").ok(), DEFAULT_POSTGRES).await {
            Ok(connected) => connected,
            Err(skipped) => {
                // Once per run, and to stderr itself: the harness hides `eprintln!` output
                // of passing tests.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "{skipped}");
                });
                return None;
            }
        };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let old: Vec<String> = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'temper\\_test\\_%'",
            &[],
        )
        .await
        .expect("list schemas")
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| {
            name.split('_')
                .nth(2)
                .and_then(|secs| secs.parse::<u64>().ok())
                .is_some_and(|created| created + 3600 < now)
        })
        .collect();
    for schema in old {
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await;
    }
    let schema = format!("temper_test_{now}_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::connect(&url, Some(&schema))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url:?}: {e}"));
    client
        .batch_execute(&format!("SET search_path TO \"{schema}\""))
        .await
        .expect("use the store's schema");
    Some((store, client))
}

/// Nothing answers on port 1.
const NO_SERVER: &str = "host=127.0.0.1 port=1 user=postgres dbname=test";

#[tokio::test]
async fn no_server_at_the_unconfigured_default_skips_postgres() {
    let Err(skipped) = connect(None, NO_SERVER).await else {
        panic!("connected to {NO_SERVER}");
    };
    assert!(skipped.starts_with("SKIPPED: PostgreSQL"), "{skipped}");
}

#[tokio::test]
#[should_panic(expected = "PostgreSQL at $TEMPER_TEST_POSTGRES")]
async fn no_server_at_a_configured_address_fails() {
    let _ = connect(Some(NO_SERVER.into()), DEFAULT_POSTGRES).await;
}

fn execution(run_id: &str, version: i64, next_event_id: i64) -> Execution {
    Execution {
        namespace: "default".into(),
        workflow_id: "wf".into(),
        run_id: run_id.into(),
        status: 1,
        db_version: version,
        next_event_id,
        ..Default::default()
    }
}

fn events(range: std::ops::Range<i64>) -> Vec<EncodedEvent> {
    range
        .map(|event_id| {
            EncodedEvent::of(&HistoryEvent {
                event_id,
                ..Default::default()
            })
        })
        .collect()
}

#[tokio::test]
async fn writes_are_read_back_in_order() {
    for (name, store, _dir) in backends().await {
        let create = ExecutionWrite {
            execution: execution("r1", 1, 3).into(),
            expected_db_version: 0,
            new_events: events(1..3),
            make_current: true,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store
            .write(vec![create])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let update = ExecutionWrite {
            execution: execution("r1", 2, 5).into(),
            expected_db_version: 1,
            new_events: events(3..5),
            make_current: false,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store
            .write(vec![update])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ids: Vec<i64> = store
            .read_history("r1", 1, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4], "{name}");
        let page: Vec<i64> = store
            .read_history("r1", 2, 2)
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(page, vec![2, 3], "{name}");
        let loaded = store.load_execution("r1").await.unwrap().expect(name);
        assert_eq!(loaded.db_version, 2, "{name}");
        assert_eq!(
            store.current_run("default", "wf").await.unwrap().as_deref(),
            Some("r1")
        );
        assert_eq!(
            store.current_run("default", "other").await.unwrap(),
            None,
            "{name}"
        );
    }
}

#[tokio::test]
async fn stale_versions_conflict_and_write_nothing() {
    for (name, store, _dir) in backends().await {
        let create = ExecutionWrite {
            execution: execution("r1", 1, 2).into(),
            expected_db_version: 0,
            new_events: events(1..2),
            make_current: true,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store.write(vec![create.clone()]).await.unwrap();
        let again = store.write(vec![create]).await;
        assert!(
            matches!(again, Err(StoreError::Conflict(..))),
            "{name}: {again:?}"
        );
        let stale = ExecutionWrite {
            execution: execution("r1", 5, 3).into(),
            expected_db_version: 4,
            new_events: events(2..3),
            make_current: false,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        assert!(
            matches!(
                store.write(vec![stale]).await,
                Err(StoreError::Conflict(..))
            ),
            "{name}"
        );
        assert_eq!(
            store.read_history("r1", 1, 10).await.unwrap().len(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_failed_write_leaves_nothing_of_its_batch() {
    for (name, store, _dir) in backends().await {
        let old = ExecutionWrite {
            execution: execution("old", 1, 2).into(),
            expected_db_version: 0,
            new_events: events(1..2),
            make_current: true,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store.write(vec![old]).await.unwrap();
        // A new run plus a stale update of the old one: neither may be written.
        let new_run = ExecutionWrite {
            execution: execution("new", 1, 2).into(),
            expected_db_version: 0,
            new_events: events(1..2),
            make_current: true,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        let stale = ExecutionWrite {
            execution: execution("old", 3, 3).into(),
            expected_db_version: 2,
            new_events: events(2..3),
            make_current: false,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        let result = store.write(vec![new_run.clone(), stale]).await;
        assert!(matches!(result, Err(StoreError::Conflict(..))), "{name}");
        assert!(
            store.load_execution("new").await.unwrap().is_none(),
            "{name}"
        );
        assert_eq!(
            store.current_run("default", "wf").await.unwrap().as_deref(),
            Some("old"),
            "{name}"
        );
        // Both together, correctly versioned, commit atomically.
        let mut closed = execution("old", 2, 3);
        closed.status = 2;
        let close_old = ExecutionWrite {
            execution: closed.into(),
            expected_db_version: 1,
            new_events: events(2..3),
            make_current: false,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store.write(vec![close_old, new_run]).await.unwrap();
        assert_eq!(
            store.current_run("default", "wf").await.unwrap().as_deref(),
            Some("new"),
            "{name}"
        );
        assert_eq!(
            store.read_history("old", 1, 10).await.unwrap().len(),
            2,
            "{name}"
        );
    }
}

#[tokio::test]
async fn open_executions_exclude_closed_runs() {
    for (name, store, _dir) in backends().await {
        for (run, status) in [("open", 1), ("closed", 2)] {
            let mut exec = execution(run, 1, 1);
            exec.status = status;
            let write = ExecutionWrite {
                execution: exec.into(),
                expected_db_version: 0,
                new_events: vec![],
                make_current: false,
                brand_new: false,
                signal_request_ids: Vec::new(),
                fence: None,
                shard: None,
            };
            store.write(vec![write]).await.unwrap();
        }
        let open: Vec<String> = store
            .open_executions(None, "", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.run_id)
            .collect();
        assert_eq!(open, vec!["open".to_string()], "{name}");
    }
}

#[tokio::test]
async fn namespaces_are_unique() {
    for (name, store, _dir) in backends().await {
        let ns = NamespaceRecord {
            name: "orders".into(),
            id: "1".into(),
            ..Default::default()
        };
        store.create_namespace(ns.clone()).await.unwrap();
        assert!(
            matches!(
                store.create_namespace(ns).await,
                Err(StoreError::AlreadyExists(_))
            ),
            "{name}"
        );
        assert_eq!(store.namespaces().await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn commit_probes_commit_and_leave_the_clock_alone() {
    for (name, store, _dir) in backends().await {
        store.probe_commit(1).await.unwrap();
        store.probe_commit(2).await.unwrap();
        assert_eq!(store.load_clock_offset().await.unwrap(), 0, "{name}");
    }
}

#[tokio::test]
async fn clock_offset_is_kept() {
    for (name, store, _dir) in backends().await {
        assert_eq!(store.load_clock_offset().await.unwrap(), 0, "{name}");
        store.save_clock_offset(86_400_000).await.unwrap();
        store.save_clock_offset(90_000_000).await.unwrap();
        assert_eq!(
            store.load_clock_offset().await.unwrap(),
            90_000_000,
            "{name}"
        );
    }
}

#[tokio::test]
async fn file_database_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("temper.db");
    {
        let store = SqliteStore::open_file(&path, &["cache_size=-2000".into()]).unwrap();
        let write = ExecutionWrite {
            execution: execution("r1", 1, 2).into(),
            expected_db_version: 0,
            new_events: events(1..2),
            make_current: true,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store.write(vec![write]).await.unwrap();
    }
    let store = SqliteStore::open_file(&path, &[]).unwrap();
    assert_eq!(store.read_history("r1", 1, 10).await.unwrap().len(), 1);
    assert_eq!(store.open_executions(None, "", 10).await.unwrap().len(), 1);
}

/// A run for the visibility checks: `started_ms` apart, closed at `closed_ms` (0: open), with
/// one custom Keyword attribute.
fn visible_run(
    run_id: &str,
    workflow_type: &str,
    started_ms: i64,
    closed_ms: i64,
    tier: &str,
) -> ExecutionWrite {
    use temper_api::proto::common::v1::{Payload, SearchAttributes};
    let mut exec = execution(run_id, 1, 3);
    exec.workflow_id = format!("wf-{run_id}");
    exec.workflow_type = workflow_type.into();
    exec.start_time_ms = started_ms;
    if closed_ms > 0 {
        exec.status = 2;
        exec.close_time_ms = closed_ms;
    }
    exec.search_attributes = Some(SearchAttributes {
        indexed_fields: [(
            "Tier".to_string(),
            Payload {
                metadata: [("type".to_string(), b"Keyword".to_vec())].into(),
                data: format!("\"{tier}\"").into_bytes(),
                ..Default::default()
            },
        )]
        .into(),
    });
    ExecutionWrite {
        execution: exec.into(),
        expected_db_version: 0,
        new_events: events(1..3),
        make_current: true,
        brand_new: false,
        signal_request_ids: Vec::new(),
        fence: None,
        shard: None,
    }
}

fn query(store: &dyn Store, text: &str) -> crate::CompiledQuery {
    let custom = |name: &str| (name == "Tier").then_some(temper_query::AttributeType::Keyword);
    temper_query::parse_and_compile_for(text, &custom, store.dialect()).expect("valid query")
}

#[tokio::test]
async fn visibility_lists_counts_and_pages() {
    for (name, store, _dir) in backends().await {
        // Indexing an attribute is idempotent and changes no result.
        for _ in 0..2 {
            store
                .index_search_attribute("default", "Tier", temper_query::AttributeType::Keyword)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        store
            .write(vec![
                visible_run("a", "Order", 1_000, 0, "gold"),
                visible_run("b", "Order", 2_000, 5_000, "silver"),
                visible_run("c", "Ship", 3_000, 4_000, "gold"),
            ])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ids = |page: &crate::ExecutionPage| -> Vec<String> {
            page.executions.iter().map(|e| e.run_id.clone()).collect()
        };
        // Open runs first, then the most recently closed.
        let all = store
            .list_executions("default", &query(&*store, ""), 10, &[])
            .await
            .unwrap();
        assert_eq!(ids(&all), vec!["a", "b", "c"], "{name}");
        let gold = store
            .list_executions("default", &query(&*store, "Tier = 'gold'"), 10, &[])
            .await
            .unwrap();
        assert_eq!(ids(&gold), vec!["a", "c"], "{name}");
        let mut paged = Vec::new();
        let mut token = Vec::new();
        loop {
            let page = store
                .list_executions("default", &query(&*store, ""), 1, &token)
                .await
                .unwrap();
            paged.extend(ids(&page));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(paged, vec!["a", "b", "c"], "{name}");
        let ordered = store
            .list_executions(
                "default",
                &query(&*store, "ORDER BY StartTime DESC"),
                2,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(ids(&ordered), vec!["c", "b"], "{name}");
        let rest = store
            .list_executions(
                "default",
                &query(&*store, "ORDER BY StartTime DESC"),
                2,
                &ordered.next_page_token,
            )
            .await
            .unwrap();
        assert_eq!(ids(&rest), vec!["a"], "{name}");
        let count = store
            .count_executions("default", &query(&*store, "WorkflowType = 'Order'"))
            .await
            .unwrap();
        assert_eq!(count.count, 2, "{name}");
        let grouped = store
            .count_executions("default", &query(&*store, "GROUP BY ExecutionStatus"))
            .await
            .unwrap();
        assert_eq!(grouped.groups, vec![(1, 1), (2, 2)], "{name}");
        let other = store
            .count_executions("elsewhere", &query(&*store, ""))
            .await
            .unwrap();
        assert_eq!(other.count, 0, "{name}");
        assert!(matches!(
            store
                .list_executions("default", &query(&*store, ""), 1, b"not a token")
                .await,
            Err(StoreError::InvalidPageToken(_))
        ));
    }
}

#[tokio::test]
async fn closed_runs_past_retention_are_deleted_with_their_history() {
    for (name, store, _dir) in backends().await {
        store
            .write(vec![
                visible_run("open", "Order", 1_000, 0, "gold"),
                visible_run("old", "Order", 1_000, 2_000, "gold"),
                visible_run("new", "Order", 1_000, 9_000, "gold"),
            ])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let deleted = store
            .delete_closed_runs("default", 5_000, 10)
            .await
            .unwrap();
        assert_eq!(deleted, vec!["old".to_string()], "{name}");
        assert!(
            store.load_execution("old").await.unwrap().is_none(),
            "{name}"
        );
        assert!(
            store.read_history("old", 1, 10).await.unwrap().is_empty(),
            "{name}"
        );
        assert_eq!(
            store.current_run("default", "wf-old").await.unwrap(),
            None,
            "{name}"
        );
        let left = store
            .count_executions("default", &query(&*store, ""))
            .await
            .unwrap();
        assert_eq!(left.count, 2, "{name}");
    }
}

#[tokio::test]
async fn one_run_is_deleted_with_its_history_visibility_and_current_pointer() {
    for (name, store, _dir) in backends().await {
        store
            .write(vec![
                visible_run("gone", "Order", 1_000, 2_000, "gold"),
                visible_run("kept", "Order", 1_000, 0, "gold"),
            ])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Another run of the same workflow id, not current: deleting it leaves the pointer.
        let mut older = visible_run("older", "Order", 500, 800, "gold");
        std::sync::Arc::make_mut(&mut older.execution).workflow_id = "wf-kept".into();
        older.make_current = false;
        store.write(vec![older]).await.unwrap();
        // A run is deleted only in its own namespace.
        assert!(
            !store.delete_run("elsewhere", "gone").await.unwrap(),
            "{name}"
        );
        assert!(store.delete_run("default", "gone").await.unwrap(), "{name}");
        assert!(
            store.load_execution("gone").await.unwrap().is_none(),
            "{name}"
        );
        assert!(
            store.read_history("gone", 1, 10).await.unwrap().is_empty(),
            "{name}"
        );
        assert_eq!(
            store.current_run("default", "wf-gone").await.unwrap(),
            None,
            "{name}"
        );
        assert!(
            !store.delete_run("default", "gone").await.unwrap(),
            "{name}"
        );
        assert!(
            store.delete_run("default", "older").await.unwrap(),
            "{name}"
        );
        assert_eq!(
            store
                .current_run("default", "wf-kept")
                .await
                .unwrap()
                .as_deref(),
            Some("kept"),
            "{name}"
        );
        assert_eq!(
            store.read_history("kept", 1, 10).await.unwrap().len(),
            2,
            "{name}"
        );
        let left = store
            .list_executions("default", &query(&*store, ""), 10, &[])
            .await
            .unwrap();
        let ids: Vec<&str> = left.executions.iter().map(|e| e.run_id.as_str()).collect();
        assert_eq!(ids, vec!["kept"], "{name}");
        // A running run can be deleted too (the server terminates it first).
        assert!(store.delete_run("default", "kept").await.unwrap(), "{name}");
        assert!(
            store
                .open_executions(None, "", 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            store.current_run("default", "wf-kept").await.unwrap(),
            None,
            "{name}"
        );
    }
}

#[tokio::test]
async fn namespaces_update_and_delete_with_their_runs() {
    for (name, store, _dir) in backends().await {
        let record = NamespaceRecord {
            name: "orders".into(),
            id: "id-1".into(),
            retention_ms: 1_000,
            ..Default::default()
        };
        store.create_namespace(record.clone()).await.unwrap();
        let mut updated = record.clone();
        updated.search_attributes.insert("Tier".into(), 2);
        store.update_namespace(updated.clone()).await.unwrap();
        assert_eq!(store.namespaces().await.unwrap(), vec![updated], "{name}");
        let mut run = visible_run("r", "Order", 1_000, 0, "gold");
        std::sync::Arc::make_mut(&mut run.execution).namespace = "orders".into();
        store.write(vec![run]).await.unwrap();
        store.delete_namespace("orders").await.unwrap();
        assert!(store.namespaces().await.unwrap().is_empty(), "{name}");
        assert!(store.load_execution("r").await.unwrap().is_none(), "{name}");
        assert!(matches!(
            store.delete_namespace("orders").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.update_namespace(record).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn a_running_run_is_never_displaced_as_current() {
    for (name, store, _dir) in backends().await {
        let running = current_run_write("running", false);
        store.write(vec![running]).await.unwrap();
        let rival = current_run_write("rival", false);
        let result = store.write(vec![rival.clone()]).await;
        assert!(matches!(result, Err(StoreError::Conflict(..))), "{name}");
        assert!(
            store.load_execution("rival").await.unwrap().is_none(),
            "{name}"
        );
        // Rewriting the current run itself is fine.
        let mut again = execution("running", 2, 2);
        again.status = 1;
        let rewrite = ExecutionWrite {
            execution: again.into(),
            expected_db_version: 1,
            new_events: vec![],
            make_current: true,
            brand_new: false,
            signal_request_ids: Vec::new(),
            fence: None,
            shard: None,
        };
        store.write(vec![rewrite]).await.unwrap();
        // Once it has closed, a new run may take its place.
        let mut closed = execution("running", 3, 2);
        closed.status = 2;
        store
            .write(vec![ExecutionWrite {
                execution: closed.into(),
                expected_db_version: 2,
                new_events: vec![],
                make_current: false,
                brand_new: false,
                signal_request_ids: Vec::new(),
                fence: None,
                shard: None,
            }])
            .await
            .unwrap();
        store.write(vec![rival]).await.unwrap();
        assert_eq!(
            store.current_run("default", "wf").await.unwrap().as_deref(),
            Some("rival"),
            "{name}"
        );
    }
}

/// A write making a run current, `brand_new` or not, on workflow id `wf`.
fn current_run_write(run_id: &str, brand_new: bool) -> ExecutionWrite {
    ExecutionWrite {
        execution: execution(run_id, 1, 2).into(),
        expected_db_version: 0,
        new_events: events(1..2),
        make_current: true,
        brand_new,
        signal_request_ids: Vec::new(),
        fence: None,
        shard: None,
    }
}

#[tokio::test]
async fn a_brand_new_write_needs_an_id_without_any_current_run() {
    for (name, store, _dir) in backends().await {
        store
            .write(vec![current_run_write("first", true)])
            .await
            .unwrap();
        let mut closed = execution("first", 2, 3);
        closed.status = 2;
        store.write(vec![write_of(closed)]).await.unwrap();
        // A closed current run is a current run all the same: the writer must read it first.
        let result = store.write(vec![current_run_write("second", true)]).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(..))),
            "{name}: {result:?}"
        );
        assert!(
            store.load_execution("second").await.unwrap().is_none(),
            "{name}"
        );
        store
            .write(vec![current_run_write("second", false)])
            .await
            .unwrap();
        assert_eq!(
            store.current_run("default", "wf").await.unwrap().as_deref(),
            Some("second"),
            "{name}"
        );
        // Two brand-new runs of one new id at once: one wins, the other writes nothing.
        let (a, b) = tokio::join!(
            store.write(vec![with_workflow_id(current_run_write("a", true), "new")]),
            store.write(vec![with_workflow_id(current_run_write("b", true), "new")]),
        );
        assert!(a.is_ok() != b.is_ok(), "{name}: {a:?} {b:?}");
        let loser = if a.is_ok() { "b" } else { "a" };
        assert!(
            store.load_execution(loser).await.unwrap().is_none(),
            "{name}"
        );
    }
}

fn with_workflow_id(mut write: ExecutionWrite, workflow_id: &str) -> ExecutionWrite {
    std::sync::Arc::make_mut(&mut write.execution).workflow_id = workflow_id.into();
    write
}

#[tokio::test]
async fn one_attribute_name_may_have_different_types_in_different_namespaces() {
    use temper_api::proto::common::v1::{Payload, SearchAttributes};
    use temper_query::AttributeType;
    for (name, store, _dir) in backends().await {
        let typed = |namespace: &str, run_id: &str, ty: &str, json: &str| {
            let mut write = visible_run(run_id, "Order", 1_000, 0, "gold");
            std::sync::Arc::make_mut(&mut write.execution).namespace = namespace.into();
            std::sync::Arc::make_mut(&mut write.execution).workflow_id = format!("wf-{run_id}");
            std::sync::Arc::make_mut(&mut write.execution).search_attributes =
                Some(SearchAttributes {
                    indexed_fields: [(
                        "Amount".to_string(),
                        Payload {
                            metadata: [("type".to_string(), ty.as_bytes().to_vec())].into(),
                            data: json.as_bytes().to_vec(),
                            ..Default::default()
                        },
                    )]
                    .into(),
                });
            write
        };
        store
            .index_search_attribute("ints", "Amount", AttributeType::Int)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        store
            .index_search_attribute("words", "Amount", AttributeType::Keyword)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        store
            .write(vec![typed("ints", "i", "Int", "42")])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        store
            .write(vec![typed("words", "w", "Keyword", "\"many\"")])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let compile = |ty: AttributeType, text: &str| {
            let custom = move |n: &str| (n == "Amount").then_some(ty);
            temper_query::parse_and_compile_for(text, &custom, store.dialect()).expect("valid")
        };
        let ints = store
            .count_executions("ints", &compile(AttributeType::Int, "Amount > 40"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ints.count, 1, "{name}");
        let words = store
            .count_executions("words", &compile(AttributeType::Keyword, "Amount = 'many'"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(words.count, 1, "{name}");
    }
}

fn record(kind: RecordKind, id: &str, version: i64, state: &[u8]) -> StoredRecord {
    StoredRecord {
        kind,
        namespace: "default".into(),
        id: id.into(),
        version,
        state: state.to_vec(),
    }
}

#[tokio::test]
async fn records_are_created_once_updated_by_version_and_deleted() {
    let schedule = |id, version, state| record(RecordKind::Schedule, id, version, state);
    for (name, store, _dir) in backends().await {
        store
            .save_record(schedule("s1", 1, b"one"), 0)
            .await
            .unwrap();
        let taken = store.save_record(schedule("s1", 1, b"again"), 0).await;
        assert!(matches!(taken, Err(StoreError::AlreadyExists(_))), "{name}");
        store
            .save_record(schedule("s1", 2, b"two"), 1)
            .await
            .unwrap();
        let stale = store.save_record(schedule("s1", 2, b"stale"), 1).await;
        assert!(matches!(stale, Err(StoreError::Conflict(..))), "{name}");
        store
            .save_record(schedule("s2", 1, b"other"), 0)
            .await
            .unwrap();
        // The same id in another kind is another record.
        let batch = record(RecordKind::BatchOperation, "s1", 1, b"batch");
        store.save_record(batch.clone(), 0).await.unwrap();
        let all = store.records(RecordKind::Schedule).await.unwrap();
        assert_eq!(
            all,
            vec![schedule("s1", 2, b"two"), schedule("s2", 1, b"other")],
            "{name}"
        );
        assert_eq!(
            store.records(RecordKind::BatchOperation).await.unwrap(),
            vec![batch],
            "{name}"
        );
        store
            .delete_record(RecordKind::Schedule, "default", "s1")
            .await
            .unwrap();
        let missing = store
            .delete_record(RecordKind::Schedule, "default", "s1")
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))), "{name}");
        assert_eq!(
            store.records(RecordKind::Schedule).await.unwrap().len(),
            1,
            "{name}"
        );
        store
            .delete_record(RecordKind::Schedule, "default", "s2")
            .await
            .unwrap();
        store
            .delete_record(RecordKind::BatchOperation, "default", "s1")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_stale_request_among_concurrent_ones_fails_alone() {
    for (name, store, _dir) in backends().await {
        let runs: Vec<String> = (0..16).map(|i| format!("concurrent-{i}")).collect();
        for run in &runs {
            let mut exec = execution(run, 1, 2);
            exec.workflow_id = run.clone();
            let create = ExecutionWrite {
                execution: exec.into(),
                expected_db_version: 0,
                new_events: events(1..2),
                make_current: true,
                brand_new: false,
                signal_request_ids: Vec::new(),
                fence: None,
                shard: None,
            };
            store.write(vec![create]).await.unwrap();
        }
        // Odd runs are written with a stale version; all are sent at once so that the
        // backend's group commit carries several of them in one transaction.
        let updates = runs.iter().enumerate().map(|(i, run)| {
            let mut exec = execution(run, 2, 3);
            exec.workflow_id = run.clone();
            let write = ExecutionWrite {
                execution: exec.into(),
                expected_db_version: if i % 2 == 0 { 1 } else { 5 },
                new_events: events(2..3),
                make_current: false,
                brand_new: false,
                signal_request_ids: Vec::new(),
                fence: None,
                shard: None,
            };
            store.write(vec![write])
        });
        let results = futures_util::future::join_all(updates).await;
        for (i, (run, result)) in runs.iter().zip(results).enumerate() {
            let history = store.read_history(run, 1, 10).await.unwrap();
            if i % 2 == 0 {
                assert!(result.is_ok(), "{name}: {run}: {result:?}");
                assert_eq!(history.len(), 2, "{name}: {run}");
            } else {
                assert!(matches!(result, Err(StoreError::Conflict(..))), "{name}");
                assert_eq!(history.len(), 1, "{name}: {run} wrote nothing");
            }
        }
    }
}

#[tokio::test]
async fn open_runs_are_listed_page_by_page_in_run_id_order() {
    for (name, store, _dir) in backends().await {
        for (i, run) in ["r5", "r1", "r4", "r2", "r3", "c1"].iter().enumerate() {
            let mut exec = execution(run, 1, 1);
            exec.workflow_id = format!("wf-{i}");
            exec.status = if run.starts_with('c') { 2 } else { 1 };
            let write = ExecutionWrite {
                execution: exec.into(),
                expected_db_version: 0,
                new_events: vec![],
                make_current: false,
                brand_new: false,
                signal_request_ids: Vec::new(),
                fence: None,
                shard: None,
            };
            store.write(vec![write]).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let page = store.open_executions(None, &after, 2).await.unwrap();
            assert!(page.len() <= 2, "{name}");
            let Some(last) = page.last() else { break };
            after = last.run_id.clone();
            seen.extend(page.into_iter().map(|e| e.run_id));
        }
        assert_eq!(seen, vec!["r1", "r2", "r3", "r4", "r5"], "{name}");
    }
}

#[tokio::test]
async fn record_writes_beside_execution_writes_never_find_the_database_locked() {
    for (name, store, _dir) in backends().await {
        let runs = (0..200).map(|i| {
            let mut exec = execution(&format!("busy-{i}"), 1, 2);
            exec.workflow_id = format!("busy-{i}");
            store.write(vec![ExecutionWrite {
                execution: exec.into(),
                expected_db_version: 0,
                new_events: events(1..2),
                make_current: true,
                brand_new: false,
                signal_request_ids: Vec::new(),
                fence: None,
                shard: None,
            }])
        });
        let records = (0..200).map(|i| {
            let id = format!("record-{i}");
            store.save_record(record(RecordKind::Schedule, &id, 1, b"state"), 0)
        });
        let (runs, records) = tokio::join!(
            futures_util::future::join_all(runs),
            futures_util::future::join_all(records)
        );
        for result in runs {
            assert!(result.is_ok(), "{name}: {result:?}");
        }
        for result in records {
            assert!(result.is_ok(), "{name}: {result:?}");
        }
    }
}

/// The write taking `exec` from `db_version - 1` to its `db_version` with one new event
/// (the first makes it current).
fn write_of(exec: Execution) -> ExecutionWrite {
    let version = exec.db_version;
    ExecutionWrite {
        execution: exec.into(),
        expected_db_version: version - 1,
        new_events: events(version..version + 1),
        make_current: version == 1,
        brand_new: false,
        signal_request_ids: Vec::new(),
        fence: None,
        shard: None,
    }
}

/// A write of run `run_id` (workflow id `wf-RUN_ID`) from `version - 1` to `version`
/// delivering the signals `ids`.
fn signal_write(run_id: &str, version: i64, ids: &[&str]) -> ExecutionWrite {
    let mut exec = execution(run_id, version, version + 1);
    exec.workflow_id = format!("wf-{run_id}");
    let mut write = write_of(exec);
    write.signal_request_ids = ids.iter().map(|id| id.to_string()).collect();
    write
}

#[tokio::test]
async fn a_signal_request_id_is_delivered_once_per_run() {
    for (name, store, _dir) in backends().await {
        store
            .write(vec![signal_write("r1", 1, &["a"])])
            .await
            .unwrap();
        store
            .write(vec![signal_write("r1", 2, &["b"])])
            .await
            .unwrap();
        let again = store.write(vec![signal_write("r1", 3, &["c", "a"])]).await;
        assert!(
            matches!(&again, Err(StoreError::DuplicateSignal { run_id, request_id })
                if run_id == "r1" && request_id == "a"),
            "{name}: {again:?}"
        );
        // Nothing of the refused write is left: not its events, state or other ids.
        let loaded = store.load_execution("r1").await.unwrap().expect(name);
        assert_eq!(loaded.db_version, 2, "{name}");
        assert_eq!(
            store.read_history("r1", 1, 10).await.unwrap().len(),
            2,
            "{name}"
        );
        store
            .write(vec![signal_write("r1", 3, &["c"])])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Another run may receive the same request id.
        store
            .write(vec![signal_write("r2", 1, &["a"])])
            .await
            .unwrap();
        // A deleted run's ids go with it.
        assert!(store.delete_run("default", "r1").await.unwrap(), "{name}");
        store
            .write(vec![signal_write("r1", 1, &["a"])])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A write creating (`version` 1) or updating an open run whose one timer fires at `fire_ms`
/// (0: no timer), or closing it (`open` false).
fn timer_write(run_id: &str, version: i64, fire_ms: i64, open: bool) -> ExecutionWrite {
    let mut exec = execution(run_id, version, version + 1);
    exec.workflow_id = format!("wf-{run_id}");
    if fire_ms > 0 {
        let timer = temper_engine::state::TimerInfo {
            timer_id: "t".into(),
            started_event_id: 1,
            fire_time_ms: fire_ms,
        };
        exec.timers.insert("t".into(), timer);
    }
    if !open {
        exec.status = 2;
        exec.close_time_ms = 1;
    }
    write_of(exec)
}

#[tokio::test]
async fn open_runs_wake_ups_are_listed_in_time_order() {
    for (name, store, _dir) in backends().await {
        store
            .write(vec![
                timer_write("late", 1, 9_000, true),
                timer_write("early", 1, 2_000, true),
                timer_write("middle", 1, 5_000, true),
                timer_write("none", 1, 0, true),
                timer_write("closing", 1, 3_000, true),
            ])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let all = store.wakeups(None, i64::MIN, i64::MAX, 10).await.unwrap();
        let expected = [
            (2_000, "early"),
            (3_000, "closing"),
            (5_000, "middle"),
            (9_000, "late"),
        ];
        let expected: Vec<(i64, String)> = expected
            .iter()
            .map(|(at, id)| (*at, id.to_string()))
            .collect();
        assert_eq!(all, expected, "{name}");
        // A range is exclusive of its start, inclusive of its end, and limited.
        let page = store.wakeups(None, 2_000, 9_000, 2).await.unwrap();
        assert_eq!(page, expected[1..3].to_vec(), "{name}");
        // Each write moves its run's wake-up (or keeps it, or gives it one); a closed run has
        // none, and is no longer open.
        store
            .write(vec![
                timer_write("late", 2, 1_000, true),
                timer_write("closing", 2, 3_000, false),
                timer_write("early", 2, 2_000, true),
                timer_write("none", 2, 4_000, true),
            ])
            .await
            .unwrap();
        let ids: Vec<String> = store
            .wakeups(None, i64::MIN, i64::MAX, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(ids, vec!["late", "early", "none", "middle"], "{name}");
        let open: Vec<String> = store
            .open_executions(None, "", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|exec| exec.run_id)
            .collect();
        assert_eq!(open, vec!["early", "late", "middle", "none"], "{name}");
    }
}

/// A database written before wake-ups were indexed gets them from its open runs' states at
/// its next start.
#[tokio::test]
async fn wake_ups_of_a_database_older_than_their_index_are_filled_in() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE executions (run_id TEXT PRIMARY KEY, namespace TEXT NOT NULL,
                 workflow_id TEXT NOT NULL, status INTEGER NOT NULL,
                 db_version INTEGER NOT NULL, state BLOB NOT NULL)",
        )
        .unwrap();
        let open = timer_write("open", 1, 4_000, true).execution;
        let closed = timer_write("closed", 1, 4_000, false).execution;
        for exec in [open, closed] {
            old.execute(
                "INSERT INTO executions VALUES (?1, 'default', ?2, ?3, 1, ?4)",
                rusqlite::params![
                    exec.run_id,
                    exec.workflow_id,
                    exec.status,
                    exec.encode_to_vec()
                ],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open_file(&path, &[]).unwrap();
    assert_eq!(
        store.wakeups(None, i64::MIN, i64::MAX, 10).await.unwrap(),
        vec![(4_000, "open".to_string())]
    );
}
