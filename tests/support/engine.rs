//! Starting the simulator and the engine on loopback, an HTTP client, and a watchdog.

use net_engine::engine::{Engine, EngineParts, EngineServices, EngineSettings};
use net_engine::fleet::{Fleet, FleetObserver, FleetSettings};
use net_engine::model::{RouterConfig, RouterId};
use net_engine::sim::{Fault, SimConfig, Simulator};
use net_engine::store::{AuditTrail, MemoryRegistry};
use net_engine::webhook::{WebhookConfig, WebhookStats};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The key every test engine uses.
pub const KEY: &str = "test-key-0123456789abcdef";

/// A simulator with `routers` routers of `users` users, no churn, fixed seed.
pub fn simulator(routers: usize, users: usize) -> Simulator {
    simulator_with(SimConfig {
        routers,
        users,
        churn: false,
        seed: 7,
        ..SimConfig::default()
    })
}

pub fn simulator_with(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("simulator starts on loopback")
}

/// A simulator whose router `index` shows `fault` from the start.
pub fn simulator_with_fault(routers: usize, users: usize, index: usize, fault: Fault) -> Simulator {
    simulator_with(SimConfig {
        routers,
        users,
        churn: false,
        seed: 7,
        faults: vec![(Some(index), fault)],
        ..SimConfig::default()
    })
}

/// Router configs (ids 1..) pointing at the simulator's routers.
pub fn router_configs(sim: &Simulator) -> Vec<RouterConfig> {
    sim.routers()
        .iter()
        .enumerate()
        .map(|(k, r)| router_config(k as u64 + 1, r.addr()))
        .collect()
}

pub fn router_config(id: u64, addr: SocketAddr) -> RouterConfig {
    RouterConfig {
        id: RouterId(id),
        name: format!("sim-{id}"),
        host: addr.ip().to_string(),
        port: addr.port(),
        username: "admin".into(),
        password: String::new(),
        use_tls: false,
    }
}

/// Short timeouts so fault tests finish quickly.
pub fn fast_settings() -> FleetSettings {
    FleetSettings {
        command_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        poll_interval: Duration::from_secs(1),
        queue_capacity: 64,
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ..FleetSettings::default()
    }
}

/// The engine (the library's `Engine`, as `serve` and `demo` assemble it) on 127.0.0.1:0.
pub struct TestEngine {
    pub fleet: Arc<Fleet>,
    pub hooks: Arc<EngineServices>,
    /// The registry behind `POST /routers/reload`: tests change it to add or remove routers.
    pub registry: Arc<MemoryRegistry>,
    pub base: String,
    engine: Option<Engine>,
    agent: ureq::Agent,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub retry_after: Option<String>,
    pub allow: Option<String>,
    pub content_type: Option<String>,
    /// `X-Total-Count` and `Link` (paged user lists).
    pub total_count: Option<String>,
    pub link: Option<String>,
    /// `Idempotent-Replayed` and `X-Request-Id`.
    pub replayed: Option<String>,
    pub request_id: Option<String>,
}

impl TestEngine {
    pub fn start(routers: Vec<RouterConfig>, settings: FleetSettings) -> TestEngine {
        TestEngine::build(routers, settings, None, 4, Duration::from_secs(5), None)
    }

    /// With webhooks to `webhooks` when given.
    pub fn start_observed(
        routers: Vec<RouterConfig>,
        settings: FleetSettings,
        webhooks: Option<WebhookConfig>,
    ) -> TestEngine {
        TestEngine::build(routers, settings, None, 4, Duration::from_secs(5), webhooks)
    }

    /// With an observer that is told every fleet event too, a pool of `http_threads`, and a
    /// warm-up limit.
    pub fn start_with(
        routers: Vec<RouterConfig>,
        settings: FleetSettings,
        observer: Arc<dyn FleetObserver>,
        http_threads: usize,
        warmup: Duration,
    ) -> TestEngine {
        TestEngine::build(
            routers,
            settings,
            Some(observer),
            http_threads,
            warmup,
            None,
        )
    }

