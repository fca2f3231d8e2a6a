//! Terminal side effects by escape sequence: the bell, desktop notifications (OSC 9 and
//! OSC 777, which most terminals show), and the clipboard (OSC 52, through SSH and tmux too).

use std::io::{self, Write};

/// Text safe inside an OSC sequence: no control characters, no separators.
fn clean(s: &str) -> String {
    crate::text::safe(s).replace(';', ",")
}

/// Rings the bell and raises a desktop notification.
pub fn notify(out: &mut impl Write, text: &str) -> io::Result<()> {
    let t = clean(text);
    write!(out, "\x07\x1b]9;amiwatch: {t}\x07\x1b]777;notify;amiwatch;{t}\x07")?;
    out.flush()
}

/// Puts `text` on the system clipboard.
pub fn copy(out: &mut impl Write, text: &str) -> io::Result<()> {
    write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()))?;
    out.flush()
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"s3://b/k.bin"), "czM6Ly9iL2suYmlu");
    }

    #[test]
    fn sequences_carry_no_stray_controls() {
        let mut buf = Vec::new();
        notify(&mut buf, "ami-1 failed: evil\x07\x1b]52;c;x\x07").unwrap();
        let s = String::from_utf8(buf).unwrap();
        // Exactly the three BELs the sequences end with, and the three ESCs they start with.
        assert_eq!(s.matches('\x07').count(), 3, "{s:?}");
        assert_eq!(s.matches('\x1b').count(), 2, "{s:?}");
        let mut buf = Vec::new();
        copy(&mut buf, "s3://b/k.bin").unwrap();
        assert_eq!(buf, b"\x1b]52;c;czM6Ly9iL2suYmlu\x07");
    }
}
