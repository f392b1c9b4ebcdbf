//! The standard pictures of a sweep, as SVG (plotters): learning curves, the answer plot (best
//! accuracy against the swept setting) and, when two settings are swept, a heat map. Drawn from
//! the [`Summary`] of `metrics.csv` alone.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::FontStyle;

use crate::report::summary::{best_per_value, Configuration, Summary};

/// The font every label is measured and drawn with (embedded, so no system fonts are needed).
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            crate::say!(
                "warning: the embedded font could not be loaded; plot labels may be missing"
            );
        }
    });
}

/// Distinguishable colours (Tableau 10), cycled.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// At most this many groups get a learning curve (the best ones), so the picture stays readable.
pub const MAX_CURVES: usize = 12;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot: {e:?}")
}

/// Writes every plot for `summary` into `dir` and returns their paths.
pub fn write_plots(summary: &Summary, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    std::fs::create_dir_all(dir).with_context(|| format!("creating '{}'", dir.display()))?;
    let mut written = Vec::new();
    // a range test without `then_train` trained no run: no learning curves
    if !summary.groups.is_empty() {
        let path = dir.join("learning_curves.svg");
        learning_curves(summary, &path)?;
        written.push(path);
    }
    if let Some(c) = summary.curvature.as_ref().filter(|c| !c.seeds.is_empty()) {
        let path = dir.join("curvature.svg");
        curvature(c, &path)?;
        written.push(path);
    }
    if let Some(r) = summary.range_test.as_ref().filter(|r| !r.seeds.is_empty()) {
        let path = dir.join("range_test.svg");
        range_test(r, &path)?;
        written.push(path);
    }
    // the answer and the heat map show accuracies: nothing to draw when none is monitored
    if summary.accuracy.is_empty() {
        return Ok(written);
    }
    if let Some(key) = summary.swept.first() {
        let path = dir.join("answer.svg");
        answer_plot(summary, key, &path)?;
        written.push(path);
    }
    if summary.swept.len() >= 2 {
        let path = dir.join("heatmap.svg");
        heatmap(summary, summary.swept[0], summary.swept[1], &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Label of a group in legends: its swept settings (or its whole configuration).
pub(super) fn group_label(summary: &Summary, g: &Configuration) -> String {
    if summary.swept.is_empty() {
        g.key.label(&["sizes", "eta", "batch_size"])
    } else {
        g.key.label(&summary.swept)
    }
}

/// Mean, minimum and maximum over seeds of a per-epoch quantity.
fn band(
    g: &Configuration,
    pick: impl Fn(&(usize, Option<f64>, Option<f64>)) -> Option<f64>,
) -> Vec<(f64, f64, f64, f64)> {
    let epochs = g.runs.iter().map(|r| r.points.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for e in 0..epochs {
        let values: Vec<f64> = g
            .runs
            .iter()
            .filter_map(|r| r.points.get(e).and_then(&pick))
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() {
            continue;
        }
        let epoch = g
            .runs
            .iter()
            .find_map(|r| r.points.get(e))
            .map_or(0, |p| p.0) as f64;
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        out.push((epoch, mean, lo, hi));
    }
    out
}

/// Draws a legend (colour swatch and label per entry) in its own area, beside the data.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    entries: &[(String, RGBColor)],
) -> Result<()> {
    area.draw(&Text::new(
        title.to_string(),
        (10, 40),
        (FONT, 16).into_font().style(FontStyle::Normal),
    ))
    .map_err(err)?;
    for (i, (label, colour)) in entries.iter().enumerate() {
        let y = 70 + 24 * i as i32;
        area.draw(&PathElement::new(
            vec![(10, y), (40, y)],
            colour.stroke_width(3),
        ))
        .map_err(err)?;
        area.draw(&Text::new(label.clone(), (48, y - 8), (FONT, 14)))
            .map_err(err)?;
    }
    Ok(())
}

/// The curves to draw and their colours. When exactly one setting is swept and every curve has a
/// number for it (eta, lambda, a width), the curves go in value order, coloured along a
/// sequential colour map from dark (smallest) to light (largest), with the legend in that order,
/// so the order reads at a glance; otherwise the best first, in distinguishable colours.
fn curves(summary: &Summary) -> Vec<(&Configuration, RGBColor)> {
    let mut groups: Vec<&Configuration> = summary.groups.iter().take(MAX_CURVES).collect();
    let key = match summary.swept.as_slice() {
        [key] => Some(*key),
        _ => None,
    };
    let numbers: Option<Vec<f64>> =
        key.and_then(|k| groups.iter().map(|g| g.key.number(k)).collect());
    match (key, numbers) {
        (Some(k), Some(_)) if groups.len() > 1 => {
            let value = |g: &Configuration| g.key.number(k).unwrap_or(f64::NAN);
            groups.sort_by(|a, b| value(a).total_cmp(&value(b)));
            let last = (groups.len() - 1) as f64;
            groups
                .into_iter()
                .enumerate()
                // (viridis up to 0.85: its last yellows are too light on white)
                .map(|(i, g)| (g, ViridisRGB::get_color(0.85 * i as f64 / last)))
                .collect()
        }
        _ => groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| (g, COLOURS[i % COLOURS.len()]))
            .collect(),
    }
}

fn learning_curves(summary: &Summary, path: &Path) -> Result<()> {
    let drawn = curves(summary);
    let groups: Vec<&Configuration> = drawn.iter().map(|(g, _)| *g).collect();
    let has_cost = groups.iter().any(|g| {
        g.runs
            .iter()
            .any(|r| r.points.iter().any(|p| p.2.is_some()))
    });
    let root = SVGBackend::new(path, (1300, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (plots, side) = root.split_horizontally(1050);
    // an accuracy panel when one is monitored, a cost panel when the training cost is
    let has_accuracy = !summary.accuracy.is_empty();
    let panels = if has_cost && has_accuracy {
        plots.split_evenly((1, 2))
    } else {
        vec![plots]
    };
    let cost_panel = if has_accuracy { 1 } else { 0 };
    let max_epoch = groups
        .iter()
        .flat_map(|g| g.runs.iter().flat_map(|r| r.points.iter().map(|p| p.0)))
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let more = summary.groups.len().saturating_sub(MAX_CURVES);
    let note = if more > 0 {
        format!(" (best {MAX_CURVES} of {})", summary.groups.len())
    } else {
        String::new()
    };

    let entries: Vec<(String, RGBColor)> = drawn
        .iter()
        .map(|(g, colour)| (group_label(summary, g), *colour))
        .collect();

    // Accuracy, in percent.
    if has_accuracy {
        let acc: Vec<Vec<(f64, f64, f64, f64)>> = groups
            .iter()
            .map(|g| band(g, |p| p.1.map(|a| 100.0 * a)))
            .collect();
        let lo = acc
            .iter()
            .flatten()
            .map(|p| p.2)
            .fold(f64::INFINITY, f64::min);
        let (lo, hi) = if lo.is_finite() {
            ((lo - 2.0).max(0.0).floor(), 100.0)
        } else {
            (0.0, 100.0)
        };
        let mut chart = ChartBuilder::on(&panels[0])
            .caption(format!("{} accuracy{note}", summary.accuracy), (FONT, 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..max_epoch, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels((max_epoch as usize).clamp(2, 10))
            .x_labels((max_epoch as usize).clamp(2, 10))
            .y_desc(format!("{} accuracy (%)", summary.accuracy))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(err)?;
        for ((_, colour), points) in drawn.iter().zip(&acc) {
            draw_band(&mut chart, points, *colour)?;
        }
    }

    if has_cost {
        let costs: Vec<Vec<(f64, f64, f64, f64)>> =
            groups.iter().map(|g| band(g, |p| p.2)).collect();
        let positive = costs
            .iter()
            .flatten()
            .flat_map(|p| [p.2, p.3])
            .filter(|c| *c > 0.0);
        let (clo, chi) = positive.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| {
            (a.min(c), b.max(c))
        });
        let (clo, chi) = if clo.is_finite() && chi > clo {
            (clo * 0.8, chi * 1.25)
        } else {
            (1e-3, 1.0)
        };
        // every decade labelled at 1, 2, 3 and 5, so that the minor ticks read too (and finer
        // where the costs span less than that)
        let ticks_at = |marks: &[f64]| -> Vec<f64> {
            (clo.log10().floor() as i32..=chi.log10().ceil() as i32)
                .flat_map(|e| marks.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|t| (clo..=chi).contains(t))
                .collect()
        };
        let mut ticks = ticks_at(&[1.0, 2.0, 3.0, 5.0]);
        if ticks.len() < 3 {
            ticks = ticks_at(&[1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        }
        let mut chart = ChartBuilder::on(&panels[cost_panel])
            .caption("training cost (log scale)", (FONT, 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                1f64..max_epoch,
                (clo..chi).log_scale().with_key_points(ticks),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels((max_epoch as usize).clamp(2, 10))
            .x_labels((max_epoch as usize).clamp(2, 10))
            .y_desc("training cost (per example)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_labels(12)
            .y_label_formatter(&|v| float_tick(*v))
            .draw()
            .map_err(err)?;
        for ((_, colour), points) in drawn.iter().zip(&costs) {
            let points: Vec<_> = points
                .iter()
                .filter(|p| p.1 > 0.0 && p.2 > 0.0)
                .copied()
                .collect();
            draw_band(&mut chart, &points, *colour)?;
        }
    }
    let seeds = summary.groups.iter().map(|g| g.seeds).max().unwrap_or(1);
    let title = if seeds > 1 {
        format!("mean of {seeds} seeds; band: min-max")
    } else {
        "one seed".to_string()
    };
    legend(&side, &title, &entries)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A mean line with a translucent min-max band.
fn draw_band<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    points: &[(f64, f64, f64, f64)],
    colour: RGBColor,
) -> Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    if points.len() > 1 && points.iter().any(|p| p.2 != p.3) {
        let mut outline: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.3)).collect();
        outline.extend(points.iter().rev().map(|p| (p.0, p.2)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                colour.mix(0.15).filled(),
            )))
            .map_err(err)?;
    }
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.0, p.1)),
            colour.stroke_width(2),
        ))
        .map_err(err)?;
    Ok(())
}

fn answer_plot(summary: &Summary, key: &str, path: &Path) -> Result<()> {
    let per_value = best_per_value(key, &summary.groups);
    let numbers: Option<Vec<f64>> = per_value.iter().map(|(_, g)| g.key.number(key)).collect();
    let log = matches!(key, "eta" | "lambda" | "batch_size" | "train_size")
        && numbers.as_ref().is_some_and(|v| v.iter().all(|x| *x > 0.0));
    let ys: Vec<(f64, f64)> = per_value
        .iter()
        .map(|(_, g)| (100.0 * g.best_accuracy.mean, 100.0 * g.best_accuracy.std))
        .collect();
    let lo = ys.iter().map(|(m, s)| m - s).fold(f64::INFINITY, f64::min);
    let (lo, hi) = if lo.is_finite() {
        ((lo - 3.0).max(0.0).floor(), 100.0)
    } else {
        (0.0, 100.0)
    };
    let best = ys
        .iter()
        .enumerate()
        .max_by(|a, b| {
            a.1 .0
                .partial_cmp(&b.1 .0)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map_or(0, |(i, _)| i);
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!("best {} accuracy against {key}", summary.accuracy);
    let y_desc = format!(
        "best {} accuracy (%), mean ± sd over seeds",
        summary.accuracy
    );
    let colour = COLOURS[0];
    let best_label = format!("best: {key} = {} ({:.2}%)", per_value[best].0, ys[best].0);
    if let (true, Some(xs)) = (log, numbers.as_ref()) {
        let (xmin, xmax) = xs
            .iter()
            .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin / 2.0..xmax * 2.0).log_scale(), lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!("{key} (log scale)"))
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_label_formatter(&|v| float_tick(*v))
            .draw()
            .map_err(err)?;
        let points: Vec<(f64, f64, f64)> =
            xs.iter().zip(&ys).map(|(&x, &(m, s))| (x, m, s)).collect();
        draw_answer(&mut chart, &points, best, &best_label, colour, true)?;
    } else {
        let n = per_value.len();
        let labels: Vec<String> = per_value.iter().map(|(v, _)| v.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(key.to_string())
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_labels(n)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        let points: Vec<(f64, f64, f64)> = ys
            .iter()
            .enumerate()
            .map(|(i, &(m, s))| (i as f64, m, s))
            .collect();
        // a line between values only where they are numbers in order
        let connect = numbers.is_some();
        draw_answer(&mut chart, &points, best, &best_label, colour, connect)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A curvature search's power iteration, seed by seed: the estimate of λ after each iteration,
/// converging to the value the answer quotes.
fn curvature(c: &crate::report::searches::CurvatureSummary, path: &Path) -> Result<()> {
    let iterations = c.seeds.iter().map(|s| s.estimates.len()).max().unwrap_or(1);
    let (lo, hi) = c
        .seeds
        .iter()
        .flat_map(|s| s.estimates.iter().copied())
        .fold((0f64, 0f64), |(a, b), x| (a.min(x), b.max(x)));
    let pad = 0.05 * (hi - lo).max(f64::MIN_POSITIVE);
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "largest eigenvalue of the Hessian at the initial weights ({} examples)",
                c.sample
            ),
            (FONT, 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(1f64..iterations.max(2) as f64, lo - pad..hi + pad)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("power iteration")
        .y_desc("estimate of λ (vᵀHv)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(err)?;
    for (k, s) in c.seeds.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                s.estimates
                    .iter()
                    .enumerate()
                    .map(|(i, &e)| ((i + 1) as f64, e)),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!(
                "seed {}: λ = {:.4}, 2/λ = {}",
                s.seed,
                s.lambda,
                float_tick(crate::search::round3(s.threshold))
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A range test's smoothed training cost against eta (log axis), seed by seed, with each
/// seed's suggestions marked (valley: circle, steepest: triangle, minimum / 10: square) and the
/// recommended eta as a dashed line.
fn range_test(r: &crate::report::searches::RangeTestSummary, path: &Path) -> Result<()> {
    let finite = || {
        r.seeds
            .iter()
            .flat_map(|s| s.curve.iter().copied())
            .filter(|p| p.1.is_finite())
    };
    let (lo, hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    // the cost's top is the blow-up (4x its lowest): show up to a little above the start
    let start = r
        .seeds
        .iter()
        .filter_map(|s| s.curve.first().map(|p| p.1))
        .fold(lo, f64::max);
    let top = hi.min(start.max(lo) * 1.5).max(lo + f64::MIN_POSITIVE);
    let pad = 0.05 * (top - lo).max(1e-12);
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "range test: the smoothed cost as eta grows (circles: valley, triangles: steepest, \
             squares: minimum / 10)",
            (FONT, 18),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((r.min..r.max).log_scale(), lo - pad..top + pad)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("eta (log scale)")
        .y_desc("smoothed training cost of the mini-batch")
        .x_label_formatter(&|v| float_tick(*v))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(err)?;
    let clip = |c: f64| c.min(top + pad);
    for (k, s) in r.seeds.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let at = |eta: f64| {
            s.curve
                .iter()
                .min_by(|a, b| {
                    (a.0.ln() - eta.ln())
                        .abs()
                        .total_cmp(&(b.0.ln() - eta.ln()).abs())
                })
                .map(|p| (eta, clip(p.1)))
        };
        chart
            .draw_series(LineSeries::new(
                s.curve
                    .iter()
                    .filter(|p| p.1.is_finite())
                    .map(|p| (p.0, clip(p.1))),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("seed {}", s.seed))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        let g = s.suggestions;
        let marks = [g.valley, g.steepest].map(|v| v.and_then(at));
        if let Some(p) = marks[0] {
            chart
                .draw_series(std::iter::once(Circle::new(p, 6, colour.filled())))
                .map_err(err)?;
        }
        if let Some(p) = marks[1] {
            chart
                .draw_series(std::iter::once(TriangleMarker::new(p, 7, colour.filled())))
                .map_err(err)?;
        }
        if let Some(p) = g.minimum.filter(|m| *m >= r.min).and_then(at) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(p.0 / 1.08, p.1 - pad / 3.0), (p.0 * 1.08, p.1 + pad / 3.0)],
                    colour.filled(),
                )))
                .map_err(err)?;
        }
    }
    if let Some(eta) = r.recommended {
        chart
            .draw_series(DashedLineSeries::new(
                [(eta, lo - pad), (eta, top + pad)],
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!(
                "recommended ({}): eta = {}",
                r.suggestion,
                float_tick(eta)
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// `0.01`, `3`, `100` for axis ticks.
fn float_tick(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn draw_answer<DB: DrawingBackend, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    points: &[(f64, f64, f64)],
    best: usize,
    best_label: &str,
    colour: RGBColor,
    connect: bool,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
{
    if connect {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                colour.stroke_width(2),
            ))
            .map_err(err)?;
    }
    chart
        .draw_series(points.iter().map(|&(x, m, s)| {
            ErrorBar::new_vertical(
                x,
                (m - s).max(0.0),
                m,
                (m + s).min(100.0),
                colour.stroke_width(2),
                12,
            )
        }))
        .map_err(err)?;
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, m, _)| Circle::new((x, m), 4, colour.filled())),
        )
        .map_err(err)?;
    let (bx, bm, _) = points[best];
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(std::iter::once(Circle::new(
            (bx, bm),
            9,
            red.stroke_width(3),
        )))
        .map_err(err)?;
    // the label sits below the marker, clear of the line that runs along the top; it starts at
    // the marker for the first value, ends at it for the last, is centred on it otherwise, so
    // that it stays inside the plot
    let width = (best_label.chars().count() as f64 * 8.6) as i32;
    let dx = match best {
        0 => -10,
        b if b + 1 == points.len() => 10 - width,
        _ => -width / 2,
    };
    let label = EmptyElement::at((bx, bm))
        + Text::new(
            best_label.to_string(),
            (dx, 18),
            (FONT, 16).into_font().color(&red),
        );
    chart.draw_series(std::iter::once(label)).map_err(err)?;
    Ok(())
}

fn heatmap(summary: &Summary, kx: &str, ky: &str, path: &Path) -> Result<()> {
    let xs = best_per_value(kx, &summary.groups);
    let ys = best_per_value(ky, &summary.groups);
    let cell = |vx: &str, vy: &str| -> Option<f64> {
        summary
            .groups
            .iter()
            .filter(|g| g.key.value(kx) == vx && g.key.value(ky) == vy)
            .map(|g| g.best_accuracy.mean)
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| a.max(v)))
            })
    };
    let values: Vec<f64> = xs
        .iter()
        .flat_map(|(vx, _)| {
            ys.iter()
                .filter_map(|(vy, _)| cell(vx, vy))
                .collect::<Vec<_>>()
        })
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (nx, ny) = (xs.len(), ys.len());
    let xl: Vec<String> = xs.iter().map(|x| x.0.clone()).collect();
    let yl: Vec<String> = ys.iter().map(|y| y.0.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("best {} accuracy (%) by {kx} and {ky}", summary.accuracy),
            (FONT, 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
        .map_err(err)?;
    let pick = |labels: &[String], v: f64| -> String {
        let i = (v - 0.5).round();
        if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(kx.to_string())
        .y_desc(ky.to_string())
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .x_labels(2 * nx + 1)
        .y_labels(2 * ny + 1)
        .x_label_formatter(&|v| pick(&xl, *v))
        .y_label_formatter(&|v| pick(&yl, *v))
        .draw()
        .map_err(err)?;
    for (i, (vx, _)) in xs.iter().enumerate() {
        for (j, (vy, _)) in ys.iter().enumerate() {
            let Some(v) = cell(vx, vy) else { continue };
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            let colour = ViridisRGB::get_color(t);
            let (x, y) = (i as f64, j as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    colour.filled(),
                )))
                .map_err(err)?;
            let text_colour = if t > 0.6 { BLACK } else { WHITE };
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{:.2}", 100.0 * v),
                    (x + 0.35, y + 0.55),
                    (FONT, 16).into_font().color(&text_colour),
                )))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::summarize;
    use crate::store::read_metrics;

    fn metrics(dir: &Path, two_keys: bool) -> PathBuf {
        let mut text = String::from("run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds\n");
        let lambdas: &[f64] = if two_keys { &[0.0, 5.0] } else { &[0.0] };
        for (r, &eta) in [0.1, 1.0, 10.0].iter().enumerate() {
            for &lambda in lambdas {
                for seed in 1..=2 {
                    for epoch in 1..=4 {
                        let acc = 0.5 + 0.1 * r as f64 + 0.02 * epoch as f64 + 0.01 * seed as f64
                            - 0.01 * lambda;
                        let cost = 0.5 / (epoch as f64 * (r + 1) as f64);
                        text += &format!("x{r}{seed},784-30-10,{eta},10,4,{seed},quadratic,large,{lambda},1000,{epoch},{cost},,,{acc},,{acc},0.1\n");
                    }
                }
            }
        }
        let p = dir.join("metrics.csv");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn svg(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{} is not valid XML: {e}", path.display()));
        assert!(text.contains("<svg"), "{}", path.display());
        text
    }

    #[test]
    fn plots_are_valid_svg_with_the_expected_series() {
        let dir = tempfile::tempdir().unwrap();
        let s = summarize(&read_metrics(&metrics(dir.path(), false)).unwrap());
        let written = write_plots(&s, &dir.path().join("plots")).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["learning_curves.svg", "answer.svg"]);
        let curves = svg(&written[0]);
        for label in [
            "eta=0.1",
            "eta=1.0",
            "eta=10.0",
            "validation accuracy (%)",
            "training cost",
            "epoch",
        ] {
            assert!(curves.contains(label), "learning curves lack {label}");
        }
        // one mean line per eta in each of the two panels, plus the legend swatches
        assert!(
            curves.matches("<polyline").count() >= 6,
            "{}",
            curves.matches("<polyline").count()
        );
        let answer = svg(&written[1]);
        assert!(answer.contains("eta (log scale)"));
        assert!(
            answer.contains("best: eta = 10.0"),
            "the best value is marked"
        );
    }

    #[test]
    fn two_swept_settings_add_a_heat_map() {
        let dir = tempfile::tempdir().unwrap();
        let s = summarize(&read_metrics(&metrics(dir.path(), true)).unwrap());
        assert_eq!(s.swept, vec!["eta", "lambda"]);
        let written = write_plots(&s, &dir.path().join("plots")).unwrap();
        assert_eq!(written.len(), 3);
        let heat = svg(&written[2]);
        assert!(heat.contains("by eta and lambda"));
        // six cells, each with its value
        assert!(heat.matches("<rect").count() >= 6);
        assert!(
            heat.contains("\n79.50\n"),
            "the best cell shows its mean best accuracy"
        );
    }

    #[test]
    fn an_ordered_setting_is_drawn_in_value_order_along_a_colour_map() {
        let dir = tempfile::tempdir().unwrap();
        let s = summarize(&read_metrics(&metrics(dir.path(), false)).unwrap());
        // ranked best first (eta 10, 1, 0.1) but drawn and listed smallest first
        assert_eq!(s.groups[0].key.value("eta"), "10.0");
        let drawn = curves(&s);
        let etas: Vec<String> = drawn.iter().map(|(g, _)| g.key.value("eta")).collect();
        assert_eq!(etas, ["0.1", "1.0", "10.0"]);
        let colours: Vec<RGBColor> = drawn.iter().map(|(_, c)| *c).collect();
        assert_eq!(colours[0], ViridisRGB::get_color(0.0));
        assert_eq!(colours[2], ViridisRGB::get_color(0.85));
        assert!(colours[0] != colours[1] && colours[1] != colours[2]);
        // two swept settings: best first, in distinguishable colours
        let s = summarize(&read_metrics(&metrics(dir.path(), true)).unwrap());
        let drawn = curves(&s);
        assert_eq!(drawn[0].0.key.value("eta"), s.groups[0].key.value("eta"));
        assert_eq!(drawn[0].1, COLOURS[0]);
    }

    #[test]
    fn without_an_accuracy_only_the_cost_is_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        let mut text = String::from("run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds\n");
        for (r, eta) in [0.5, 3.0].iter().enumerate() {
            for epoch in 1..=2 {
                let cost = 0.5 / (epoch as f64 + r as f64);
                text += &format!("x{r},784-30-10,{eta},10,2,1,quadratic,large,0.0,1000,{epoch},{cost},,,,,,0.1\n");
            }
        }
        std::fs::write(&p, text).unwrap();
        let s = summarize(&read_metrics(&p).unwrap());
        assert_eq!(s.accuracy, "");
        let written = write_plots(&s, &dir.path().join("plots")).unwrap();
        assert_eq!(written.len(), 1, "no answer plot without an accuracy");
        let curves = svg(&written[0]);
        assert!(curves.contains("training cost"));
        assert!(!curves.contains("accuracy"), "no empty accuracy panel");
    }
}
