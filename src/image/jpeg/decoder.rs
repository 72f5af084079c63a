//! The decoding pipeline: libjpeg-turbo's input side (`jdinput.c`, `jdcoefct.c`) driving the
//! marker parser and entropy decoders, then IDCT, upsampling and colour conversion.

use super::color;
use super::huffman::{self, BitReader, Derived};
use super::markers::{self, AppInfo, CompHeader, Cursor, Fail, FrameHeader, ScanHeader, Tables, corrupt};
use super::smooth;
use super::upsample::{self, Method, Plane};
use super::{Color, Jpeg, JpegError};

/// libjpeg's `JPEG_MAX_DIMENSION`.
const MAX_DIMENSION: u32 = 65500;
/// `D_MAX_BLOCKS_IN_MCU`.
const MAX_BLOCKS_IN_MCU: usize = 10;

struct Comp {
    hdr: CompHeader,
    /// `width_in_blocks`, `height_in_blocks`.
    bw: usize,
    bh: usize,
    /// `downsampled_width`, `downsampled_height`.
    dw: usize,
    dh: usize,
    /// Block counts padded to whole MCUs (the size libjpeg allocates).
    pbw: usize,
    pbh: usize,
    /// The quantisation table latched at the component's first scan (libjpeg's
    /// `latch_quant_tables`), as `ISLOW_MULT_TYPE` (16-bit).
    quant: Option<[i16; 64]>,
    coefs: Vec<i16>,
    plane: Vec<u8>,
    /// `coef_bits` for the first 10 coefficients (progressive), -1 = never coded.
    coef_bits: [i32; 10],
    /// The `coef_bits` before the latest scan of the component (libjpeg-turbo keeps both).
    prev_coef_bits: [i32; 10],
}

struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    comps: Vec<Comp>,
    max_h: usize,
    max_v: usize,
    mcux: usize,
    mcuy: usize,
    /// `master->last_good_iMCU_row`: the last iMCU row decoded before data ran short.
    last_good_imcu: usize,
}

/// Where the decoder is, for messages about data that ends early.
#[derive(Clone, Copy)]
enum Stage {
    Headers,
    Scan(usize),
    AfterScan(usize),
}

fn truncated(stage: Stage, at: usize, len: usize) -> JpegError {
    let context = match stage {
        Stage::Headers => "the headers, before any image data".to_string(),
        Stage::Scan(n) => format!("the main image's scan {n}"),
        Stage::AfterScan(n) => format!("the markers after scan {n}, before the end-of-image marker"),
    };
    JpegError::Truncated { context, offset: at.min(len), len }
}

fn lift(f: Fail, stage: Stage, at: usize, len: usize) -> JpegError {
    match f {
        Fail::Suspend => truncated(stage, at, len),
        Fail::Corrupt(m) => JpegError::Corrupt(m),
        Fail::Unsupported(m) => JpegError::Unsupported(m),
        Fail::TooLarge(width, height) => JpegError::TooLarge { width, height },
    }
}

