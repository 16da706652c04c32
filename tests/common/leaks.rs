//! Searches an output (a file's bytes) for what must never leave the device: a run of ≥ 16
//! numbers matching 16 consecutive components of an embedding the run produced (as text,
//! at whatever precision it was printed, or as raw little-endian f32), a 16-pixel piece of
//! a detected face's pixel rows (raw bytes), or a long base64/hex blob (an encoded image).

#![allow(dead_code)]

use std::collections::HashMap;

/// Consecutive values that make a leak.
pub const RUN: usize = 16;
/// Bytes of face pixels that make a leak (16 RGB pixels).
pub const PIXELS: usize = 48;
/// Characters of base64 or hex that make a suspicious blob.
pub const BLOB: usize = 512;

#[derive(Debug, Default)]
pub struct Findings {
    pub text_embedding_runs: usize,
    pub binary_embedding_runs: usize,
    pub face_pixel_runs: usize,
    pub blobs: usize,
    /// Where the first finding is, for the failure message.
    pub first: Option<String>,
}

impl Findings {
    pub fn total(&self) -> usize {
        self.text_embedding_runs + self.binary_embedding_runs + self.face_pixel_runs + self.blobs
    }

    fn note(&mut self, bytes: &[u8], at: usize, what: &str) {
        if self.first.is_none() {
            let from = at.saturating_sub(40);
            let to = (at + 120).min(bytes.len());
            self.first = Some(format!(
                "{what} at byte {at}: {:?}",
                String::from_utf8_lossy(&bytes[from..to])
            ));
        }
    }
}

pub struct Secrets {
    embeddings: Vec<Vec<f32>>,
    /// Raw f32 bytes of a component → (embedding, position).
    by_bytes: HashMap<[u8; 4], Vec<(usize, usize)>>,
    pixel_rows: Vec<Vec<u8>>,
    by_pixels: HashMap<[u8; 8], Vec<usize>>,
}

impl Secrets {
    pub fn new(embeddings: Vec<Vec<f32>>, pixel_rows: Vec<Vec<u8>>) -> Secrets {
        let mut by_bytes: HashMap<[u8; 4], Vec<(usize, usize)>> = HashMap::new();
        for (e, v) in embeddings.iter().enumerate() {
            for (i, x) in v.iter().enumerate().take(v.len().saturating_sub(RUN - 1)) {
                by_bytes.entry(x.to_le_bytes()).or_default().push((e, i));
            }
        }
        // Flat rows (a wall, a saturated patch) would match anything flat: keep varied ones.
        let pixel_rows: Vec<Vec<u8>> = pixel_rows
            .into_iter()
            .filter(|r| r.len() == PIXELS && r.iter().filter(|&&b| b != r[0]).count() > PIXELS / 2)
            .collect();
        let mut by_pixels: HashMap<[u8; 8], Vec<usize>> = HashMap::new();
        for (i, r) in pixel_rows.iter().enumerate() {
            by_pixels
                .entry(r[..8].try_into().unwrap())
                .or_default()
                .push(i);
        }
        Secrets {
            embeddings,
            by_bytes,
            pixel_rows,
            by_pixels,
        }
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.embeddings.len(), self.pixel_rows.len())
    }

    pub fn scan(&self, bytes: &[u8]) -> Findings {
        let mut f = Findings::default();
        self.scan_text_numbers(bytes, &mut f);
        self.scan_binary(bytes, &mut f);
        scan_blobs(bytes, &mut f);
        f
    }

    fn scan_binary(&self, bytes: &[u8], f: &mut Findings) {
        if bytes.len() < PIXELS {
            return;
        }
        let mut i = 0;
        while i + 8 <= bytes.len() {
            let key4: [u8; 4] = bytes[i..i + 4].try_into().unwrap();
            if let Some(hits) = self.by_bytes.get(&key4) {
                let hit = hits.iter().any(|&(e, p)| {
                    let want = &self.embeddings[e][p..p + RUN];
                    i + RUN * 4 <= bytes.len()
                        && want
                            .iter()
                            .enumerate()
                            .all(|(k, x)| bytes[i + 4 * k..i + 4 * k + 4] == x.to_le_bytes())
                });
                if hit {
                    f.binary_embedding_runs += 1;
                    f.note(bytes, i, "raw embedding");
                    i += RUN * 4;
                    continue;
                }
            }
            let key8: [u8; 8] = bytes[i..i + 8].try_into().unwrap();
            if let Some(rows) = self.by_pixels.get(&key8) {
                if rows
                    .iter()
                    .any(|&r| bytes[i..].starts_with(&self.pixel_rows[r]))
                {
                    f.face_pixel_runs += 1;
                    f.note(bytes, i, "face pixels");
                    i += PIXELS;
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Numbers printed in text: runs of ≥ RUN decimals (≥ 2 digits after the point),
    /// separated by at most a few characters, compared with every embedding window at the
    /// precision they were printed with.
    fn scan_text_numbers(&self, bytes: &[u8], f: &mut Findings) {
        let mut run: Vec<(f32, f32, usize)> = Vec::new(); // value, tolerance, offset
        let mut last_end = 0;
        for (start, end) in number_tokens(bytes) {
            let tok = std::str::from_utf8(&bytes[start..end]).unwrap();
            let Some((value, decimals)) = parse_decimal(tok) else {
                self.check_run(&run, bytes, f);
                run.clear();
                continue;
            };
            if !run.is_empty() && start - last_end > 4 {
                self.check_run(&run, bytes, f);
                run.clear();
            }
            run.push((value, 0.5 * 10f32.powi(-(decimals as i32)) + 1e-6, start));
            last_end = end;
        }
        self.check_run(&run, bytes, f);
    }

    fn check_run(&self, run: &[(f32, f32, usize)], bytes: &[u8], f: &mut Findings) {
        if run.len() < RUN {
            return;
        }
        for w in run.windows(RUN) {
            let leaked = self.embeddings.iter().any(|e| {
                e.windows(RUN).any(|ew| {
                    ew.iter()
                        .zip(w)
                        .all(|(x, (v, tol, _))| (x - v).abs() <= *tol)
                })
            });
            if leaked {
                f.text_embedding_runs += 1;
                f.note(bytes, w[0].2, "printed embedding");
                return;
            }
        }
    }
}

/// Byte ranges of maximal runs of characters that can form a number.
fn number_tokens(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let is_num = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E');
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len()
            && !(bytes[i].is_ascii_digit() || bytes[i] == b'-' || bytes[i] == b'.')
        {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && is_num(bytes[i]) {
            i += 1;
        }
        Some((start, i))
    })
}

/// A decimal with at least two digits after the point: (value, digits after the point).
fn parse_decimal(tok: &str) -> Option<(f32, usize)> {
    let mantissa = tok.split(['e', 'E']).next()?;
    let decimals = mantissa.split_once('.')?.1.len();
    if decimals < 2 {
        return None;
    }
    let exp: i32 = tok
        .split_once(['e', 'E'])
        .map_or(Some(0), |(_, e)| e.parse().ok())?;
    Some((tok.parse().ok()?, (decimals as i32 - exp).max(0) as usize))
}

fn scan_blobs(bytes: &[u8], f: &mut Findings) {
    let b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let mut i = 0;
    while i < bytes.len() {
        if !b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && b64(bytes[i]) {
            i += 1;
        }
        if i - start >= BLOB {
            f.blobs += 1;
            f.note(bytes, start, "base64/hex blob");
        }
    }
}
