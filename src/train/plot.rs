//! `plot.png` in the output folder: training loss per step (left) and validation CIDEr-D and
//! CLIPScore per epoch (right).

use image::{Rgb, RgbImage};

use crate::render::{TEXT_HEIGHT, draw_line, draw_text};

const W: u32 = 480;
const H: u32 = 300;
const PAD: f32 = 40.0;

fn panel(img: &mut RgbImage, x0: u32, title: &str, series: &[(&str, [u8; 3], &[(f64, f64)])]) {
    draw_text(img, x0 + 8, 6, title, W - 16, [20, 20, 20]);
    let (left, right, top, bottom) = (x0 as f32 + PAD, (x0 + W) as f32 - 12.0, PAD, H as f32 - PAD);
    draw_line(img, (left, bottom), (right, bottom), [120, 120, 120]);
    draw_line(img, (left, top), (left, bottom), [120, 120, 120]);
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.2.iter().copied()).filter(|p| p.1.is_finite()).collect();
    if pts.is_empty() {
        return;
    }
    let (xmin, xmax) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (ymin, ymax) = if ymax > ymin { (ymin, ymax) } else { (ymin - 1.0, ymax + 1.0) };
    let xs = |x: f64| left + ((x - xmin) / (xmax - xmin).max(1e-9)) as f32 * (right - left);
    let ys = |y: f64| bottom - ((y - ymin) / (ymax - ymin)) as f32 * (bottom - top);
    draw_text(img, x0 + 2, top as u32 - TEXT_HEIGHT / 2, &format!("{ymax:.3}"), 60, [90, 90, 90]);
    draw_text(img, x0 + 2, bottom as u32 - TEXT_HEIGHT, &format!("{ymin:.3}"), 60, [90, 90, 90]);
    for (k, (name, color, s)) in series.iter().enumerate() {
        draw_text(img, x0 + 60 + 150 * k as u32, H - TEXT_HEIGHT - 4, name, 140, *color);
        for w in s.windows(2) {
            draw_line(img, (xs(w[0].0), ys(w[0].1)), (xs(w[1].0), ys(w[1].1)), *color);
        }
        if s.len() == 1 {
            draw_line(img, (xs(s[0].0) - 2.0, ys(s[0].1)), (xs(s[0].0) + 2.0, ys(s[0].1)), *color);
        }
    }
}

/// Draws the two panels.
pub fn plot(loss: &[(f64, f64)], val_loss: &[(f64, f64)], cider: &[(f64, f64)], clipscore: &[(f64, f64)]) -> RgbImage {
    let mut img = RgbImage::from_pixel(2 * W, H, Rgb([255, 255, 255]));
    panel(&mut img, 0, "loss / step", &[("train", [31, 119, 180], loss), ("val", [214, 39, 40], val_loss)]);
    panel(&mut img, W, "validation / epoch", &[("CIDEr-D", [44, 160, 44], cider), ("CLIPScore", [148, 103, 189], clipscore)]);
    img
}
