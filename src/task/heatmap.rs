//! Attention heat maps: one token's cross-attention over the patch grid (a layer, or the mean
//! of all), scaled to [0, 1] and coloured by viridis. The CLI's figures and the page's
//! overlays both draw these.

/// One token's map over the `cells` patches from its per-layer rows `[layer][1 + cells]`
/// (CLS first, dropped): the mean over layers, or `layer` alone; min-max scaled to [0, 1]
/// (all zero when flat). A `layer` past the last takes the mean.
pub fn token_map(layers: &[Vec<f32>], cells: usize, layer: Option<usize>) -> Vec<f32> {
    let rows: &[Vec<f32>] = match layer {
        Some(l) if l < layers.len() => &layers[l..=l],
        _ => layers,
    };
    let mut m = vec![0f32; cells];
    for r in rows {
        for (a, b) in m.iter_mut().zip(r.iter().skip(1)) {
            *a += b / rows.len() as f32;
        }
    }
    let (lo, hi) = m.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    m.iter().map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 }).collect()
}

/// RGBA pixels (opaque) of a `[0, 1]` map, one per cell, by viridis.
pub fn rgba(map: &[f32]) -> Vec<u8> {
    map.iter()
        .flat_map(|&v| {
            let [r, g, b] = viridis(v);
            [r, g, b, 255]
        })
        .collect()
}

/// Viridis, by a degree-6 polynomial fit (perceptually uniform, colour-blind safe).
pub fn viridis(t: f32) -> [u8; 3] {
    const C: [[f32; 3]; 7] = [
        [0.277_727_3, 0.005_407_345, 0.334_099_8],
        [0.105_093_04, 1.404_613_5, 1.384_590_2],
        [-0.330_861_83, 0.214_847_56, 0.095_095_16],
        [-4.634_230_6, -5.799_101, -19.332_441],
        [6.228_27, 14.179_933, 56.690_55],
        [4.776_385, -13.745_145, -65.353_03],
        [-5.435_456, 4.645_852_6, 26.312_435],
    ];
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|c| {
        let v = C.iter().rev().fold(0.0, |acc, k| acc * t + k[c]);
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_map_drops_cls_averages_and_scales() {
        let m = token_map(&[vec![0.9, 0.1, 0.2, 0.3, 0.4], vec![0.0, 0.3, 0.2, 0.1, 0.0]], 4, None);
        assert_eq!(m, vec![0.0; 4], "the mean is flat: all zero");
        let m = token_map(&[vec![0.9, 0.1, 0.2, 0.3, 0.4], vec![0.0, 0.3, 0.2, 0.1, 0.0]], 4, Some(0));
        assert_eq!(m.len(), 4);
        assert!(m[0].abs() < 1e-6 && (m[3] - 1.0).abs() < 1e-6, "{m:?}");
        assert_eq!(rgba(&m).len(), 16);
    }

    #[test]
    fn viridis_endpoints() {
        // The polynomial fit stays within a few levels of matplotlib's table.
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() <= 5);
        assert!(close(viridis(0.0), [68, 1, 84]), "{:?}", viridis(0.0));
        assert!(close(viridis(1.0), [253, 231, 37]), "{:?}", viridis(1.0));
    }
}