    /// With this audit trail (a file or MySQL behind it).
    pub fn start_audited(
        routers: Vec<RouterConfig>,
        settings: FleetSettings,
        audit: Arc<AuditTrail>,
    ) -> TestEngine {
        TestEngine::build_with(
            routers,
            settings,
            None,
            4,
            Duration::from_secs(5),
            None,
            Some(audit),
        )
    }

    fn build(
        routers: Vec<RouterConfig>,
        settings: FleetSettings,
        observer: Option<Arc<dyn FleetObserver>>,
        http_threads: usize,
        warmup: Duration,
        webhooks: Option<WebhookConfig>,
    ) -> TestEngine {
        TestEngine::build_with(
            routers,
            settings,
            observer,
            http_threads,
            warmup,
            webhooks,
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build_with(
        routers: Vec<RouterConfig>,
        settings: FleetSettings,
        observer: Option<Arc<dyn FleetObserver>>,
        http_threads: usize,
        warmup: Duration,
        webhooks: Option<WebhookConfig>,
        audit: Option<Arc<AuditTrail>>,
    ) -> TestEngine {
        let registry = Arc::new(MemoryRegistry::new(routers));
        let mut engine_settings = EngineSettings::loopback(KEY, settings, http_threads);
        engine_settings.warmup_timeout = warmup;
        engine_settings.webhook = webhooks;
        let parts = EngineParts {
            extra_observer: observer,
            audit,
            ..EngineParts::new(engine_settings, registry.clone())
        };
        let engine = Engine::start(parts).expect("engine starts on loopback");
        let base = format!("http://{}", engine.local_addr());
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        TestEngine {
            fleet: Arc::clone(engine.fleet()),
            hooks: Arc::clone(engine.services()),
            registry,
            base,
            engine: Some(engine),
            agent,
        }
    }

    /// Delivery figures of the engine's webhook thread (`None` without webhooks).
    pub fn webhook_stats(&self) -> Option<WebhookStats> {
        self.engine.as_ref().and_then(Engine::webhook_stats)
    }

    /// Shuts the engine down now, in its documented order.
    pub fn shutdown(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }

    /// Sends a request; `key` None sends no X-App-Key header.
    pub fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Answer {
        self.call_with(method, path, key, body, &[])
    }

    /// [`TestEngine::call`] with more request headers.
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .agent
            .request(method, &format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        if let Some(key) = key {
            request = request.set("X-App-Key", key);
        }
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: transport error {e}"),
        };
        let status = response.status();
        let retry_after = response.header("Retry-After").map(str::to_owned);
        let allow = response.header("Allow").map(str::to_owned);
        let content_type = response.header("Content-Type").map(str::to_owned);
        let total_count = response.header("X-Total-Count").map(str::to_owned);
        let link = response.header("Link").map(str::to_owned);
        let replayed = response.header("Idempotent-Replayed").map(str::to_owned);
        let request_id = response.header("X-Request-Id").map(str::to_owned);
        let text = response.into_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            text,
            retry_after,
            allow,
            content_type,
            total_count,
            link,
            replayed,
            request_id,
        }
    }

    /// How many times the HTTP edge rebuilt its server after the accept loop died.
    pub fn edge_heals(&self) -> u64 {
        self.engine
            .as_ref()
            .and_then(Engine::edge_probe)
            .map_or(0, |probe| probe.heals())
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, Some(KEY), None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(KEY), Some(&body.to_string()))
    }

    pub fn put(&self, path: &str, body: &Value) -> Answer {
        self.call("PUT", path, Some(KEY), Some(&body.to_string()))
    }

    pub fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, Some(KEY), None)
    }

    /// Waits until router `id` is online (panics after `limit`).
    pub fn wait_online(&self, id: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let snapshot = self
                .fleet
                .get(RouterId(id))
                .expect("router exists")
                .snapshot();
            if snapshot.state == net_engine::fleet::RouterState::Online {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "router {id} not online within {limit:?}: {:?}",
                snapshot.last_error
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub use super::wait::{eventually, Watchdog};
