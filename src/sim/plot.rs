//! The SVG charts of `pcscale simulate`, each readable at a glance. Text is
//! written as SVG `<text>` elements, so no font library is needed.
//!
//! * `--plot FILE.svg`: one function's day as small multiples, one panel per
//!   policy: the demand (grey), the policy's usable provisioned concurrency
//!   (colour) and its cold starts per minute (black ticks), on a shared scale.
//! * `--cost-plot FILE.svg`: every policy's cost against its cold starts on
//!   the simulated fleet, with pcscale's frontier (`--frontier`) as a line.

use std::path::Path;

use plotters::prelude::*;

use super::SimError;
use super::report::{FrontierPoint, PlotData, SimReport};

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

const COLD: RGBColor = RGBColor(0, 0, 0);
const DEMAND: RGBColor = RGBColor(160, 160, 160);

/// Step-shaped points: each minute's value held until the next minute.
fn steps(values: &[u32], start_minute: u32) -> Vec<(f64, f64)> {
    let mut pts = Vec::with_capacity(values.len() * 2);
    for (m, &v) in values.iter().enumerate() {
        let x0 = (f64::from(start_minute) + m as f64) / 60.0;
        let x1 = x0 + 1.0 / 60.0;
        pts.push((x0, f64::from(v)));
        pts.push((x1, f64::from(v)));
    }
    pts
}

/// The colour of a policy, the same in every chart.
fn color_of(name: &str) -> RGBColor {
    let i = super::PolicyKind::ALL
        .iter()
        .position(|k| k.name() == name)
        .unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn money(v: f64) -> String {
    if v >= 10.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.3}")
    }
}

