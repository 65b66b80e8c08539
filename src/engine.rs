//! The one place the engine is assembled: metrics, webhooks, the fleet and its warm-up, the
//! HTTP pool and the reload thread — and the order they stop in.
//!
//! `serve`, `demo`, the integration tests and the benchmarks all call [`Engine::start`]; none
//! of them wires the parts by hand. [`Engine::shutdown`] stops them in this order: HTTP (stop
//! accepting, let in-flight requests finish), the reload thread, the fleet (`/quit` to every
//! router) and webhooks (flush what is queued) side by side, both bounded, then the user-sync
//! writer (last attempt).

pub mod services;

pub use services::{render_metrics, EngineObserver, EngineServices};

use crate::config::Config;
use crate::fleet::{Fleet, FleetObserver, FleetSettings, RouterState};
use crate::http::{AppState, EngineHooks, HttpServer};
use crate::metrics::Metrics;
use crate::model::RouterConfig;
use crate::store::{AuditTrail, RouterRegistry, StoreError, SyncWriterHandle};
use crate::webhook::{WebhookConfig, WebhookError, WebhookStats, WebhookWorker};
use crossbeam_channel::{bounded, select, tick, Sender};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the assembled engine behaves: everything `serve` and `demo` read from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub listen: SocketAddr,
    pub http_threads: usize,
    pub app_key: String,
    pub cors_origin: Option<String>,
    pub metrics_public: bool,
    pub warmup_timeout: Duration,
    /// `None`: the registry is re-read only on `POST /api/v1/routers/reload` (and, for a
    /// registry that watches a file, when the file changes).
    pub reload_interval: Option<Duration>,
    pub fleet: FleetSettings,
    /// `None`: webhooks off.
    pub webhook: Option<WebhookConfig>,
    /// Longest `POST /sync` waits for the user store.
    pub sync_timeout: Duration,
    /// The version shown in `/metrics` and `/health`.
    pub version: String,
}

