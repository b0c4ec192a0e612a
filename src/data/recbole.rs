//! Reader for RecBole's atomic files (`.inter`, `.item`): tab separated, one typed header
//! line `name:type` per column, LF or CRLF line endings, UTF-8 text.
//! Columns are looked up by header name, never by position, and every error names the
//! file, the line and the column.
//!
//! Format: <https://recbole.io/docs/user_guide/data/atomic_files.html>

use std::path::{Path, PathBuf};

use super::error::DataError;

/// One header column: `item_id:token` has name `item_id` and kind `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: String,
}

/// A whole atomic file held in memory, header parsed.
#[derive(Debug)]
pub struct RecboleTable {
    path: PathBuf,
    text: String,
    columns: Vec<Column>,
    /// Byte offset where the first record line starts.
    body: usize,
}

impl RecboleTable {
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        Self::from_bytes(path, bytes)
    }

    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, DataError> {
        let mut text = String::from_utf8(bytes).map_err(|e| utf8_error(path, e))?;
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let (header, body) = match text.find('\n') {
            Some(i) => (&text[..i], i + 1),
            None => (text.as_str(), text.len()),
        };
        let header = header.trim_end_matches('\r');
        if header.trim().is_empty() {
            return Err(DataError::line(
                path,
                1,
                "empty file: expected a typed header such as `user_id:token\titem_id:token`",
            ));
        }
        let columns = parse_header(path, header)?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
            columns,
            body,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The index of a column that must be present.
    pub fn column(&self, name: &str) -> Result<usize, DataError> {
        self.optional_column(name).ok_or_else(|| {
            let have: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            DataError::field(
                &self.path,
                1,
                name,
                format!("missing column (the header has: {})", have.join(", ")),
            )
        })
    }

    pub fn optional_column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The record lines in file order; blank lines are skipped.
    pub fn records(&self) -> impl Iterator<Item = Result<Record<'_>, DataError>> + '_ {
        self.text[self.body..]
            .split('\n')
            .enumerate()
            .map(|(i, raw)| (i + 2, raw.strip_suffix('\r').unwrap_or(raw)))
            .filter(|(_, raw)| !raw.trim().is_empty())
            .map(move |(line, raw)| {
                let fields: Vec<&str> = raw.split('\t').collect();
                if fields.len() < self.columns.len() {
                    let missing = &self.columns[fields.len()].name;
                    return Err(DataError::field(
                        &self.path,
                        line,
                        missing.as_str(),
                        format!(
                            "missing: the line has {} tab-separated fields, the header names {}",
                            fields.len(),
                            self.columns.len()
                        ),
                    ));
                }
                if fields.len() > self.columns.len() {
                    return Err(DataError::line(
                        &self.path,
                        line,
                        format!(
                            "{} tab-separated fields, but the header names only {}",
                            fields.len(),
                            self.columns.len()
                        ),
                    ));
                }
                Ok(Record {
                    table: self,
                    line,
                    fields,
                })
            })
    }
}

/// One record line, its fields split on tabs.
#[derive(Debug)]
pub struct Record<'a> {
    table: &'a RecboleTable,
    pub line: usize,
    fields: Vec<&'a str>,
}

impl<'a> Record<'a> {
    /// The raw text of a column (index from [`RecboleTable::column`]).
    pub fn get(&self, column: usize) -> &'a str {
        self.fields[column]
    }

    /// An error about one field of this record.
    pub fn error(&self, column: usize, message: impl Into<String>) -> DataError {
        DataError::field(
            &self.table.path,
            self.line,
            self.table.columns[column].name.as_str(),
            message,
        )
    }

    /// A field that must not be empty.
    pub fn text(&self, column: usize) -> Result<&'a str, DataError> {
        let v = self.get(column).trim();
        if v.is_empty() {
            return Err(self.error(column, "empty value"));
        }
        Ok(v)
    }

    /// A finite number (`float` columns).
    pub fn float(&self, column: usize) -> Result<f64, DataError> {
        let raw = self.text(column)?;
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.error(column, format!("expected a number, found `{}`", shown(raw)))),
        }
    }

    /// A Unix time in whole seconds; RecBole types it `float`, so `881250949.0` is accepted.
    pub fn seconds(&self, column: usize) -> Result<i64, DataError> {
        let raw = self.text(column)?;
        if let Ok(v) = raw.parse::<i64>() {
            return Ok(v);
        }
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => Ok(v as i64),
            _ => Err(self.error(
                column,
                format!("expected Unix seconds, found `{}`", shown(raw)),
            )),
        }
    }
}

