//! Typed access to a GGUF file's key/value metadata, with errors that name the key and
//! say what was expected. Keys follow the GGUF spec
//! (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>).

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata key `{key}` is missing")]
    Missing { key: String },
    #[error("metadata key `{key}`: expected {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("metadata key `{key}` = `{value}` is not supported (supported: {supported})")]
    Unsupported {
        key: String,
        value: String,
        supported: &'static str,
    },
}

/// A borrowed view of the metadata map of one GGUF file.
#[derive(Debug, Clone, Copy)]
pub struct Metadata<'a> {
    map: &'a HashMap<String, Value>,
}

impl<'a> Metadata<'a> {
    pub fn new(map: &'a HashMap<String, Value>) -> Self {
        Self { map }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Result<&'a Value, MetadataError> {
        self.map.get(key).ok_or_else(|| MetadataError::Missing {
            key: key.to_string(),
        })
    }

    pub fn string(&self, key: &str) -> Result<&'a str, MetadataError> {
        match self.get(key)? {
            Value::String(s) => Ok(s),
            other => Err(wrong(key, "a string", other)),
        }
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<&'a str>, MetadataError> {
        self.optional(key, Self::string)
    }

    /// A non-negative integer of any width.
    pub fn usize(&self, key: &str) -> Result<usize, MetadataError> {
        let v = self.get(key)?;
        as_u64(v)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| wrong(key, "a non-negative integer", v))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>, MetadataError> {
        self.optional(key, Self::usize)
    }

    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>, MetadataError> {
        let Some(v) = self.map.get(key) else {
            return Ok(None);
        };
        as_u64(v)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(key, "a 32-bit token id", v))
    }

    /// A float (f32 or f64); integers are accepted too, since some writers store
    /// round values such as a rope base as integers.
    pub fn f64(&self, key: &str) -> Result<f64, MetadataError> {
        match self.get(key)? {
            Value::F32(x) => Ok(f64::from(*x)),
            Value::F64(x) => Ok(*x),
            v => as_u64(v)
                .map(|n| n as f64)
                .ok_or_else(|| wrong(key, "a number", v)),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, MetadataError> {
        self.optional(key, Self::f64)
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, MetadataError> {
        self.optional(key, |m, k| match m.get(k)? {
            Value::Bool(b) => Ok(*b),
            other => Err(wrong(k, "a boolean", other)),
        })
    }

    /// An array of strings (token lists, merges).
    pub fn strings(&self, key: &str) -> Result<Vec<&'a str>, MetadataError> {
        let v = self.get(key)?;
        let Value::Array(items) = v else {
            return Err(wrong(key, "an array of strings", v));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.as_str()),
                other => Err(wrong(key, "an array of strings", other)),
            })
            .collect()
    }

    /// An array of integers (token types), if present.
    pub fn opt_ints(&self, key: &str) -> Result<Option<Vec<u64>>, MetadataError> {
        let Some(v) = self.map.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(wrong(key, "an array of integers", v));
        };
        items
            .iter()
            .map(|item| as_u64(item).ok_or_else(|| wrong(key, "an array of integers", item)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn optional<T>(
        &self,
        key: &str,
        read: impl Fn(&Self, &str) -> Result<T, MetadataError>,
    ) -> Result<Option<T>, MetadataError> {
        if self.map.contains_key(key) {
            read(self, key).map(Some)
        } else {
            Ok(None)
        }
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::U8(n) => Some(u64::from(*n)),
        Value::U16(n) => Some(u64::from(*n)),
        Value::U32(n) => Some(u64::from(*n)),
        Value::U64(n) => Some(*n),
        Value::I8(n) => u64::try_from(*n).ok(),
        Value::I16(n) => u64::try_from(*n).ok(),
        Value::I32(n) => u64::try_from(*n).ok(),
        Value::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn wrong(key: &str, expected: &'static str, found: &Value) -> MetadataError {
    MetadataError::WrongType {
        key: key.to_string(),
        expected,
        found: describe(found),
    }
}

/// A short description of a value for error messages (never the whole token list).
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {:?}", s.chars().take(40).collect::<String>()),
        Value::Array(items) => format!("an array of {} values", items.len()),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::F32(x) => format!("the float {x}"),
        Value::F64(x) => format!("the float {x}"),
        other => match as_u64(other) {
            Some(n) => format!("the integer {n}"),
            None => format!("{other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> HashMap<String, Value> {
        let mut m = HashMap::new();
        m.insert("a.count".to_string(), Value::U32(30));
        m.insert("a.neg".to_string(), Value::I32(-1));
        m.insert("a.eps".to_string(), Value::F32(1e-5));
        m.insert("a.name".to_string(), Value::String("llama".into()));
        m.insert(
            "a.list".to_string(),
            Value::Array(vec![Value::String("x".into()), Value::U8(1)]),
        );
        m
    }

    #[test]
    fn typed_reads_and_errors_name_the_key() {
        let m = map();
        let md = Metadata::new(&m);
        assert_eq!(md.usize("a.count").unwrap(), 30);
        assert!((md.f64("a.eps").unwrap() - 1e-5).abs() < 1e-10);
        assert_eq!(md.string("a.name").unwrap(), "llama");
        assert_eq!(md.opt_usize("a.absent").unwrap(), None);
        let err = md.usize("a.neg").unwrap_err().to_string();
        assert!(
            err.contains("a.neg") && err.contains("non-negative"),
            "{err}"
        );
        let err = md.usize("a.missing").unwrap_err().to_string();
        assert!(err.contains("`a.missing` is missing"), "{err}");
        let err = md.strings("a.list").unwrap_err().to_string();
        assert!(err.contains("a.list") && err.contains("integer 1"), "{err}");
        let err = md.string("a.count").unwrap_err().to_string();
        assert!(err.contains("integer 30"), "{err}");
    }
}
