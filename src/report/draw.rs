//! The report's figure, drawn with plotters: a title, three panels side by side (training
//! loss, validation top-1 and learning rate against the epoch, one line per series, the
//! seeds of a sweep point as their mean with a shaded min–max band), and a legend below
//! them. The same drawing goes to a bitmap (PNG) or to SVG; text is set in the bundled
//! DejaVu Sans (`assets/fonts`, its licence beside it), so no system font is needed.

use super::aggregate::{Band, Metric, Series};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

/// DejaVu Sans (Bitstream Vera licence, with the DejaVu changes in the public domain:
/// `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family every text of the figure names (the bundled font is registered under it).
const FAMILY: &str = "sans-serif";

pub const WIDTH: u32 = 1500;
const TITLE_H: u32 = 44;
const PANEL_H: u32 = 430;
const LEGEND_ROW: u32 = 26;
const LEGEND_PAD: u32 = 16;
const SWATCH: u32 = 34;
/// Legend entries longer than this are cut (with `…`).
const MAX_LABEL: usize = 80;

/// Tableau's ten colours, then again (a report of more than ten series repeats them).
const PALETTE: [RGBColor; 10] = [
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

/// What is drawn: a title and the series.
pub struct Figure<'a> {
    pub title: String,
    pub series: &'a [Series],
}

/// The colour of the `i`-th series.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn register_font() -> Result<(), String> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| "the bundled font does not load".to_string())
}

/// A legend entry: the series' label, with its number of seeds when it averages several.
fn legend_text(s: &Series) -> String {
    let label = if s.label.chars().count() > MAX_LABEL {
        let cut: String = s.label.chars().take(MAX_LABEL - 1).collect();
        format!("{cut}…")
    } else {
        s.label.clone()
    };
    if s.is_group() {
        format!("{label} · mean of {} seeds", s.runs.len())
    } else {
        label
    }
}

/// How the legend is laid out: entries per row, and rows.
fn legend_grid(fig: &Figure) -> Result<(u32, u32, u32), String> {
    let font = (FAMILY, 15).into_font();
    let mut widest = 0;
    for s in fig.series {
        let (w, _) = font.box_size(&legend_text(s)).map_err(|e| e.to_string())?;
        widest = widest.max(w);
    }
    let column = SWATCH + 10 + widest + 28;
    let columns = ((WIDTH - 2 * LEGEND_PAD) / column.max(1)).max(1);
    let n = u32::try_from(fig.series.len()).unwrap_or(u32::MAX);
    Ok((columns, n.div_ceil(columns), column))
}

/// The figure's size in pixels.
pub fn size(fig: &Figure) -> Result<(u32, u32), String> {
    register_font()?;
    let (_, rows, _) = legend_grid(fig)?;
    let note = u32::from(fig.series.iter().any(Series::is_group));
    let legend = 2 * LEGEND_PAD + (rows + note) * LEGEND_ROW;
    Ok((WIDTH, TITLE_H + PANEL_H + legend))
}

/// The figure as an SVG document.
pub fn svg(fig: &Figure) -> Result<String, String> {
    let dims = size(fig)?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, dims).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(text)
}

/// The figure as a PNG file's bytes.
pub fn png(fig: &Figure) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let (w, h) = size(fig)?;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (title, rest) = root.split_vertically(TITLE_H);
    let (panels, legend) = rest.split_vertically(PANEL_H);
    title
        .draw(&Text::new(
            fig.title.clone(),
            (LEGEND_PAD as i32, 12),
            (FAMILY, 22).into_font().color(&BLACK),
        ))
        .map_err(err)?;
    for (area, metric) in panels.split_evenly((1, 3)).iter().zip(Metric::ALL) {
        panel(area, fig.series, metric)?;
    }
    draw_legend(&legend, fig)
}

/// The range of `values`, widened by 5% each side (and to a unit when they are all equal).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.05
    } else {
        (lo.abs() * 0.1).max(1e-9)
    };
    (lo - pad, hi + pad)
}

/// Decimals that tell apart ticks over `span` (about 6 of them).
fn decimals(span: f64) -> usize {
    if span <= 0.0 || !span.is_finite() {
        return 2;
    }
    (-(span / 6.0).log10()).ceil().clamp(0.0, 6.0) as usize
}

