//! The report as one self-contained HTML file: inline CSS and inline SVG, no script and no URL,
//! so it opens with the network off and prints as it shows.

use super::timeline::Timeline;
use super::{Report, TargetMetrics, VersionSeries};
use sluice_core::Timestamp;
use sluice_core::analysis::Series;
use std::fmt::Write;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const STABLE: &str = "#4b6584";
const NEW: &str = "#e67e22";

/// Text made safe for HTML, as element content or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// Maps a moment onto the x axis of a chart of [start, end].
struct Axis {
    start: i64,
    end: i64,
}

impl Axis {
    fn new(start: Timestamp, end: Timestamp) -> Axis {
        let (start, end) = (start.unix_millis(), end.unix_millis());
        Axis {
            start,
            end: end.max(start + 1000),
        }
    }

    fn x_ms(&self, millis: i64) -> f64 {
        let span = (self.end - self.start) as f64;
        let at = (millis.clamp(self.start, self.end) - self.start) as f64;
        LEFT + at / span * (WIDTH - LEFT - RIGHT)
    }

    fn x(&self, at: Timestamp) -> f64 {
        self.x_ms(at.unix_millis())
    }

    /// Ticks along the axis, labelled with the time of day (UTC), every chart alike.
    fn ticks(&self, y: f64, out: &mut String) {
        let span = ((self.end - self.start) / 1000).max(1);
        let step = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400,
        ]
        .into_iter()
        .find(|s| span / s <= 8)
        .unwrap_or(86400);
        // The first whole multiple of the step at or after the start.
        let first = self.start / 1000;
        let mut at = first + (step - first.rem_euclid(step)) % step;
        while at * 1000 <= self.end {
            let x = self.x_ms(at * 1000);
            let clock = Timestamp::from_unix_seconds(at).to_string();
            let label = if step >= 86400 {
                clock[..10].to_string()
            } else {
                clock[11..19].to_string()
            };
            // A label at either edge is kept inside the drawing.
            let anchor = if x > WIDTH - RIGHT - 24.0 {
                "end"
            } else if x < LEFT + 24.0 {
                "start"
            } else {
                "middle"
            };
            let _ = write!(
                out,
                r#"<line class="tick" x1="{x:.1}" x2="{x:.1}" y1="{y0:.1}" y2="{y:.1}"/><text class="tick-label" x="{x:.1}" y="{ty:.1}" text-anchor="{anchor}">{label}</text>"#,
                y0 = y - 4.0,
                ty = y + 12.0,
            );
            at += step;
        }
    }
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut page = String::new();
    let title = format!("sluice report: {}", r.id);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>",
        esc(&title),
        STYLE
    );
    let _ = write!(page, "<h1>{}</h1>", esc(&title));
    let _ = write!(
        page,
        r#"<p id="verdict" class="verdict {}">{}</p>"#,
        r.verdict_class,
        esc(&r.verdict)
    );
    let _ = write!(
        page,
        r#"<p class="meta">{} · generated {}{}</p>"#,
        esc(&r.subtitle),
        r.generated_at,
        if r.running {
            " · a snapshot: the deployment is still running"
        } else {
            ""
        }
    );
    for note in &r.notes {
        let _ = write!(page, r#"<p class="note">{}</p>"#, esc(note));
    }
    page.push_str("<h2>Timeline</h2>");
    page.push_str(&timeline_svg(&r.timeline));
    page.push_str(LEGEND);
    page.push_str("<h2>Each version's own metrics</h2>");
    match &r.metrics {
        Ok(targets) => {
            for t in targets {
                page.push_str(&target_charts(t, &r.timeline));
            }
        }
        Err(why) => {
            let _ = write!(page, r#"<p class="note" id="no-metrics">{}</p>"#, esc(why));
        }
    }
    page.push_str("<h2>Who did what</h2><ul id=\"who\">");
    for (at, what) in &r.actions {
        let _ = write!(
            page,
            r#"<li class="action"><time>{at}</time> {}</li>"#,
            esc(what)
        );
    }
    if r.actions.is_empty() {
        page.push_str("<li>nobody acted on it after it started</li>");
    }
    page.push_str("</ul>");
    page.push_str("<h2>What happened</h2><table id=\"history\"><tbody>");
    for (at, line) in &r.history {
        let _ = write!(page, "<tr><td>{at}</td><td>{}</td></tr>", esc(line));
    }
    page.push_str("</tbody></table>");
    if !r.plan.is_empty() {
        page.push_str(
            "<h2>The plan</h2><table id=\"plan\"><thead><tr><th>step</th><th>weight</th><th>bake</th><th>gate before</th></tr></thead><tbody>",
        );
        for row in &r.plan {
            page.push_str("<tr>");
            for cell in row {
                let _ = write!(page, "<td>{}</td>", esc(cell));
            }
            page.push_str("</tr>");
        }
        page.push_str("</tbody></table>");
    }
    if let Some(cost) = &r.cost {
        let _ = write!(page, r#"<h2>Cost</h2><p id="cost">{}</p>"#, esc(cost));
    }
    if let Some(request) = &r.request {
        let _ = write!(
            page,
            r#"<h2>The request</h2><pre id="request">{}</pre>"#,
            esc(request)
        );
    }
    page.push_str("</body></html>\n");
    page
}

fn title(text: &str) -> String {
    format!("<title>{}</title>", esc(text))
}

/// The timeline: the weight as steps over time above, the marks below.
fn timeline_svg(t: &Timeline) -> String {
    const TOP: f64 = 24.0;
    const PLOT: f64 = 160.0;
    let marks_y = TOP + PLOT + 40.0;
    let alarms_y = marks_y + 30.0;
    let height = alarms_y + 40.0;
    let axis = Axis::new(t.start, t.end);
    let y = |percent: f64| TOP + PLOT - percent / 100.0 * PLOT;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="the new version's weight over time">"#
    );
    let spans = [
        ("bake", &t.bakes, "#dfe9f3"),
        ("gate", &t.gates, "#fce8b2"),
        ("pause", &t.pauses, "#e0e0e0"),
    ];
    for (class, list, fill) in spans {
        for span in list.iter() {
            let (x0, x1) = (axis.x(span.from), axis.x(span.to));
            let _ = write!(
                s,
                r#"<rect class="{class}" x="{x0:.1}" y="{TOP}" width="{w:.1}" height="{PLOT}" fill="{fill}">{}</rect>"#,
                title(&format!("{} ({} to {})", span.label, span.from, span.to)),
                w = (x1 - x0).max(1.0),
            );
        }
    }
    for span in &t.hooks {
        let (x0, x1) = (axis.x(span.from), axis.x(span.to));
        let _ = write!(
            s,
            r##"<rect class="hook" x="{x0:.1}" y="{hy}" width="{w:.1}" height="10" fill="#8e44ad">{}</rect>"##,
            title(&format!("{} ({} to {})", span.label, span.from, span.to)),
            hy = TOP - 14.0,
            w = (x1 - x0).max(2.0),
        );
    }
    // Grid and the y axis.
    for p in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick-label" x="{tx}" y="{ty:.1}" text-anchor="end">{p}%</text>"#,
            x2 = WIDTH - RIGHT,
            yy = y(p),
            tx = LEFT - 6.0,
            ty = y(p) + 4.0
        );
    }
    // The weight as steps: 0 until the first shift, each shift's weight until the next.
    let mut path = format!("M{LEFT:.1},{:.1}", y(0.0));
    let mut last = 0.0;
    for w in &t.weights {
        let x = axis.x(w.at);
        let _ = write!(path, " L{x:.1},{:.1} L{x:.1},{:.1}", y(last), y(w.percent));
        last = w.percent;
    }
    let _ = write!(path, " L{:.1},{:.1}", axis.x(t.end), y(last));
    let _ = write!(
        s,
        r#"<path class="weight" d="{path}" fill="none" stroke="{NEW}" stroke-width="2.5"/>"#
    );
    for w in &t.weights {
        let class = if w.step.is_some() {
            "shift"
        } else {
            "rollback"
        };
        let _ = write!(
            s,
            r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="4.5" data-weight="{}">{}</circle>"#,
            axis.x(w.at),
            y(w.percent),
            w.percent,
            title(&format!("{}: {}", w.at, w.label))
        );
    }
    // Checks, and the record's lines when that is all there is.
    let _ = write!(
        s,
        r#"<text class="lane-label" x="{}" y="{:.1}" text-anchor="end">checks</text>"#,
        LEFT - 6.0,
        marks_y + 4.0
    );
    for c in &t.checks {
        let _ = write!(
            s,
            r#"<circle class="check {}" cx="{:.1}" cy="{marks_y:.1}" r="5">{}</circle>"#,
            c.verdict.class(),
            axis.x(c.at),
            title(&format!("{}: {}", c.at, c.text))
        );
    }
    for (at, line) in &t.lines {
        let _ = write!(
            s,
            r#"<rect class="line-mark" x="{:.1}" y="{:.1}" width="3" height="10">{}</rect>"#,
            axis.x(*at) - 1.5,
            marks_y - 5.0,
            title(&format!("{at}: {line}"))
        );
    }
    // The alarms' moves.
    let _ = write!(
        s,
        r#"<text class="lane-label" x="{}" y="{:.1}" text-anchor="end">alarms</text>"#,
        LEFT - 6.0,
        alarms_y + 4.0
    );
    for a in &t.alarms {
        let x = axis.x(a.at);
        let (class, points) = if a.to == "ALARM" {
            (
                "to-alarm",
                format!(
                    "{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    alarms_y - 6.0,
                    x - 6.0,
                    alarms_y + 6.0,
                    x + 6.0,
                    alarms_y + 6.0
                ),
            )
        } else {
            (
                "to-other",
                format!(
                    "{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    alarms_y + 6.0,
                    x - 6.0,
                    alarms_y - 6.0,
                    x + 6.0,
                    alarms_y - 6.0
                ),
            )
        };
        let _ = write!(
            s,
            r#"<polygon class="alarm-change {class}" points="{points}">{}</polygon>"#,
            title(&format!(
                "{}: {} {} -> {}: {}",
                a.at, a.name, a.from, a.to, a.reason
            ))
        );
    }
    if let Some(e) = &t.ending {
        let x = axis.x(e.at);
        let _ = write!(
            s,
            r#"<g class="ending {}"><line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text></g>"#,
            if e.good { "good" } else { "bad" },
            alarms_y + 8.0,
            x - 4.0,
            TOP + 12.0,
            esc(&e.status)
        );
    }
    axis.ticks(height - 16.0, &mut s);
    s.push_str("</svg>");
    s
}

