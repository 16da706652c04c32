//! A real PostgreSQL on 127.0.0.1 for the hub tests (the `postgresql` package, installed
//! by scripts/setup.sh): a throw-away cluster made with `initdb` in a temp folder, on a
//! free port, trust authentication for the user `footfall`. As root the server runs as
//! the `postgres` user (it refuses to run as root).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// The newest installed server's bin folder.
fn server_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/setup.sh")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("no initdb under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Postgres {
    pub fn start(name: &str) -> Postgres {
        let dir = std::env::temp_dir().join(format!("footfall-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pg = Postgres {
            port: super::free_port(),
            dir,
            bin: server_bin(),
        };
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.dir)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = pg.data();
        let init = [
            "-D",
            data.to_str().unwrap(),
            "-U",
            "footfall",
            "-A",
            "trust",
            "-E",
            "UTF8",
        ];
        pg.tool("initdb", &init).unwrap();
        pg.ctl("start").unwrap();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs a server tool, as `postgres` when root; what it said if it failed.
    fn tool(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(name);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).current_dir(&self.dir).output().unwrap();
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{name} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn ctl(&self, what: &str) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let data = self.data();
        let mut args = vec![what, "-D", data.to_str().unwrap(), "-w", "-t", "60"];
        if what != "stop" {
            args.extend(["-o", &opts, "-l", log.to_str().unwrap()]);
        } else {
            args.extend(["-m", "fast"]);
        }
        self.tool("pg_ctl", &args)
    }

    /// Stops and starts the server (every client connection is dropped).
    pub fn restart(&self) {
        self.ctl("restart").unwrap();
    }

    pub fn url(&self) -> String {
        format!("postgres://footfall@127.0.0.1:{}/postgres", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.ctl("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
