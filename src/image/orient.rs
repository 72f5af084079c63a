//! EXIF orientation, found where Pillow's `Image.getexif()` finds it and applied as
//! `ImageOps.exif_transpose` does.
//!
//! Pillow reads the Orientation tag (0x0112) from IFD0 of the file's EXIF block (JPEG APP1,
//! WebP `EXIF` chunk, PNG `eXIf` chunk or an ImageMagick "Raw profile type exif" text chunk);
//! when that has no orientation, from the first `tiff:Orientation` attribute or element of the
//! XMP packet. A damaged EXIF block loses only the entries after the damage (Pillow warns and
//! keeps what it read). Values other than 2-8 leave the image as it is.

use image::RgbImage;

/// The EXIF Orientation tag.
const ORIENTATION: u16 = 0x0112;

/// Orientation from a TIFF/EXIF block, with or without its `Exif\0\0` prefix.
pub fn from_exif(data: &[u8]) -> Option<u32> {
    let d = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
    let big = match d.get(..4)? {
        [b'I', b'I', 42, 0] => false,
        [b'M', b'M', 0, 42] => true,
        _ => return None,
    };
    let u16_at = |o: usize| {
        d.get(o..o.checked_add(2)?).map(|b| if big { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) })
    };
    let u32_at = |o: usize| {
        d.get(o..o.checked_add(4)?).map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            if big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = u16_at(ifd)?;
    for i in 0..usize::from(count) {
        let e = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        let (tag, typ, n) = (u16_at(e)?, u16_at(e + 2)?, u32_at(e + 4)?);
        if tag != ORIENTATION || n < 1 {
            continue;
        }
        // SHORT (3) as the standard says; LONG (4) and BYTE (1) occur too and Pillow reads them.
        return match (typ, n) {
            (3, 1..=2) => u16_at(e + 8).map(u32::from),
            (4, 1) => u32_at(e + 8),
            (1, 1..=4) => d.get(e + 8).map(|&b| u32::from(b)),
            _ => None,
        };
    }
    None
}

/// Orientation from an XMP packet: Pillow's `tiff:Orientation(="|>)([0-9])`.
pub fn from_xmp(xmp: &[u8]) -> Option<u32> {
    const KEY: &[u8] = b"tiff:Orientation";
    let mut from = 0;
    while let Some(p) = find(&xmp[from..], KEY) {
        let rest = &xmp[from + p + KEY.len()..];
        let digit = match rest {
            [b'=', b'"', d, ..] | [b'>', d, ..] => Some(*d),
            _ => None,
        };
        if let Some(d) = digit.filter(u8::is_ascii_digit) {
            return Some(u32::from(d - b'0'));
        }
        from += p + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Orientation as Pillow's `getexif()` resolves it: EXIF first, XMP where EXIF has none.
pub fn resolve(exif: Option<&[u8]>, xmp: Option<&[u8]>) -> Option<u32> {
    exif.and_then(from_exif).or_else(|| xmp.and_then(from_xmp))
}

/// Applies an EXIF orientation as `ImageOps.exif_transpose` does (2-8; anything else: as is).
pub fn apply(img: RgbImage, orientation: Option<u32>) -> RgbImage {
    use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
    match orientation {
        Some(2) => flip_horizontal(&img),
        Some(3) => rotate180(&img),
        Some(4) => flip_vertical(&img),
        // TRANSPOSE: mirror across the main diagonal.
        Some(5) => flip_horizontal(&rotate90(&img)),
        // Pillow's ROTATE_270 is counter-clockwise 270, i.e. 90 clockwise.
        Some(6) => rotate90(&img),
        // TRANSVERSE: mirror across the anti-diagonal.
        Some(7) => flip_horizontal(&rotate270(&img)),
        Some(8) => rotate270(&img),
        _ => img,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exif(big: bool, typ: u16, value: u32) -> Vec<u8> {
        let mut d = if big { b"MM\0\x2a\0\0\0\x08".to_vec() } else { b"II\x2a\0\x08\0\0\0".to_vec() };
        let (u16b, u32b): (fn(u16) -> [u8; 2], fn(u32) -> [u8; 4]) =
            if big { (u16::to_be_bytes, u32::to_be_bytes) } else { (u16::to_le_bytes, u32::to_le_bytes) };
        d.extend(u16b(1));
        d.extend(u16b(ORIENTATION));
        d.extend(u16b(typ));
        d.extend(u32b(1));
        if typ == 3 {
            d.extend(u16b(value as u16));
            d.extend([0, 0]);
        } else {
            d.extend(u32b(value));
        }
        d
    }

    #[test]
    fn reads_both_byte_orders_and_types() {
        assert_eq!(from_exif(&exif(false, 3, 6)), Some(6));
        assert_eq!(from_exif(&exif(true, 3, 8)), Some(8));
        assert_eq!(from_exif(&exif(false, 4, 3)), Some(3));
        let mut prefixed = b"Exif\0\0".to_vec();
        prefixed.extend(exif(true, 3, 5));
        assert_eq!(from_exif(&prefixed), Some(5));
    }

    #[test]
    fn damaged_blocks_give_nothing_and_never_panic() {
        let good = exif(false, 3, 6);
        for n in 0..good.len() {
            let got = from_exif(&good[..n]);
            assert!(got.is_none() || got == Some(6));
        }
        assert_eq!(from_exif(b"Exif\0\0II*\0\xff\xff\xff\xff"), None);
    }

    #[test]
    fn xmp_attribute_and_element() {
        assert_eq!(from_xmp(br#"<x tiff:Orientation="6"/>"#), Some(6));
        assert_eq!(from_xmp(b"<tiff:Orientation>3</tiff:Orientation>"), Some(3));
        assert_eq!(from_xmp(b"tiff:Orientation=x tiff:Orientation=\"8\""), Some(8));
        assert_eq!(from_xmp(b"nothing"), None);
    }

    #[test]
    fn transposes_like_pillow() {
        // 2x1 image [a b]: orientation 6 (rotate 90 clockwise) gives a column [a; b].
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([x as u8, 0, 0]));
        let r = apply(img.clone(), Some(6));
        assert_eq!((r.width(), r.height()), (1, 2));
        assert_eq!(r.get_pixel(0, 0)[0], 0);
        let r = apply(img.clone(), Some(8));
        assert_eq!(r.get_pixel(0, 0)[0], 1);
        let t = apply(RgbImage::from_fn(2, 2, |x, y| image::Rgb([(x + 2 * y) as u8, 0, 0])), Some(5));
        assert_eq!([t.get_pixel(1, 0)[0], t.get_pixel(0, 1)[0]], [2, 1]);
        let t = apply(RgbImage::from_fn(2, 2, |x, y| image::Rgb([(x + 2 * y) as u8, 0, 0])), Some(7));
        assert_eq!([t.get_pixel(0, 0)[0], t.get_pixel(1, 1)[0]], [3, 0]);
        assert_eq!(apply(img.clone(), Some(9)), img);
    }
}