pub fn decode(data: &[u8], max_pixels: u64) -> Result<Jpeg, JpegError> {
    if data.len() < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF {
        if data.len() < 3 && data.starts_with(&[0xFF, 0xD8][..data.len().min(2)]) && !data.is_empty() {
            return Err(truncated(Stage::Headers, data.len(), data.len()));
        }
        return Err(JpegError::Corrupt("not a JPEG file (it does not start with FF D8 FF)".into()));
    }
    let mut cur = Cursor { data, pos: 2 };
    let mut tables = Tables::new();
    let mut app = AppInfo::default();
    let mut header: Option<FrameHeader> = None;
    let len = data.len();

    // Headers up to the first SOS (jpeg_read_header).
    let first_scan = loop {
        let m = cur.next_marker().map_err(|f| lift(f, Stage::Headers, cur.pos, len))?;
        let r: Result<Option<ScanHeader>, Fail> = (|| {
            match m {
                0xC0..=0xCF if m != markers::DHT && m != 0xC8 && m != markers::DAC => {
                    let h = markers::sof(&mut cur, m)?;
                    if header.is_some() {
                        return corrupt("the file has two frame headers (SOF)");
                    }
                    check_frame(&h, max_pixels)?;
                    header = Some(h);
                }
                markers::SOS => {
                    let Some(h) = &header else {
                        return corrupt("scan header (SOS) before the frame header (SOF)");
                    };
                    return Ok(Some(markers::sos(&mut cur, &h.comps, h.marker == markers::SOF2)?));
                }
                _ => other_marker(m, &mut cur, &mut tables, Some(&mut app))?,
            }
            Ok(None)
        })();
        match r {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(f) => return Err(lift(f, Stage::Headers, cur.pos, len)),
        }
    };
    let header = header.ok_or_else(|| JpegError::Corrupt("no frame header".into()))?;
    let mut frame = setup_frame(&header)?;

    let color = match frame.comps.len() {
        1 => Space::Gray,
        3 => {
            if app.jfif {
                Space::Ycc
            } else if let Some(t) = app.adobe {
                if t == 0 { Space::Rgb } else { Space::Ycc }
            } else {
                let ids: Vec<u8> = frame.comps.iter().map(|c| c.hdr.id).collect();
                if ids == [b'R', b'G', b'B'] { Space::Rgb } else { Space::Ycc }
            }
        }
        _ => match app.adobe {
            Some(0) => Space::Cmyk,
            Some(_) => Space::Ycck,
            None => Space::Cmyk,
        },
    };
    let methods = frame
        .comps
        .iter()
        .map(|c| upsample::choose(c.hdr.h, c.hdr.v, frame.max_h, frame.max_v, c.dw))
        .collect::<Option<Vec<Method>>>()
        .ok_or_else(|| JpegError::Unsupported("JPEG sampling factors with non-integral ratios are not supported (as in libjpeg)".into()))?;

    let multi = frame.progressive || first_scan.comps.len() < frame.comps.len();
    for c in &mut frame.comps {
        let blocks = c.pbw * c.pbh;
        if multi {
            c.coefs = vec![0i16; blocks * 64];
        } else {
            c.plane = vec![0u8; blocks * 64];
        }
    }

    let mut scan = first_scan;
    let mut scan_no = 1usize;
    loop {
        let start = cur.pos;
        let (end, marker) = decode_scan(data, start, &mut frame, &tables, &scan, !multi, scan_no)
            .map_err(|(f, at)| lift(f, Stage::Scan(scan_no), at, len))?;
        cur.pos = end;
        // read_markers after the scan.
        let mut pending = marker;
        let stage = Stage::AfterScan(scan_no);
        let next = loop {
            let m = if pending != 0 {
                std::mem::take(&mut pending)
            } else {
                match cur.next_marker() {
                    Ok(m) => m,
                    // Pillow stops reading once every row is out: a single-scan image whose
                    // EOI is missing still decodes; a multi-scan one needs its EOI.
                    Err(Fail::Suspend) if !multi => break None,
                    Err(f) => return Err(lift(f, stage, cur.pos, len)),
                }
            };
            let r: Result<Flow, Fail> = (|| {
                match m {
                    markers::EOI => return Ok(Flow::Eoi),
                    markers::SOS => {
                        if !multi {
                            return corrupt("the file has more scans than its first scan announced (expected end of image)");
                        }
                        let comps: Vec<CompHeader> = frame.comps.iter().map(|c| c.hdr).collect();
                        return Ok(Flow::Scan(markers::sos(&mut cur, &comps, frame.progressive)?));
                    }
                    0xC0..=0xCF if m != markers::DHT && m != 0xC8 && m != markers::DAC => {
                        return corrupt("the file has two frame headers (SOF)");
                    }
                    _ => other_marker(m, &mut cur, &mut tables, None)?,
                }
                Ok(Flow::Continue)
            })();
            match r {
                Ok(Flow::Continue) => {}
                Ok(Flow::Eoi) => break None,
                Ok(Flow::Scan(s)) => break Some(s),
                Err(Fail::Suspend) if !multi => break None,
                Err(f) => return Err(lift(f, stage, cur.pos, len)),
            }
        };
        match next {
            Some(s) => {
                scan = s;
                scan_no += 1;
            }
            None => break,
        }
    }

    if multi {
        let latched: Vec<(Option<[u16; 64]>, [i32; 10])> =
            frame.comps.iter().map(|c| (c.quant.map(|q| q.map(|v| v as u16)), c.coef_bits)).collect();
        let smoothing = frame.progressive && smooth::smoothing_ok(&latched);
        for c in &mut frame.comps {
            if smoothing {
                let q = c.quant.unwrap_or([0; 64]);
                let stride = c.pbw * 8;
                let mut plane = vec![0u8; c.pbw * c.pbh * 64];
                let mut prev_bits = c.prev_coef_bits;
                if scan_no <= 1 {
                    prev_bits = [-1; 10];
                }
                let sc = smooth::SmoothComp {
                    coefs: &c.coefs,
                    pbw: c.pbw,
                    bw: c.bw,
                    bh: c.bh,
                    v: c.hdr.v,
                    quant: q.map(|v| v as u16),
                    bits: c.coef_bits,
                    prev_bits,
                };
                smooth::smooth_component(&sc, frame.mcuy, frame.last_good_imcu, |blk, by, bx| {
                    super::idct::idct_islow(blk, &q, &mut plane, by * 8 * stride + bx * 8, stride);
                });
                c.plane = plane;
                c.coefs = Vec::new();
                continue;
            }
            let q = c.quant.unwrap_or([0; 64]);
            let stride = c.pbw * 8;
            c.plane = vec![0u8; c.pbw * c.pbh * 64];
            for by in 0..c.bh {
                for bx in 0..c.bw {
                    let b = (by * c.pbw + bx) * 64;
                    let block: &[i16; 64] = c.coefs[b..b + 64].try_into().unwrap_or(&[0; 64]);
                    super::idct::idct_islow(block, &q, &mut c.plane, by * 8 * stride + bx * 8, stride);
                }
            }
            c.coefs = Vec::new();
        }
    }

    let pixels = output(&frame, &methods, color);
    let out_color = match frame.comps.len() {
        1 => Color::Gray,
        3 => Color::Rgb,
        _ => Color::Cmyk,
    };
    Ok(Jpeg { width: frame.width as u32, height: frame.height as u32, color: out_color, pixels, exif: app.exif, xmp: app.xmp })
}

