//! Tests of the item table cache: round trip, stale keys, damaged files.

use super::*;
use crate::data::Domain;
use crate::model::chat_template::ChatTemplate;
use crate::rec::testing::{small_catalog, FakeEncoder};
use crate::rec::TableError;

fn key() -> CacheKey {
    CacheKey {
        model: "m.gguf:10:abc".into(),
        adapter: None,
        dataset: "ml-100k:def".into(),
        prompt_version: 1,
        template: template_fingerprint(&ChatTemplate::smollm2()),
    }
}

fn table(n: usize) -> ItemTable {
    let mut enc = FakeEncoder::new(24);
    ItemTable::build(
        &small_catalog(n),
        &Domain::movies(),
        &ChatTemplate::smollm2(),
        &mut enc,
        4,
        &mut |_, _| {},
    )
    .unwrap()
}

fn max_diff(a: &ItemTable, b: &ItemTable) -> f32 {
    a.rows()
        .iter()
        .zip(b.rows())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn round_trip_f32_is_exact_and_f16_is_close() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(9);
    let exact = ItemCache::new(dir.path().join("f32"), CacheDtype::F32);
    let path = exact.save(&key(), &t).unwrap();
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("items-"));
    assert_eq!(exact.load(&key()).unwrap().unwrap(), t);

    let small = ItemCache::new(dir.path().join("f16"), CacheDtype::F16);
    small.save(&key(), &t).unwrap();
    let back = small.load(&key()).unwrap().unwrap();
    assert_eq!(back.ids(), t.ids());
    assert!(max_diff(&back, &t) < 1e-3, "{}", max_diff(&back, &t));
    assert!(
        fs::metadata(small.path_for(&key())).unwrap().len() < fs::metadata(&path).unwrap().len()
    );
}

#[test]
fn missing_cache_is_built_then_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ItemCache::new(dir.path(), CacheDtype::F32);
    assert!(cache.load(&key()).unwrap().is_none());
    let mut builds = 0;
    let (t, status) = cache
        .load_or_build(&key(), || {
            builds += 1;
            Ok::<_, CacheError>(table(5))
        })
        .unwrap();
    assert_eq!(
        status,
        CacheStatus::Built {
            path: cache.path_for(&key()),
            reason: RebuildReason::Missing
        }
    );
    let (again, status) = cache
        .load_or_build(&key(), || -> Result<_, CacheError> { unreachable!() })
        .unwrap();
    assert_eq!(
        status,
        CacheStatus::Loaded {
            path: cache.path_for(&key())
        }
    );
    assert_eq!(again, t);
    assert_eq!(builds, 1);
}

#[test]
fn a_freshly_built_f16_table_scores_as_the_cached_one_will() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ItemCache::new(dir.path(), CacheDtype::F16);
    let built = table(7);
    let (first, _) = cache
        .load_or_build(&key(), || Ok::<_, CacheError>(built.clone()))
        .unwrap();
    assert!(
        max_diff(&first, &built) > 0.0,
        "f16 rounding changed nothing"
    );
    let (cached, status) = cache
        .load_or_build(&key(), || -> Result<_, CacheError> { unreachable!() })
        .unwrap();
    assert!(matches!(status, CacheStatus::Loaded { .. }));
    assert_eq!(first, cached);
}

