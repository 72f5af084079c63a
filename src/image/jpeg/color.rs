//! Colour conversion: a port of libjpeg-turbo's `jdcolor.c` (`ycc_rgb_convert`,
//! `ycck_cmyk_convert`, and the pass-through converters), with its 16-bit fixed-point tables.

const SCALEBITS: i32 = 16;
const ONE_HALF: i64 = 1 << (SCALEBITS - 1);

const fn fix(x: f64) -> i64 {
    (x * (1i64 << SCALEBITS) as f64 + 0.5) as i64
}

/// `build_ycc_rgb_table`: Cr->R, Cb->B (rounded), Cr->G, Cb->G (scaled, Cb->G with ONE_HALF).
pub struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i64; 256],
    cb_g: [i64; 256],
}

impl YccTables {
    pub fn new() -> Self {
        let mut t = YccTables { cr_r: [0; 256], cb_b: [0; 256], cr_g: [0; 256], cb_g: [0; 256] };
        for i in 0..256 {
            let x = i as i64 - 128;
            t.cr_r[i] = ((fix(1.40200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cb_b[i] = ((fix(1.77200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cr_g[i] = -fix(0.71414) * x;
            t.cb_g[i] = -fix(0.34414) * x + ONE_HALF;
        }
        t
    }

    #[inline(always)]
    fn rgb(&self, y: u8, cb: u8, cr: u8) -> (u8, u8, u8) {
        let y = y as i32;
        let (cb, cr) = (cb as usize, cr as usize);
        let r = y + self.cr_r[cr];
        let g = y + ((self.cb_g[cb] + self.cr_g[cr]) >> SCALEBITS) as i32;
        let b = y + self.cb_b[cb];
        (clamp(r), clamp(g), clamp(b))
    }
}

#[inline(always)]
fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// YCbCr rows to interleaved RGB.
pub fn ycc_to_rgb(t: &YccTables, y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    for (((o, &y), &cb), &cr) in out.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
        let (r, g, b) = t.rgb(y, cb, cr);
        o[0] = r;
        o[1] = g;
        o[2] = b;
    }
}

/// Three components copied as they are (`rgb_rgb_convert`, JPEG colour space RGB).
pub fn interleave3(a: &[u8], b: &[u8], c: &[u8], out: &mut [u8]) {
    for (((o, &a), &b), &c) in out.chunks_exact_mut(3).zip(a).zip(b).zip(c) {
        o[0] = a;
        o[1] = b;
        o[2] = c;
    }
}

/// CMYK passed through (`null_convert`), then inverted as Pillow's "CMYK;I" raw mode does.
pub fn cmyk_inverted(c: &[u8], m: &[u8], y: &[u8], k: &[u8], out: &mut [u8]) {
    for ((((o, &c), &m), &y), &k) in out.chunks_exact_mut(4).zip(c).zip(m).zip(y).zip(k) {
        o[0] = 255 - c;
        o[1] = 255 - m;
        o[2] = 255 - y;
        o[3] = 255 - k;
    }
}

/// `ycck_cmyk_convert` (C = 255 - R, M = 255 - G, Y = 255 - B, K kept), then Pillow's inversion.
pub fn ycck_to_cmyk_inverted(t: &YccTables, y: &[u8], cb: &[u8], cr: &[u8], k: &[u8], out: &mut [u8]) {
    for ((((o, &y), &cb), &cr), &k) in out.chunks_exact_mut(4).zip(y).zip(cb).zip(cr).zip(k) {
        let yy = y as i32;
        let (cbi, cri) = (cb as usize, cr as usize);
        let c = clamp(255 - (yy + t.cr_r[cri]));
        let m = clamp(255 - (yy + ((t.cb_g[cbi] + t.cr_g[cri]) >> SCALEBITS) as i32));
        let yl = clamp(255 - (yy + t.cb_b[cbi]));
        o[0] = 255 - c;
        o[1] = 255 - m;
        o[2] = 255 - yl;
        o[3] = 255 - k;
    }
}