enum Flow {
    Continue,
    Eoi,
    Scan(ScanHeader),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Space {
    Gray,
    Ycc,
    Rgb,
    Cmyk,
    Ycck,
}

/// Markers other than SOF/SOS/EOI, as libjpeg's `read_markers` treats them.
fn other_marker(m: u8, cur: &mut Cursor, tables: &mut Tables, app: Option<&mut AppInfo>) -> Result<(), Fail> {
    match m {
        markers::DHT => tables.dht(cur),
        markers::DQT => tables.dqt(cur),
        markers::DRI => tables.dri(cur),
        0xE0..=0xEF => {
            let p = cur.segment()?;
            if let Some(app) = app {
                app.app(m, p, true);
            }
            Ok(())
        }
        markers::COM | markers::DNL | markers::DAC => cur.segment().map(|_| ()),
        0xD0..=0xD7 | 0x01 => Ok(()),
        markers::SOI => corrupt("a second start-of-image marker inside the image"),
        markers::EOI => corrupt("the file ends (end-of-image marker) before any image data"),
        0xC8 => Err(Fail::Unsupported("JPEG extension frame (FF C8) is not supported".into())),
        _ => corrupt(format!("unknown JPEG marker FF {m:02X}")),
    }
}

fn check_frame(h: &FrameHeader, max_pixels: u64) -> Result<(), Fail> {
    match h.marker {
        0xC0..=0xC2 => {}
        0xC3 | 0xC7 | 0xCB | 0xCF => return Err(Fail::Unsupported("lossless JPEG is not supported".into())),
        0xC9 | 0xCA => return Err(Fail::Unsupported("arithmetic-coded JPEG is not supported".into())),
        0xCD | 0xCE => return Err(Fail::Unsupported("arithmetic-coded hierarchical JPEG is not supported".into())),
        _ => return Err(Fail::Unsupported("hierarchical JPEG is not supported".into())),
    }
    if h.precision != 8 {
        return Err(Fail::Unsupported(format!("{}-bit JPEG is not supported (only 8-bit samples)", h.precision)));
    }
    let n = h.comps.len();
    if n != 1 && n != 3 && n != 4 {
        return Err(Fail::Unsupported(format!("JPEG with {n} components is not supported (1 = greyscale, 3 = colour, 4 = CMYK)")));
    }
    let pixels = u64::from(h.width) * u64::from(h.height);
    if pixels > max_pixels {
        return Err(Fail::TooLarge(h.width, h.height));
    }
    if h.width > MAX_DIMENSION || h.height > MAX_DIMENSION {
        return Err(Fail::Unsupported(format!(
            "JPEG is {}x{} pixels, over libjpeg's limit of {MAX_DIMENSION} per side",
            h.width, h.height
        )));
    }
    for c in &h.comps {
        if !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v) {
            return corrupt(format!("bad sampling factors {}x{} in the frame header", c.h, c.v));
        }
    }
    Ok(())
}

