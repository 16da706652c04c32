//! What the tests of `footfall … --http` share: a scratch folder, running the binary and
//! reading its output lines, and HTTP GETs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::common::shared;

/// An empty folder of its own for `test`'s `name`.
pub fn scratch(test: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("footfall-{test}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The lines of a child's output, as they come.
pub fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    rx
}

/// Waits for a line holding `what`; panics with what was said instead.
pub fn wait_for(rx: &mpsc::Receiver<String>, what: &str, within: Duration) -> String {
    let mut said = Vec::new();
    while let Ok(l) = rx.recv_timeout(within) {
        if l.contains(what) {
            return l;
        }
        said.push(l);
    }
    panic!("no '{what}' in the output; it said:\n{}", said.join("\n"));
}

/// A running `footfall …` with an HTTP server: its address, and its stdout and stderr lines.
pub struct Serving {
    pub child: Child,
    pub addr: String,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
}

/// Starts `footfall ARGS` and waits until it says where its dashboard is.
pub fn start_serving(args: &[&str]) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(args)
        .env("FOOTFALL_MODELS_DIR", shared("models"))
        .env_remove("FOOTFALL_HTTP_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let line = wait_for(
        &stderr,
        "http: dashboard at http://",
        Duration::from_secs(60),
    );
    let addr = line
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    Serving {
        child,
        addr,
        stdout,
        stderr,
    }
}

impl Serving {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return; // ended, and waited for, already
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status and body of a GET with optional headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

pub fn json(url: &str) -> Value {
    let (status, body) = get(url, &[]);
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Runs `footfall ARGS` to its end and asserts it succeeded.
pub fn footfall_ok(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .args(args)
        .env("FOOTFALL_MODELS_DIR", shared("models"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
