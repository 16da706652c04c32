//! Optional gallery persistence (`facecounter gallery-file`, off by default): so a restart
//! within the retention window does not count everyone again. Holds embeddings and their
//! expiry only — no ids, times of visits, images or counts.
//!
//! Format (little-endian): magic `FOOTFALLGAL1`, embedding dimension (u32), record count
//! (u32), then per record: expiry (u64, ns since the Unix epoch), view count (u32), the
//! views (f32 × dimension each), and last an FNV-1a 64 checksum of everything before it.
//! Written to a temporary file (mode 0600) in the same folder, synced, then renamed over
//! the old one: a reader, or a process killed at any moment, sees the old file or the new
//! one, never a mix. Expired records are dropped on write and on load.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::embed::embedder::{Embedding, DIM};

const MAGIC: &[u8; 12] = b"FOOTFALLGAL1";

/// One stored identity: when it expires and its views.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub expiry_ns: u64,
    pub views: Vec<Embedding>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes the records not yet expired at `now_ns` atomically; returns how many it wrote.
pub fn save(path: &Path, records: &[Record], now_ns: u64) -> Result<usize, String> {
    let live: Vec<&Record> = records.iter().filter(|r| r.expiry_ns > now_ns).collect();
    let mut bytes = Vec::with_capacity(32 + live.len() * (12 + 3 * DIM * 4));
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(DIM as u32).to_le_bytes());
    bytes.extend_from_slice(&(live.len() as u32).to_le_bytes());
    for r in &live {
        bytes.extend_from_slice(&r.expiry_ns.to_le_bytes());
        bytes.extend_from_slice(&(r.views.len() as u32).to_le_bytes());
        for v in &r.views {
            for x in v {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    let sum = fnv1a(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    write_private_atomically(path, &bytes)?;
    Ok(live.len())
}

/// Writes `bytes` to `path` readable by the owner only (0600), atomically: a temporary
/// file in the same folder, synced, renamed over `path`, then the folder synced.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp_path(path);
    let err = |what: &str, e: std::io::Error| format!("'{}': {what}: {e}", path.display());
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("cannot create", e))?;
        write_slowly_for_tests(&mut f, bytes).map_err(|e| err("cannot write", e))?;
        f.sync_all().map_err(|e| err("cannot sync", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| err("cannot replace", e))?;
    // The rename itself reaches the disk with the folder.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `FOOTFALL_GALLERY_WRITE_DELAY_MS` (tests only): pause between 4 KiB pieces, so a test
/// can kill the process in the middle of a write.
fn write_slowly_for_tests(f: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    let delay = std::env::var("FOOTFALL_GALLERY_WRITE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    match delay {
        None => f.write_all(bytes),
        Some(ms) => {
            for piece in bytes.chunks(4096) {
                f.write_all(piece)?;
                f.flush()?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            Ok(())
        }
    }
}

/// Deletes temporary files a process killed while writing left beside `path` (they hold
/// embeddings too).
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Reads the file; records expired at `now_ns` are dropped. A missing file is an empty
/// gallery; a damaged or foreign one is an error (never half-loaded).
pub fn load(path: &Path, now_ns: u64) -> Result<Vec<Record>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read gallery file {}: {e}", path.display())),
    };
    let bad = |why: &str| format!("gallery file {} is not usable: {why}", path.display());
    if bytes.len() < MAGIC.len() + 16 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a footfall gallery file"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if fnv1a(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(bad("checksum mismatch (damaged)"));
    }
    let mut at = MAGIC.len();
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = body.get(at..at + n).ok_or_else(|| bad("truncated"))?;
        at += n;
        Ok(s)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    let dim = u32_of(take(4)?) as usize;
    if dim != DIM {
        return Err(bad(&format!(
            "embeddings of {dim} values, this embedder makes {DIM}"
        )));
    }
    let count = u32_of(take(4)?);
    let mut records = Vec::new();
    for _ in 0..count {
        let expiry_ns = u64::from_le_bytes(take(8)?.try_into().unwrap());
        let n = u32_of(take(4)?) as usize;
        let mut views = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let raw = take(DIM * 4)?;
            let mut e = [0.0f32; DIM];
            for (x, b) in e.iter_mut().zip(raw.chunks_exact(4)) {
                *x = f32::from_le_bytes(b.try_into().unwrap());
            }
            views.push(e);
        }
        if expiry_ns > now_ns {
            records.push(Record { expiry_ns, views });
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn rec(expiry_ns: u64, seed: f32) -> Record {
        let mut e = [0.0; DIM];
        e.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = seed + i as f32 * 1e-3);
        Record {
            expiry_ns,
            views: vec![e, e],
        }
    }

    fn path(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("footfall-persist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn round_trip_owner_only_and_expired_purged_on_write_and_load() {
        let p = path("rt");
        let records = vec![rec(100, 0.1), rec(300, 0.2), rec(200, 0.3)];
        assert_eq!(
            save(&p, &records, 150).unwrap(),
            2,
            "expired one not written"
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            load(&p, 0).unwrap(),
            vec![records[1].clone(), records[2].clone()]
        );
        assert_eq!(
            load(&p, 250).unwrap(),
            vec![records[1].clone()],
            "expired on load"
        );
        assert!(!tmp_path(&p).exists());
        assert_eq!(load(&path("absent"), 0).unwrap(), vec![]);
        let stale = p.with_file_name(format!(
            "{}.tmp-1",
            p.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&stale, b"partial").unwrap();
        remove_stale_temporaries(&p);
        assert!(!stale.exists() && p.exists());
    }

    #[test]
    fn damaged_truncated_or_foreign_files_are_refused() {
        let p = path("bad");
        save(&p, &[rec(500, 0.5)], 0).unwrap();
        let good = std::fs::read(&p).unwrap();
        let mut flipped = good.clone();
        flipped[40] ^= 1;
        std::fs::write(&p, &flipped).unwrap();
        assert!(load(&p, 0).unwrap_err().contains("checksum"));
        std::fs::write(&p, &good[..good.len() / 2]).unwrap();
        assert!(load(&p, 0).is_err());
        std::fs::write(&p, b"{\"staff\": []}").unwrap();
        assert!(load(&p, 0).unwrap_err().contains("not a footfall gallery"));
        // A 512-value gallery from another embedder.
        let mut other = MAGIC.to_vec();
        other.extend_from_slice(&512u32.to_le_bytes());
        other.extend_from_slice(&0u32.to_le_bytes());
        let sum = fnv1a(&other);
        other.extend_from_slice(&sum.to_le_bytes());
        std::fs::write(&p, &other).unwrap();
        assert!(load(&p, 0).unwrap_err().contains("512"));
    }
}