fn setup_frame(h: &FrameHeader) -> Result<Frame, JpegError> {
    let (w, ht) = (h.width as usize, h.height as usize);
    let max_h = h.comps.iter().map(|c| c.h).max().unwrap_or(1);
    let max_v = h.comps.iter().map(|c| c.v).max().unwrap_or(1);
    let mcux = w.div_ceil(max_h * 8);
    let mcuy = ht.div_ceil(max_v * 8);
    let comps = h
        .comps
        .iter()
        .map(|&c| Comp {
            hdr: c,
            bw: (w * c.h).div_ceil(max_h * 8),
            bh: (ht * c.v).div_ceil(max_v * 8),
            dw: (w * c.h).div_ceil(max_h),
            dh: (ht * c.v).div_ceil(max_v),
            pbw: mcux * c.h,
            pbh: mcuy * c.v,
            quant: None,
            coefs: Vec::new(),
            plane: Vec::new(),
            coef_bits: [-1; 10],
            prev_coef_bits: [-1; 10],
        })
        .collect();
    Ok(Frame { width: w, height: ht, progressive: h.marker == markers::SOF2, comps, max_h, max_v, mcux, mcuy, last_good_imcu: 0 })
}

enum Entropy {
    Sequential { dc: Vec<Derived>, ac: Vec<Derived> },
    DcFirst { dc: Vec<Derived> },
    DcRefine,
    AcFirst { ac: Derived },
    AcRefine { ac: Derived },
}

fn table(t: &Option<huffman::RawTable>, is_dc: bool, no: usize) -> Result<Derived, Fail> {
    let Some(raw) = t else {
        return corrupt(format!("a scan uses Huffman table {no}, which is not defined"));
    };
    Derived::new(raw, is_dc).map_err(|m| Fail::Corrupt(m.into()))
}

