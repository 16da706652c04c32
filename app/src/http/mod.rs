//! The HTTP side of `footfall count/serve/run --http ADDR`: the counts API (from the count
//! store), `/metrics` for Prometheus, the `/livez` and `/readyz` probes and the dashboard
//! at `/`. axum on a single-threaded tokio runtime in a thread of its own: the counting
//! pipeline never waits for a client.
//!
//! Access: on a loopback address anyone on the machine may read; on any other address a
//! token is required (`Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser),
//! except for the probes, which say nothing about the counts.

pub(crate) mod api;
mod metrics;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::telemetry::{Health, Site};

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `HOST:PORT` to listen on; port 0 picks a free one.
    pub addr: String,
    /// Required of every API, metrics and dashboard request when set.
    pub token: Option<String>,
    /// A camera without a frame for this long is not ready.
    pub stall: Duration,
}

/// What the handlers share.
struct Served {
    site: Arc<Site>,
    options: HttpOptions,
}

/// The running server; dropping it stops it.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `o.addr` now (an address in use is an error here, not later) and serves `site`.
    pub fn start(o: &HttpOptions, site: Arc<Site>) -> Result<HttpServer, String> {
        let addr = resolve(&o.addr)?;
        if !addr.ip().is_loopback() && o.token.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "--http {addr} is reachable from other machines: give a token (--http-token \
                 or FOOTFALL_HTTP_TOKEN), or listen on 127.0.0.1"
            ));
        }
        if site.store.is_none() {
            return Err("--http serves the counts from the count store: drop --no-store".into());
        }
        let listener = bind(addr, "--http")?;
        let router = router(Arc::new(Served {
            site,
            options: o.clone(),
        }));
        HttpServer::spawn(listener, router)
    }

    /// Serves `router` on `listener` from a thread of its own.
    pub(crate) fn spawn(listener: TcpListener, router: Router) -> Result<HttpServer, String> {
        let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("footfall-http".into())
            .spawn(move || serve(listener, router, rx))
            .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
        Ok(HttpServer {
            local_addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

/// Listens on `addr` now: an address in use is an error here, not later. `flag`: the
/// option that named it, for the message.
pub(crate) fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("{flag} {addr}: the address is in use (another server listens there)")
        }
        _ => format!("{flag} {addr}: cannot listen: {e}"),
    })
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("--http {addr}: expected HOST:PORT ({e})"))?
        .next()
        .ok_or_else(|| format!("--http {addr}: no such address"))
}

fn serve(listener: TcpListener, router: Router, stop: tokio::sync::oneshot::Receiver<()>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return eprintln!("error: HTTP server: {e}"),
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => return eprintln!("error: HTTP server: {e}"),
        };
        let shutdown = async move {
            let _ = stop.await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("error: HTTP server: {e}");
        }
    });
}

fn router(served: Arc<Served>) -> Router {
    let guarded = Router::new()
        .route("/", get(dashboard))
        .route("/api/counts", get(api::counts))
        .route("/api/today", get(api::today))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(served.clone(), authorise));
    with_open_routes(guarded, get(readyz)).with_state(served)
}

/// `guarded` and what anyone may read: the probes (which say nothing about the counts)
/// and the dashboards' stylesheet.
pub(crate) fn with_open_routes<S: Clone + Send + Sync + 'static>(
    guarded: Router<S>,
    readyz: MethodRouter<S>,
) -> Router<S> {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", readyz)
        .route("/style.css", get(style))
        .merge(guarded)
}

async fn style() -> impl IntoResponse {
    let css = include_str!("style.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css)
}

/// Lets a request through when no token is set or it carries the token.
async fn authorise(State(s): State<Arc<Served>>, req: Request, next: Next) -> Response {
    match s.options.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) if !carries(&req, token) => unauthorised(),
        _ => next.run(req).await,
    }
}

/// Whether `req` carries `token`: `Authorization: Bearer TOKEN` or `?token=TOKEN`.
pub(crate) fn carries(req: &Request, token: &str) -> bool {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let in_query = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("token="))
        .next();
    bearer == Some(token) || in_query == Some(token)
}

pub(crate) fn unauthorised() -> Response {
    let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
    (StatusCode::UNAUTHORIZED, challenge, "a token is required\n").into_response()
}

async fn dashboard() -> impl IntoResponse {
    html(DASHBOARD)
}

/// The site's dashboard; the hub serves it too, for one shop (`?site=`).
pub(crate) const DASHBOARD: &str = include_str!("dashboard.html");

pub(crate) fn html(page: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
}

/// Ready once every camera delivers frames: 200, else 503 naming those that do not.
async fn readyz(State(s): State<Arc<Served>>) -> Response {
    let waiting: Vec<String> = s
        .site
        .cameras
        .iter()
        .filter_map(|c| match s.site.health(c, s.options.stall) {
            Health::Delivering => None,
            Health::Waiting => Some(format!("camera {}: no frame yet", c.name)),
            Health::Silent(d) => Some(format!(
                "camera {}: no frame for {:.0} s",
                c.name,
                d.as_secs_f64()
            )),
            Health::Ended => Some(format!("camera {}: its stream ended", c.name)),
        })
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!("not ready: {}\n", waiting.join("; "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}
