//! What `cairn bench` measures inside the engine — and nothing else calls:
//! one instantiation of a pre-linked component, one spare instance given
//! its execution, the instances alive, the activity permits held.

use super::WorkflowComponent;
use super::{ExecutionHost, adopt, new_store};
use crate::engine::Engine;
use crate::engine::bindings::workflow::Workflow;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// Times one instantiation of a pre-linked workflow component (store
/// creation excluded).
pub(crate) async fn time_instantiation(
    engine: &Engine,
    component: &WorkflowComponent,
    host: ExecutionHost,
) -> wasmtime::Result<Duration> {
    let mut store = new_store(engine, host);
    let t = Instant::now();
    let _instance: Workflow = component.pre.instantiate_async(&mut store).await?;
    Ok(t.elapsed())
}

/// Has a spare instance made and times getting it ready for an execution
/// as an activation does it; `None` when none is made within `patience`
/// (the component instantiates fast enough to need none).
pub(crate) async fn time_spare(
    engine: &Engine,
    component: &WorkflowComponent,
    host: ExecutionHost,
    patience: Duration,
) -> Option<Duration> {
    component.spares.refill(&engine.spare_maker(), &component.pre);
    let deadline = Instant::now() + patience;
    while component.spares.ready() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let t = Instant::now();
    let mut spare = component.spares.take()?;
    adopt(&mut spare.store, host);
    let took = t.elapsed();
    drop(spare);
    Some(took)
}

/// Workflow instances alive now (each holds one permit of the pool).
pub(crate) fn live_instances(engine: &Engine) -> usize {
    engine.workflow_capacity - engine.workflow_permits.available_permits()
}

/// Takes every activity permit: activity calls wait (and their workflows'
/// instances stay alive, waiting) until the permits are dropped.
pub(crate) async fn hold_activity_permits(engine: &Engine) -> OwnedSemaphorePermit {
    let permits = engine.activity_permits.clone();
    let all = permits.available_permits() as u32;
    permits.acquire_many_owned(all).await.expect("never closed")
}
