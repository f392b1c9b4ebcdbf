//! The interactive views of `report.html`: Vega-Lite specifications built from the summary
//! (learning curves with hover values and series to switch on and off, the answer plot, parallel
//! coordinates when two or more settings are swept) and the runs table, sortable, each row
//! linked to its curves. Vega, Vega-Lite and vega-embed are inlined from `vendor/` (their
//! licences in `vendor/NOTICE`), so the page never touches the network; the SVG plots stay as
//! the no-JavaScript fallback.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::plot::group_label;
use super::summary::{Configuration, Summary};

/// The vendored libraries, in load order.
pub(super) const LIBRARIES: [(&str, &str); 3] = [
    ("vega 5.33.1", include_str!("vendor/vega.min.js")),
    ("vega-lite 5.23.0", include_str!("vendor/vega-lite.min.js")),
    (
        "vega-embed 6.29.0",
        include_str!("vendor/vega-embed.min.js"),
    ),
];

/// The licences of the vendored libraries.
pub(super) const NOTICE: &str = include_str!("vendor/NOTICE");

const SCHEMA: &str = "https://vega.github.io/schema/vega-lite/v5.json";

/// Settings drawn on a log axis when every value is positive.
fn log_axis(key: &str) -> bool {
    matches!(key, "eta" | "lambda" | "batch_size" | "train_size")
}

/// The configurations in display order with their labels: in value order when one numeric
/// setting is swept (coloured along a sequential scale), best first otherwise.
fn ordered(summary: &Summary) -> (Vec<(&Configuration, String)>, bool) {
    let mut groups: Vec<&Configuration> = summary.groups.iter().collect();
    let sequential = match summary.swept.as_slice() {
        [key] if groups.iter().all(|g| g.key.number(key).is_some()) && groups.len() > 1 => {
            groups.sort_by(|a, b| {
                let v = |g: &Configuration| g.key.number(key).unwrap_or(f64::NAN);
                v(a).total_cmp(&v(b))
            });
            true
        }
        _ => false,
    };
    let labelled = groups
        .into_iter()
        .map(|g| (g, group_label(summary, g)))
        .collect();
    (labelled, sequential)
}

fn colour_scale(labels: &[String], sequential: bool) -> Value {
    if sequential {
        json!({"domain": labels, "scheme": {"name": "viridis", "extent": [0, 0.85]}})
    } else {
        json!({"domain": labels, "scheme": "tableau10"})
    }
}

