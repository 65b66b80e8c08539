//! Fans what the fleet notices out to metrics, webhooks and the user store, and builds the
//! `/metrics` page from fleet snapshots. Never blocks a router thread: webhooks and store
//! writes go through bounded queues that drop (and count) rather than wait.

use crate::fleet::{Fleet, FleetEvent, FleetObserver, ReloadReport};
use crate::http::EngineHooks;
use crate::metrics::{Metrics, RouterGauges, ScrapeSnapshot, WebhookTotals};
use crate::model::{ActiveSession, RouterConfig, RouterId, Secret};
use crate::webhook::{Event, WebhookSender};
use crossbeam_channel::{Sender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// A router's secret list, to be written to the user store.
#[derive(Debug, Clone)]
pub struct SecretsUpdate {
    pub router: RouterId,
    pub secrets: Arc<Vec<Secret>>,
    pub sessions: Arc<Vec<ActiveSession>>,
}

/// The production observer: metrics always, webhooks and store updates when configured.
pub struct EngineObserver {
    pub metrics: Arc<Metrics>,
    pub webhooks: Option<WebhookSender>,
    pub secrets: Option<Sender<SecretsUpdate>>,
}

impl FleetObserver for EngineObserver {
    fn event(&self, event: FleetEvent) {
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
                if let Some(queue) = &self.secrets {
                    match queue.try_send(SecretsUpdate {
                        router,
                        secrets,
                        sessions,
                    }) {
                        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                        Err(TrySendError::Full(_)) => {
                            log::warn!("router {router}: user store is behind; this secret list update is skipped");
                        }
                    }
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

/// Reads the router list from wherever the registry lives (MySQL, or a fixed list).
pub type RegistryReader = Box<dyn Fn() -> Result<Vec<RouterConfig>, String> + Send + Sync>;
/// Writes one router's secrets to the user store; the number of rows stored.
pub type UserWriter =
    Box<dyn Fn(RouterId, &[Secret], &[ActiveSession]) -> Result<usize, String> + Send + Sync>;

/// What the HTTP layer may ask of the rest of the program: registry reloads, user-store
/// writes, the metrics page. One implementation for `serve`, `demo`, tests and benchmarks.
pub struct EngineServices {
    pub fleet: Arc<Fleet>,
    /// `None`: `/metrics` answers 404.
    pub metrics: Option<Arc<Metrics>>,
    pub webhooks: Option<WebhookSender>,
    pub registry: RegistryReader,
    /// `None`: no user store (`stored: null`).
    pub users: Option<UserWriter>,
}

impl EngineServices {
    /// Services for a fixed router list, without a user store.
    pub fn with_fixed_routers(
        fleet: Arc<Fleet>,
        routers: Vec<RouterConfig>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        EngineServices {
            fleet,
            metrics,
            webhooks: None,
            registry: Box::new(move || Ok(routers.clone())),
            users: None,
        }
    }
}

impl EngineHooks for EngineServices {
    fn reload(&self) -> Result<ReloadReport, String> {
        let routers = (self.registry)()?;
        let report = self.fleet.apply(routers);
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
    ) -> Result<Option<usize>, String> {
        match &self.users {
            Some(write) => write(router, secrets, sessions).map(Some),
            None => Ok(None),
        }
    }

    fn metrics_text(&self) -> Option<String> {
        let metrics = self.metrics.as_ref()?;
        Some(render_metrics(&self.fleet, metrics, self.webhooks.as_ref()))
    }

    fn http_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.http_request(route, status, elapsed.as_secs_f64());
        }
    }
}
