//! Temporary `R2EC_HOME`s laid out as `r2ec setup` leaves the repository: raw data sets
//! under `datasets/raw/<name>/`, the model linked under `assets/models/`, and, where a
//! test wants it, the data prepared by the real binary. Each test gets its own home,
//! removed when the returned `TempDir` drops.

use std::fs;
use std::path::Path;

use super::bin::{r2ec, stderr};
use super::fixture;
use super::model::SMOLLM2;

/// Raw MovieLens files where `r2ec setup` puts them: `datasets/raw/<name>/<name>.{inter,item}`.
pub fn install_movielens(home: &Path, name: &str, inter: &[u8], item: &[u8]) {
    let dir = home.join("datasets/raw").join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("{name}.inter")), inter).unwrap();
    fs::write(dir.join(format!("{name}.item")), item).unwrap();
}

/// `model` linked in as the home's `assets/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn link_model(home: &Path, model: &Path) {
    let models = home.join("assets/models");
    fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(model, models.join(SMOLLM2)).unwrap();
}

/// The repository's shipped ml-100k R²ec checkpoint linked in as the home's own.
pub fn link_shipped_checkpoint(home: &Path) {
    let name = "r2ec-smollm2-135m-ml100k-cpu";
    let linked = home.join("assets/checkpoints");
    fs::create_dir_all(&linked).unwrap();
    let shipped = super::repo().join("assets/checkpoints").join(name);
    std::os::unix::fs::symlink(shipped, linked.join(name)).unwrap();
}

/// `r2ec data prepare <name>` in `home`, which must succeed.
pub fn prepare(home: &Path, name: &str) {
    let out = r2ec(home, &["data", "prepare", name]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A home with the tiny MovieLens fixture (`tests/fixtures/movielens/tiny.*`) as raw
/// `ml-100k`, not prepared (commands that need it prepare it on first use).
pub fn tiny() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let raw = home.path().join("datasets/raw/ml-100k");
    fs::create_dir_all(&raw).unwrap();
    let fx = fixture("movielens");
    fs::copy(fx.join("tiny.inter"), raw.join("ml-100k.inter")).unwrap();
    fs::copy(fx.join("tiny.item"), raw.join("ml-100k.item")).unwrap();
    home
}

/// [`tiny`] with the real model linked in.
pub fn tiny_with_model(model: &Path) -> tempfile::TempDir {
    let home = tiny();
    link_model(home.path(), model);
    home
}

/// [`tiny`], prepared as `ml-100k`, then `model` linked in where one is given.
pub fn tiny_prepared(model: Option<&Path>) -> tempfile::TempDir {
    let home = tiny();
    prepare(home.path(), "ml-100k");
    if let Some(m) = model {
        link_model(home.path(), m);
    }
    home
}
