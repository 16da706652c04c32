//! `footfall run SITE.toml`: a whole site in one process. Every camera of the file counts
//! in a pipeline of its own (a thread each), all into the site's gallery, so a person who
//! walks from one door to the next is one visitor; they share the count store, the MQTT
//! broker (a topic per camera) and one HTTP server whose API, metrics and dashboard show
//! every camera and the site total. A camera that fails fails alone: the others go on.
//! At the end one JSON line on stdout sums up what the run counted.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use footfall_app::http::{HttpOptions, HttpServer};
use footfall_app::site_file::{CameraSection, Properties, SiteFile, StoreChoice};
use footfall_app::telemetry::{Camera, Site, COUNTING};
use gst::prelude::*;
use gstfootfall::count::store::query::{self, Resolution};
use gstfootfall::count::store::CountStore;
use serde_json::{json, Value};

use super::input::{self, SourceArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The site file (TOML): see examples/site.toml
    site: PathBuf,
    /// Check the file (keys, values, every camera's options) and exit without counting
    #[arg(long)]
    check: bool,
    /// With [http]: keep serving after every camera's stream ended, until Ctrl-C
    #[arg(long)]
    keep_serving: bool,
}

/// The site file read and checked, with what the run derives from it.
struct Plan {
    file: SiteFile,
    properties: Vec<Properties>,
    store: Option<PathBuf>,
    retention_days: u32,
}

pub fn run(a: Args) -> Result<(), String> {
    let plan = plan(&a)?;
    if a.check {
        eprintln!(
            "site '{}': {} cameras, options checked",
            plan.file.site.name,
            plan.file.cameras.len()
        );
        return Ok(());
    }
    let stop = input::ctrl_c_stop()?;
    let store = open_store(&plan);
    let names: Vec<String> = plan.file.cameras.iter().map(|c| c.name.clone()).collect();
    let site = Site::new(&plan.file.site.name, store.clone(), &names);
    let server = start_http(&plan, &site)?;
    let started_s = unix_now();
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..names.len())
            .map(|i| {
                let (plan, site, stop) = (&plan, &site, &stop);
                scope.spawn(move || count_camera(plan, i, (site, &site.cameras[i]), stop))
            })
            .collect();
        runs.into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err("its thread panicked".into()))
            })
            .collect()
    });
    println!("{}", summary(&site, started_s, &results));
    input::keep_serving(server, a.keep_serving, &stop);
    let failed: Vec<String> = names
        .iter()
        .zip(&results)
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n} ({e})")))
        .collect();
    match failed.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} of {} cameras failed: {}",
            names.len(),
            failed.join("; ")
        )),
    }
}

fn plan(a: &Args) -> Result<Plan, String> {
    let file = SiteFile::load(&a.site)?;
    let probe = gst::ElementFactory::make("footfallbin")
        .build()
        .map_err(|e| format!("cannot make a footfallbin: {e}"))?;
    let properties = file
        .camera_properties(&probe)
        .map_err(|e| format!("site file '{}': {e}", a.site.display()))?;
    let default_retention = probe
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("counter"))
        .map_or(400, |c| c.property::<u32>("store-retention"));
    let store = match file.store() {
        StoreChoice::Default => super::input::default_store(),
        StoreChoice::None => None,
        StoreChoice::At(p) => Some(p),
    };
    if file.http.is_some() && store.is_none() {
        return Err("[http] serves the counts from the count store: set [site] store".into());
    }
    for c in &file.cameras {
        let is_path = !c.source.contains("://");
        if is_path && !std::path::Path::new(&c.source).is_file() {
            return Err(format!(
                "camera '{}': source '{}' is not a file",
                c.name, c.source
            ));
        }
    }
    let retention_days = file.site.store_retention_days.unwrap_or(default_retention);
    Ok(Plan {
        file,
        properties,
        store,
        retention_days,
    })
}

/// Opens the store once before the cameras do, so a damaged file is set aside (and the
/// schema made) once, not raced by every camera's counter. Counting goes on without a
/// store when the file cannot be written.
fn open_store(plan: &Plan) -> Option<PathBuf> {
    let path = plan.store.clone()?;
    match CountStore::open(&path, plan.retention_days) {
        Ok(opened) => {
            if let Some(text) = opened.set_aside {
                eprintln!("warning: {text}");
            }
            opened.store.finish();
            Some(path)
        }
        Err(e) => {
            eprintln!("warning: {e}; counting without a store");
            None
        }
    }
}

