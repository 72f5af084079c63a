//! Marker-segment parsing, following libjpeg-turbo's `jdmarker.c` (what it accepts, skips and
//! rejects) plus the bits of Pillow's `JpegImagePlugin` that decide metadata (EXIF, XMP).

use super::huffman::RawTable;

/// Internal failure: the data ran out (libjpeg would suspend), or a fatal libjpeg error.
#[derive(Debug)]
pub enum Fail {
    Suspend,
    Corrupt(String),
    Unsupported(String),
    TooLarge(u32, u32),
}

impl From<super::huffman::Suspend> for Fail {
    fn from(_: super::huffman::Suspend) -> Self {
        Fail::Suspend
    }
}

pub fn corrupt<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Corrupt(msg.into()))
}

/// Byte cursor over the whole file.
pub struct Cursor<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn u8(&mut self) -> Result<u8, Fail> {
        let b = *self.data.get(self.pos).ok_or(Fail::Suspend)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u16(&mut self) -> Result<u16, Fail> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        let end = self.pos.checked_add(n).ok_or(Fail::Suspend)?;
        let s = self.data.get(self.pos..end).ok_or(Fail::Suspend)?;
        self.pos = end;
        Ok(s)
    }

    /// Reads a segment's length and returns its payload (libjpeg's `length - 2` bytes; lengths
    /// under 2 give an empty payload, as `skip_variable` does).
    pub fn segment(&mut self) -> Result<&'a [u8], Fail> {
        let len = self.u16()? as usize;
        self.take(len.saturating_sub(2))
    }

    /// libjpeg's `next_marker`: skips garbage and fill bytes, returns the marker code.
    pub fn next_marker(&mut self) -> Result<u8, Fail> {
        loop {
            let mut c = self.u8()?;
            while c != 0xFF {
                c = self.u8()?;
            }
            loop {
                c = self.u8()?;
                if c != 0xFF {
                    break;
                }
            }
            if c != 0 {
                return Ok(c);
            }
        }
    }
}

pub const SOF2: u8 = 0xC2;
pub const DHT: u8 = 0xC4;
pub const DAC: u8 = 0xCC;
pub const SOI: u8 = 0xD8;
pub const EOI: u8 = 0xD9;
pub const SOS: u8 = 0xDA;
pub const DQT: u8 = 0xDB;
pub const DNL: u8 = 0xDC;
pub const DRI: u8 = 0xDD;
pub const APP0: u8 = 0xE0;
pub const APP1: u8 = 0xE1;
pub const APP14: u8 = 0xEE;
pub const COM: u8 = 0xFE;

/// Tables and parameters that DHT/DQT/DRI define (and redefine between scans).
pub struct Tables {
    pub dc: [Option<RawTable>; 4],
    pub ac: [Option<RawTable>; 4],
    pub quant: [Option<[u16; 64]>; 4],
    pub restart_interval: u32,
}

/// JPEG Annex K.3 tables, which libjpeg installs in slots 0 and 1 when a file defines none
/// (`std_huff_tables`, for Motion-JPEG frames).
fn std_table(bits: &[u8; 16], vals: &[u8]) -> RawTable {
    let mut t = RawTable { bits: [0; 17], vals: [0; 256] };
    t.bits[1..].copy_from_slice(bits);
    t.vals[..vals.len()].copy_from_slice(vals);
    t
}

const AC_LUMA_VALS: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91,
    0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a,
    0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53,
    0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
    0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9,
    0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
    0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];

const AC_CHROMA_VALS: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14,
    0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17,
    0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
    0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
    0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2,
    0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];

impl Tables {
    pub fn new() -> Self {
        let dc_vals: Vec<u8> = (0..12).collect();
        Tables {
            dc: [
                Some(std_table(&[0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], &dc_vals)),
                Some(std_table(&[0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], &dc_vals)),
                None,
                None,
            ],
            ac: [
                Some(std_table(&[0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d], &AC_LUMA_VALS)),
                Some(std_table(&[0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], &AC_CHROMA_VALS)),
                None,
                None,
            ],
            quant: [None; 4],
            restart_interval: 0,
        }
    }

    /// `get_dht`.
    pub fn dht(&mut self, c: &mut Cursor) -> Result<(), Fail> {
        let mut length = c.u16()? as i64 - 2;
        while length > 16 {
            let index = c.u8()?;
            let mut t = RawTable { bits: [0; 17], vals: [0; 256] };
            let mut count = 0i64;
            for i in 1..=16 {
                t.bits[i] = c.u8()?;
                count += t.bits[i] as i64;
            }
            length -= 17;
            if count > 256 || count > length {
                return corrupt("bad Huffman table definition (DHT)");
            }
            for i in 0..count as usize {
                t.vals[i] = c.u8()?;
            }
            length -= count;
            let (slot, n) = if index & 0x10 != 0 { (&mut self.ac, index - 0x10) } else { (&mut self.dc, index) };
            if n >= 4 {
                return corrupt(format!("bad Huffman table number {index:#x} (DHT)"));
            }
            slot[n as usize] = Some(t);
        }
        if length != 0 {
            return corrupt("bad DHT segment length");
        }
        Ok(())
    }

