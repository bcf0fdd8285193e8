//! The report as one self-contained HTML page: the figure's SVG inline, then the table of
//! final and best validation top-1.

use super::aggregate::Row;

/// Text made safe inside HTML elements and attribute values.
fn escape(s: &str) -> String {
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

/// The page: `title`, the figure (`svg`, an SVG document) and one table row per series.
pub fn page(title: &str, svg: &str, rows: &[Row]) -> String {
    let svg = svg
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>"))
        .map_or(svg, |(_, body)| body)
        .trim();
    let mut table = String::new();
    for r in rows {
        let cell = |s: &Option<super::aggregate::Stat>| {
            s.as_ref()
                .map_or("—".to_string(), super::aggregate::Stat::show)
        };
        table.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&r.label),
            r.n,
            escape(&r.show_epochs()),
            escape(&cell(&r.final_top1)),
            escape(&cell(&r.best_top1)),
        ));
    }
    let title = escape(title);
    format!(
        "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<title>{title}</title>
<style>
body {{ font-family: 'DejaVu Sans', sans-serif; margin: 1.5em; color: #222; }}
svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
th, td {{ padding: 0.3em 0.9em; border-bottom: 1px solid #ddd; }}
td:not(:first-child), th:not(:first-child) {{ text-align: right; font-variant-numeric: tabular-nums; }}
th {{ text-align: left; }}
</style>
</head>
<body>
<h1>{title}</h1>
{svg}
<table>
<thead><tr><th>series</th><th>runs</th><th>epochs</th><th>final top-1</th><th>best top-1</th></tr></thead>
<tbody>
{table}</tbody>
</table>
<p>Final: the last measured validation top-1 of each run; best: its highest. Across the runs of
a series (the seeds of a sweep point): mean ± sample standard deviation. In the figure, the
line is the mean across seeds and the shaded band their minimum to maximum.</p>
</body>
</html>
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_the_svg_without_its_xml_declaration_and_escapes_labels() {
        let svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg width=\"10\"></svg>";
        let row = Row {
            label: "a<b & c".into(),
            n: 2,
            epochs: (3, 3),
            final_top1: None,
            best_top1: None,
        };
        let page = page("t", svg, &[row]);
        assert!(
            page.contains("<h1>t</h1>\n<svg width=\"10\"></svg>"),
            "{page}"
        );
        assert!(!page.contains("<?xml"));
        assert!(page.contains("<td>a&lt;b &amp; c</td><td>2</td><td>3</td><td>—</td>"));
    }
}
