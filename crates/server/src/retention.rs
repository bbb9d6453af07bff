//! Retention: runs (and standalone activity runs) that closed longer ago than their
//! namespace's retention period are deleted (state, history and visibility), in the
//! background. Open runs are never touched.

use std::sync::Arc;
use std::time::Duration;

use crate::activity_executions::ActivityExecutions;
use crate::history::History;
use crate::namespaces::Namespaces;

/// Most runs deleted per store call, so one sweep never holds the database for long.
const DELETE_BATCH: usize = 500;

/// Deletes expired runs every `interval`, for as long as the server runs.
pub async fn sweep(
    namespaces: Arc<Namespaces>,
    history: Arc<History>,
    activities: Arc<ActivityExecutions>,
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        for (namespace, retention_ms) in namespaces.retentions() {
            let cutoff = history.now_ms().saturating_sub(retention_ms);
            let activities_deleted = activities.delete_closed_before(&namespace, cutoff).await;
            if activities_deleted > 0 {
                tracing::debug!(
                    namespace,
                    activities_deleted,
                    "retention deleted activity runs"
                );
            }
            loop {
                match history
                    .store()
                    .delete_closed_runs(&namespace, cutoff, DELETE_BATCH)
                    .await
                {
                    Ok(deleted) => {
                        let done = deleted.len() < DELETE_BATCH;
                        if !deleted.is_empty() {
                            tracing::debug!(
                                namespace,
                                runs = deleted.len(),
                                "retention deleted runs"
                            );
                        }
                        history.forget_runs(&deleted).await;
                        if done {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(namespace, %error, "retention sweep failed");
                        break;
                    }
                }
            }
        }
    }
}
