//! Entropy decoding: the bit reader, Huffman tables and the per-MCU decoders for sequential
//! (`jdhuff.c`) and progressive (`jdphuff.c`) scans, ported from libjpeg-turbo including its
//! behaviour on damaged data:
//!
//! - a marker inside entropy data ends it: the bit buffer is padded with zero bits, the MCU in
//!   progress is finished from those, and later MCUs of that restart segment are left as they
//!   are (zero coefficients, i.e. flat grey, in a sequential scan). libjpeg (and so Pillow)
//!   returns that picture with a warning; glimpse refuses it, since the grey is invented
//!   ([`BitReader::ran_short`], checked after each scan);
//! - an invalid Huffman code decodes as symbol 0 after 17 bits;
//! - running past the end of the file (no marker) is what libjpeg reports as a suspension, which
//!   Pillow turns into "image file is truncated": here it is [`Suspend`].

/// The data ran out (without a marker) while the decoder wanted more bits.
#[derive(Debug, Clone, Copy)]
pub struct Suspend;

/// `jpeg_natural_order` with libjpeg's 16 extra entries that keep corrupt run lengths in bounds.
pub const NATURAL: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56,
    57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
];

const LOOKAHEAD: i32 = 8;
/// `MIN_GET_BITS` for a 64-bit `bit_buf_type`.
const MIN_GET_BITS: i32 = 57;

/// A DHT table as sent: code counts per length 1..=16 and symbols.
#[derive(Clone)]
pub struct RawTable {
    pub bits: [u8; 17],
    pub vals: [u8; 256],
}

/// `d_derived_tbl` from `jpeg_make_d_derived_tbl`.
pub struct Derived {
    maxcode: [i64; 18],
    valoffset: [i64; 18],
    lookup: [u16; 256],
    vals: [u8; 256],
}

impl Derived {
    /// Builds the decoding tables, with libjpeg's validation (`JERR_BAD_HUFF_TABLE`).
    pub fn new(raw: &RawTable, is_dc: bool) -> Result<Derived, &'static str> {
        let mut huffsize = [0u8; 257];
        let mut huffcode = [0u32; 257];
        let mut p = 0usize;
        for l in 1..=16 {
            let n = raw.bits[l] as usize;
            if p + n > 256 {
                return Err("a Huffman table has more than 256 codes");
            }
            for _ in 0..n {
                huffsize[p] = l as u8;
                p += 1;
            }
        }
        huffsize[p] = 0;
        let numsymbols = p;
        let mut code: u32 = 0;
        let mut si = huffsize[0] as u32;
        p = 0;
        while huffsize[p] != 0 {
            while huffsize[p] as u32 == si {
                huffcode[p] = code;
                code += 1;
                p += 1;
            }
            if (code as u64) >= (1u64 << si) {
                return Err("a Huffman table's code lengths overflow");
            }
            code <<= 1;
            si += 1;
        }
        let mut d = Derived { maxcode: [-1; 18], valoffset: [0; 18], lookup: [0; 256], vals: raw.vals };
        p = 0;
        for l in 1..=16 {
            let n = raw.bits[l] as usize;
            if n != 0 {
                d.valoffset[l] = p as i64 - huffcode[p] as i64;
                p += n;
                d.maxcode[l] = huffcode[p - 1] as i64;
            } else {
                d.maxcode[l] = -1;
            }
        }
        d.valoffset[17] = 0;
        d.maxcode[17] = 0xFFFFF;
        d.lookup = [((LOOKAHEAD + 1) << LOOKAHEAD) as u16; 256];
        p = 0;
        for l in 1..=LOOKAHEAD as usize {
            for _ in 0..raw.bits[l] {
                let start = (huffcode[p] as usize) << (LOOKAHEAD as usize - l);
                let entry = ((l as u16) << LOOKAHEAD) | raw.vals[p] as u16;
                for e in d.lookup.iter_mut().skip(start).take(1usize << (LOOKAHEAD as usize - l)) {
                    *e = entry;
                }
                p += 1;
            }
        }
        if is_dc && raw.vals[..numsymbols].iter().any(|&s| s > 15) {
            return Err("a DC Huffman table has a symbol over 15");
        }
        Ok(d)
    }
}

