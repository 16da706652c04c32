//! `footfall hub --http ADDR`: the chain's API and dashboards, read from the hub's
//! PostgreSQL. The same API as a site's (`/api/counts`, `/api/today`, with `site=` to pick
//! a shop) plus the chain's (`/api/chain`: every shop per day, `/api/sites`: every camera's
//! state), the site dashboard for one shop at `/site?site=…` and the chain's at `/`.
//!
//! Access: every request but the probes needs the token (`Authorization: Bearer TOKEN`,
//! or `?token=TOKEN` for a browser), on any address: the hub holds every shop's counts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use postgres::Client;

use super::db::{connect, redacted};
use super::http_api;
use crate::http::api::Failure;
use crate::http::{self as site_http, HttpServer};

const CHAIN_DASHBOARD: &str = include_str!("chain.html");

#[derive(Debug, Clone)]
pub struct HubHttpOptions {
    /// `HOST:PORT` to listen on; port 0 picks a free one.
    pub addr: String,
    /// Required of every request but `/livez` and `/readyz`.
    pub token: String,
    /// The hub's database (postgres://…).
    pub db: String,
}

/// What the handlers share: one connection of their own (the writer keeps its own), made
/// again when the database restarted.
pub(super) struct Served {
    options: HubHttpOptions,
    db: Mutex<Option<Client>>,
}

impl Served {
    /// Runs `read` on the database off the runtime's thread; 503 while it is unreachable.
    pub(super) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, Failure> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || s.read_now(read))
            .await
            .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    }

    fn read_now<T>(
        &self,
        read: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, Failure> {
        let unavailable = |e: String| Failure(StatusCode::SERVICE_UNAVAILABLE, e);
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if db.as_ref().is_none_or(Client::is_closed) {
            *db = Some(connect(&self.options.db).map_err(unavailable)?);
        }
        let client = db.as_mut().expect("connected above");
        let answer = read(client);
        if client.is_closed() {
            *db = None; // the next request connects again
        }
        answer.map_err(|e| unavailable(format!("database {}: {e}", redacted(&self.options.db))))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The synchronous client blocks on a runtime of its own when it closes, which it
        // may not do on the server's runtime thread, where the router (and so this) ends.
        let db = self.db.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(client) = db {
            let _ = std::thread::spawn(move || drop(client)).join();
        }
    }
}

/// The running server; dropping it stops it.
pub struct HubHttp {
    pub local_addr: SocketAddr,
    _server: HttpServer,
}

impl HubHttp {
    /// Binds `o.addr` now and serves the chain from `o.db`.
    pub fn start(o: &HubHttpOptions) -> Result<HubHttp, String> {
        if o.token.is_empty() {
            return Err("--http: the hub's API needs a token".into());
        }
        let listener = site_http::bind(site_http::resolve(&o.addr)?, "--http")?;
        let served = Arc::new(Served {
            options: o.clone(),
            db: Mutex::new(None),
        });
        let server = HttpServer::spawn(listener, router(served))?;
        Ok(HubHttp {
            local_addr: server.local_addr,
            _server: server,
        })
    }
}

fn router(served: Arc<Served>) -> Router {
    let guarded = Router::new()
        .route("/", get(|| async { site_http::html(CHAIN_DASHBOARD) }))
        .route(
            "/site",
            get(|| async { site_http::html(site_http::DASHBOARD) }),
        )
        .route("/api/counts", get(http_api::counts))
        .route("/api/today", get(http_api::today))
        .route("/api/chain", get(http_api::chain))
        .route("/api/sites", get(http_api::sites))
        .route_layer(middleware::from_fn_with_state(served.clone(), authorise));
    site_http::with_open_routes(guarded, get(readyz)).with_state(served)
}

async fn authorise(State(s): State<Arc<Served>>, req: Request, next: Next) -> Response {
    if site_http::carries(&req, &s.options.token) {
        next.run(req).await
    } else {
        site_http::unauthorised()
    }
}

/// Ready while the database answers.
async fn readyz(State(s): State<Arc<Served>>) -> Response {
    match s.read(|db| db.query_one("SELECT 1", &[]).map(|_| ())).await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(Failure(_, why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}