/// Decodes one scan starting at `pos`. Returns the position after it and the marker that ended
/// it, if the bit reader already consumed one. Errors carry the byte position.
fn decode_scan(
    data: &[u8],
    pos: usize,
    frame: &mut Frame,
    tables: &Tables,
    scan: &ScanHeader,
    direct: bool,
    scan_no: usize,
) -> Result<(usize, u8), (Fail, usize)> {
    let e = |f: Fail| (f, pos);
    let ncomp = scan.comps.len();
    if ncomp == 0 {
        // libjpeg accepts an empty progressive scan and skips it.
        return Ok((pos, 0));
    }
    // per_scan_setup
    if ncomp > 1 {
        let blocks: usize = scan.comps.iter().map(|&(ci, _, _)| frame.comps[ci].hdr.h * frame.comps[ci].hdr.v).sum();
        if blocks > MAX_BLOCKS_IN_MCU {
            return Err(e(Fail::Corrupt("a scan's MCU has more than 10 blocks (bad sampling factors)".into())));
        }
    }
    // latch_quant_tables
    for &(ci, _, _) in &scan.comps {
        let c = &mut frame.comps[ci];
        if c.quant.is_none() {
            let q = tables.quant.get(c.hdr.tq).copied().flatten().ok_or_else(|| {
                e(Fail::Corrupt(format!("component {} uses quantisation table {}, which is not defined", c.hdr.id, c.hdr.tq)))
            })?;
            let mut l = [0i16; 64];
            for (d, s) in l.iter_mut().zip(q) {
                *d = s as i16;
            }
            c.quant = Some(l);
        }
    }
    // Entropy decoder set-up (start_pass_huff_decoder / start_pass_phuff_decoder).
    let tbl = |v: &[Option<huffman::RawTable>; 4], no: usize, dc: bool| -> Result<Derived, (Fail, usize)> {
        let t = v.get(no).ok_or_else(|| e(Fail::Corrupt(format!("bad Huffman table number {no}"))))?;
        table(t, dc, no).map_err(e)
    };
    let (ss, se, ah, al) = (scan.ss, scan.se, scan.ah, scan.al);
    let entropy = if frame.progressive {
        let is_dc = ss == 0;
        let mut bad = if is_dc { se != 0 } else { ss > se || se >= 64 || ncomp != 1 };
        if ah != 0 && al != ah.wrapping_sub(1) {
            bad = true;
        }
        if al > 13 {
            bad = true;
        }
        if bad {
            return Err(e(Fail::Corrupt(format!("invalid progressive scan parameters Ss={ss} Se={se} Ah={ah} Al={al}"))));
        }
        for &(ci, _, _) in &scan.comps {
            let c = &mut frame.comps[ci];
            for k in (ss as usize).min(1)..=9 {
                c.prev_coef_bits[k] = if scan_no > 1 { c.coef_bits[k] } else { 0 };
            }
            for k in ss as usize..=(se as usize).min(9) {
                c.coef_bits[k] = al as i32;
            }
        }
        if is_dc {
            if ah == 0 {
                let dc = scan.comps.iter().map(|&(_, d, _)| tbl(&tables.dc, d, true)).collect::<Result<Vec<_>, _>>()?;
                Entropy::DcFirst { dc }
            } else {
                Entropy::DcRefine
            }
        } else {
            let ac = tbl(&tables.ac, scan.comps[0].2, false)?;
            if ah == 0 { Entropy::AcFirst { ac } } else { Entropy::AcRefine { ac } }
        }
    } else {
        let mut dc = Vec::new();
        let mut ac = Vec::new();
        for &(_, d, a) in &scan.comps {
            dc.push(tbl(&tables.dc, d, true)?);
            ac.push(tbl(&tables.ac, a, false)?);
        }
        Entropy::Sequential { dc, ac }
    };

    // MCU geometry.
    let (mcus_per_row, mcu_rows) = if ncomp == 1 {
        let c = &frame.comps[scan.comps[0].0];
        (c.bw, c.bh)
    } else {
        (frame.mcux, frame.mcuy)
    };
    // For each block of an MCU: (scan component index, dx, dy) in blocks.
    let mut layout: Vec<(usize, usize, usize)> = Vec::new();
    for (si, &(ci, _, _)) in scan.comps.iter().enumerate() {
        let c = &frame.comps[ci];
        let (h, v) = if ncomp == 1 { (1, 1) } else { (c.hdr.h, c.hdr.v) };
        for dy in 0..v {
            for dx in 0..h {
                layout.push((si, dx, dy));
            }
        }
    }

    let ri = tables.restart_interval;
    let mut br = BitReader::new(data, pos);
    let mut restarts_to_go = ri;
    let mut next_rst: u8 = 0;
    let mut last_dc = [0i32; 4];
    let mut eobrun = 0u32;
    let sus = |br: &BitReader| (Fail::Suspend, br.pos);

    for my in 0..mcu_rows {
        let imcu = if ncomp == 1 { my / frame.comps[scan.comps[0].0].hdr.v.max(1) } else { my };
        for mx in 0..mcus_per_row {
            if !br.insufficient {
                frame.last_good_imcu = imcu;
            }
            if ri != 0 {
                if restarts_to_go == 0 {
                    process_restart(&mut br, &mut next_rst).map_err(|_| sus(&br))?;
                    last_dc = [0; 4];
                    eobrun = 0;
                    restarts_to_go = ri;
                }
                restarts_to_go -= 1;
            }
            let skip = br.insufficient;
            for &(si, dx, dy) in &layout {
                let ci = scan.comps[si].0;
                let comp = &mut frame.comps[ci];
                let (bx, by) = if ncomp == 1 { (mx, my) } else { (mx * comp.hdr.h + dx, my * comp.hdr.v + dy) };
                let bi = by * comp.pbw + bx;
                if direct {
                    let mut block = [0i16; 64];
                    if !skip {
                        if let Entropy::Sequential { dc, ac } = &entropy {
                            huffman::decode_block(&mut br, &dc[si], &ac[si], &mut last_dc[si], &mut block)
                                .map_err(|_| sus(&br))?
                                .map_err(|m| (Fail::Corrupt(m.into()), br.pos))?;
                        }
                    }
                    let stride = comp.pbw * 8;
                    let q = comp.quant.as_ref().unwrap_or(&[0; 64]);
                    super::idct::idct_islow(&block, q, &mut comp.plane, by * 8 * stride + bx * 8, stride);
                    continue;
                }
                let Some(b) = comp.coefs.get_mut(bi * 64..bi * 64 + 64) else { continue };
                let b: &mut [i16; 64] = match b.try_into() {
                    Ok(b) => b,
                    Err(_) => continue,
                };
                match &entropy {
                    Entropy::Sequential { dc, ac } => {
                        if !skip {
                            huffman::decode_block(&mut br, &dc[si], &ac[si], &mut last_dc[si], b)
                                .map_err(|_| sus(&br))?
                                .map_err(|m| (Fail::Corrupt(m.into()), br.pos))?;
                        }
                    }
                    Entropy::DcFirst { dc } => {
                        if !skip {
                            huffman::dc_first(&mut br, &dc[si], &mut last_dc[si], al, b)
                                .map_err(|_| sus(&br))?
                                .map_err(|m| (Fail::Corrupt(m.into()), br.pos))?;
                        }
                    }
                    Entropy::DcRefine => huffman::dc_refine(&mut br, al, b).map_err(|_| sus(&br))?,
                    Entropy::AcFirst { ac } => {
                        if !skip {
                            huffman::ac_first(&mut br, ac, ss, se, al, &mut eobrun, b).map_err(|_| sus(&br))?;
                        }
                    }
                    Entropy::AcRefine { ac } => {
                        if !skip {
                            huffman::ac_refine(&mut br, ac, ss, se, al, &mut eobrun, b).map_err(|_| sus(&br))?;
                        }
                    }
                }
            }
        }
    }
    if br.ran_short {
        let detail = format!(
            "the data of scan {scan_no} stops early at byte {} of {} (a marker cuts it short); Pillow would fill the rest of the picture with grey",
            br.pos,
            data.len()
        );
        return Err((Fail::Corrupt(detail), br.pos));
    }
    Ok((br.pos, br.unread_marker))
}