/// libjpeg's bit reader over the entropy-coded segment (`jpeg_fill_bit_buffer` and friends, the
/// portable "slow" path, whose behaviour at the end of data is what decides a suspension).
pub struct BitReader<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    buf: u64,
    bits: i32,
    /// `cinfo->unread_marker`: a marker met in the data (0 = none).
    pub unread_marker: u8,
    /// `entropy->insufficient_data`.
    pub insufficient: bool,
    /// Whether bits were ever wanted past a marker in this scan: libjpeg's "premature end of data
    /// segment" warning, after which it fills the rest of the segment with grey. Never reset.
    pub ran_short: bool,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader { data, pos, buf: 0, bits: 0, unread_marker: 0, insufficient: false, ran_short: false }
    }

    fn fill(&mut self, nbits: i32) -> Result<(), Suspend> {
        if self.unread_marker == 0 {
            while self.bits < MIN_GET_BITS {
                let mut c = *self.data.get(self.pos).ok_or(Suspend)?;
                self.pos += 1;
                if c == 0xFF {
                    loop {
                        c = *self.data.get(self.pos).ok_or(Suspend)?;
                        self.pos += 1;
                        if c != 0xFF {
                            break;
                        }
                    }
                    if c == 0 {
                        c = 0xFF;
                    } else {
                        self.unread_marker = c;
                        return self.no_more(nbits);
                    }
                }
                self.buf = (self.buf << 8) | c as u64;
                self.bits += 8;
            }
            Ok(())
        } else {
            self.no_more(nbits)
        }
    }

    fn no_more(&mut self, nbits: i32) -> Result<(), Suspend> {
        if nbits > self.bits {
            self.insufficient = true;
            self.ran_short = true;
            self.buf <<= (MIN_GET_BITS - self.bits) as u32;
            self.bits = MIN_GET_BITS;
        }
        Ok(())
    }

    #[inline(always)]
    fn ensure(&mut self, n: i32) -> Result<(), Suspend> {
        if self.bits < n {
            self.fill(n)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn get(&mut self, n: i32) -> u32 {
        self.bits -= n;
        ((self.buf >> self.bits as u32) & ((1u64 << n as u32) - 1)) as u32
    }

    /// `CHECK_BIT_BUFFER` + `GET_BITS`.
    #[inline(always)]
    pub fn bits(&mut self, n: i32) -> Result<u32, Suspend> {
        if n == 0 {
            return Ok(0);
        }
        self.ensure(n)?;
        Ok(self.get(n))
    }

    /// `HUFF_DECODE`.
    #[inline(always)]
    pub fn decode(&mut self, t: &Derived) -> Result<u8, Suspend> {
        if self.bits < LOOKAHEAD {
            self.fill(0)?;
            if self.bits < LOOKAHEAD {
                return self.decode_slow(t, 1);
            }
        }
        let look = ((self.buf >> (self.bits - LOOKAHEAD) as u32) & 0xFF) as usize;
        let e = t.lookup[look];
        let nb = (e >> LOOKAHEAD) as i32;
        if nb <= LOOKAHEAD {
            self.bits -= nb;
            Ok(e as u8)
        } else {
            self.decode_slow(t, nb)
        }
    }

    /// `jpeg_huff_decode`.
    fn decode_slow(&mut self, t: &Derived, min_bits: i32) -> Result<u8, Suspend> {
        let mut l = min_bits as usize;
        self.ensure(l as i32)?;
        let mut code = self.get(l as i32) as i64;
        while l <= 16 && code > t.maxcode[l] {
            code <<= 1;
            self.ensure(1)?;
            code |= self.get(1) as i64;
            l += 1;
        }
        if l > 16 {
            return Ok(0); // JWRN_HUFF_BAD_CODE: "fake a zero as the safest result"
        }
        let idx = code + t.valoffset[l];
        Ok(usize::try_from(idx).ok().and_then(|i| t.vals.get(i)).copied().unwrap_or(0))
    }

    /// Drops the bits left in the buffer (start of a restart interval).
    pub fn reset_bits(&mut self) {
        self.bits = 0;
        self.buf = 0;
    }
}

#[inline(always)]
pub fn extend(r: u32, s: i32) -> i32 {
    let r = r as i32;
    if s == 0 {
        0
    } else if r < (1 << (s - 1)) {
        r + ((-1i32) << s) + 1
    } else {
        r
    }
}

/// The next DC value of a component: the decoded difference added to `last_dc` (updated).
#[inline]
fn next_dc(br: &mut BitReader, dc: &Derived, last_dc: &mut i32) -> Result<Result<i32, &'static str>, Suspend> {
    let mut s = br.decode(dc)? as i32;
    if s != 0 {
        let r = br.bits(s)?;
        s = extend(r, s);
    }
    let Some(v) = last_dc.checked_add(s) else {
        return Ok(Err("a DC coefficient overflows"));
    };
    *last_dc = v;
    Ok(Ok(v))
}

/// Decodes one sequential-mode block (`decode_mcu_slow`'s per-block body) into `block`, which
/// the caller has zeroed (or which holds earlier coefficients in a multi-scan file).
#[inline]
pub fn decode_block(
    br: &mut BitReader,
    dc: &Derived,
    ac: &Derived,
    last_dc: &mut i32,
    block: &mut [i16; 64],
) -> Result<Result<(), &'static str>, Suspend> {
    let v = match next_dc(br, dc, last_dc)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    block[0] = v as i16;
    let mut k = 1usize;
    while k < 64 {
        let rs = br.decode(ac)?;
        let r = (rs >> 4) as usize;
        let s = (rs & 15) as i32;
        if s != 0 {
            k += r;
            let bits = br.bits(s)?;
            block[NATURAL[k]] = extend(bits, s) as i16;
        } else {
            if r != 15 {
                break;
            }
            k += 15;
        }
        k += 1;
    }
    Ok(Ok(()))
}

