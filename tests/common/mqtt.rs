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
    /// CA certificate of a TLS broker (`start_tls`).
    pub ca: Option<PathBuf>,
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

/// ca.pem/ca.key and server.pem/server.key (IP 127.0.0.1) in `dir`.
pub fn make_certificates(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=footfall test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let ok = Command::new(tool("openssl"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "openssl {args:?} failed");
    }
    // mosquitto started as root reads its files as the `mosquitto` user.
    use std::os::unix::fs::PermissionsExt;
    for f in ["server.key", "server.pem", "ca.pem"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// A mosquitto password file in `dir` for `users` (name, password), readable by the
/// broker (started as root, mosquitto reads its files as the `mosquitto` user).
pub fn password_file(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("passwords");
    for (i, (user, password)) in users.iter().enumerate() {
        let mut cmd = Command::new(tool("mosquitto_passwd"));
        if i == 0 {
            cmd.arg("-c");
        }
        let ok = cmd.arg("-b").arg(&path).args([user, password]).status();
        assert!(ok.is_ok_and(|s| s.success()), "mosquitto_passwd {user}");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
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
        Broker::start_with(name, false, (true, ""))
    }

    /// A broker with `extra` lines in its configuration (a bridge, an ACL file, a password
    /// file); `anonymous`: whether clients may connect without a user name.
    pub fn start_configured(name: &str, anonymous: bool, extra: &str) -> Broker {
        Broker::start_with(name, false, (anonymous, extra))
    }

    /// A broker speaking only TLS (mqtts), with a certificate for 127.0.0.1 signed by a
    /// throw-away CA made here with openssl.
    pub fn start_tls(name: &str) -> Broker {
        Broker::start_with(name, true, (true, ""))
    }

    /// A broker of a whole configuration of our own: `conf(folder, port)` writes it, the
    /// broker's files being in `folder` and its loopback listener on `port`.
    pub fn start_from(name: &str, conf: impl FnOnce(&Path, u16) -> String) -> Broker {
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("footfall-mqtt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = conf(&dir, port);
        std::fs::write(dir.join("mosquitto.conf"), text).unwrap();
        let mut b = Broker {
            port,
            dir,
            child: None,
            ca: None,
        };
        b.restart();
        b
    }

    fn start_with(name: &str, tls: bool, (anonymous, extra): (bool, &str)) -> Broker {
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("footfall-mqtt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence true\n\
             persistence_location {}/\nlog_dest file {}/broker.log\n{extra}\n",
            dir.display(),
            dir.display()
        );
        let ca = tls.then(|| {
            make_certificates(&dir);
            conf.push_str(&format!(
                "cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
                d = dir.display()
            ));
            dir.join("ca.pem")
        });
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut b = Broker {
            port,
            dir,
            child: None,
            ca,
        };
        b.restart();
        b
    }

    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Connection options for mosquitto_sub.
    fn client_args(&self) -> Vec<String> {
        let mut a = vec![
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
        ];
        if let Some(ca) = &self.ca {
            a.extend(["--cafile".into(), ca.display().to_string()]);
        }
        a
    }

    /// Publishes one message (QoS 1) with mosquitto_pub, as any other client would.
    pub fn publish(&self, topic: &str, payload: &str) {
        let ok = Command::new(tool("mosquitto_pub"))
            .args(self.client_args())
            .args(["-q", "1", "-t", topic, "-m", payload])
            .status()
            .expect("run mosquitto_pub");
        assert!(ok.success(), "mosquitto_pub to {topic}");
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
        cmd.args(self.client_args())
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
            .args(self.client_args())
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