/// Learning curves: one line per run (seeds of a configuration share its colour and switch on
/// and off together from the legend), the metric chosen below the chart, values on hover;
/// `focus` (set from the runs table) fades every other configuration. None when neither an
/// accuracy nor the training cost is monitored (nothing to draw).
fn curves(summary: &Summary) -> Option<Value> {
    let (groups, sequential) = ordered(summary);
    let accuracy = if summary.accuracy.is_empty() {
        String::new()
    } else {
        format!("{} accuracy", summary.accuracy)
    };
    let mut values = Vec::new();
    for (g, label) in &groups {
        for r in &g.runs {
            for &(epoch, acc, cost) in &r.points {
                if let (Some(a), false) = (acc, accuracy.is_empty()) {
                    values.push(
                        json!({"configuration": label, "seed": r.seed, "epoch": epoch,
                        "metric": accuracy, "value": a}),
                    );
                }
                if let Some(c) = cost {
                    values.push(
                        json!({"configuration": label, "seed": r.seed, "epoch": epoch,
                        "metric": "training cost", "value": c}),
                    );
                }
            }
        }
    }
    let mut metrics: Vec<&str> = Vec::new();
    if !accuracy.is_empty() {
        metrics.push(&accuracy);
    }
    if groups.iter().any(|(g, _)| {
        g.runs
            .iter()
            .any(|r| r.points.iter().any(|p| p.2.is_some()))
    }) {
        metrics.push("training cost");
    }
    if metrics.is_empty() {
        return None;
    }
    let labels: Vec<String> = groups.iter().map(|(_, l)| l.clone()).collect();
    // whole epochs only: every one when there are few
    let last = groups
        .iter()
        .flat_map(|(g, _)| g.runs.iter().flat_map(|r| r.points.iter().map(|p| p.0)))
        .max()
        .unwrap_or(1);
    let epoch_axis = if last <= 30 {
        json!({"values": (1..=last).collect::<Vec<_>>(), "format": "d"})
    } else {
        json!({"tickMinStep": 1, "format": "d"})
    };
    Some(json!({
        "$schema": SCHEMA,
        "title": "Learning curves (click a legend entry to show only it; shift-click for more)",
        "width": 820, "height": 380,
        "data": {"values": values},
        "params": [
            {"name": "metric", "value": metrics.first().copied().unwrap_or(""),
             "bind": {"input": "select", "options": metrics, "name": "metric "}},
            {"name": "focus", "value": null},
            {"name": "pick", "select": {"type": "point", "fields": ["configuration"]}, "bind": "legend"}
        ],
        "transform": [{"filter": "datum.metric == metric"}],
        "mark": {"type": "line", "point": {"size": 18}, "strokeWidth": 2},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative", "title": "epoch", "axis": epoch_axis},
            "y": {"field": "value", "type": "quantitative", "title": "value of the chosen metric",
                  "scale": {"zero": false}},
            "color": {"field": "configuration", "type": "nominal",
                      "scale": colour_scale(&labels, sequential),
                      "sort": labels, "legend": {"title": "configuration", "symbolLimit": 60}},
            "detail": {"field": "seed", "type": "nominal"},
            "opacity": {
                "condition": [
                    {"test": "focus != null && datum.configuration != focus", "value": 0.07},
                    {"param": "pick", "empty": true, "value": 0.9}
                ],
                "value": 0.07
            },
            "tooltip": [
                {"field": "configuration", "type": "nominal"},
                {"field": "seed", "type": "nominal"},
                {"field": "epoch", "type": "quantitative"},
                {"field": "metric", "type": "nominal"},
                {"field": "value", "type": "quantitative", "format": ".4f"}
            ]
        }
    }))
}

/// The answer: best accuracy (mean ± sd over seeds) against the first swept setting, log axis
/// for eta and lambda, coloured by the other swept settings.
fn answer(summary: &Summary) -> Option<Value> {
    let key = *summary.swept.first()?;
    if summary.accuracy.is_empty() {
        return None;
    }
    let others: Vec<&str> = summary.swept[1..].to_vec();
    let numeric = summary.groups.iter().all(|g| g.key.number(key).is_some());
    let log = numeric
        && log_axis(key)
        && summary
            .groups
            .iter()
            .all(|g| g.key.number(key).is_some_and(|x| x > 0.0));
    let values: Vec<Value> = summary
        .groups
        .iter()
        .map(|g| {
            let m = 100.0 * g.best_accuracy.mean;
            let s = 100.0 * g.best_accuracy.std;
            json!({
                "x": if numeric { json!(g.key.number(key)) } else { json!(g.key.value(key)) },
                "label": g.key.value(key),
                "others": if others.is_empty() { "all".to_string() } else { g.key.label(&others) },
                "mean": m, "low": m - s, "high": m + s, "seeds": g.seeds, "diverged": g.diverged
            })
        })
        .collect();
    let x = if numeric {
        json!({"field": "x", "type": "quantitative", "title": if log { format!("{key} (log scale)") } else { key.to_string() },
               "scale": if log { json!({"type": "log"}) } else { json!({"zero": false}) }})
    } else {
        json!({"field": "x", "type": "nominal", "title": key, "sort": null})
    };
    let y_title = format!(
        "best {} accuracy (%), mean ± sd over seeds",
        summary.accuracy
    );
    Some(json!({
        "$schema": SCHEMA,
        "title": format!("Best {} accuracy against {key}", summary.accuracy),
        "width": 700, "height": 340,
        "data": {"values": values},
        "encoding": {
            "x": x,
            "color": {"field": "others", "type": "nominal", "title": if others.is_empty() { "".to_string() } else { others.join(", ") },
                      "legend": if others.is_empty() { Value::Null } else { json!({}) }}
        },
        "layer": [
            {"mark": {"type": "rule", "strokeWidth": 2},
             "encoding": {"y": {"field": "low", "type": "quantitative", "title": y_title, "scale": {"zero": false}},
                          "y2": {"field": "high"}}},
            {"mark": {"type": "line", "opacity": 0.5}, "encoding": {"y": {"field": "mean", "type": "quantitative"}}},
            {"mark": {"type": "point", "filled": true, "size": 90},
             "encoding": {"y": {"field": "mean", "type": "quantitative"},
                          "tooltip": [
                              {"field": "label", "title": key},
                              {"field": "others", "title": "with"},
                              {"field": "mean", "format": ".2f", "title": "mean best accuracy (%)"},
                              {"field": "low", "format": ".2f", "title": "mean - sd"},
                              {"field": "high", "format": ".2f", "title": "mean + sd"},
                              {"field": "seeds"}, {"field": "diverged"}]}}
        ]
    }))
}

