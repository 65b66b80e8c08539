//! The engine's services: fans what the fleet notices out to metrics, webhooks and the user
//! store, and answers what the HTTP layer asks of the rest of the program (registry reloads,
//! user-store writes, the `/metrics` page). Never blocks a router thread: webhooks and store
//! writes go through queues that drop (and count) or coalesce rather than wait.

use crate::fleet::{Fleet, FleetEvent, FleetObserver, ReloadReport};
use crate::http::EngineHooks;
use crate::metrics::{Metrics, RouterGauges, ScrapeSnapshot, WebhookTotals};
use crate::model::{ActiveSession, RouterId, Secret};
use crate::store::audit::AuditStats;
use crate::store::{AuditTrail, RouterRegistry, StoreError, SyncWriterHandle, UserSyncJob};
use crate::webhook::{Event, WebhookSender};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The production observer: metrics always, webhooks and store updates when configured.
pub struct EngineObserver {
    pub metrics: Arc<Metrics>,
    pub webhooks: Option<WebhookSender>,
    /// Secret lists go straight to the writer, whose `submit` never blocks (it keeps the
    /// newest list per router).
    pub users: Option<Arc<SyncWriterHandle>>,
    /// Told everything too (tests record events through it).
    pub extra: Option<Arc<dyn FleetObserver>>,
}

impl FleetObserver for EngineObserver {
    fn event(&self, event: FleetEvent) {
        if let Some(extra) = &self.extra {
            extra.event(event.clone());
        }
        let webhook = match event {
            FleetEvent::RouterUp {
                router,
                host,
                identity,
                version,
            } => Some(Event::router_up(
                router,
                &host,
                serde_json::json!({"identity": identity, "version": version}),
            )),
            FleetEvent::RouterDown {
                router,
                host,
                error,
            } => Some(Event::router_down(router, &host, &error)),
            FleetEvent::SessionUp {
                router,
                host,
                session,
            } => Some(Event::session_up(router, &host, &session)),
            FleetEvent::SessionDown {
                router,
                host,
                session,
            } => Some(Event::session_down(router, &host, &session)),
            FleetEvent::SecretsChanged {
                router,
                secrets,
                sessions,
            } => {
                if let Some(users) = &self.users {
                    users.submit(UserSyncJob::new(router, secrets, &sessions));
                }
                None
            }
        };
        if let (Some(event), Some(sender)) = (webhook, &self.webhooks) {
            // Full queues are counted and logged by the sender.
            let _ = sender.send(event);
        }
    }

    fn command_finished(&self, router: RouterId, elapsed: Duration) {
        if let Some(extra) = &self.extra {
            extra.command_finished(router, elapsed);
        }
        self.metrics.command_observed(router, elapsed.as_secs_f64());
    }
}

/// The Prometheus page: recorded events plus gauges read from the fleet right now.
pub fn render_metrics(
    fleet: &Fleet,
    metrics: &Metrics,
    webhooks: Option<&WebhookSender>,
) -> String {
    let routers = fleet
        .handles()
        .iter()
        .map(|handle| {
            let snapshot = handle.snapshot();
            RouterGauges {
                router_id: snapshot.id,
                name: snapshot.name.clone(),
                up: snapshot.state == crate::fleet::RouterState::Online,
                queue_depth: handle.queue_depth() as u64,
                active_sessions: snapshot.sessions.len() as u64,
                reconnects: snapshot.reconnects,
            }
        })
        .collect();
    let webhook = webhooks
        .map(|sender| {
            let stats = sender.stats();
            WebhookTotals {
                delivered: stats.delivered,
                failed: stats.failed,
                dropped: stats.dropped,
                retried: stats.retried,
            }
        })
        .unwrap_or_default();
    metrics.render(&ScrapeSnapshot { routers, webhook })
}

/// What the HTTP layer may ask of the rest of the program: registry reloads, user-store
/// writes, the metrics page. Built by [`crate::engine::Engine::start`] only.
pub struct EngineServices {
    pub fleet: Arc<Fleet>,
    pub metrics: Arc<Metrics>,
    pub webhooks: Option<WebhookSender>,
    pub registry: Arc<dyn RouterRegistry>,
    /// `None`: no user store (`stored: null`).
    pub users: Option<Arc<SyncWriterHandle>>,
    /// Longest a `POST /sync` waits for the user store.
    pub sync_timeout: Duration,
    /// The audit trail, for its writer's counters on `/metrics`.
    pub audit: Arc<AuditTrail>,
}

impl EngineHooks for EngineServices {
    fn reload(&self) -> Result<ReloadReport, StoreError> {
        let routers = self.registry.load_routers()?;
        let wanted: BTreeSet<RouterId> = routers.iter().map(|r| r.id).collect();
        let removed: Vec<RouterId> = self
            .fleet
            .handles()
            .iter()
            .map(|h| h.id)
            .filter(|id| !wanted.contains(id))
            .collect();
        let report = self.fleet.apply(routers);
        if let Some(users) = &self.users {
            // A router that left the fleet must not have a queued sync written later.
            for id in removed {
                users.forget(id);
            }
        }
        if report != ReloadReport::default() {
            log::info!(
                "registry reload: {} added, {} removed, {} restarted",
                report.added,
                report.removed,
                report.restarted
            );
        }
        Ok(report)
    }

    fn store_secrets(
        &self,
        router: RouterId,
        secrets: &[Secret],
        sessions: &[ActiveSession],
    ) -> Result<Option<usize>, StoreError> {
        match &self.users {
            Some(users) => {
                let job = UserSyncJob::new(router, Arc::new(secrets.to_vec()), sessions);
                users
                    .sync_now(job, self.sync_timeout)
                    .map(|counts| Some(counts.stored() as usize))
            }
            None => Ok(None),
        }
    }

    fn metrics_text(&self) -> Option<String> {
        let mut text = render_metrics(&self.fleet, &self.metrics, self.webhooks.as_ref());
        text.push_str(&audit_metrics(&self.audit.stats()));
        Some(text)
    }

    fn http_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        self.metrics
            .http_request(route, status, elapsed.as_secs_f64());
    }
}

/// The audit writer's counters in the Prometheus text format.
pub fn audit_metrics(stats: &AuditStats) -> String {
    let mut text = String::new();
    for (name, kind, help, value) in [
        (
            "netengine_audit_written_total",
            "counter",
            "Audit entries and idempotency answers written to the audit store.",
            stats.written,
        ),
        (
            "netengine_audit_dropped_total",
            "counter",
            "Audit changes dropped (buffer full while the store was down, or unwritable).",
            stats.dropped,
        ),
        (
            "netengine_audit_write_failures_total",
            "counter",
            "Failed attempts to write to the audit store (each retry counts).",
            stats.failed_attempts,
        ),
        (
            "netengine_audit_pending",
            "gauge",
            "Audit changes waiting to be written.",
            stats.pending as u64,
        ),
    ] {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    text
}
