//! The QR code of an otpauth URI as a PNG data URL (what Nhost's `imageUrl` is), without an
//! image library: `qrcode` lays out the modules, and a small writer makes a 1-bit
//! grayscale PNG whose zlib stream uses stored (uncompressed) blocks. A 200-pixel code is a
//! few kilobytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module.
const SCALE: usize = 4;
/// Light modules around the code (the quiet zone the standard asks for).
const BORDER: usize = 4;

/// `data:image/png;base64,...` of the QR code of `text`; `None` if it does not fit one.
pub fn png_data_url(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * BORDER) * SCALE;
    let row_bytes = side.div_ceil(8);
    let mut raw = Vec::with_capacity((row_bytes + 1) * side);
    for y in 0..side {
        raw.push(0); // filter: none
        let mut row = vec![0u8; row_bytes];
        for x in 0..side {
            let (mx, my) = (x / SCALE, y / SCALE);
            let dark = (BORDER..BORDER + modules).contains(&mx)
                && (BORDER..BORDER + modules).contains(&my)
                && colors[(my - BORDER) * modules + (mx - BORDER)] == Color::Dark;
            if !dark {
                row[x / 8] |= 0x80 >> (x % 8);
            }
        }
        raw.extend_from_slice(&row);
    }
    let png = png(side as u32, &raw);
    Some(format!("data:image/png;base64,{}", STANDARD.encode(png)))
}

/// A 1-bit grayscale PNG of `side` x `side` pixels from its filtered scanlines.
fn png(side: u32, scanlines: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[1, 0, 0, 0, 0]); // depth 1, grayscale, deflate, no interlace
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib_stored(scanlines));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored deflate blocks (RFC 1950, RFC 1951 section 3.2.4).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_their_standards() {
        assert_eq!(crc32(b"IEND"), 0xae42_6082, "the CRC every PNG ends with");
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn a_png_of_the_expected_size() {
        let url = png_data_url("otpauth://totp/Tessera:ada%40example.com?secret=AAAA").unwrap();
        let png = STANDARD
            .decode(url.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let side = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!((100..=300).contains(&side), "{side}");
        assert!(png.len() < 16 * 1024, "{}", png.len());
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
    }
}