/// A learning rate: `5e-4`, `1.5e-3`, `0`.
fn sci(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // A true minus sign: a hyphen is hard to see at the size of tick labels.
    format!("{v:.1e}")
        .replace(".0e", "e")
        .replace('-', "\u{2212}")
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    metric: Metric,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let curves: Vec<Vec<Band>> = series.iter().map(|s| s.curve(metric)).collect();
    let all = || curves.iter().flatten();
    let (x0, x1) = {
        let lo = all().map(|b| b.epoch).min().unwrap_or(1) as f64;
        let hi = all().map(|b| b.epoch).max().unwrap_or(1) as f64;
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        }
    };
    let (mut y0, mut y1) = padded(all().flat_map(|b| [b.min, b.max]));
    match metric {
        Metric::ValTop1 => {
            y0 = y0.max(0.0);
            y1 = y1.min(1.0);
            if y1 <= y0 {
                (y0, y1) = (0.0, 1.0);
            }
        }
        Metric::Lr => y0 = 0.0,
        Metric::TrainLoss => {}
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let ydec = decimals(y1 - y0);
    let x_ticks = ((x1 - x0).round() as usize + 1).clamp(2, 10);
    let mut chart = ChartBuilder::on(area)
        .caption(metric.title(), (FAMILY, 19))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(46)
        .y_label_area_size(if metric == Metric::Lr { 70 } else { 62 })
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let y_format = move |v: &f64| match metric {
        Metric::Lr => sci(*v),
        _ => format!("{v:.ydec$}"),
    };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(x_ticks)
        .y_labels(7)
        .x_label_formatter(&|v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        })
        .y_label_formatter(&y_format)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .bold_line_style(BLACK.mix(0.1))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    for (i, (s, c)) in series.iter().zip(&curves).enumerate() {
        if s.is_group() && c.len() > 1 {
            let mut outline: Vec<(f64, f64)> = c.iter().map(|b| (b.epoch as f64, b.max)).collect();
            outline.extend(c.iter().rev().map(|b| (b.epoch as f64, b.min)));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color(i).mix(0.2).filled(),
                )))
                .map_err(err)?;
        }
    }
    for (i, c) in curves.iter().enumerate() {
        let style = color(i).stroke_width(2);
        let points: Vec<(f64, f64)> = c.iter().map(|b| (b.epoch as f64, b.mean)).collect();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(err)?;
        if points.len() <= 40 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color(i).filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &Figure,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (columns, _, column) = legend_grid(fig)?;
    let font = (FAMILY, 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row = LEGEND_ROW as i32;
    let pad = LEGEND_PAD as i32;
    for (i, s) in fig.series.iter().enumerate() {
        let (col, line) = (i as u32 % columns, i as u32 / columns);
        let x = pad + (col * column) as i32;
        let y = pad + line as i32 * row;
        let mid = y + row / 2;
        if s.is_group() {
            area.draw(&Rectangle::new(
                [(x, mid - 7), (x + SWATCH as i32, mid + 7)],
                color(i).mix(0.2).filled(),
            ))
            .map_err(err)?;
        }
        area.draw(&PathElement::new(
            vec![(x, mid), (x + SWATCH as i32, mid)],
            color(i).stroke_width(3),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            legend_text(s),
            (x + SWATCH as i32 + 10, mid),
            font.clone(),
        ))
        .map_err(err)?;
    }
    if fig.series.iter().any(Series::is_group) {
        let (_, rows, _) = legend_grid(fig)?;
        area.draw(&Text::new(
            "line: mean across seeds · shaded band: min–max across seeds (each epoch)",
            (pad, pad + rows as i32 * row + 4),
            (FAMILY, 14).into_font().color(&BLACK.mix(0.7)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short_and_distinct() {
        assert_eq!(sci(5e-4), "5e\u{2212}4");
        assert_eq!(sci(1.5e-3), "1.5e\u{2212}3");
        assert_eq!(sci(-2.0), "\u{2212}2e0");
        assert_eq!(sci(0.0), "0");
        assert_eq!(decimals(1.0), 1);
        assert_eq!(decimals(0.06), 2);
        assert_eq!(decimals(30.0), 0);
        assert_eq!(padded([1.0, 3.0].into_iter()), (0.9, 3.1));
        assert_eq!(padded(std::iter::empty()), (0.0, 1.0));
        let (lo, hi) = padded([2.0].into_iter());
        assert!(lo < 2.0 && hi > 2.0);
    }
}