/// A value quoted in an error, cut to its first 40 characters: a line of megabytes must
/// not flood the terminal.
pub fn shown(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((cut, _)) => format!("{}… ({} bytes)", &raw[..cut], raw.len()),
        None => raw.to_string(),
    }
}

fn parse_header(path: &Path, header: &str) -> Result<Vec<Column>, DataError> {
    let mut columns: Vec<Column> = Vec::new();
    for raw in header.split('\t') {
        let raw = raw.trim();
        let Some((name, kind)) = raw
            .split_once(':')
            .filter(|(n, k)| !n.is_empty() && !k.is_empty())
        else {
            return Err(DataError::field(
                path,
                1,
                raw,
                "header column is not of the form `name:type`",
            ));
        };
        if columns.iter().any(|c| c.name == name) {
            return Err(DataError::field(
                path,
                1,
                name,
                "column named twice in the header",
            ));
        }
        columns.push(Column {
            name: name.to_string(),
            kind: kind.to_string(),
        });
    }
    Ok(columns)
}

/// Point at the line and column of the first byte that is not UTF-8.
fn utf8_error(path: &Path, err: std::string::FromUtf8Error) -> DataError {
    let at = err.utf8_error().valid_up_to();
    let bytes = err.as_bytes();
    let before = &bytes[..at];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let tabs = before[line_start..].iter().filter(|&&b| b == b'\t').count();
    let message = format!("invalid UTF-8 (byte 0x{:02X})", bytes[at]);
    // The header is the first line; when it is readable, name the column by its header name.
    let header_end = before.iter().position(|&b| b == b'\n');
    let name = header_end
        .filter(|_| line > 1)
        .and_then(|end| std::str::from_utf8(&before[..end]).ok())
        .and_then(|h| h.trim_end_matches('\r').split('\t').nth(tabs))
        .map(|c| c.split(':').next().unwrap_or(c).to_string());
    match name {
        Some(field) => DataError::field(path, line, field, message),
        None => DataError::line(path, line, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &[u8]) -> Result<RecboleTable, DataError> {
        RecboleTable::from_bytes(Path::new("t.inter"), text.to_vec())
    }

    #[test]
    fn reads_columns_by_name_with_crlf() {
        let t = table(b"b:float\ta:token\r\n1.5\tx\r\n\r\n2\ty\r\n").unwrap();
        let a = t.column("a").unwrap();
        let b = t.column("b").unwrap();
        let rows: Vec<(usize, String, f64)> = t
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r.line, r.get(a).to_string(), r.float(b).unwrap())
            })
            .collect();
        assert_eq!(rows, vec![(2, "x".into(), 1.5), (4, "y".into(), 2.0)]);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let t = table(b"a:token\tb:float\nx\n").unwrap();
        let err = t.records().next().unwrap().unwrap_err().to_string();
        assert_eq!(
            err,
            "t.inter:2: field `b`: missing: the line has 1 tab-separated fields, the header names 2"
        );
        let err = t.column("rating").unwrap_err().to_string();
        assert!(
            err.starts_with("t.inter:1: field `rating`: missing column"),
            "{err}"
        );
        let t = table(b"a:token\tb:float\nx\tabc\n").unwrap();
        let r = t.records().next().unwrap().unwrap();
        assert_eq!(
            r.float(1).unwrap_err().to_string(),
            "t.inter:2: field `b`: expected a number, found `abc`"
        );
    }

    #[test]
    fn empty_and_non_utf8_files() {
        assert_eq!(
            table(b"").unwrap_err().to_string(),
            "t.inter:1: empty file: expected a typed header such as `user_id:token\titem_id:token`"
        );
        let err = table(b"a:token\tb:token_seq\nx\tok\ny\tCaf\xe9\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "t.inter:3: field `b`: invalid UTF-8 (byte 0xE9)");
        assert!(table(b"a\tb:float\n")
            .unwrap_err()
            .to_string()
            .contains("field `a`"));
    }

    #[test]
    fn seconds_accept_integral_floats_only() {
        let t = table(b"t:float\n881250949.0\n12.5\n").unwrap();
        let mut it = t.records();
        assert_eq!(it.next().unwrap().unwrap().seconds(0).unwrap(), 881_250_949);
        assert!(it.next().unwrap().unwrap().seconds(0).is_err());
    }
}
