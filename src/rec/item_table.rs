//! The item table H_V (SPEC §1): one L2-normalised row per catalogue item, each the
//! backbone's final-norm hidden state at the last token of the item's prompt (SPEC §2).
//! Rows live in one contiguous row-major buffer so scoring a user vector is a single
//! matrix-vector product. Adding or removing an item is adding or removing a row.
//!
//! Normalisation follows the reference's `F.normalize` (x / max(|x|, 1e-12)), so a zero
//! vector stays zero and scores 0 against everything.

use std::collections::HashMap;

use super::centre::Centre;
use crate::data::prompt::item_prompt;
use crate::data::{Catalog, Domain};
use crate::model::chat_template::ChatTemplate;

/// Smallest norm divided by, as in PyTorch's `F.normalize`.
const NORM_EPS: f32 = 1e-12;

/// Whatever turns item prompts into vectors: the backbone, or a fake in tests.
pub trait ItemEncoder {
    type Error: std::error::Error + Send + Sync + 'static;

    /// One vector per prompt, in order: the final-norm hidden state at the prompt's
    /// last token.
    fn encode(&mut self, prompts: &[String]) -> Result<Vec<Vec<f32>>, Self::Error>;

    /// Length of every vector `encode` returns.
    fn dim(&self) -> usize;
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("item `{item_id}`: vector has {got} values, the item table has {expected}")]
    Dim {
        item_id: String,
        expected: usize,
        got: usize,
    },
    #[error("item `{item_id}`: vector holds a NaN or infinite value at index {index}")]
    NonFinite { item_id: String, index: usize },
    #[error("item `{0}` is already in the item table")]
    Duplicate(String),
    #[error("item `{0}` is not in the item table")]
    Unknown(String),
    #[error("row {row} is out of range (the item table has {len} rows)")]
    RowOutOfRange { row: usize, len: usize },
    #[error("the item table's dimension must be at least 1")]
    ZeroDim,
    #[error("{rows} ids for {values} values of dimension {dim}")]
    Shape {
        rows: usize,
        values: usize,
        dim: usize,
    },
    #[error("the encoder returned {got} vectors for {expected} item prompts")]
    EncoderCount { expected: usize, got: usize },
    #[error("encoding item prompts: {0}")]
    Encoder(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemTable {
    ids: Vec<String>,
    index: HashMap<String, usize>,
    dim: usize,
    /// `ids.len() * dim` values, row-major, each row of unit length (or zero).
    rows: Vec<f32>,
    /// With centring (`crate::rec::centre`): the centre, and every row centred, in
    /// the layout of `rows`. `rows` stays as encoded, for caches and checkpoints.
    centre: Option<Centre>,
    centred: Vec<f32>,
}

impl ItemTable {
    /// An empty table whose rows will have `dim` values.
    pub fn new(dim: usize) -> Result<Self, TableError> {
        if dim == 0 {
            return Err(TableError::ZeroDim);
        }
        Ok(Self {
            ids: Vec::new(),
            index: HashMap::new(),
            dim,
            rows: Vec::new(),
            centre: None,
            centred: Vec::new(),
        })
    }

    /// A table from ids and their row-major vectors (normalised here).
    pub fn from_rows(ids: Vec<String>, dim: usize, rows: Vec<f32>) -> Result<Self, TableError> {
        let mut table = Self::new(dim)?;
        check_shape(&ids, dim, &rows)?;
        // Normalised in place and kept: a million-row table is gigabytes, and a second
        // copy while building would double the peak memory.
        let mut rows = rows;
        for (i, (id, row)) in ids.iter().zip(rows.chunks_exact_mut(dim)).enumerate() {
            let unit = table.normalised(id, row)?;
            row.copy_from_slice(&unit);
            if table.index.insert(id.clone(), i).is_some() {
                return Err(TableError::Duplicate(id.clone()));
            }
        }
        table.ids = ids;
        table.rows = rows;
        Ok(table)
    }

    /// Like `from_rows` for rows that were normalised by an `ItemTable` already (an
    /// exact f32 cache): kept bit for bit, since normalising twice can move the last bit.
    pub(crate) fn from_unit_rows(
        ids: Vec<String>,
        dim: usize,
        rows: Vec<f32>,
    ) -> Result<Self, TableError> {
        let mut table = Self::new(dim)?;
        check_shape(&ids, dim, &rows)?;
        for (i, id) in ids.iter().enumerate() {
            let row = &rows[i * dim..(i + 1) * dim];
            if let Some(index) = row.iter().position(|x| !x.is_finite()) {
                return Err(TableError::NonFinite {
                    item_id: id.clone(),
                    index,
                });
            }
            if table.index.insert(id.clone(), i).is_some() {
                return Err(TableError::Duplicate(id.clone()));
            }
        }
        table.ids = ids;
        table.rows = rows;
        Ok(table)
    }

    /// Encode every catalogue item's prompt, `batch` prompts at a time, in catalogue
    /// order (so row i is catalogue position i). `progress(done, total)` is called after
    /// each batch.
    pub fn build<E: ItemEncoder>(
        catalog: &Catalog,
        domain: &Domain,
        template: &ChatTemplate,
        encoder: &mut E,
        batch: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self, TableError> {
        let mut table = Self::new(encoder.dim())?;
        let total = catalog.len();
        table.ids.reserve(total);
        table.rows.reserve(total * table.dim);
        for items in catalog.items().chunks(batch.max(1)) {
            let prompts: Vec<String> = items
                .iter()
                .map(|it| item_prompt(template, domain, it))
                .collect();
            let vectors = encoder
                .encode(&prompts)
                .map_err(|e| TableError::Encoder(Box::new(e)))?;
            if vectors.len() != prompts.len() {
                return Err(TableError::EncoderCount {
                    expected: prompts.len(),
                    got: vectors.len(),
                });
            }
            for (item, v) in items.iter().zip(&vectors) {
                table.add(item.item_id.clone(), v)?;
            }
            progress(table.len(), total);
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Item ids in row order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// All rows, row-major (`len() * dim()` values), as encoded (not centred).
    pub fn rows(&self) -> &[f32] {
        &self.rows
    }

    /// The rows a user vector is scored against: centred when the table has a centre.
    pub fn scoring_rows(&self) -> &[f32] {
        if self.centre.is_some() {
            &self.centred
        } else {
            &self.rows
        }
    }

    /// A user vector as it meets `scoring_rows`: unit length, and centred like the rows.
    pub fn scoring_vector(&self, v: &[f32]) -> Vec<f32> {
        match &self.centre {
            Some(c) => c.apply(v),
            None => normalise(v),
        }
    }

    pub fn centre(&self) -> Option<&Centre> {
        self.centre.as_ref()
    }

    /// Score against rows centred by `centre` from now on (`None`: plain cosine).
    pub fn set_centre(&mut self, centre: Option<Centre>) -> Result<(), TableError> {
        if let Some(c) = &centre {
            if c.dim() != self.dim {
                return Err(TableError::Dim {
                    item_id: "(the centre)".into(),
                    expected: self.dim,
                    got: c.dim(),
                });
            }
            self.centred = self
                .rows
                .chunks_exact(self.dim)
                .flat_map(|r| c.apply_unit(r))
                .collect();
        } else {
            self.centred = Vec::new();
        }
        self.centre = centre;
        Ok(())
    }

    /// The table with `centre` set (see [`ItemTable::set_centre`]).
    pub fn with_centre(mut self, centre: Option<Centre>) -> Result<Self, TableError> {
        self.set_centre(centre)?;
        Ok(self)
    }

    pub fn position(&self, item_id: &str) -> Option<usize> {
        self.index.get(item_id).copied()
    }

    /// Row `i` (unit length); `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        self.rows.get(i * self.dim..(i + 1) * self.dim)
    }

    /// Append a row for a new item; returns its position.
    pub fn add(&mut self, item_id: impl Into<String>, vector: &[f32]) -> Result<usize, TableError> {
        let item_id = item_id.into();
        if self.index.contains_key(&item_id) {
            return Err(TableError::Duplicate(item_id));
        }
        let row = self.normalised(&item_id, vector)?;
        let pos = self.ids.len();
        if let Some(c) = &self.centre {
            self.centred.extend(c.apply_unit(&row));
        }
        self.rows.extend_from_slice(&row);
        self.index.insert(item_id.clone(), pos);
        self.ids.push(item_id);
        Ok(pos)
    }

    /// Remove an item's row; the rows after it move up by one, keeping their order.
    /// Returns the position the item had.
    pub fn remove(&mut self, item_id: &str) -> Result<usize, TableError> {
        let pos = self
            .position(item_id)
            .ok_or_else(|| TableError::Unknown(item_id.to_string()))?;
        self.rows.drain(pos * self.dim..(pos + 1) * self.dim);
        if self.centre.is_some() {
            self.centred.drain(pos * self.dim..(pos + 1) * self.dim);
        }
        self.ids.remove(pos);
        self.index.remove(item_id);
        for (i, id) in self.ids.iter().enumerate().skip(pos) {
            self.index.insert(id.clone(), i);
        }
        Ok(pos)
    }

    /// Replace row `i` (RecPO refreshes the rows of a batch's targets, SPEC §5.7).
    pub fn set_row(&mut self, i: usize, vector: &[f32]) -> Result<(), TableError> {
        let len = self.len();
        let id = self
            .ids
            .get(i)
            .ok_or(TableError::RowOutOfRange { row: i, len })?;
        let row = self.normalised(id, vector)?;
        if let Some(c) = &self.centre {
            self.centred[i * self.dim..(i + 1) * self.dim].copy_from_slice(&c.apply_unit(&row));
        }
        self.rows[i * self.dim..(i + 1) * self.dim].copy_from_slice(&row);
        Ok(())
    }

    /// Replace the row of `item_id`.
    pub fn set(&mut self, item_id: &str, vector: &[f32]) -> Result<(), TableError> {
        let pos = self
            .position(item_id)
            .ok_or_else(|| TableError::Unknown(item_id.to_string()))?;
        self.set_row(pos, vector)
    }

    fn normalised(&self, item_id: &str, vector: &[f32]) -> Result<Vec<f32>, TableError> {
        if vector.len() != self.dim {
            return Err(TableError::Dim {
                item_id: item_id.to_string(),
                expected: self.dim,
                got: vector.len(),
            });
        }
        if let Some(index) = vector.iter().position(|x| !x.is_finite()) {
            return Err(TableError::NonFinite {
                item_id: item_id.to_string(),
                index,
            });
        }
        Ok(normalise(vector))
    }
}

/// `v / max(|v|, 1e-12)`, the norm summed in f64 so long vectors stay exact.
pub fn normalise(v: &[f32]) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32;
    let inv = 1.0 / norm.max(NORM_EPS);
    v.iter().map(|&x| x * inv).collect()
}

#[cfg(test)]
mod tests;

/// `rows` holds exactly one vector of `dim` values per id.
fn check_shape(ids: &[String], dim: usize, rows: &[f32]) -> Result<(), TableError> {
    if rows.len() != ids.len() * dim {
        return Err(TableError::Shape {
            rows: ids.len(),
            values: rows.len(),
            dim,
        });
    }
    Ok(())
}