/// `decode_mcu_DC_first` body for one block.
#[inline]
pub fn dc_first(
    br: &mut BitReader,
    dc: &Derived,
    last_dc: &mut i32,
    al: u8,
    block: &mut [i16; 64],
) -> Result<Result<(), &'static str>, Suspend> {
    let v = match next_dc(br, dc, last_dc)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    block[0] = v.wrapping_shl(al as u32) as i16;
    Ok(Ok(()))
}

/// `decode_mcu_DC_refine` body for one block.
#[inline]
pub fn dc_refine(br: &mut BitReader, al: u8, block: &mut [i16; 64]) -> Result<(), Suspend> {
    if br.bits(1)? != 0 {
        block[0] |= (1i32 << al) as i16;
    }
    Ok(())
}

/// `decode_mcu_AC_first` (one block per MCU). `eobrun` is the saved EOB run.
pub fn ac_first(br: &mut BitReader, ac: &Derived, ss: u8, se: u8, al: u8, eobrun: &mut u32, block: &mut [i16; 64]) -> Result<(), Suspend> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Ok(());
    }
    let mut k = ss as usize;
    while k <= se as usize {
        let rs = br.decode(ac)?;
        let mut r = (rs >> 4) as u32;
        let s = (rs & 15) as i32;
        if s != 0 {
            k += r as usize;
            let bits = br.bits(s)?;
            block[NATURAL[k.min(79)]] = extend(bits, s).wrapping_shl(al as u32) as i16;
        } else if r == 15 {
            k += 15;
        } else {
            let mut run = 1u32 << r;
            if r != 0 {
                r = br.bits(r as i32)?;
                run += r;
            }
            *eobrun = run - 1;
            break;
        }
        k += 1;
    }
    Ok(())
}

/// `decode_mcu_AC_refine` (one block per MCU), undoing new nonzero coefficients on suspension.
pub fn ac_refine(br: &mut BitReader, ac: &Derived, ss: u8, se: u8, al: u8, eobrun: &mut u32, block: &mut [i16; 64]) -> Result<(), Suspend> {
    let p1: i16 = (1i32 << al) as i16;
    let m1: i16 = ((-1i32) << al) as i16;
    let mut newnz = [0usize; 64];
    let mut num_newnz = 0usize;
    let res = ac_refine_inner(br, ac, ss, se, p1, m1, eobrun, block, &mut newnz, &mut num_newnz);
    if res.is_err() {
        for &p in &newnz[..num_newnz] {
            block[p] = 0;
        }
    }
    res
}

#[allow(clippy::too_many_arguments)]
fn ac_refine_inner(
    br: &mut BitReader,
    ac: &Derived,
    ss: u8,
    se: u8,
    p1: i16,
    m1: i16,
    eobrun: &mut u32,
    block: &mut [i16; 64],
    newnz: &mut [usize; 64],
    num_newnz: &mut usize,
) -> Result<(), Suspend> {
    let se = se as usize;
    let mut k = ss as usize;
    let mut run = *eobrun;
    let refine = |br: &mut BitReader, c: &mut i16| -> Result<(), Suspend> {
        if br.bits(1)? != 0 && (*c & p1) == 0 {
            if *c >= 0 {
                *c = c.wrapping_add(p1);
            } else {
                *c = c.wrapping_add(m1);
            }
        }
        Ok(())
    };
    if run == 0 {
        while k <= se {
            let rs = br.decode(ac)?;
            let mut r = (rs >> 4) as i32;
            let s = (rs & 15) as i32;
            let mut val: i16 = 0;
            if s != 0 {
                // A size other than 1 is JWRN_HUFF_BAD_CODE; libjpeg carries on.
                val = if br.bits(1)? != 0 { p1 } else { m1 };
            } else if r != 15 {
                run = 1u32 << r;
                if r != 0 {
                    run += br.bits(r)?;
                }
                break;
            }
            loop {
                let pos = NATURAL[k];
                if block[pos] != 0 {
                    refine(br, &mut block[pos])?;
                } else {
                    r -= 1;
                    if r < 0 {
                        break;
                    }
                }
                k += 1;
                if k > se {
                    break;
                }
            }
            if val != 0 {
                let pos = NATURAL[k.min(79)];
                block[pos] = val;
                if *num_newnz < 64 {
                    newnz[*num_newnz] = pos;
                    *num_newnz += 1;
                }
            }
            k += 1;
        }
    }
    if run > 0 {
        while k <= se {
            let pos = NATURAL[k];
            if block[pos] != 0 {
                refine(br, &mut block[pos])?;
            }
            k += 1;
        }
        run -= 1;
    }
    *eobrun = run;
    Ok(())
}