    /// `get_dqt`.
    pub fn dqt(&mut self, c: &mut Cursor) -> Result<(), Fail> {
        let mut length = c.u16()? as i64 - 2;
        while length > 0 {
            length -= 1;
            let n = c.u8()?;
            let prec = n >> 4;
            let idx = (n & 15) as usize;
            if idx >= 4 {
                return corrupt(format!("bad quantisation table number {idx} (DQT)"));
            }
            let mut q = self.quant[idx].unwrap_or([0u16; 64]);
            let full = if prec != 0 { 128 } else { 64 };
            let count = if length < full {
                q = [1; 64];
                if prec != 0 { (length >> 1) as usize } else { length as usize }
            } else {
                64
            };
            // libjpeg uses the zig-zag order of a smaller block for tables of 4, 9, ... entries;
            // such files do not occur in practice, so the 8x8 order is used for all counts.
            for &pos in super::huffman::NATURAL.iter().take(count) {
                q[pos] = if prec != 0 { c.u16()? } else { c.u8()? as u16 };
            }
            self.quant[idx] = Some(q);
            length -= count as i64;
            if prec != 0 {
                length -= count as i64;
            }
        }
        if length != 0 {
            return corrupt("bad DQT segment length");
        }
        Ok(())
    }

    /// `get_dri`.
    pub fn dri(&mut self, c: &mut Cursor) -> Result<(), Fail> {
        let length = c.u16()?;
        if length != 4 {
            return corrupt("bad DRI segment length");
        }
        self.restart_interval = c.u16()? as u32;
        Ok(())
    }
}

/// One component as the frame header declares it.
#[derive(Clone, Copy, Debug)]
pub struct CompHeader {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    pub tq: usize,
}

/// A frame header (`get_sof`).
pub struct FrameHeader {
    pub marker: u8,
    pub precision: u8,
    pub width: u32,
    pub height: u32,
    pub comps: Vec<CompHeader>,
}

pub fn sof(c: &mut Cursor, marker: u8) -> Result<FrameHeader, Fail> {
    let length = c.u16()? as usize;
    let precision = c.u8()?;
    let height = c.u16()? as u32;
    let width = c.u16()? as u32;
    let n = c.u8()? as usize;
    if height == 0 || width == 0 || n == 0 {
        return Err(Fail::Unsupported(format!(
            "JPEG frame header declares an empty image ({width}x{height}, {n} components; a height defined later by DNL is not supported)"
        )));
    }
    if length.checked_sub(8) != Some(n * 3) {
        return corrupt("bad frame header (SOF) length");
    }
    let mut comps = Vec::with_capacity(n);
    for _ in 0..n {
        let id = c.u8()?;
        let hv = c.u8()?;
        let tq = c.u8()? as usize;
        comps.push(CompHeader { id, h: (hv >> 4) as usize, v: (hv & 15) as usize, tq });
    }
    Ok(FrameHeader { marker, precision, width, height, comps })
}

/// One scan header (`get_sos`): frame component indices with their table numbers.
pub struct ScanHeader {
    pub comps: Vec<(usize, usize, usize)>,
    pub ss: u8,
    pub se: u8,
    pub ah: u8,
    pub al: u8,
}

pub fn sos(c: &mut Cursor, frame: &[CompHeader], progressive: bool) -> Result<ScanHeader, Fail> {
    let length = c.u16()? as usize;
    let n = c.u8()? as usize;
    if length != n * 2 + 6 || n > 4 || (n == 0 && !progressive) {
        return corrupt("bad scan header (SOS) length");
    }
    let mut comps: Vec<(usize, usize, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        let mut cc = c.u8()?;
        let t = c.u8()?;
        // libjpeg-turbo's fix-up for duplicate component ids within a scan.
        if comps.iter().any(|&(ci, _, _)| frame[ci].id == cc) {
            let mut m = frame[comps[0].0].id;
            for &(ci, _, _) in &comps[1..i] {
                m = m.max(frame[ci].id);
            }
            cc = m.wrapping_add(1);
        }
        let Some(ci) = frame.iter().position(|f| f.id == cc) else {
            return corrupt(format!("scan header names component {cc}, which the frame does not have"));
        };
        comps.push((ci, (t >> 4) as usize, (t & 15) as usize));
    }
    let ss = c.u8()?;
    let se = c.u8()?;
    let a = c.u8()?;
    Ok(ScanHeader { comps, ss, se, ah: a >> 4, al: a & 15 })
}

/// What the APPn segments said that matters for decoding and metadata.
#[derive(Default)]
pub struct AppInfo {
    pub jfif: bool,
    pub adobe: Option<u8>,
    pub exif: Option<Vec<u8>>,
    pub xmp: Option<Vec<u8>>,
}

impl AppInfo {
    /// Handles an APPn payload. `before_sos`: Pillow reads metadata only from the headers it
    /// parses itself, i.e. up to the first SOS; libjpeg sees JFIF/Adobe markers anywhere it reads.
    pub fn app(&mut self, marker: u8, payload: &[u8], before_sos: bool) {
        if marker == APP0 && payload.len() >= 14 && payload.starts_with(b"JFIF\0") {
            self.jfif = true;
        }
        if marker == APP14 && payload.len() >= 12 && payload.starts_with(b"Adobe") {
            self.adobe = Some(payload[11]);
        }
        if marker == APP1 && before_sos {
            if payload.starts_with(b"Exif\0\0") {
                // Pillow concatenates further Exif segments (without their prefix).
                match &mut self.exif {
                    Some(e) => e.extend_from_slice(&payload[6..]),
                    None => self.exif = Some(payload.to_vec()),
                }
            } else if let Some(rest) = payload.strip_prefix(b"http://ns.adobe.com/xap/1.0/\0") {
                // Pillow keeps the last one (`s.split(b"\0", 1)[1]`).
                self.xmp = Some(rest.to_vec());
            }
        }
    }
}
