//! Server-side SVG charts (line and bar) for the board and the monthly report: axes, Chinese
//! labels, the values written on the chart. No script and nothing fetched: the SVG is
//! inline in the page, styled by presentation attributes only (the site's CSP forbids
//! inline styles), so it prints and shows the same without JavaScript.
//!
//! Each plotted value is one element with class `pt` (a dot or a bar) carrying `data-x`
//! and `data-v`, and a `<title>` tooltip; a missing value (a rate with nothing to divide
//! by) is no element and breaks the line.

use std::fmt::Write;

/// How the values are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Counts (calls, tickets): one bar per day or month.
    Bar,
    /// Rates (接通率, 满意度): dots joined by a line.
    Line,
}

/// One chart: a title, the unit of its values and one value (or none) per x label.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    /// Written after each value: `%`, `件`, `通`.
    pub unit: String,
    pub kind: Kind,
    /// The y axis ends at 100 for percentages instead of following the data.
    pub percent: bool,
    pub points: Vec<(String, Option<f64>)>,
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 42.0;
/// The most x labels written; the others are skipped evenly.
const MAX_X_LABELS: usize = 12;
/// Up to this many points every value is written; beyond, the last and the highest.
const ALL_VALUES_UP_TO: usize = 12;
const FONT: &str = "Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, sans-serif";

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The top of the y axis: 1, 2 or 5 times a power of ten at or above `max` (at least 1).
pub fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= max {
            return m * p;
        }
    }
    10.0 * p
}

