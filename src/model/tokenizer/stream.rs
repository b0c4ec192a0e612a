//! Streaming decoding for generation: feed token ids one at a time and get text back
//! only once it is complete, printable UTF-8 (a multi-byte character split over several
//! byte-level tokens is held back until its last byte arrives). Follows candle-examples'
//! `token_output_stream.rs`, but releases text on completed characters rather than
//! waiting for an alphanumeric one. Special tokens are not shown.

use super::{Tokenizer, TokenizerError};

#[derive(Debug, Clone)]
pub struct TokenStream {
    tokenizer: Tokenizer,
    tokens: Vec<u32>,
    /// Start of the window that is re-decoded each step (byte-level BPE decodes a
    /// window the same as the whole, so a short window keeps steps cheap).
    prev_index: usize,
    /// Tokens before this index have had their text released.
    current_index: usize,
}

impl TokenStream {
    pub fn new(tokenizer: Tokenizer) -> Self {
        Self {
            tokenizer,
            tokens: Vec::new(),
            prev_index: 0,
            current_index: 0,
        }
    }

    /// Add one token; returns the newly completed text, if any.
    pub fn next_token(&mut self, id: u32) -> Result<Option<String>, TokenizerError> {
        let released = self.decode(self.prev_index, self.current_index)?;
        self.tokens.push(id);
        let text = self.decode(self.prev_index, self.tokens.len())?;
        if text.len() > released.len() && !text.ends_with(char::REPLACEMENT_CHARACTER) {
            if let Some(new) = text.get(released.len()..) {
                let new = new.to_string();
                self.prev_index = self.current_index;
                self.current_index = self.tokens.len();
                return Ok(Some(new));
            }
        }
        Ok(None)
    }

    /// Whatever text is still held back (e.g. an incomplete character at the end).
    pub fn finish(&mut self) -> Result<Option<String>, TokenizerError> {
        let released = self.decode(self.prev_index, self.current_index)?;
        let text = self.decode(self.prev_index, self.tokens.len())?;
        self.prev_index = self.current_index;
        self.current_index = self.tokens.len();
        Ok(text
            .get(released.len()..)
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    /// All tokens fed so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    pub fn clear(&mut self) {
        self.tokens.clear();
        self.prev_index = 0;
        self.current_index = 0;
    }

    fn decode(&self, from: usize, to: usize) -> Result<String, TokenizerError> {
        if from >= to {
            return Ok(String::new());
        }
        self.tokenizer.decode_text(&self.tokens[from..to])
    }
}
