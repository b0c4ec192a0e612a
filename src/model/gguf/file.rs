//! An open GGUF file: header parsed with candle's `gguf_file::Content`, magic and tensor
//! extents checked up front so a wrong or truncated file fails before any tensor is read,
//! and raw tensor bytes read on demand.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, TensorInfo};
use candle_core::quantized::{ggml_file, GgmlDType, QTensor};
use candle_core::Device;

use super::error::GgufError;
use super::metadata::Metadata;

/// One tensor's bytes exactly as stored (ggml block layout), with its HF-order shape.
#[derive(Debug)]
pub struct RawTensor {
    pub dtype: GgmlDType,
    /// `[rows, cols]` for matrices (GGUF's `ne` reversed), `[n]` for vectors.
    pub dims: Vec<usize>,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    file: File,
    content: Content,
}

impl GgufFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| GgufError::Io {
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();

        let mut magic = [0u8; 4];
        let got = crate::util::io::read_up_to(&mut file, &mut magic).map_err(io)?;
        if &magic[..got] != b"GGUF" {
            let found = String::from_utf8_lossy(&magic[..got]).into_owned();
            return Err(GgufError::BadMagic { path, found });
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let content = Content::read(&mut file).map_err(|e| GgufError::Header {
            path: path.clone(),
            message: e.to_string(),
        })?;

        let this = Self {
            path,
            file,
            content,
        };
        this.check_extents(file_len)?;
        Ok(this)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn metadata(&self) -> Metadata<'_> {
        Metadata::new(&self.content.metadata)
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The stored shape of a tensor, HF order (`[rows, cols]`).
    pub fn tensor_dims(&self, name: &str) -> Option<&[usize]> {
        self.content.tensor_infos.get(name).map(|t| t.shape.dims())
    }

    /// Read one tensor's bytes as stored.
    pub fn read_raw(&mut self, name: &str) -> Result<RawTensor, GgufError> {
        let Some(info) = self.content.tensor_infos.get(name) else {
            return Err(self.tensor_error(name, "not in this file".into()));
        };
        let start = self.content.tensor_data_offset + info.offset;
        // Sizes were validated against the file length in `open`.
        let mut bytes = vec![0u8; byte_size(info) as usize];
        let io = |source| GgufError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(start)).map_err(io)?;
        self.file.read_exact(&mut bytes).map_err(io)?;
        Ok(RawTensor {
            dtype: info.ggml_dtype,
            dims: info.shape.dims().to_vec(),
            bytes,
        })
    }

    /// One tensor as stored, as a candle `QTensor` (no un-permutation): what
    /// candle's own quantized models read.
    pub fn read_qtensor(&mut self, name: &str, device: &Device) -> Result<QTensor, GgufError> {
        let raw = self.read_raw(name)?;
        self.to_qtensor(name, raw, device)
    }

    pub(super) fn to_qtensor(
        &self,
        name: &str,
        raw: RawTensor,
        device: &Device,
    ) -> Result<QTensor, GgufError> {
        ggml_file::qtensor_from_ggml(raw.dtype, &raw.bytes, raw.dims, device)
            .map_err(|e| self.tensor_error(name, e.to_string()))
    }

    pub(super) fn tensor_error(&self, name: &str, message: String) -> GgufError {
        GgufError::Tensor {
            path: self.path.clone(),
            tensor: name.to_string(),
            message,
        }
    }

    /// Every tensor must lie inside the file and hold whole quantization blocks. The
    /// first tensor (by offset) that overruns is named, which is where a download was cut.
    fn check_extents(&self, file_len: u64) -> Result<(), GgufError> {
        let mut infos: Vec<(&String, &TensorInfo)> = self.content.tensor_infos.iter().collect();
        infos.sort_by_key(|(name, info)| (info.offset, name.as_str()));
        for (name, info) in infos {
            let elems = info.shape.elem_count();
            let block = info.ggml_dtype.block_size();
            if !elems.is_multiple_of(block) {
                let msg = format!(
                    "{elems} elements is not a whole number of {:?} blocks of {block}",
                    info.ggml_dtype
                );
                return Err(self.tensor_error(name, msg));
            }
            let start = self.content.tensor_data_offset.saturating_add(info.offset);
            let end = start.saturating_add(byte_size(info));
            if end > file_len {
                return Err(GgufError::Truncated {
                    path: self.path.clone(),
                    tensor: name.clone(),
                    start,
                    end,
                    file_len,
                });
            }
        }
        Ok(())
    }
}

fn byte_size(info: &TensorInfo) -> u64 {
    let blocks = info.shape.elem_count() / info.ggml_dtype.block_size();
    (blocks as u64).saturating_mul(info.ggml_dtype.type_size() as u64)
}