/// Parallel coordinates for two or more swept settings: one axis per setting (log for eta and
/// lambda where every value is positive; text settings in the order they appear) and one for the
/// best accuracy, a line per configuration coloured by its accuracy, every axis labelled with
/// the values it takes.
fn parallel(summary: &Summary) -> Option<Value> {
    if summary.swept.len() < 2 || summary.accuracy.is_empty() {
        return None;
    }
    let accuracy = format!("best {} accuracy (%)", summary.accuracy);
    let mut axes: Vec<(String, Vec<(f64, String)>)> = Vec::new();
    for key in &summary.swept {
        let numbers: Option<Vec<f64>> = summary.groups.iter().map(|g| g.key.number(key)).collect();
        let points: Vec<(f64, String)> = match numbers {
            Some(xs) => {
                let log = log_axis(key) && xs.iter().all(|x| *x > 0.0);
                summary
                    .groups
                    .iter()
                    .zip(xs)
                    .map(|(g, x)| (if log { x.log10() } else { x }, g.key.value(key)))
                    .collect()
            }
            None => {
                let mut order: Vec<String> = Vec::new();
                summary
                    .groups
                    .iter()
                    .map(|g| {
                        let v = g.key.value(key);
                        let i = order.iter().position(|o| *o == v).unwrap_or_else(|| {
                            order.push(v.clone());
                            order.len() - 1
                        });
                        (i as f64, v)
                    })
                    .collect()
            }
        };
        axes.push((key.to_string(), points));
    }
    axes.push((
        accuracy.clone(),
        summary
            .groups
            .iter()
            .map(|g| {
                let a = 100.0 * g.best_accuracy.mean;
                (a, format!("{a:.2}"))
            })
            .collect(),
    ));
    let mut lines = Vec::new();
    let mut ticks = Vec::new();
    for (i, (name, points)) in axes.iter().enumerate() {
        let lo = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let norm = |x: f64| {
            if hi > lo && x.is_finite() {
                (x - lo) / (hi - lo)
            } else {
                0.5
            }
        };
        let mut labelled: Vec<(f64, String)> = Vec::new();
        for (g, (x, text)) in summary.groups.iter().zip(points) {
            lines.push(
                json!({"axis": name, "order": i, "configuration": group_label(summary, g),
                "position": norm(*x), "value": text, "accuracy": 100.0 * g.best_accuracy.mean}),
            );
            if !labelled.iter().any(|(_, t)| t == text) {
                labelled.push((norm(*x), text.clone()));
            }
        }
        // the accuracy axis is labelled at its ends, the settings at every value tried
        if i + 1 == axes.len() {
            labelled.sort_by(|a, b| a.0.total_cmp(&b.0));
            let ends = [labelled.first().cloned(), labelled.last().cloned()];
            labelled = ends.into_iter().flatten().collect();
        }
        for (position, text) in labelled {
            ticks.push(json!({"axis": name, "position": position, "value": text}));
        }
    }
    let order: Vec<&String> = axes.iter().map(|(n, _)| n).collect();
    let x = json!({"field": "axis", "type": "nominal", "sort": order, "title": null,
                   "axis": {"orient": "top", "labelAngle": 0, "domain": false, "ticks": false,
                            "offset": 16, "labelFontSize": 12, "labelFontWeight": "bold"}});
    Some(json!({
        "$schema": SCHEMA,
        "title": "Every configuration across the swept settings (log axes for eta and lambda)",
        "width": 220 * axes.len(), "height": 360,
        "layer": [
            {"data": {"values": ticks.clone()},
             "mark": {"type": "rule", "color": "#bbb"},
             "encoding": {"x": x, "detail": {"field": "axis"}}},
            {"data": {"values": lines},
             "mark": {"type": "line", "strokeWidth": 2, "opacity": 0.8},
             "encoding": {
                 "x": x,
                 "y": {"field": "position", "type": "quantitative", "axis": null, "scale": {"domain": [0, 1]}},
                 "detail": {"field": "configuration"},
                 "order": {"field": "order"},
                 "color": {"field": "accuracy", "type": "quantitative", "title": accuracy,
                           "scale": {"scheme": "viridis"}},
                 "tooltip": [{"field": "configuration"}, {"field": "accuracy", "format": ".2f", "title": accuracy}]
             }},
            {"data": {"values": ticks},
             "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
             "encoding": {
                 "x": x,
                 "y": {"field": "position", "type": "quantitative", "axis": null, "scale": {"domain": [0, 1]}},
                 "text": {"field": "value"}
             }}
        ]
    }))
}

