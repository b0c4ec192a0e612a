//! The layering of ARCHITECTURE.md, checked on the source: every `crate::<layer>` a
//! library file names (code and tests, not comments) must be one of the layers below its
//! own. A new upward import fails here with the file that made it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each library layer and the layers it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    ("util", &[]),
    ("paths", &[]),
    ("plot", &[]),
    ("model", &["util"]),
    ("data", &["model", "util", "paths"]),
    ("annotate", &["util", "paths"]),
    ("setup", &["util", "paths"]),
    ("rec", &["model", "data", "util", "paths"]),
    ("eval", &["rec", "model", "data", "plot", "util", "paths"]),
    ("bench", &["rec", "model", "data", "util", "paths"]),
    (
        "train",
        &["eval", "rec", "model", "data", "plot", "util", "paths"],
    ),
    (
        "tui",
        &[
            "train", "bench", "eval", "rec", "model", "data", "annotate", "setup", "plot", "util",
            "paths",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layers named as `crate::<name>` outside comments.
fn named_layers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn every_layer_imports_only_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let layer = first.trim_end_matches(".rs");
        // The binary (main.rs and the command line) sits above every layer.
        if matches!(layer, "main" | "cli" | "lib") {
            continue;
        }
        let ok = allowed
            .get(layer)
            .unwrap_or_else(|| panic!("{}: layer `{layer}` is not in ALLOWED", rel.display()));
        let text = std::fs::read_to_string(file).unwrap();
        for name in named_layers(&text) {
            if name != layer && allowed.contains_key(name.as_str()) && !ok.contains(&name.as_str())
            {
                wrong.push(format!("{} imports crate::{name}", rel.display()));
            }
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} files found under src/");
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn the_library_has_no_command_line_module() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(
        !lib.contains("pub mod cli"),
        "the command line lives in the binary"
    );
}

#[test]
fn comments_do_not_count_as_imports() {
    assert_eq!(
        named_layers("use crate::rec::X; // not crate::eval\n/// see crate::train"),
        vec!["rec".to_string()]
    );
}