/// Renders `--plot` as an SVG document: one panel per policy.
pub fn render_svg(data: &PlotData) -> Result<String, String> {
    let panels = data.policies.len().max(1);
    let cols = if panels > 1 { 2 } else { 1 };
    let rows = panels.div_ceil(cols);
    let (w, panel_h, head) = (1400u32, 230u32, 50u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, head + panel_h * rows as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (title, body) = root.split_vertically(head);
        let short: String = data.function.chars().take(16).collect();
        title
            .draw(&Text::new(
                format!(
                    "Function {short}… (peak concurrency {}): demand (grey), usable PC (colour), cold starts per minute (black ticks)",
                    data.peak_concurrency
                ),
                (15, 15),
                ("sans-serif", 20).into_font(),
            ))
            .map_err(|e| e.to_string())?;
        let minutes = data.demand.len().max(1) as f64;
        let x0 = f64::from(data.start_minute) / 60.0;
        let x1 = x0 + minutes / 60.0;
        let top = data
            .demand
            .iter()
            .chain(data.policies.iter().flat_map(|p| p.pc.iter()))
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let y_top = f64::from(top) * 1.15;
        let areas = body.split_evenly((rows, cols));
        for (area, series) in areas.iter().zip(&data.policies) {
            let color = color_of(&series.name);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{}: {} cold starts, {}",
                        series.name,
                        series.cold,
                        money(series.cost)
                    ),
                    ("sans-serif", 17).into_font().color(&color),
                )
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(40)
                .build_cartesian_2d(x0..x1, 0.0..y_top)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_labels(9)
                .y_labels(4)
                .x_label_formatter(&|x| format!("{:02}:00", (x.round() as i64).rem_euclid(24)))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .light_line_style(RGBColor(238, 238, 238))
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(
                    steps(&data.demand, data.start_minute),
                    DEMAND.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(
                    steps(&series.pc, data.start_minute),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
            // Cold starts: a black tick per minute with any, taller with more.
            let scale = y_top / 8.0 / f64::from(top.max(1));
            let ticks = series
                .cold_per_minute
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(m, &c)| {
                    let x = (f64::from(data.start_minute) + m as f64 + 0.5) / 60.0;
                    let h = (f64::from(c) * scale * 4.0).clamp(y_top / 40.0, y_top / 4.0);
                    PathElement::new(vec![(x, 0.0), (x, h)], COLD.stroke_width(1))
                });
            chart.draw_series(ticks).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Renders `--cost-plot` as an SVG document: cost against cold starts of
/// every policy of `report`, pcscale's frontier as a line.
pub fn render_cost_svg(report: &SimReport) -> Result<String, String> {
    let points: Vec<(String, f64, f64)> = report
        .policies
        .iter()
        .map(|r| (r.policy.clone(), r.cold_starts as f64, r.cost_total))
        .collect();
    let frontier: &[FrontierPoint] = &report.frontier;
    let all_x = points
        .iter()
        .map(|p| p.1)
        .chain(frontier.iter().map(|f| f.cold_starts as f64));
    let all_y = points
        .iter()
        .map(|p| p.2)
        .chain(frontier.iter().map(|f| f.cost_total));
    let x_max = all_x.fold(1.0_f64, f64::max) * 1.12;
    let y_max = all_y.clone().fold(0.0_f64, f64::max);
    let y_min = all_y.fold(f64::INFINITY, f64::min).min(y_max);
    let pad = ((y_max - y_min) * 0.08).max(0.01);
    let (y0, y1) = ((y_min - pad).max(0.0), y_max + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Cost against cold starts, {} functions, {} minutes (lower left is better)",
                    report.functions_evaluated, report.minutes
                ),
                ("sans-serif", 22),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(0.0..x_max, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("cold starts")
            .y_desc("cost, US $ (controller and alarms included)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(|e| e.to_string())?;
        if !frontier.is_empty() {
            let mut line: Vec<(f64, f64)> = frontier
                .iter()
                .map(|f| (f.cold_starts as f64, f.cost_total))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let c = color_of("pcscale");
            chart
                .draw_series(LineSeries::new(line, c.mix(0.6).stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label("pcscale's frontier (MinColdStartsPerInstanceHour)")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(frontier.iter().map(|f| {
                    EmptyElement::at((f.cold_starts as f64, f.cost_total))
                        + Circle::new((0, 0), 3, c.filled())
                        + Text::new(
                            format!("T={}", f.min_cold_starts_per_instance_hour),
                            (4, 4),
                            ("sans-serif", 12).into_font().color(&c),
                        )
                }))
                .map_err(|e| e.to_string())?;
        }
        let offsets = label_offsets(&points, (x_max, y0, y1), (1085.0, 640.0));
        chart
            .draw_series(points.iter().zip(offsets).map(|((name, x, y), off)| {
                let c = color_of(name);
                EmptyElement::at((*x, *y))
                    + Circle::new((0, 0), 6, c.filled())
                    + Text::new(name.clone(), off, ("sans-serif", 15).into_font().color(&c))
            }))
            .map_err(|e| e.to_string())?;
        if !frontier.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Where each point's label goes (pixel offsets from the point): the first
/// of four places around it that does not overlap a label already placed.
fn label_offsets(
    points: &[(String, f64, f64)],
    (x_max, y0, y1): (f64, f64, f64),
    (w, h): (f64, f64),
) -> Vec<(i32, i32)> {
    let mut placed: Vec<(f64, f64, f64)> = Vec::new(); // left, top, width
    points
        .iter()
        .map(|(name, x, y)| {
            let px = x / x_max * w;
            let py = (y1 - y) / (y1 - y0).max(1e-9) * h;
            let lw = name.len() as f64 * 8.5;
            let choices = [
                (9, -18),
                (9, 6),
                (-(lw as i32) - 9, -18),
                (-(lw as i32) - 9, 6),
                (9, 24),
                (9, -36),
            ];
            let free = |(dx, dy): (i32, i32)| {
                let (l, t) = (px + f64::from(dx), py + f64::from(dy));
                placed.iter().all(|&(pl, pt, pw)| {
                    l + lw < pl || pl + pw < l || t + 16.0 < pt || pt + 16.0 < t
                })
            };
            let off = choices
                .iter()
                .copied()
                .find(|&c| free(c))
                .unwrap_or(choices[0]);
            placed.push((px + f64::from(off.0), py + f64::from(off.1), lw));
            off
        })
        .collect()
}

fn write(path: &Path, svg: Result<String, String>) -> Result<(), SimError> {
    let name = path.display().to_string();
    let svg = svg.map_err(|message| SimError::Write {
        path: name.clone(),
        message,
    })?;
    std::fs::write(path, svg).map_err(|e| SimError::Write {
        path: name,
        message: e.to_string(),
    })
}

/// Writes `--plot` to `path`.
pub fn write_svg(path: &Path, data: &PlotData) -> Result<(), SimError> {
    write(path, render_svg(data))
}

/// Writes `--cost-plot` to `path`.
pub fn write_cost_svg(path: &Path, report: &SimReport) -> Result<(), SimError> {
    write(path, render_cost_svg(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::report::PlotSeries;

    fn series(name: &str, pc: Vec<u32>, cold: u64) -> PlotSeries {
        PlotSeries {
            name: name.into(),
            cold_per_minute: vec![0, 1, 0, 0],
            pc,
            cold,
            cost: 0.5,
        }
    }

    #[test]
    fn timeline_has_one_panel_per_policy_with_its_cold_starts() {
        let data = PlotData {
            function: "abcdef0123456789abcdef".into(),
            peak_concurrency: 5,
            start_minute: 0,
            demand: vec![0, 3, 5, 2],
            policies: vec![
                series("no-pc", vec![0, 0, 0, 0], 7),
                series("pcscale", vec![0, 0, 5, 5], 4),
                series("tencent", vec![0, 5, 5, 5], 1),
            ],
        };
        let svg = render_svg(&data).expect("renders");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("<text"), "text must be SVG text elements");
        assert!(svg.contains("peak concurrency 5"));
        for title in [
            "no-pc: 7 cold starts",
            "pcscale: 4 cold starts",
            "tencent: 1 cold starts",
        ] {
            assert!(svg.contains(title), "no panel {title:?}");
        }
        // Demand and PC in each of the three panels.
        assert!(svg.matches("<polyline").count() >= 6);
    }
}
