//! A real `mosquitto` broker on 127.0.0.1 for the MQTT tests (installed by scripts/setup.sh),
//! with persistence so a subscriber's session and queued messages survive a broker
//! restart, and `mosquitto_sub` as an independent subscriber.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn tool(name: &str) -> &str {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is missing: scripts/setup.sh installs mosquitto and mosquitto-clients"
    );
    name
}

fn wait_for_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let open = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if open == up {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "broker port {port} never became {}",
        if up { "open" } else { "closed" }
    );
}

impl Broker {
    /// Starts a broker on a free port, its config and database in a fresh folder.
    pub fn start(name: &str) -> Broker {
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("footfall-mqtt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nlog_dest file {}/broker.log\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let mut b = Broker {
            port,
            dir,
            child: None,
        };
        b.restart();
        b
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops the broker as an administrator would (SIGTERM: it saves sessions and
    /// retained messages first).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc_kill(c.id() as i32, 15) };
            let _ = c.wait();
            wait_for_port(self.port, false);
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(tool("mosquitto"))
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        wait_for_port(self.port, true);
    }

    /// Subscribes `topics` (QoS 1, a persistent session named `id`) until `stop`.
    pub fn subscribe(&self, id: &str, topics: &[&str]) -> Subscriber {
        let out = self.dir.join(format!("{id}.txt"));
        let mut cmd = Command::new(tool("mosquitto_sub"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-i", id, "-c", "-q", "1", "-v"]);
        for t in topics {
            cmd.args(["-t", t]);
        }
        let child = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto_sub");
        // Subscribed once the broker lists the session; a short wait is enough on loopback.
        std::thread::sleep(Duration::from_millis(500));
        Subscriber {
            child: Some(child),
            out,
        }
    }

    /// The retained message on `topic` (what a subscriber arriving now gets first).
    pub fn retained(&self, topic: &str) -> Option<String> {
        let o = Command::new(tool("mosquitto_sub"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-t", topic, "-C", "1", "-W", "3", "--retained-only"])
            .output()
            .expect("run mosquitto_sub");
        let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Subscriber {
    child: Option<Child>,
    out: PathBuf,
}

impl Subscriber {
    /// Every message received so far, as (topic, payload).
    pub fn messages(&self) -> Vec<(String, String)> {
        read_messages(&self.out)
    }

    /// Waits until `done` holds for the messages received, at most `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[(String, String)]) -> bool,
    ) -> Vec<(String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if done(&m) || Instant::now() >= deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_messages(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect()
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
