//! A check run on every request once its namespace is known: the codec reads the namespace
//! from the request's bytes as it decodes them (see [`crate::request_namespace`]) and asks the
//! gate in scope whether the call may go on, so an authorizer can decide by namespace without
//! a handler having to say. Outside a gate's scope nothing is checked.

use std::future::Future;
use std::sync::Arc;

use tonic::Status;

/// What the codec read from a request for its gate.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The namespace it names (`None`: it names none).
    pub namespace: Option<&'a str>,
    /// What it acts on: the field's name and value (`workflow_id`, …), when known.
    pub target: Option<(&'static str, &'a str)>,
}

/// Decides whether a request may proceed.
pub type Gate = Arc<dyn Fn(&RequestFacts<'_>) -> Result<(), Status> + Send + Sync>;

tokio::task_local! {
    static GATE: Gate;
}

/// Runs `call` with every request it decodes checked by `gate`.
pub async fn with_gate<F: Future>(gate: Gate, call: F) -> F::Output {
    GATE.scope(gate, call).await
}

/// Runs `call` with no gate: for the calls a server makes to other servers while it serves a
/// request (their responses are no requests of the caller's, and name no namespace of its).
pub async fn ungated<F: Future>(call: F) -> F::Output {
    let open: Gate = Arc::new(|_| Ok(()));
    GATE.scope(open, call).await
}

/// Whether a gate waits for this request's namespace.
pub(crate) fn active() -> bool {
    GATE.try_with(|_| ()).is_ok()
}

/// Asks the gate in scope (if any) about a request.
pub(crate) fn check(facts: &RequestFacts<'_>) -> Result<(), Status> {
    GATE.try_with(|gate| gate(facts)).unwrap_or(Ok(()))
}
