//! `footfall report --format svg`: a bar chart of the periods (every camera summed), to
//! paste in a report. Plain SVG text: one bar per period for the visits, the visitors first
//! seen in it drawn over it, a labelled vertical scale.

use std::fmt::Write;

use gstfootfall::count::store::query::Period;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 400.0;
/// Room for the scale on the left and the period labels below.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 72.0;
const TOP: f64 = 40.0;

/// One bar: its label and the periods' sums (every camera and site).
struct Bar {
    label: String,
    visits: u64,
    unique: u64,
}

/// The chart of `periods`; `label` names each period (e.g. its local start time).
pub fn chart(title: &str, periods: &[Period], label: impl Fn(&Period) -> String) -> String {
    let mut bars: Vec<Bar> = Vec::new();
    let mut last_start = None;
    for p in periods {
        if last_start != Some(p.start_s) {
            last_start = Some(p.start_s);
            bars.push(Bar {
                label: label(p),
                visits: 0,
                unique: 0,
            });
        }
        let bar = bars.last_mut().expect("pushed above");
        bar.visits += p.counts.visits;
        bar.unique += p.counts.unique_visitors;
    }
    let top = bars.iter().map(|b| b.visits).max().unwrap_or(0).max(1);
    let step = nice_step(top);
    let scale_top = top.div_ceil(step) * step;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: u64| TOP + plot_h * (1.0 - v as f64 / scale_top as f64);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="24" font-size="16">{}</text>
<rect x="{}" y="12" width="12" height="12" fill="#9bb7d4"/><text x="{}" y="23">visits</text>
<rect x="{}" y="12" width="12" height="12" fill="#1f4e79"/><text x="{}" y="23">new visitors</text>
"##,
        escape(title),
        WIDTH - 230.0,
        WIDTH - 214.0,
        WIDTH - 150.0,
        WIDTH - 134.0,
    );
    for v in (0..=scale_top).step_by(step as usize) {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end">{v}</text>"##,
            WIDTH - 8.0,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    let slot = (WIDTH - LEFT - 8.0) / bars.len().max(1) as f64;
    let every = (bars.len() / 24).max(1); // at most about 24 labels
    for (i, b) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let w = slot * 0.7;
        let _ = writeln!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="#9bb7d4"><title>{}: {} visits</title></rect>"##,
            y(b.visits),
            y(0) - y(b.visits),
            escape(&b.label),
            b.visits
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#1f4e79"><title>{}: {} new visitors</title></rect>"##,
            x + w * 0.25,
            y(b.unique),
            w * 0.5,
            y(0) - y(b.unique),
            escape(&b.label),
            b.unique
        );
        if i % every == 0 {
            let (lx, ly) = (x + w / 2.0, HEIGHT - BOTTOM + 14.0);
            let _ = writeln!(
                svg,
                r##"<text x="{lx:.1}" y="{ly:.1}" transform="rotate(45 {lx:.1} {ly:.1})">{}</text>"##,
                escape(&b.label)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// A step of 1, 2 or 5 times a power of ten giving at most about 8 lines up to `top`.
fn nice_step(top: u64) -> u64 {
    let mut base = 1;
    loop {
        for m in [1, 2, 5] {
            if top.div_ceil(base * m) <= 8 {
                return base * m;
            }
        }
        base *= 10;
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gstfootfall::count::visits::Counts;

    fn period(start_s: i64, camera: &str, visits: u64, unique: u64) -> Period {
        Period {
            start_s,
            site: "shop".into(),
            camera: camera.into(),
            counts: Counts {
                visits,
                unique_visitors: unique,
                ..Counts::default()
            },
            mean_dwell_s: None,
            dwell_count: 0,
        }
    }

    #[test]
    fn one_bar_per_period_with_cameras_summed() {
        let periods = [
            period(0, "door", 3, 2),
            period(0, "till", 4, 1),
            period(3600, "door", 10, 6),
        ];
        let svg = chart("Shop <today>", &periods, |p| {
            format!("h{}", p.start_s / 3600)
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("Shop &lt;today&gt;"));
        assert!(svg.contains("<title>h0: 7 visits</title>"));
        assert!(svg.contains("<title>h0: 3 new visitors</title>"));
        assert!(svg.contains("<title>h1: 10 visits</title>"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            2 + 4,
            "legend + 2 bars of 2 parts"
        );
    }

    #[test]
    fn scale_steps() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(8), 1);
        assert_eq!(nice_step(9), 2);
        assert_eq!(nice_step(34), 5);
        assert_eq!(nice_step(700), 100);
        assert!(chart("empty", &[], |_| String::new()).contains("</svg>"));
    }
}
