//! Open runs pinned to a worker deployment version, counted per version: a version that left
//! its deployment's routing is DRAINING while any remain and DRAINED after. Kept up to date
//! from every committed state (`History::publish`), so it is exact without a visibility scan.

use std::collections::HashMap;

use temper_engine::Execution;

/// (namespace, deployment, build id).
type VersionKey = (String, String, String);

#[derive(Default)]
pub(super) struct PinnedRuns {
    by_run: HashMap<String, VersionKey>,
    counts: HashMap<VersionKey, usize>,
}

impl PinnedRuns {
    /// Records where a run stands now (pinned and open, or not).
    pub(super) fn note(&mut self, exec: &Execution) {
        let now = exec
            .pinned_version()
            .filter(|_| exec.is_running())
            .map(|(deployment, build)| {
                (
                    exec.namespace.clone(),
                    deployment.to_string(),
                    build.to_string(),
                )
            });
        let before = self.by_run.get(&exec.run_id);
        if before == now.as_ref() {
            return;
        }
        if let Some(old) = self.by_run.remove(&exec.run_id)
            && let Some(count) = self.counts.get_mut(&old)
        {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&old);
            }
        }
        if let Some(key) = now {
            *self.counts.entry(key.clone()).or_default() += 1;
            self.by_run.insert(exec.run_id.clone(), key);
        }
    }

    pub(super) fn count(&self, namespace: &str, deployment: &str, build: &str) -> usize {
        let key = (
            namespace.to_string(),
            deployment.to_string(),
            build.to_string(),
        );
        self.counts.get(&key).copied().unwrap_or(0)
    }
}