/// `process_restart` minus the state resets the caller does: drops buffered bits, reads the
/// RSTn marker (or resynchronises as `jpeg_resync_to_restart` does).
fn process_restart(br: &mut BitReader, next_rst: &mut u8) -> Result<(), Fail> {
    br.reset_bits();
    if br.unread_marker == 0 {
        br.unread_marker = next_marker_at(br)?;
    }
    let want = *next_rst;
    if br.unread_marker == 0xD0 + want {
        br.unread_marker = 0;
    } else {
        // jpeg_resync_to_restart
        loop {
            let marker = br.unread_marker;
            let action = if marker < 0xC0 {
                2
            } else if !(0xD0..=0xD7).contains(&marker) {
                3
            } else {
                let rst = |d: u8| 0xD0 + (d & 7);
                if marker == rst(want.wrapping_add(1)) || marker == rst(want.wrapping_add(2)) {
                    3
                } else if marker == rst(want.wrapping_sub(1)) || marker == rst(want.wrapping_sub(2)) {
                    2
                } else {
                    1
                }
            };
            match action {
                1 => {
                    br.unread_marker = 0;
                    break;
                }
                2 => br.unread_marker = next_marker_at(br)?,
                _ => break,
            }
        }
    }
    *next_rst = (want + 1) & 7;
    if br.unread_marker == 0 {
        br.insufficient = false;
    }
    Ok(())
}

fn next_marker_at(br: &mut BitReader) -> Result<u8, Fail> {
    let data = br_data(br);
    let mut c = Cursor { data, pos: br.pos };
    let m = c.next_marker();
    br.pos = c.pos;
    m
}

fn br_data<'a>(br: &BitReader<'a>) -> &'a [u8] {
    br.data
}

fn output(frame: &Frame, methods: &[Method], space: Space) -> Vec<u8> {
    let (w, h) = (frame.width, frame.height);
    let nc = frame.comps.len();
    let mut out = vec![0u8; w * h * nc];
    let planes: Vec<Plane> = frame.comps.iter().map(|c| Plane { data: &c.plane, stride: c.pbw * 8, width: c.dw, height: c.dh }).collect();
    let mut bufs: Vec<Vec<u8>> = (0..nc).map(|_| vec![0u8; w]).collect();
    let tables = color::YccTables::new();
    for (y, orow) in out.chunks_exact_mut(w * nc).enumerate() {
        let mut rows: [&[u8]; 4] = [&[]; 4];
        for (((slot, buf), plane), &m) in rows.iter_mut().zip(bufs.iter_mut()).zip(&planes).zip(methods) {
            *slot = upsample::row(m, plane, y, buf);
        }
        match space {
            Space::Gray => {
                let n = orow.len().min(rows[0].len());
                orow[..n].copy_from_slice(&rows[0][..n]);
            }
            Space::Ycc => color::ycc_to_rgb(&tables, rows[0], rows[1], rows[2], orow),
            Space::Rgb => color::interleave3(rows[0], rows[1], rows[2], orow),
            Space::Cmyk => color::cmyk_inverted(rows[0], rows[1], rows[2], rows[3], orow),
            Space::Ycck => color::ycck_to_cmyk_inverted(&tables, rows[0], rows[1], rows[2], rows[3], orow),
        }
    }
    out
}