impl EngineSettings {
    /// Settings from the parsed configuration, serving with `app_key` on `listen`.
    pub fn from_config(config: &Config, listen: SocketAddr, app_key: String) -> EngineSettings {
        EngineSettings {
            listen,
            http_threads: config.http_threads,
            app_key,
            cors_origin: config.cors_origin.clone(),
            metrics_public: config.metrics_public,
            warmup_timeout: config.warmup_timeout,
            reload_interval: config.reload_interval,
            fleet: FleetSettings {
                command_timeout: config.command_timeout,
                connect_timeout: config.connect_timeout,
                poll_interval: config.poll_interval,
                traffic_share_window: config.traffic_share_window,
                unreachable_retry: config.unreachable_retry,
                backoff_max: config.login_backoff_max,
                traffic_streams_max: config.traffic_streams_max,
                traffic_stream_idle: config.traffic_stream_idle,
                bulk_in_flight: config.bulk_in_flight,
                late_answer_grace: config.command_timeout,
                ..FleetSettings::default()
            },
            webhook: match (&config.webhook_url, &config.webhook_secret) {
                (Some(url), Some(secret)) => Some(WebhookConfig::new(url.clone(), secret.clone())),
                _ => None,
            },
            sync_timeout: config.command_timeout,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Defaults for a private engine on `127.0.0.1:0` (tests and benchmarks).
    pub fn loopback(app_key: &str, fleet: FleetSettings, http_threads: usize) -> EngineSettings {
        EngineSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_threads,
            app_key: app_key.to_owned(),
            cors_origin: None,
            metrics_public: false,
            warmup_timeout: Duration::from_secs(5),
            reload_interval: None,
            fleet,
            webhook: None,
            sync_timeout: Duration::from_secs(10),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// What [`Engine::start`] assembles.
pub struct EngineParts {
    pub settings: EngineSettings,
    /// Where the router list comes from (MySQL, a CSV file, a fixed list).
    pub registry: Arc<dyn RouterRegistry>,
    /// The first router list, when the caller already read it (serve retries until it can);
    /// `None` reads the registry once.
    pub routers: Option<Vec<RouterConfig>>,
    /// The user store's writer thread, when there is a user store.
    pub users: Option<Arc<SyncWriterHandle>>,
    /// Also told everything the fleet notices (tests record events through it).
    pub extra_observer: Option<Arc<dyn FleetObserver>>,
    /// The audit trail (MySQL or a file behind it); `None`: kept in memory only.
    pub audit: Option<Arc<AuditTrail>>,
}

impl EngineParts {
    /// Parts with no user store and no extra observer.
    pub fn new(settings: EngineSettings, registry: Arc<dyn RouterRegistry>) -> EngineParts {
        EngineParts {
            settings,
            registry,
            routers: None,
            users: None,
            extra_observer: None,
            audit: None,
        }
    }
}

/// Why the engine could not start.
#[derive(Debug)]
pub enum EngineError {
    /// `WEBHOOK_URL` is unusable.
    Webhook(WebhookError),
    /// The registry could not be read for the first router list.
    Registry(StoreError),
    /// The HTTP listener could not be bound, or its threads started.
    Http(std::io::Error),
    /// A thread of the engine's own could not be started.
    Thread(&'static str, std::io::Error),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Webhook(e) => write!(f, "WEBHOOK_URL: {e}"),
            EngineError::Registry(e) => write!(f, "cannot read the router registry: {e}"),
            EngineError::Http(e) => write!(f, "{e}"),
            EngineError::Thread(name, e) => write!(f, "cannot start the {name} thread: {e}"),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Webhook(e) => Some(e),
            EngineError::Registry(e) => Some(e),
            EngineError::Http(e) | EngineError::Thread(_, e) => Some(e),
        }
    }
}

/// How warm-up went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warmup {
    /// True when every router filled its cache or failed once before the limit.
    pub complete: bool,
    pub elapsed: Duration,
    pub online: usize,
    pub routers: usize,
}

/// The reload thread: wakes on a tick, or at once when its stop sender is dropped.
struct ReloadThread {
    stop: Sender<()>,
    join: JoinHandle<()>,
}

/// A running engine. Dropping it shuts it down (as [`Engine::shutdown`] does).
pub struct Engine {
    fleet: Arc<Fleet>,
    services: Arc<EngineServices>,
    server: Option<HttpServer>,
    webhook_worker: Option<WebhookWorker>,
    users: Option<Arc<SyncWriterHandle>>,
    audit: Arc<AuditTrail>,
    reload: Option<ReloadThread>,
    warmup: Warmup,
}

impl Engine {
    /// Starts webhooks, the fleet with the first router list, waits for warm-up (at most
    /// `warmup_timeout`), then the HTTP pool and the reload thread.
    pub fn start(parts: EngineParts) -> Result<Engine, EngineError> {
        let EngineParts {
            settings,
            registry,
            routers,
            users,
            extra_observer,
            audit,
        } = parts;
        let audit = audit.unwrap_or_else(|| Arc::new(AuditTrail::in_memory()));
        let routers = match routers {
            Some(routers) => routers,
            None => registry.load_routers().map_err(EngineError::Registry)?,
        };
        let metrics = Arc::new(Metrics::new(&settings.version));
        let (webhooks, webhook_worker) = match &settings.webhook {
            Some(config) => {
                let (sender, worker) =
                    crate::webhook::start(config.clone()).map_err(EngineError::Webhook)?;
                log::info!("webhooks on: events go to {}", config.url);
                (Some(sender), Some(worker))
            }
            None => (None, None),
        };
        let observer = Arc::new(EngineObserver {
            metrics: Arc::clone(&metrics),
            webhooks: webhooks.clone(),
            users: users.clone(),
            extra: extra_observer,
        });
        let fleet = Arc::new(Fleet::new(
            settings
                .fleet
                .clone()
                .with_http_threads(settings.http_threads),
            observer,
        ));
        let started = Instant::now();
        fleet.apply(routers);
        let complete = fleet.wait_warm(settings.warmup_timeout);
        let warmup = Warmup {
            complete,
            elapsed: started.elapsed(),
            online: fleet
                .snapshots()
                .iter()
                .filter(|s| s.state == RouterState::Online)
                .count(),
            routers: fleet.len(),
        };
        log::info!(
            "warm-up {} in {:.1} s: {} of {} routers online",
            if complete { "complete" } else { "timed out" },
            warmup.elapsed.as_secs_f64(),
            warmup.online,
            warmup.routers
        );
        let services = Arc::new(EngineServices {
            fleet: Arc::clone(&fleet),
            metrics,
            webhooks,
            registry,
            users: users.clone(),
            sync_timeout: settings.sync_timeout,
            audit: Arc::clone(&audit),
        });
        let state = Arc::new(AppState {
            fleet: Arc::clone(&fleet),
            app_key: settings.app_key.clone(),
            hooks: services.clone(),
            started: Instant::now(),
            cors_origin: settings.cors_origin.clone(),
            metrics_public: settings.metrics_public,
            targets: Default::default(),
            audit: Arc::clone(&audit),
        });
        let mut engine = Engine {
            fleet,
            services,
            server: None,
            webhook_worker,
            users,
            audit,
            reload: None,
            warmup,
        };
        // On an error below, dropping `engine` stops what already runs.
        let server = HttpServer::start(settings.listen, settings.http_threads, state)
            .map_err(EngineError::Http)?;
        engine.server = Some(server);
        engine.reload = spawn_reloader(Arc::clone(&engine.services), settings.reload_interval)
            .map_err(|e| EngineError::Thread("reload", e))?;
        Ok(engine)
    }

    /// Where the HTTP pool listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map(HttpServer::local_addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Asks whether the HTTP edge accepts connections (a systemd watchdog pings only while
    /// it does); `None` when there is no HTTP server.
    pub fn edge_probe(&self) -> Option<crate::http::edge::EdgeProbe> {
        self.server.as_ref().map(HttpServer::probe)
    }

    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// The services behind the HTTP hooks (reload, sync, metrics).
    pub fn services(&self) -> &Arc<EngineServices> {
        &self.services
    }

    /// The audit trail and idempotency keys.
    pub fn audit(&self) -> &Arc<AuditTrail> {
        &self.audit
    }

    pub fn warmup(&self) -> Warmup {
        self.warmup
    }

    /// Delivery figures of the webhook thread, `None` when webhooks are off.
    pub fn webhook_stats(&self) -> Option<WebhookStats> {
        self.webhook_worker.as_ref().map(WebhookWorker::stats)
    }

    /// Stops everything in the documented order; returns when all of it has stopped or its
    /// bound has passed.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // HTTP first: stop accepting, let in-flight requests finish (it also releases callers
        // still waiting on a router), answer the rest 503.
        if let Some(server) = self.server.take() {
            server.shutdown(Duration::from_millis(1500));
        }
        if let Some(reload) = self.reload.take() {
            drop(reload.stop);
            if reload.join.join().is_err() {
                log::error!("the reload thread panicked");
            }
        }
        // Routers and webhooks stop side by side, so a hung router and a slow receiver do not
        // add up: the whole stop stays within about 3 s.
        let webhooks = self.webhook_worker.take().map(|worker| {
            std::thread::Builder::new()
                .name("webhook-stop".into())
                .spawn(move || {
                    worker.shutdown(Duration::from_secs(1));
                })
        });
        self.fleet.shutdown(Duration::from_secs(1));
        match webhooks.map(|spawned| spawned.map(JoinHandle::join)) {
            Some(Ok(Err(_))) => log::error!("the webhook thread panicked while stopping"),
            Some(Err(e)) => {
                log::warn!("cannot stop webhooks in parallel ({e}); queued events are dropped")
            }
            Some(Ok(Ok(()))) | None => {}
        }
        if let Some(users) = self.users.take() {
            users.shutdown();
        }
        // Last: what the writes of the requests above recorded (late answers included).
        self.audit.shutdown();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the reload thread when there is anything for it to do: a reload interval, or a
/// registry that watches a file (checked every second).
fn spawn_reloader(
    services: Arc<EngineServices>,
    every: Option<Duration>,
) -> std::io::Result<Option<ReloadThread>> {
    let watches = services.registry.fingerprint().is_some();
    if every.is_none() && !watches {
        return Ok(None);
    }
    let period = match every {
        Some(every) if !watches => every,
        Some(every) => every.min(Duration::from_secs(1)),
        None => Duration::from_secs(1),
    };
    let (stop, stopped) = bounded::<()>(0);
    let join = std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let ticks = tick(period);
            let mut last_fingerprint = services.registry.fingerprint();
            let mut next_timed = every.map(|every| Instant::now() + every);
            loop {
                select! {
                    recv(stopped) -> _ => return,
                    recv(ticks) -> _ => {}
                }
                let fingerprint = services.registry.fingerprint();
                let changed = fingerprint != last_fingerprint;
                let timed = next_timed.is_some_and(|at| Instant::now() >= at);
                if changed || timed {
                    if changed {
                        log::info!("the router registry changed: reloading it");
                    }
                    last_fingerprint = fingerprint;
                    if let Err(e) = services.reload() {
                        log::warn!("registry reload failed (keeping the routers we have): {e}");
                    }
                    next_timed = every.map(|every| Instant::now() + every);
                }
            }
        })?;
    Ok(Some(ReloadThread { stop, join }))
}