/// The specifications of the views, by the id of their container (`view-NAME`).
pub(super) fn specs(summary: &Summary) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if let Some(c) = curves(summary) {
        out.push(("curves", c));
    }
    if let Some(a) = answer(summary) {
        out.push(("answer", a));
    }
    if let Some(p) = parallel(summary) {
        out.push(("parallel", p));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The runs table: a row per run (seed), its configuration's settings, its figures; a click on
/// a header sorts by that column, a click on a row shows its configuration's curves.
pub(super) fn runs_table(summary: &Summary) -> String {
    let (groups, _) = ordered(summary);
    let mut html = String::from("<table id=\"runs\" class=\"sortable\"><thead><tr>");
    let mut header: Vec<String> = summary.swept.iter().map(|s| s.to_string()).collect();
    header.push("seed".into());
    if !summary.accuracy.is_empty() {
        header.push(format!("best {} accuracy", summary.accuracy));
        header.push("best epoch".into());
        header.push("test accuracy at best".into());
    }
    header.push("final training cost".into());
    header.push("outcome".into());
    for h in &header {
        let _ = write!(html, "<th title=\"sort\">{}</th>", escape(h));
    }
    html.push_str("</tr></thead><tbody>\n");
    let cell = |text: String, sort: Option<f64>| match sort {
        Some(v) if v.is_finite() => format!("<td data-sort=\"{v}\">{}</td>", escape(&text)),
        _ => format!("<td>{}</td>", escape(&text)),
    };
    for (g, label) in groups {
        for r in &g.runs {
            let _ = write!(
                html,
                "<tr data-configuration=\"{}\" title=\"show its curves\">",
                escape(&label)
            );
            for key in &summary.swept {
                html.push_str(&cell(g.key.value(key), g.key.number(key)));
            }
            html.push_str(&cell(r.seed.to_string(), Some(r.seed as f64)));
            if !summary.accuracy.is_empty() {
                html.push_str(&cell(
                    format!("{:.2}%", 100.0 * r.best_accuracy),
                    Some(r.best_accuracy),
                ));
                html.push_str(&cell(r.best_epoch.to_string(), Some(r.best_epoch as f64)));
                html.push_str(&cell(
                    r.test_at_best
                        .map_or("-".into(), |t| format!("{:.2}%", 100.0 * t)),
                    r.test_at_best,
                ));
            }
            html.push_str(&cell(
                r.final_train_cost.map_or("-".into(), |c| format!("{c:.4}")),
                r.final_train_cost,
            ));
            html.push_str(&cell(r.curve.verdict().outcome().into(), None));
            html.push_str("</tr>\n");
        }
    }
    html.push_str("</tbody></table>\n");
    html
}

/// The script that draws the views, makes the table sortable and links its rows to the curves.
/// Errors are shown on the page (`#report-errors`) and `data-rendered` on `<body>` counts the
/// views drawn (the tests read both).
pub(super) fn boot_script(specs: &[(&str, Value)]) -> String {
    let map: serde_json::Map<String, Value> = specs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    // `</` cannot end the script early
    let data = Value::Object(map).to_string().replace("</", "<\\/");
    format!(
        r#"(function () {{
  var SPECS = {data};
  var errors = [];
  function show(e) {{
    errors.push(String(e && e.message ? e.message : e));
    document.getElementById('report-errors').textContent = errors.join('\n');
  }}
  window.addEventListener('error', function (e) {{ show(e.message); }});
  var views = {{}};
  var names = Object.keys(SPECS);
  Promise.all(names.map(function (name) {{
    return vegaEmbed('#view-' + name, SPECS[name], {{actions: false, renderer: 'svg'}})
      .then(function (r) {{ views[name] = r.view; }});
  }})).then(function () {{
    document.body.setAttribute('data-rendered', String(Object.keys(views).length));
  }}).catch(show);
  var table = document.getElementById('runs');
  if (!table) return;
  var body = table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {{
    th.addEventListener('click', function () {{
      var up = th.getAttribute('data-order') !== 'up';
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {{ h.removeAttribute('data-order'); }});
      th.setAttribute('data-order', up ? 'up' : 'down');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {{
        var x = a.cells[i], y = b.cells[i];
        var p = x.getAttribute('data-sort'), q = y.getAttribute('data-sort');
        var c = (p !== null && q !== null) ? (Number(p) - Number(q))
          : x.textContent.localeCompare(y.textContent);
        return up ? c : -c;
      }});
      rows.forEach(function (r) {{ body.appendChild(r); }});
    }});
  }});
  Array.prototype.forEach.call(body.rows, function (tr) {{
    tr.addEventListener('click', function () {{
      var v = views.curves;
      if (!v) return;
      var c = tr.getAttribute('data-configuration');
      var again = v.signal('focus') === c;
      v.signal('focus', again ? null : c).runAsync();
      Array.prototype.forEach.call(body.rows, function (r) {{
        r.classList.toggle('focused', !again && r.getAttribute('data-configuration') === c);
      }});
      document.getElementById('view-curves').scrollIntoView({{behavior: 'smooth'}});
    }});
  }});
}})();"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libraries_cannot_end_their_script_element_early() {
        for (name, code) in LIBRARIES {
            assert!(!code.contains("</script"), "{name}");
            assert!(code.len() > 50_000, "{name} is vendored whole");
        }
        assert!(NOTICE.contains("BSD-3-Clause"));
    }

    #[test]
    fn no_view_is_drawn_without_data_to_draw() {
        let tmp = tempfile::tempdir().unwrap();
        let metrics = tmp.path().join("metrics.csv");
        let header = crate::store::metrics_header(&[]).join(",");
        // two runs, test cost only: no accuracy, no training cost
        let rows: Vec<String> = [("a", "0.5", 1), ("b", "3.0", 1)]
            .iter()
            .flat_map(|(run, eta, seed)| {
                (1..=2).map(move |e| {
                    format!("{run},784-30-10,{eta},10,2,{seed},quadratic,large,0.0,500,{e},,,,,0.4,,0.1")
                })
            })
            .collect();
        std::fs::write(&metrics, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        let summary =
            crate::report::summary::summarize(&crate::store::read_metrics(&metrics).unwrap());
        assert!(specs(&summary).is_empty());
    }

    #[test]
    fn data_in_the_boot_script_cannot_close_it() {
        let script = boot_script(&[("curves", json!({"title": "</script><b>"}))]);
        assert!(!script.contains("</script"));
        assert!(script.contains("<\\/script>"));
    }
}
