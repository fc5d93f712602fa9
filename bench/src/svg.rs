//! Hand-written SVG charts (no font or plotting dependency; the text is
//! SVG `<text>`, laid out by the viewer): panels stacked vertically, each
//! with labelled axes, ticks, a legend and line or bar series.

use std::fmt::Write;

/// Panel size in pixels.
pub const PANEL_W: f64 = 720.0;
/// See [`PANEL_W`].
pub const PANEL_H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A polyline with a dot per point.
    Line,
    /// A dashed polyline, no dots (reference lines).
    Dashed,
    /// One bar per point, centred on x, `width` wide in x units.
    Bars,
}

/// One data series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// How it is drawn.
    pub style: Style,
    /// (x, y) points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// One panel.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title above the panel.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Series.
    pub series: Vec<Series>,
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks up to `max`.
pub fn tick_step(max: f64, n: usize) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A tick label: no trailing zeros, at most 3 decimals.
pub fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Escapes text for SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the panels into one SVG document.
pub fn render(charts: &[Chart]) -> String {
    let h = PANEL_H * charts.len().max(1) as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_W}" height="{h}" viewBox="0 0 {PANEL_W} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{PANEL_W}" height="{h}" fill="white"/>"#
    );
    for (i, c) in charts.iter().enumerate() {
        panel(&mut s, c, i as f64 * PANEL_H);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, c: &Chart, y0: f64) {
    let pts = c.series.iter().flat_map(|se| se.points.iter());
    let (mut xmax, mut ymax) = (0f64, 0f64);
    for &(x, y) in pts {
        if x.is_finite() {
            xmax = xmax.max(x);
        }
        if y.is_finite() {
            ymax = ymax.max(y);
        }
    }
    // Bars are centred on their x and as wide as the closest spacing
    // (1 when there is a single bar).
    let bar_step = c
        .series
        .iter()
        .filter(|se| se.style == Style::Bars)
        .flat_map(|se| se.points.windows(2).map(|w| (w[1].0 - w[0].0).abs()))
        .filter(|d| d.is_finite() && *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let bar_step = if bar_step.is_finite() { bar_step } else { 1.0 };
    let bars = c.series.iter().any(|se| se.style == Style::Bars);
    if bars {
        xmax += bar_step / 2.0;
    }
    let (xs, ys) = (tick_step(xmax, 6), tick_step(ymax * 1.05, 5));
    let xmax = (xmax / xs).ceil().max(1.0) * xs;
    let ymax = (ymax * 1.05 / ys).ceil().max(1.0) * ys;
    let (pw, ph) = (PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM);
    let (ox, oy) = (LEFT, y0 + TOP + ph);
    let px = |x: f64| ox + x / xmax * pw;
    let py = |y: f64| oy - y / ymax * ph;
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        LEFT,
        y0 + 20.0,
        escape(&c.title)
    );
    // Grid and ticks.
    let mut v = 0.0;
    while v <= ymax + ys / 2.0 {
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{ox}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            ox + pw,
            ox - 4.0,
            y + 4.0,
            fmt_tick(v)
        );
        v += ys;
    }
    let mut v = 0.0;
    while v <= xmax + xs / 2.0 {
        let x = px(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{oy:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            oy + 4.0,
            oy + 16.0,
            fmt_tick(v)
        );
        v += xs;
    }
    let _ = writeln!(
        s,
        r#"<rect x="{ox}" y="{:.1}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#,
        oy - ph
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        ox + pw / 2.0,
        oy + 34.0,
        escape(&c.x_label)
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        16.0,
        oy - ph / 2.0,
        escape(&c.y_label)
    );
    for (k, se) in c.series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = se
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        match se.style {
            Style::Bars => {
                let w = (pw / xmax * bar_step * 0.8).max(1.0);
                for (x, y) in &pts {
                    let _ = writeln!(
                        s,
                        r#"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
                        px(*x) - w / 2.0,
                        py(*y),
                        oy - py(*y),
                        se.color
                    );
                }
            }
            Style::Line | Style::Dashed => {
                let path: Vec<String> = pts
                    .iter()
                    .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                    .collect();
                let dash = if se.style == Style::Dashed {
                    r#" stroke-dasharray="5,4""#
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"{dash}/>"#,
                    path.join(" "),
                    se.color
                );
                if se.style == Style::Line {
                    for (x, y) in &pts {
                        let _ = writeln!(
                            s,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                            px(*x),
                            py(*y),
                            se.color
                        );
                    }
                }
            }
        }
        let ly = oy - ph + 8.0 + 16.0 * k as f64;
        let lx = ox + pw + 10.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="4" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 4.0,
            se.color,
            lx + 16.0,
            ly + 2.0,
            escape(&se.name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(tick_step(10.0, 5), 2.0));
        assert!(close(tick_step(0.7, 6), 0.2));
        assert!(close(tick_step(0.0, 5), 1.0));
        assert!(close(tick_step(1234.0, 5), 500.0));
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_tick(2.0), "2");
        assert_eq!(fmt_tick(0.0), "0");
    }

    #[test]
    fn renders_every_series_and_escapes_text() {
        let c = Chart {
            title: "a < b & c".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series {
                    name: "line".into(),
                    color: "red",
                    style: Style::Line,
                    points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN), (3.0, 3.0)],
                },
                Series {
                    name: "bars".into(),
                    color: "blue",
                    style: Style::Bars,
                    points: vec![(0.0, 5.0), (1.0, 7.0)],
                },
            ],
        };
        let svg = render(&[c.clone(), c]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt; b &amp; c"));
        assert!(!svg.contains("a < b"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        // 3 finite points per line, two panels.
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(svg.contains(r#"height="600""#));
        // Balanced tags: every opened element is closed or self-closed.
        let opened = svg.matches('<').count();
        let closed = svg.matches("/>").count() + svg.matches("</").count() * 2;
        assert_eq!(opened, closed, "{svg}");
    }
}
