//! Just enough of the W3C WebDriver protocol to drive Debian's headless chromium through
//! chromedriver: open a page, read elements' text and attributes, take a screenshot.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session.
    pub fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver, installed by scripts/setup.sh)");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        }}});
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = b.try_post("/session", &caps) {
                let id = v["sessionId"].as_str().expect("a session id").to_string();
                b.base = format!("{}/session/{id}", b.base);
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start a session"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn try_post(&self, path: &str, body: &Value) -> Option<Value> {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .send_json(body)
            .ok()?;
        let ok = r.status().is_success();
        let v: Value = r.body_mut().read_json().ok()?;
        ok.then(|| v["value"].clone())
    }

    fn get(&self, path: &str) -> Value {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        assert!(r.status().is_success(), "WebDriver GET {path}: {v}");
        v["value"].clone()
    }

    pub fn open(&self, url: &str) {
        self.try_post("/url", &json!({ "url": url }))
            .expect("the page opens");
    }

    /// Ids of the elements matching a CSS selector.
    fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .try_post("/elements", &json!({"using": "css selector", "value": css}))
            .unwrap_or(Value::Null);
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The text of the first element matching `css` ("" if none).
    pub fn text(&self, css: &str) -> String {
        match self.find_all(css).first() {
            Some(id) => self
                .get(&format!("/element/{id}/text"))
                .as_str()
                .unwrap_or("")
                .into(),
            None => String::new(),
        }
    }

    /// `attribute` of every element matching `css`.
    pub fn attributes(&self, css: &str, attribute: &str) -> Vec<String> {
        self.find_all(css)
            .iter()
            .map(|id| {
                let v = self.get(&format!("/element/{id}/attribute/{attribute}"));
                v.as_str().unwrap_or("").to_string()
            })
            .collect()
    }

    /// Waits until `css`'s text satisfies `ok`; returns it.
    pub fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let t = self.text(css);
            if ok(&t) || Instant::now() > deadline {
                return t;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let b64 = self.get("/screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
