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
         figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}\n</style></head><body>\n\
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
    page.push_str("<h2>Summary</h2>\n<table>\n");
    let (header, rows) = summary.table();
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
    page.push_str("</table>\n<h2>Plots</h2>\n");
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
    let _ = writeln!(
        page,
        "<h2>The experiment</h2>\n<pre>{}</pre>\n</body></html>",
        escape(experiment)
    );
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
