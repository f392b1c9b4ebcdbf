//! `report.html`: one self-contained page (the answers, the summary table, every plot inlined and
//! the experiment file), readable with no network access.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::summary::Summary;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `**bold**` to `<strong>`, the only Markdown the answers use.
fn inline_markdown(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split("**").enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<strong>{part}</strong>");
        } else {
            out.push_str(part);
        }
    }
    out
}

pub(super) fn page(summary: &Summary, experiment: &str, plots: &[PathBuf]) -> Result<String> {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>runner report</title>\n<style>\n\
         body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1350px;margin:2em auto;padding:0 1em;color:#222}\n\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\n\
         th{background:#f3f3f3}pre{background:#f7f7f7;padding:1em;overflow-x:auto}\n\
         figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}\n\
         .view{margin:1.5em 0}#runs tbody tr{cursor:pointer}#runs tbody tr:hover{background:#f3f7ff}\n\
         #runs tr.focused{background:#fff3c4}#runs th{cursor:pointer}\n\
         #runs th[data-order=up]::after{content:' \\25B2'}#runs th[data-order=down]::after{content:' \\25BC'}\n\
         #report-errors{color:#b00;white-space:pre-wrap}\n</style></head><body>\n\
         <h1>runner report</h1>\n",
    );
    page.push_str("<h2>The answer</h2>\n");
    for a in &summary.answers {
        let _ = writeln!(page, "<p>{}</p>", inline_markdown(a));
    }
    if summary.answers.is_empty() {
        page.push_str(
            "<p>Only one setting was tried (the seed aside), so there is nothing to compare.</p>\n",
        );
    }
    let specs = super::interactive::specs(summary);
    page.push_str(
        "<h2>Interactive views</h2>\n<div id=\"report-errors\" role=\"alert\"></div>\n\
         <noscript><p>These views need JavaScript; the same plots are drawn below as \
         images.</p></noscript>\n",
    );
    for (name, _) in &specs {
        let _ = writeln!(page, "<div id=\"view-{name}\" class=\"view\"></div>");
    }
    if specs.is_empty() {
        page.push_str(
            "<p>No curves to draw: neither an accuracy nor the training cost was monitored \
             (`monitor` in [data]).</p>\n",
        );
    }
    page.push_str(
        "<h3>Runs</h3>\n<p>Click a column's header to sort by it, a run to show its \
         configuration's curves (click again to show all).</p>\n",
    );
    page.push_str(&super::interactive::runs_table(summary));
    page.push_str(&summary_table(summary));
    page.push_str(&static_plots(plots)?);
    let _ = writeln!(
        page,
        "<h2>The experiment</h2>\n<pre>{}</pre>",
        escape(experiment)
    );
    let _ = writeln!(
        page,
        "<details><summary>Third-party licences (the JavaScript inlined in this page)</summary>\
         <pre>{}</pre></details>",
        escape(super::interactive::NOTICE)
    );
    for (name, code) in super::interactive::LIBRARIES {
        let _ = writeln!(
            page,
            "<script>/* {name}, BSD-3-Clause: see the third-party licences above */\n{code}\n</script>"
        );
    }
    let _ = writeln!(
        page,
        "<script>\n{}\n</script>\n</body></html>",
        super::interactive::boot_script(&specs)
    );
    Ok(page)
}

/// The summary's table.
fn summary_table(summary: &Summary) -> String {
    let (header, rows) = summary.table();
    if rows.is_empty() {
        return String::new();
    }
    let mut page = String::from("<h2>Summary</h2>\n<table>\n");
    let mut row = |tag: &str, cells: &[String]| {
        page.push_str("<tr>");
        for c in cells {
            let _ = write!(page, "<{tag}>{}</{tag}>", escape(c));
        }
        page.push_str("</tr>\n");
    };
    row("th", &header);
    for cells in &rows {
        row("td", cells);
    }
    page.push_str("</table>\n");
    page
}

/// The plots' SVG files inlined, each in a figure named after it.
fn static_plots(plots: &[PathBuf]) -> Result<String> {
    let mut page = String::from("<h2>Plots (static)</h2>\n");
    for p in plots {
        let svg =
            std::fs::read_to_string(p).with_context(|| format!("reading '{}'", p.display()))?;
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "<figure id=\"{name}\">\n{svg}\n<figcaption>{name}</figcaption></figure>"
        );
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_bold_and_escaping() {
        assert_eq!(
            inline_markdown("**eta**: a < b"),
            "<strong>eta</strong>: a &lt; b"
        );
    }
}
