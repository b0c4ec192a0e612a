//! The anchor's fixed benchmark prompt: 20 movies with ratings and a request for one
//! recommendation, in ChatML with a short system line. The text is identical to the
//! one the llama.cpp anchor builds, so both engines read the same 343 SmolLM2 tokens.

const MOVIES: [(&str, u8); 20] = [
    ("The Shawshank Redemption", 5),
    ("The Godfather", 5),
    ("The Dark Knight", 4),
    ("Pulp Fiction", 4),
    ("Forrest Gump", 3),
    ("Inception", 5),
    ("Fight Club", 4),
    ("The Matrix", 5),
    ("Goodfellas", 4),
    ("Interstellar", 5),
    ("Parasite", 4),
    ("Spirited Away", 3),
    ("Titanic", 2),
    ("The Notebook", 1),
    ("Mad Max: Fury Road", 4),
    ("Blade Runner 2049", 5),
    ("La La Land", 2),
    ("The Social Network", 4),
    ("Whiplash", 4),
    ("Arrival", 5),
];

pub fn anchor_prompt() -> String {
    let lines: Vec<String> = MOVIES
        .iter()
        .enumerate()
        .map(|(i, (t, r))| format!("{}. {t} - {r}/5", i + 1))
        .collect();
    let user = format!(
        "Here are the last 20 movies I watched, with my ratings out of 5:\n{}\n\n\
         Please analyze my taste: which genres, directors and decades do I rate highest, which do I \
         rate lowest, and what do the films I loved have in common? Then recommend the one movie I \
         should watch next (not one from the list) and explain in a few sentences why it fits my \
         ratings better than the alternatives.",
        lines.join("\n")
    );
    format!(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n\
         <|im_start|>assistant\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_text_as_the_anchor_fixture() {
        // The fixture is the prompt llama.cpp is timed on; the bench must time the same one.
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/llama-cpp/smollm2-prompt.txt");
        let text = std::fs::read_to_string(&fixture).unwrap();
        assert_eq!(super::anchor_prompt(), text);
    }
}