/// A value as written on the chart: whole numbers without decimals, rates with one.
pub fn fmt_value(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

impl Chart {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let n = self.points.len();
        let values: Vec<f64> = self.points.iter().filter_map(|p| p.1).collect();
        let top = if self.percent {
            100.0
        } else {
            nice_max(values.iter().copied().fold(0.0, f64::max))
        };
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let slot = if n == 0 { plot_w } else { plot_w / n as f64 };
        let x_of = |i: usize| LEFT + slot * (i as f64 + 0.5);
        let y_of = |v: f64| TOP + plot_h * (1.0 - (v / top).clamp(0.0, 1.0));
        let mut s = String::new();
        let title = esc(&self.title);
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{title}" font-family="{FONT}" font-size="11" data-points="{}"><title>{title}</title>"##,
            values.len()
        );
        let _ = write!(
            s,
            r##"<text x="{LEFT}" y="18" font-size="14" font-weight="bold" fill="#222">{title}</text>"##
        );
        // Y axis: four gridlines with their values.
        for k in 0..=4 {
            let v = top * k as f64 / 4.0;
            let y = y_of(v);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}{}</text>"##,
                W - RIGHT,
                if k == 0 { "#444" } else { "#ddd" },
                LEFT - 6.0,
                y + 4.0,
                fmt_value(v),
                if self.percent { "%" } else { "" }
            );
        }
        // X labels, evenly thinned, counted back from the last one, which always shows.
        let every = n.div_ceil(MAX_X_LABELS).max(1);
        for (i, (label, _)) in self.points.iter().enumerate() {
            if (n - 1 - i).is_multiple_of(every) {
                let _ = write!(
                    s,
                    r##"<text class="xl" x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                    x_of(i),
                    H - BOTTOM + 16.0,
                    esc(label)
                );
            }
        }
        let highest = values.iter().copied().fold(f64::MIN, f64::max);
        let shows_value = |i: usize, v: f64| {
            n <= ALL_VALUES_UP_TO
                || (v == highest && v > 0.0)
                || self.points[i + 1..].iter().all(|p| p.1.is_none())
        };
        match self.kind {
            Kind::Bar => {
                let bw = (slot * 0.7).max(1.0);
                for (i, (label, v)) in self.points.iter().enumerate() {
                    let Some(v) = *v else { continue };
                    let y = y_of(v);
                    let _ = write!(
                        s,
                        r##"<rect class="pt" data-x="{}" data-v="{}" x="{:.1}" y="{y:.1}" width="{bw:.1}" height="{:.1}" fill="#3b78c4"><title>{}：{}{}</title></rect>"##,
                        esc(label),
                        fmt_value(v),
                        x_of(i) - bw / 2.0,
                        (TOP + plot_h - y).max(0.0),
                        esc(label),
                        fmt_value(v),
                        esc(&self.unit)
                    );
                    if shows_value(i, v) {
                        let _ = write!(
                            s,
                            r##"<text class="v" x="{:.1}" y="{:.1}" text-anchor="middle" fill="#222">{}</text>"##,
                            x_of(i),
                            y - 4.0,
                            fmt_value(v)
                        );
                    }
                }
            }
            Kind::Line => {
                // One path per run of present values.
                let mut d = String::new();
                let mut pen_down = false;
                for (i, (_, v)) in self.points.iter().enumerate() {
                    match v {
                        Some(v) => {
                            let _ = write!(
                                d,
                                "{}{:.1},{:.1} ",
                                if pen_down { "L" } else { "M" },
                                x_of(i),
                                y_of(*v)
                            );
                            pen_down = true;
                        }
                        None => pen_down = false,
                    }
                }
                if !d.is_empty() {
                    let _ = write!(
                        s,
                        r##"<path d="{}" fill="none" stroke="#d9534f" stroke-width="2"/>"##,
                        d.trim_end()
                    );
                }
                for (i, (label, v)) in self.points.iter().enumerate() {
                    let Some(v) = *v else { continue };
                    let (x, y) = (x_of(i), y_of(v));
                    let _ = write!(
                        s,
                        r##"<circle class="pt" data-x="{}" data-v="{}" cx="{x:.1}" cy="{y:.1}" r="3" fill="#d9534f"><title>{}：{}{}</title></circle>"##,
                        esc(label),
                        fmt_value(v),
                        esc(label),
                        fmt_value(v),
                        esc(&self.unit)
                    );
                    if shows_value(i, v) {
                        let _ = write!(
                            s,
                            r##"<text class="v" x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#222">{}</text>"##,
                            y - 6.0,
                            fmt_value(v)
                        );
                    }
                }
            }
        }
        if values.is_empty() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#888">暂无数据</text>"##,
                LEFT + plot_w / 2.0,
                TOP + plot_h / 2.0
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(s: &str, needle: &str) -> usize {
        s.matches(needle).count()
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(480.0), 500.0);
        assert_eq!(nice_max(500.0), 500.0);
        assert_eq!(fmt_value(3.0), "3");
        assert_eq!(fmt_value(97.25), "97.2");
    }

    #[test]
    fn a_bar_chart_has_one_bar_per_value_and_writes_small_sets_in_full() {
        let c = Chart {
            title: "近12个月工单量".into(),
            unit: "件".into(),
            kind: Kind::Bar,
            percent: false,
            points: (1..=12)
                .map(|m| (format!("{m}月"), Some(m as f64 * 10.0)))
                .collect(),
        };
        let s = c.svg();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(count(&s, r#"class="pt""#), 12);
        assert!(s.contains(r#"data-points="12""#));
        // Every value and every month is written; the axis ends at 200 (120 rounded up).
        assert_eq!(count(&s, r#"class="v""#), 12);
        assert_eq!(count(&s, r#"class="xl""#), 12);
        assert!(s.contains(">120</text>") && s.contains(">200</text>"));
        assert!(s.contains("<title>12月：120件</title>"));
        assert!(s.contains("近12个月工单量"));
        // The tallest bar reaches the top of the axis in proportion: 120 of 200.
        let top_bar = s.split(r#"data-v="120""#).nth(1).unwrap();
        assert!(top_bar.contains(r#"height="98.4""#), "{top_bar}");
    }

    #[test]
    fn a_line_breaks_where_a_value_is_missing_and_long_series_are_thinned() {
        let mut points: Vec<(String, Option<f64>)> = (1..=30)
            .map(|d| (format!("12-{d:02}"), Some(90.0)))
            .collect();
        points[10].1 = None;
        points[29].1 = Some(95.5);
        let c = Chart {
            title: "近30天接通率".into(),
            unit: "%".into(),
            kind: Kind::Line,
            percent: true,
            points,
        };
        let s = c.svg();
        assert_eq!(count(&s, r#"class="pt""#), 29, "a dot per present value");
        let d = s.split(r#"<path d=""#).nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(count(d, "M"), 2, "a second run starts after the gap: {d}");
        assert_eq!(count(d, "L"), 27);
        assert!(count(&s, r#"class="xl""#) <= MAX_X_LABELS);
        assert!(s.contains(">12-30</text>"), "the last day is labelled");
        // The last value and the highest (the same here) are written; the rest are not.
        assert_eq!(count(&s, r#"class="v""#), 1);
        assert!(s.contains(">95.5</text>"));
        assert!(s.contains(">100%</text>"), "a rate's axis ends at 100%");
    }

    #[test]
    fn nothing_to_draw_says_so_and_text_is_escaped() {
        let c = Chart {
            title: "<满意度> & 趋势".into(),
            unit: "%".into(),
            kind: Kind::Line,
            percent: true,
            points: vec![("1日".into(), None)],
        };
        let s = c.svg();
        assert!(s.contains("暂无数据"));
        assert!(s.contains("&lt;满意度&gt; &amp; 趋势"));
        assert!(!s.contains("<满意度>"));
        assert_eq!(count(&s, r#"class="pt""#), 0);
    }
}