/// Three charts for one target: invocations, error rate, latency; the stable against the new.
fn target_charts(t: &TargetMetrics, tl: &Timeline) -> String {
    let mut s = format!(r#"<section class="target"><h3>{}</h3>"#, esc(&t.name));
    let mut sides: Vec<(&str, &VersionSeries, &str)> = Vec::new();
    if let Some(stable) = &t.stable {
        sides.push(("stable", stable, STABLE));
    }
    sides.push(("new", &t.new, NEW));
    let _ = write!(s, r#"<p class="legend-line">"#);
    for (class, v, colour) in &sides {
        let _ = write!(
            s,
            r#"<span class="key {class}" style="border-color:{colour}">{} v{}</span> "#,
            class,
            esc(&v.version)
        );
    }
    s.push_str("</p>");
    let rate = |v: &VersionSeries| -> Series {
        v.invocations
            .iter()
            .filter(|(_, n)| *n > 0.0)
            .map(|(at, n)| {
                let errors = v
                    .errors
                    .iter()
                    .find(|(e, _)| e == at)
                    .map_or(0.0, |(_, e)| *e);
                (*at, errors / n * 100.0)
            })
            .collect()
    };
    let invocations: Vec<(&str, Series, &str)> = sides
        .iter()
        .map(|(c, v, col)| (*c, v.invocations.clone(), *col))
        .collect();
    let per = match t.period {
        60 => "a minute".to_string(),
        3600 => "an hour".to_string(),
        p => format!("per {}", sluice_core::duration::format_seconds(p as u64)),
    };
    s.push_str(&chart(
        &t.name,
        "invocations",
        &format!("invocations {per}"),
        &invocations,
        &[],
        t.period,
        tl,
    ));
    let rates: Vec<(&str, Series, &str)> = sides
        .iter()
        .map(|(c, v, col)| (*c, rate(v), *col))
        .collect();
    s.push_str(&chart(
        &t.name,
        "error-rate",
        "error rate, %",
        &rates,
        &t.error_thresholds,
        t.period,
        tl,
    ));
    let mut latency: Vec<(&str, Series, &str)> = Vec::new();
    for (c, v, col) in &sides {
        latency.push((c, v.p90.clone(), col));
        latency.push((c, v.p99.clone(), col));
    }
    s.push_str(&chart(
        &t.name,
        "latency",
        "latency p90 (thin) and p99 (thick), ms",
        &latency,
        &t.latency_thresholds,
        t.period,
        tl,
    ));
    s.push_str("</section>");
    s
}

/// A line chart of series of a point per `period` seconds over the deployment, with threshold
/// lines; each point drawn at the middle of its period.
fn chart(
    target: &str,
    metric: &str,
    label: &str,
    series: &[(&str, Series, &str)],
    thresholds: &[(String, f64)],
    period: i64,
    tl: &Timeline,
) -> String {
    const TOP: f64 = 18.0;
    const PLOT: f64 = 110.0;
    let height = TOP + PLOT + 30.0;
    let first = series
        .iter()
        .flat_map(|(_, s, _)| s.first().map(|p| p.0))
        .min();
    let last = series
        .iter()
        .flat_map(|(_, s, _)| s.last().map(|p| p.0 + period))
        .max();
    let start = first.map_or(tl.start, |f| tl.start.min(Timestamp::from_unix_seconds(f)));
    let end = last.map_or(tl.end, |l| tl.end.max(Timestamp::from_unix_seconds(l)));
    let axis = Axis::new(start, end);
    let top = series
        .iter()
        .flat_map(|(_, s, _)| s.iter().map(|p| p.1))
        .chain(thresholds.iter().map(|t| t.1))
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.15;
    let y = |v: f64| TOP + PLOT - (v / top).min(1.0) * PLOT;
    let mut s = format!(
        r#"<svg class="chart" data-target="{}" data-metric="{metric}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{}"><text class="chart-label" x="{LEFT}" y="12">{}</text>"#,
        esc(target),
        esc(label),
        esc(label)
    );
    for f in [0.0, 0.5, 1.0] {
        let v = top / 1.15 * f;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick-label" x="{tx}" y="{ty:.1}" text-anchor="end">{}</text>"#,
            short(v),
            x2 = WIDTH - RIGHT,
            yy = y(v),
            tx = LEFT - 6.0,
            ty = y(v) + 4.0
        );
    }
    // The deployment's shifts, faintly, so the figures read against the traffic moves.
    for w in &tl.weights {
        let x = axis.x(w.at);
        let _ = write!(
            s,
            r#"<line class="shift-line" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}"/>"#,
            TOP + PLOT
        );
    }
    for (name, value) in thresholds {
        let _ = write!(
            s,
            r#"<line class="threshold" x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}"><title>{}</title></line><text class="threshold-label" x="{x2}" y="{ty:.1}" text-anchor="end">{}</text>"#,
            esc(name),
            esc(name),
            x2 = WIDTH - RIGHT,
            yy = y(*value),
            ty = y(*value) - 3.0
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for (class, points, colour) in series {
        // The second series of a side (p99 after p90) is drawn thicker.
        let width = if seen.contains(class) { 2.5 } else { 1.5 };
        seen.push(class);
        if points.is_empty() {
            continue;
        }
        let d: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, (at, v))| {
                format!(
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { "L" },
                    axis.x_ms((at * 2 + period) * 500),
                    y(*v)
                )
            })
            .collect();
        let _ = write!(
            s,
            r#"<path class="series {class}" d="{}" fill="none" stroke="{colour}" stroke-width="{width}"/>"#,
            d.join(" ")
        );
        for (at, v) in points {
            let _ = write!(
                s,
                r#"<circle class="point {class}" cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"><title>{}: {}</title></circle>"#,
                axis.x_ms((at * 2 + period) * 500),
                y(*v),
                Timestamp::from_unix_seconds(*at),
                short(*v)
            );
        }
    }
    axis.ticks(height - 14.0, &mut s);
    s.push_str("</svg>");
    s
}

/// A figure as a chart labels it.
fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1000px;color:#222}\
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ddd}h3{font-size:14px;margin:12px 0 4px}\
.verdict{font-size:16px;padding:10px 12px;border-radius:6px}.verdict.good{background:#e3f4e8}.verdict.bad{background:#fbe4e4}.verdict.running{background:#e7eefa}\
.meta{color:#666}.note{background:#fff7dc;padding:6px 10px;border-radius:4px}\
svg{display:block;max-width:100%;height:auto}.grid{stroke:#eee}.tick{stroke:#999}.tick-label,.lane-label,.chart-label,.threshold-label{font-size:11px;fill:#666}\
.check.healthy{fill:#2e9d55}.check.breach{fill:#d63031}.check.unread{fill:#aaa}.check.no-verdict{fill:#f0b429}.check.failing{fill:#e17055}\
.shift{fill:#e67e22}.rollback{fill:#d63031}.line-mark{fill:#888}.to-alarm{fill:#d63031}.to-other{fill:#2e9d55}\
.ending line{stroke-width:2;stroke-dasharray:4 3}.ending.good line{stroke:#2e9d55}.ending.bad line{stroke:#d63031}.ending text{font-size:12px}\
.threshold{stroke:#d63031;stroke-dasharray:5 4}.shift-line{stroke:#e67e22;stroke-opacity:.35}\
.key{border-left:10px solid;padding-left:4px;margin-right:12px}\
table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;vertical-align:top;text-align:left}#history td:first-child,time{white-space:nowrap;color:#666}\
pre{background:#f6f6f6;padding:8px;overflow:auto}ul{padding-left:18px}\
@media print{body{margin:0;max-width:none}.verdict{border:1px solid #999}h2{break-after:avoid}svg,section{break-inside:avoid}}";

const LEGEND: &str = "<p class=\"legend\"><span class=\"key\" style=\"border-color:#e67e22\">the new version's weight</span>\
<span class=\"key\" style=\"border-color:#dfe9f3\">bake</span><span class=\"key\" style=\"border-color:#fce8b2\">gate</span>\
<span class=\"key\" style=\"border-color:#e0e0e0\">pause</span><span class=\"key\" style=\"border-color:#8e44ad\">hook</span>\
checks: <span class=\"key\" style=\"border-color:#2e9d55\">healthy</span><span class=\"key\" style=\"border-color:#d63031\">breach</span>\
<span class=\"key\" style=\"border-color:#e17055\">failing, not yet rolled back</span><span class=\"key\" style=\"border-color:#f0b429\">no verdict yet</span><span class=\"key\" style=\"border-color:#aaa\">not read</span>\
alarms: ▲ into ALARM, ▼ out of it. Hover a mark for its time and what it says.</p>";

#[cfg(test)]
mod tests {
    use super::super::timeline::Verdict;
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn ticks_fit_any_span() {
        for seconds in [1, 30, 90, 3600, 7 * 86400] {
            let axis = Axis::new(
                Timestamp::from_unix_seconds(0),
                Timestamp::from_unix_seconds(seconds),
            );
            let mut out = String::new();
            axis.ticks(10.0, &mut out);
            let n = out.matches("class=\"tick\"").count();
            assert!((1..=10).contains(&n), "{seconds}s: {n} ticks");
        }
    }

    #[test]
    fn a_verdict_class_per_verdict() {
        let classes: Vec<&str> = [
            Verdict::Healthy,
            Verdict::Breach,
            Verdict::Unread,
            Verdict::Undecided,
            Verdict::Failing,
        ]
        .iter()
        .map(|v| v.class())
        .collect();
        assert_eq!(
            classes,
            vec!["healthy", "breach", "unread", "no-verdict", "failing"]
        );
    }
}
