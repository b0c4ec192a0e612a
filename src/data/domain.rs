//! Per-domain wording of the user prompt (SPEC §2): the nouns and the verb change with
//! the domain, the sentence structure does not.

/// How a domain is spoken of in the prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Key stored in `items.jsonl` (`movies`, or an Amazon category name).
    pub key: String,
    /// Singular noun: "movie", "product".
    pub singular: String,
    /// Plural domain noun used as the category: "movies", "CDs and vinyl".
    pub category: String,
    /// What a user does with an item: "watch", "purchase".
    pub verb: String,
    /// The plural noun of that act: "watches", "purchases".
    pub acts: String,
    /// The example answer: "a movie", "a product".
    pub example: String,
}

impl Domain {
    /// MovieLens: "watch" / "movies" instead of "purchase" / products.
    pub fn movies() -> Self {
        Self {
            key: "movies".into(),
            singular: "movie".into(),
            category: "movies".into(),
            verb: "watch".into(),
            acts: "watches".into(),
            example: "a movie".into(),
        }
    }

    /// An Amazon Reviews 2023 category, e.g. `Musical_Instruments` or `CDs_and_Vinyl`.
    /// The reference prompts say "purchase" and answer with "a product".
    pub fn amazon(category_key: &str) -> Self {
        let (singular, category) = match category_key {
            "Musical_Instruments" => ("instrument", "instruments"),
            "CDs_and_Vinyl" => ("CD or vinyl", "CDs and vinyl"),
            "Video_Games" => ("game", "video games"),
            "Books" => ("book", "books"),
            "Movies_and_TV" => ("movie or TV show", "movies and TV"),
            other => {
                // Unknown categories read naturally enough as "product" / their own name.
                let plural = other.replace('_', " ").to_lowercase();
                return Self {
                    key: other.to_string(),
                    singular: "product".into(),
                    category: plural,
                    verb: "purchase".into(),
                    acts: "purchases".into(),
                    example: "a product".into(),
                };
            }
        };
        Self {
            key: category_key.to_string(),
            singular: singular.into(),
            category: category.into(),
            verb: "purchase".into(),
            acts: "purchases".into(),
            example: "a product".into(),
        }
    }

    /// The domain of an item's `domain` key.
    pub fn from_key(key: &str) -> Self {
        if key == "movies" {
            Self::movies()
        } else {
            Self::amazon(key)
        }
    }
}
