//! Reading helpers shared by the file readers.

use std::io::Read;

/// Like `read_exact`, but a short file is not an error: returns how many bytes were
/// read (format sniffing reads a magic number that a tiny file may not have).
pub fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_input_returns_what_there_is() {
        let mut buf = [0u8; 4];
        assert_eq!(super::read_up_to(&mut &b"ab"[..], &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(super::read_up_to(&mut &b"abcdef"[..], &mut buf).unwrap(), 4);
    }
}
