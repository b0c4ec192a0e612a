//! Logit parity on the real SmolLM2-135M-Instruct GGUF with exact weights: every matrix
//! dequantized to f32 on both sides (candle's own `CANDLE_DEQUANTIZE_ALL` switch for
//! `quantized_llama`), so no kernel rounding remains. See `smollm2_logits.rs`.

#[path = "support/smollm2_parity.rs"]
mod parity;
mod support;

use r2ec::model::backbone::LoadOptions;
use r2ec::model::linear::WeightFormat;

#[test]
fn logits_match_quantized_llama_with_exact_weights() {
    // candle reads the switch once per thread; this file's only test sets it first.
    std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1");
    // The whole prompt in one forward (our prefill path).
    parity::check(
        "exact f32",
        LoadOptions {
            format: WeightFormat::F32,
            dense_prefill: false,
        },
        false,
        true,
    );
}
