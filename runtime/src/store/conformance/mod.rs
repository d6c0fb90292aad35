//! The store conformance suite: the same checks, run against every backend
//! (see `tests/e2e/store.rs`). Each check uses fresh execution ids, so one
//! store can run them all. The checks are grouped by what they cover
//! (`executions.rs`, `listing.rs`, `catalog.rs`, `tenants.rs`); what they
//! share is in `helpers.rs`.

mod catalog;
mod executions;
mod helpers;
mod listing;
mod tenants;

use super::Store;
use std::sync::Arc;

/// Runs the whole suite against one store.
pub(crate) async fn run_all(store: Arc<dyn Store>) {
    executions::journal_roundtrip(&*store).await;
    executions::append_is_atomic(&*store).await;
    executions::fencing_rejects_stale_lease(&*store).await;
    executions::claim_respects_live_leases(&*store).await;
    executions::renew_and_release(&*store).await;
    executions::terminal_transitions(&*store).await;
    listing::list_filters(&*store).await;
    catalog::components_roundtrip(&*store).await;
    executions::idempotent_enqueue(&*store).await;
    catalog::deployments_are_versioned(&*store).await;
    executions::inbox_orders_messages_and_wakes(&*store).await;
    executions::terminate_fences_the_owner(&*store).await;
    catalog::schedules_fire_once(&*store).await;
    listing::list_pages_and_filters(&*store).await;
    tenants::tenants_own_their_data(&*store).await;
    tenants::tokens_and_audit(&*store).await;
    tenants::queue_admits_in_start_order(&*store).await;
    tenants::list_one_status_in_tenant(&*store).await;
    tenants::claims_take_turns_across_tenants(&*store).await;
    tenants::journal_bytes_are_counted(&*store).await;
    tenants::heartbeats_count_live_nodes(&*store).await;
    executions::concurrent_appends(store).await;
}
