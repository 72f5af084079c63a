//! Chroma upsampling: a port of libjpeg-turbo's `jdsample.c` with `do_fancy_upsampling = TRUE`
//! (libjpeg's and Pillow's default), one output row at a time.
//!
//! libjpeg's main controller (`jdmainct.c`) gives the fancy upsamplers context rows: above the
//! first row it repeats row 0, below the last real row (`downsampled_height - 1`) it repeats that
//! row. Horizontally the fancy upsamplers only read the `downsampled_width` real columns, so the
//! IDCT padding to whole blocks never shows. Each output row therefore depends only on the
//! component's real samples, which lets this module work row by row.

/// How one component is brought to the full (max sampling factor) resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Same size as the output (`fullsize_upsample`).
    Full,
    /// `h2v1_fancy_upsample` (triangle filter horizontally).
    H2V1Fancy,
    /// `h1v2_fancy_upsample` (triangle filter vertically).
    H1V2Fancy,
    /// `h2v2_fancy_upsample` (triangle filter in both directions).
    H2V2Fancy,
    /// `h2v1_upsample`, `h2v2_upsample` and `int_upsample`: pixel replication by integer factors.
    Replicate { h: usize, v: usize },
}

/// Chooses the method as `jinit_upsampler` does. `None` where libjpeg fails with
/// `JERR_FRACT_SAMPLE_NOTIMPL` (non-integral ratios).
pub fn choose(h: usize, v: usize, max_h: usize, max_v: usize, downsampled_width: usize) -> Option<Method> {
    if h == max_h && v == max_v {
        Some(Method::Full)
    } else if h * 2 == max_h && v == max_v {
        if downsampled_width > 2 { Some(Method::H2V1Fancy) } else { Some(Method::Replicate { h: 2, v: 1 }) }
    } else if h == max_h && v * 2 == max_v {
        Some(Method::H1V2Fancy)
    } else if h * 2 == max_h && v * 2 == max_v {
        if downsampled_width > 2 { Some(Method::H2V2Fancy) } else { Some(Method::Replicate { h: 2, v: 2 }) }
    } else if max_h.is_multiple_of(h) && max_v.is_multiple_of(v) {
        Some(Method::Replicate { h: max_h / h, v: max_v / v })
    } else {
        None
    }
}

/// One component's decoded samples: `width` x `height` real samples in rows of `stride` bytes.
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

impl Plane<'_> {
    #[inline]
    fn row(&self, y: usize) -> &[u8] {
        let y = y.min(self.height.saturating_sub(1));
        let start = y * self.stride;
        self.data.get(start..start + self.width).unwrap_or(&[])
    }
}

/// Writes output row `y` (`out.len()` = output width) of the component at full resolution.
/// Returns a slice that holds the row: either `out`, or directly the plane's row (`Full`).
pub fn row<'a>(method: Method, plane: &'a Plane<'a>, y: usize, out: &'a mut [u8]) -> &'a [u8] {
    let w = out.len();
    match method {
        Method::Full => {
            let r = plane.row(y);
            if r.len() >= w {
                return &r[..w];
            }
            out[..r.len()].copy_from_slice(r);
            out
        }
        Method::H2V1Fancy => {
            h2v1_fancy(plane.row(y), out);
            out
        }
        Method::H1V2Fancy => {
            let (near, far, bias) = vertical_pair(plane, y);
            for ((o, &a), &b) in out.iter_mut().zip(near).zip(far) {
                *o = ((a as u32 * 3 + b as u32 + bias) >> 2) as u8;
            }
            out
        }
        Method::H2V2Fancy => {
            let (near, far, _) = vertical_pair(plane, y);
            h2v2_fancy(near, far, out);
            out
        }
        Method::Replicate { h, v } => {
            let r = plane.row(y / v);
            if h == 1 {
                out.iter_mut().zip(r).for_each(|(o, &s)| *o = s);
            } else {
                for (chunk, &s) in out.chunks_mut(h).zip(r) {
                    chunk.fill(s);
                }
            }
            out
        }
    }
}

/// The nearest and next-nearest input rows for output row `y` of a 2x vertical upsampler, with
/// libjpeg's bias for `h1v2_fancy_upsample` (1 when the other row is above, 2 when below).
fn vertical_pair<'a>(plane: &'a Plane<'a>, y: usize) -> (&'a [u8], &'a [u8], u32) {
    let inrow = y / 2;
    if y.is_multiple_of(2) {
        (plane.row(inrow), plane.row(inrow.saturating_sub(1)), 1)
    } else {
        (plane.row(inrow), plane.row(inrow + 1), 2)
    }
}

fn h2v1_fancy(inp: &[u8], out: &mut [u8]) {
    let n = inp.len();
    if n < 2 {
        if let Some(&v) = inp.first() {
            out.fill(v);
        }
        return;
    }
    let mut put = |i: usize, v: u32| {
        if let Some(o) = out.get_mut(i) {
            *o = v as u8;
        }
    };
    let first = inp[0] as u32;
    put(0, first);
    put(1, (first * 3 + inp[1] as u32 + 2) >> 2);
    for c in 1..n - 1 {
        let v = inp[c] as u32 * 3;
        put(2 * c, (v + inp[c - 1] as u32 + 1) >> 2);
        put(2 * c + 1, (v + inp[c + 1] as u32 + 2) >> 2);
    }
    let last = inp[n - 1] as u32;
    put(2 * (n - 1), (last * 3 + inp[n - 2] as u32 + 1) >> 2);
    put(2 * (n - 1) + 1, last);
}

fn h2v2_fancy(near: &[u8], far: &[u8], out: &mut [u8]) {
    let n = near.len().min(far.len());
    if n < 2 {
        return;
    }
    let col = |c: usize| near[c] as u32 * 3 + far[c] as u32;
    let mut put = |i: usize, v: u32| {
        if let Some(o) = out.get_mut(i) {
            *o = (v >> 4) as u8;
        }
    };
    let mut this = col(0);
    let mut next = col(1);
    put(0, this * 4 + 8);
    put(1, this * 3 + next + 7);
    let mut last = this;
    this = next;
    for c in 1..n - 1 {
        next = col(c + 1);
        put(2 * c, this * 3 + last + 8);
        put(2 * c + 1, this * 3 + next + 7);
        last = this;
        this = next;
    }
    put(2 * (n - 1), this * 3 + last + 8);
    put(2 * (n - 1) + 1, this * 4 + 7);
}