#[test]
fn stale_key_is_reported_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ItemCache::new(dir.path(), CacheDtype::F16);
    let old_path = cache.save(&key(), &table(5)).unwrap();

    let mut new_key = key();
    new_key.model = "m.gguf:10:fff".into();
    new_key.prompt_version = 2;
    assert_ne!(cache.path_for(&new_key), old_path);
    let (t, status) = cache
        .load_or_build(&new_key, || Ok::<_, CacheError>(table(6)))
        .unwrap();
    assert_eq!(t.len(), 6);
    let CacheStatus::Built {
        reason: RebuildReason::Stale { path, changed },
        ..
    } = &status
    else {
        panic!("expected a stale rebuild, got {status:?}");
    };
    assert_eq!(path, &old_path);
    assert_eq!(changed, &vec!["model", "prompt_version"]);
    assert!(
        status.to_string().contains("model, prompt_version changed"),
        "{status}"
    );

    // A file under the expected name whose stored key differs is stale, not used.
    fs::copy(&old_path, cache.path_for(&new_key)).unwrap();
    let err = cache.load(&new_key).unwrap_err();
    assert!(
        matches!(&err, CacheError::Stale { changed, .. } if changed == &vec!["model", "prompt_version"])
    );
    assert!(err.to_string().contains("rebuild"), "{err}");
    let (_, status) = cache
        .load_or_build(&new_key, || Ok::<_, CacheError>(table(6)))
        .unwrap();
    assert!(matches!(
        status,
        CacheStatus::Built {
            reason: RebuildReason::Stale { .. },
            ..
        }
    ));
    assert_eq!(cache.load(&new_key).unwrap().unwrap().len(), 6);
}

#[test]
fn truncated_or_flipped_files_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ItemCache::new(dir.path(), CacheDtype::F32);
    let path = cache.save(&key(), &table(7)).unwrap();
    let good = fs::read(&path).unwrap();

    fs::write(&path, &good[..good.len() - 5]).unwrap();
    assert!(matches!(
        cache.load(&key()),
        Err(CacheError::Corrupt { .. })
    ));
    fs::write(&path, &good[..3]).unwrap();
    assert!(matches!(
        cache.load(&key()),
        Err(CacheError::Corrupt { .. })
    ));

    // One flipped bit anywhere: in the data, in the ids, in the stored key.
    let header_len = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let text = String::from_utf8_lossy(&good[8..header_len]).into_owned();
    let in_ids = 8 + text.find("m3").unwrap();
    let in_key = 8 + text.find("ml-100k").unwrap();
    for at in [good.len() - 1, header_len + 17, in_ids + 1, in_key + 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        let err = cache.load(&key()).unwrap_err();
        assert!(
            matches!(err, CacheError::Corrupt { .. }),
            "byte {at}: {err}"
        );
    }

    let (t, status) = cache
        .load_or_build(&key(), || Ok::<_, CacheError>(table(7)))
        .unwrap();
    assert!(
        matches!(
            status,
            CacheStatus::Built {
                reason: RebuildReason::Corrupt { .. },
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(cache.load(&key()).unwrap().unwrap(), t);
}

#[test]
fn build_errors_pass_through_and_old_caches_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ItemCache::new(dir.path(), CacheDtype::F16);
    #[derive(Debug)]
    #[allow(dead_code)] // the payloads are read through Debug on failure
    enum E {
        Table(TableError),
        Cache(CacheError),
    }
    impl From<CacheError> for E {
        fn from(e: CacheError) -> Self {
            Self::Cache(e)
        }
    }
    let mut enc = FakeEncoder::new(8);
    enc.fail = true;
    let res = cache.load_or_build(&key(), || {
        ItemTable::build(
            &small_catalog(3),
            &Domain::movies(),
            &ChatTemplate::smollm2(),
            &mut enc,
            2,
            &mut |_, _| {},
        )
        .map_err(E::Table)
    });
    assert!(matches!(res, Err(E::Table(TableError::Encoder(_)))));
    assert!(
        cache.load(&key()).unwrap().is_none(),
        "nothing cached after a failed build"
    );

    for v in 0..12 {
        let mut k = key();
        k.adapter = Some(format!("adapter-{v}"));
        cache.load_or_build(&k, || Ok::<_, E>(table(2))).unwrap();
    }
    assert_eq!(cache.cache_files().len(), KEEP_FILES);
    let mut last = key();
    last.adapter = Some("adapter-11".into());
    assert!(cache.load(&last).unwrap().is_some());
}