fn start_http(plan: &Plan, site: &Arc<Site>) -> Result<Option<HttpServer>, String> {
    let Some(http) = &plan.file.http else {
        return Ok(None);
    };
    let stall = plan.file.cameras.iter().map(|c| c.stall_timeout_s).max();
    let o = HttpOptions {
        addr: http.listen.clone(),
        token: http
            .token
            .clone()
            .or_else(|| std::env::var("FOOTFALL_HTTP_TOKEN").ok()),
        stall: Duration::from_secs(stall.unwrap_or(10).max(1)),
    };
    let server = HttpServer::start(&o, site.clone())?;
    eprintln!("http: dashboard at http://{}/", server.local_addr);
    Ok(Some(server))
}

/// Counts camera `i` of the plan until its stream ends or `stop` is set.
fn count_camera(
    plan: &Plan,
    i: usize,
    (site, camera): (&Arc<Site>, &Arc<Camera>),
    stop: &AtomicBool,
) -> Result<(), String> {
    let c = &plan.file.cameras[i];
    let src = source_args(c);
    // Names and paths are set as properties, not written into the launch line: no quoting.
    let chain = format!("footfallbin name={COUNTING} ! fakesink sync=false");
    let lag = input::lag_queue(c.max_lag_s);
    input::run(&src, (&chain, &lag), (site, camera), stop, |pipeline| {
        let bin = pipeline
            .by_name(COUNTING)
            .ok_or("the pipeline has no counting bin")?;
        site_properties(plan, c, site)?.apply(&bin)?;
        plan.properties[i].apply(&bin)
    })
}

fn source_args(c: &CameraSection) -> SourceArgs {
    SourceArgs {
        source: c.source.clone(),
        transport: c.transport.clone(),
        connect_timeout: c.connect_timeout_s,
        stall_timeout: c.stall_timeout_s,
        end_with_stream: c.end_with_stream,
    }
}

/// The properties the site file's own keys set on camera `c`'s counting bin.
fn site_properties(plan: &Plan, c: &CameraSection, site: &Site) -> Result<Properties, String> {
    let f = &plan.file;
    let mut p = vec![
        ("gallery", f.site.name.clone()),
        ("camera", c.name.clone()),
        ("counter::store-retention", plan.retention_days.to_string()),
    ];
    if let Some(store) = &site.store {
        p.push(("store", store.display().to_string()));
    }
    if let Some(events) = &c.events {
        p.push(("location", events.clone()));
    }
    if let Some(staff) = &f.site.staff_gallery {
        p.push(("staff-gallery", staff.clone()));
    }
    if let (Some(m), Some(topic)) = (&f.mqtt, f.mqtt_topic(&c.name)) {
        p.push(("counter::mqtt-url", m.url.clone()));
        p.push(("counter::mqtt-topic", topic));
    }
    Ok(Properties(
        p.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One JSON line: per camera and for the site, the unique visitors and visits counted since
/// the run started, read back from the store by minute, and each camera's error, if it
/// failed. Without a store only the site's totals are known: the counters of one site
/// share its counts, so the largest a camera's counter reported last is the site's.
fn summary(site: &Site, started_s: i64, results: &[Result<(), String>]) -> Value {
    let stored = site.store.as_ref().and_then(|path| {
        let q = query::Query {
            from_s: started_s - started_s % 60,
            to_s: unix_now() + 1,
            site: Some(site.name.clone()),
            camera: None,
        };
        query::periods(path, &q, Resolution::Day)
            .map_err(|e| eprintln!("warning: the run's counts could not be read back: {e}"))
            .ok()
    });
    let mut cameras = Vec::new();
    for (cam, r) in site.cameras.iter().zip(results) {
        let mut row = json!({ "camera": cam.name });
        if let Some(rows) = &stored {
            let mine = rows.iter().filter(|p| p.camera == cam.name);
            let (u, v) = mine.fold((0, 0), |(u, v), p| {
                (u + p.counts.unique_visitors, v + p.counts.visits)
            });
            row["unique_visitors"] = json!(u);
            row["visits"] = json!(v);
        }
        if let Err(e) = r {
            row["error"] = json!(e);
        }
        cameras.push(row);
    }
    let (unique, visits) = match &stored {
        Some(rows) => rows.iter().fold((0, 0), |(u, v), p| {
            (u + p.counts.unique_visitors, v + p.counts.visits)
        }),
        None => site
            .cameras
            .iter()
            .map(|c| site_counts(c))
            .fold((0, 0), |(u, v), (cu, cv)| (u.max(cu), v.max(cv))),
    };
    json!({
        "site": site.name,
        "unique_visitors": unique,
        "visits": visits,
        "cameras": cameras,
    })
}

/// The site's (unique visitors, visits) as `cam`'s counter reported them last.
fn site_counts(cam: &Camera) -> (u64, u64) {
    let get = |f: &str| {
        cam.final_stats()
            .and_then(|s| s.get::<u32>(f).ok())
            .unwrap_or(0) as u64
    };
    (get("unique-visitors"), get("visits"))
}
