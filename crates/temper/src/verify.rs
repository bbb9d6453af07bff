//! `temper verify`: checks a store offline. Every run's persisted state must be what replaying
//! its stored history gives (the engine's one path from event to state, see
//! `temper_engine::execution::apply`); attempt-level state that Temporal also keeps outside
//! history is left aside. The end-to-end suite runs it over the database of a representative
//! run of every feature; an operator can run it on a stopped server's database.

use std::sync::Arc;

use temper_store::Store;

/// How many runs one visibility page holds while walking a namespace.
const PAGE_SIZE: usize = 500;

/// What a verification found.
#[derive(Debug, Default)]
pub struct Report {
    pub runs: usize,
    pub differences: Vec<String>,
}

/// Checks every run of every namespace in `store`.
pub async fn verify(store: Arc<dyn Store>) -> Result<Report, String> {
    let mut report = Report::default();
    let everything = temper_query::parse_and_compile_for("", &|_| None, store.dialect())
        .map_err(|e| e.to_string())?;
    for namespace in store.namespaces().await.map_err(|e| e.to_string())? {
        let mut token = Vec::new();
        loop {
            let page = store
                .list_executions(&namespace.name, &everything, PAGE_SIZE, &token)
                .await
                .map_err(|e| e.to_string())?;
            for listed in &page.executions {
                report.runs += 1;
                if let Err(difference) = verify_run(store.as_ref(), &listed.run_id).await {
                    report.differences.push(difference);
                }
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
    }
    Ok(report)
}

async fn verify_run(store: &dyn Store, run_id: &str) -> Result<(), String> {
    let execution = store
        .load_execution(run_id)
        .await
        .map_err(|e| format!("run {run_id}: {e}"))?
        .ok_or_else(|| format!("run {run_id} is listed but has no state"))?;
    let history = store
        .read_history(run_id, 1, usize::MAX)
        .await
        .map_err(|e| format!("run {run_id}: {e}"))?;
    execution.check_against_history(&history)
}
