//! `--plot FILE.svg`: one function's demand and each policy's usable PC over
//! the day, as an SVG a person can open in a browser. Text is written as SVG
//! `<text>` elements, so no font library is needed.

use std::path::Path;

use plotters::prelude::*;

use super::SimError;
use super::report::PlotData;

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

/// Renders the plot as an SVG document.
pub fn render_svg(data: &PlotData) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let minutes = data.demand.len().max(1) as f64;
        let x0 = f64::from(data.start_minute) / 60.0;
        let x1 = x0 + minutes / 60.0;
        let top = data
            .demand
            .iter()
            .chain(data.policies.iter().flat_map(|(_, v, _)| v.iter()))
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let short: String = data.function.chars().take(16).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Function {short}…: demand and usable provisioned concurrency"),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0.0..(f64::from(top) * 1.1))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("hour of the day (UTC)")
            .y_desc("concurrent executions")
            .x_label_formatter(&|x| format!("{:02}:00", (x.round() as i64).rem_euclid(24)))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new(
                steps(&data.demand, data.start_minute),
                grey.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label("demand: peak concurrency per minute")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(3))
            });
        for (i, (name, values, cold)) in data.policies.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    steps(values, data.start_minute),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("{name} PC ({cold} cold starts)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes the plot to `path`.
pub fn write_svg(path: &Path, data: &PlotData) -> Result<(), SimError> {
    let name = path.display().to_string();
    let svg = render_svg(data).map_err(|message| SimError::Write {
        path: name.clone(),
        message,
    })?;
    std::fs::write(path, svg).map_err(|e| SimError::Write {
        path: name,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_axis_labels_legend_and_one_path_per_series() {
        let data = PlotData {
            function: "abcdef0123456789abcdef".into(),
            start_minute: 0,
            demand: vec![0, 3, 5, 2],
            policies: vec![("pcscale".into(), vec![0, 0, 5, 5], 4)],
        };
        let svg = render_svg(&data).expect("renders");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("<text"), "text must be SVG text elements");
        assert!(svg.contains("hour of the day"));
        assert!(svg.contains("pcscale PC (4 cold starts)"));
        assert!(svg.matches("<polyline").count() >= 2);
    }
}
