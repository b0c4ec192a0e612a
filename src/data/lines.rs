//! Line-oriented input shared by the JSONL and CSV readers: plain or gzip files (told
//! apart by the gzip magic bytes, not the name), CRLF or LF, numbered lines, UTF-8 and
//! JSON errors that name the file, the line and the field.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::DeserializeOwned;

use super::error::DataError;

/// Call `f(line_number, bytes)` for every line that is not blank; line ends stripped.
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut reader = open(path)?;
    let mut buf = Vec::with_capacity(1 << 12);
    let mut number = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let mut line = buf.as_slice();
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        f(number, line)?;
    }
}

/// A buffered reader of the file's text, decompressed when it is gzip.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut magic = [0u8; 2];
    let got =
        crate::util::io::read_up_to(&mut file, &mut magic).map_err(|e| DataError::io(path, e))?;
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    if got == 2 && magic == [0x1f, 0x8b] {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        Ok(Box::new(BufReader::with_capacity(1 << 16, gz)))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    }
}

/// The line as text. A bad byte is reported with the field `field_at(offset)` names, when
/// the caller can tell which field holds that offset.
pub fn utf8<'a>(
    path: &Path,
    number: usize,
    bytes: &'a [u8],
    field_at: impl Fn(usize) -> Option<String>,
) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let message = format!(
            "invalid UTF-8 (byte 0x{:02X} at column {})",
            bytes[at],
            at + 1
        );
        match field_at(at) {
            Some(field) => DataError::field(path, number, field, message),
            None => DataError::line(path, number, message),
        }
    })
}

/// One JSON value from one line; a type error names the field's path (`history[2].rating`).
pub fn json<T: DeserializeOwned>(path: &Path, number: usize, bytes: &[u8]) -> Result<T, DataError> {
    let text = utf8(path, number, bytes, |_| None)?;
    // Path tracking costs time on every value; it is only needed to explain a failure.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return DataError::line(path, number, format!("malformed JSON: {inner}"));
        }
        // serde_json appends the position within the line; the field path says more.
        let full = inner.to_string();
        let message = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i]);
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'));
        match (missing, at.as_str()) {
            (Some(name), ".") => DataError::field(path, number, name, "missing"),
            (Some(name), parent) => {
                DataError::field(path, number, format!("{parent}.{name}"), "missing")
            }
            (None, ".") => DataError::line(path, number, message),
            (None, field) => DataError::field(path, number, field, message),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plain_and_gzip_read_the_same_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"one\r\n\r\ntwo\nthree";
        let plain = dir.path().join("a.txt");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("a.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for p in [&plain, &gz] {
            let mut seen = Vec::new();
            for_each_line(p, |n, l| {
                seen.push((n, String::from_utf8(l.to_vec()).unwrap()));
                Ok(())
            })
            .unwrap();
            assert_eq!(
                seen,
                [(1, "one".into()), (3, "two".into()), (4, "three".into())]
            );
        }
    }

    #[test]
    fn json_errors_name_the_field_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Row {
            a: Vec<f32>,
        }
        let p = Path::new("x.jsonl");
        let err = json::<Row>(p, 7, br#"{"a":[1,"two"]}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "x.jsonl:7: field `a[1]`: invalid type: string \"two\", expected f32"
        );
        let err = json::<Row>(p, 8, br#"{"a":[1"#).unwrap_err().to_string();
        assert!(err.starts_with("x.jsonl:8: malformed JSON"), "{err}");
        let err = json::<Row>(p, 9, br#"{}"#).unwrap_err().to_string();
        assert_eq!(err, "x.jsonl:9: field `a`: missing");
        let err = json::<Row>(p, 2, b"{\"a\":[]}\xff")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "x.jsonl:2: invalid UTF-8 (byte 0xFF at column 9)");
    }
}
