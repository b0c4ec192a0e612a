//! Tests of the item table: building through a fake encoder, adding and removing rows.

use super::*;
use crate::rec::testing::{small_catalog, FakeEncoder};
use crate::rec::Centre;

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn build_encodes_every_item_in_catalogue_order_in_batches() {
    let catalog = small_catalog(7);
    let mut enc = FakeEncoder::new(16);
    let mut seen = Vec::new();
    let table = ItemTable::build(
        &catalog,
        &Domain::movies(),
        &ChatTemplate::smollm2(),
        &mut enc,
        3,
        &mut |done, total| seen.push((done, total)),
    )
    .unwrap();
    assert_eq!(seen, vec![(3, 7), (6, 7), (7, 7)]);
    assert_eq!(enc.calls, vec![3, 3, 1]);
    assert_eq!(table.len(), 7);
    for (i, item) in catalog.items().iter().enumerate() {
        assert_eq!(table.position(&item.item_id), Some(i));
        let prompt = item_prompt(&ChatTemplate::smollm2(), &Domain::movies(), item);
        let expected = normalise(&FakeEncoder::vector_of(&prompt, 16));
        assert!(close(table.row(i).unwrap(), &expected), "row {i}");
        let norm: f32 = table.row(i).unwrap().iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}

#[test]
fn encoder_returning_too_few_vectors_is_an_error() {
    let mut enc = FakeEncoder::new(4);
    enc.drop_last = true;
    let err = ItemTable::build(
        &small_catalog(3),
        &Domain::movies(),
        &ChatTemplate::smollm2(),
        &mut enc,
        8,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TableError::EncoderCount {
                expected: 3,
                got: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn add_remove_keep_ids_positions_and_rows_consistent() {
    let mut t = ItemTable::new(3).unwrap();
    t.add("a", &[3.0, 0.0, 4.0]).unwrap();
    t.add("b", &[0.0, 2.0, 0.0]).unwrap();
    t.add("c", &[1.0, 1.0, 1.0]).unwrap();
    assert!(matches!(
        t.add("b", &[1.0, 0.0, 0.0]),
        Err(TableError::Duplicate(_))
    ));
    assert!(matches!(
        t.add("d", &[1.0, 0.0]),
        Err(TableError::Dim { got: 2, .. })
    ));
    assert!(matches!(
        t.add("d", &[f32::NAN, 0.0, 0.0]),
        Err(TableError::NonFinite { index: 0, .. })
    ));
    assert_eq!(t.row(0).unwrap(), &[0.6, 0.0, 0.8]);
    let c_row = t.row(2).unwrap().to_vec();

    assert_eq!(t.remove("b").unwrap(), 1);
    assert_eq!(t.ids(), &["a".to_string(), "c".to_string()]);
    assert_eq!(t.position("c"), Some(1));
    assert_eq!(t.position("b"), None);
    assert_eq!(t.row(1).unwrap(), &c_row[..]);
    assert_eq!(t.rows().len(), 6);
    assert!(matches!(t.remove("b"), Err(TableError::Unknown(_))));

    assert_eq!(t.add("b", &[0.0, 0.0, 5.0]).unwrap(), 2);
    assert_eq!(t.row(2).unwrap(), &[0.0, 0.0, 1.0]);
    t.set_row(0, &[0.0, -2.0, 0.0]).unwrap();
    assert_eq!(t.row(0).unwrap(), &[0.0, -1.0, 0.0]);
    t.set("c", &[0.0, 0.0, 0.0]).unwrap();
    assert_eq!(
        t.row(1).unwrap(),
        &[0.0, 0.0, 0.0],
        "a zero vector stays zero"
    );
    assert!(matches!(
        t.set_row(3, &[1.0, 0.0, 0.0]),
        Err(TableError::RowOutOfRange { row: 3, len: 3 })
    ));
    assert!(t.row(3).is_none());
}

#[test]
fn from_rows_checks_shape() {
    let ok =
        ItemTable::from_rows(vec!["x".into(), "y".into()], 2, vec![2.0, 0.0, 0.0, 3.0]).unwrap();
    assert_eq!(ok.rows(), &[1.0, 0.0, 0.0, 1.0]);
    let bad = ItemTable::from_rows(vec!["x".into()], 2, vec![1.0, 0.0, 0.0]);
    assert!(matches!(
        bad,
        Err(TableError::Shape {
            rows: 1,
            values: 3,
            dim: 2
        })
    ));
    assert!(matches!(ItemTable::new(0), Err(TableError::ZeroDim)));
}

/// A centred table scores against centred rows that follow every add, remove and set,
/// while `rows()` (what caches and checkpoints store) stays as encoded.
#[test]
fn centred_rows_follow_edits_and_encoded_rows_stay() {
    let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let rows = vec![1.0, 0.1, 0.0, 1.0, -0.1, 0.0, 1.0, 0.0, 0.1];
    let plain = ItemTable::from_rows(ids, 3, rows).unwrap();
    let centre = Centre::of_rows(plain.rows(), 3);
    let mut t = plain.clone().with_centre(Some(centre.clone())).unwrap();
    assert_eq!(t.rows(), plain.rows());
    let check = |t: &ItemTable| {
        let c = t.centre().unwrap();
        let want: Vec<f32> = t
            .rows()
            .chunks_exact(3)
            .flat_map(|r| c.apply_unit(r))
            .collect();
        assert_eq!(t.scoring_rows(), want.as_slice());
    };
    check(&t);
    t.add("d", &[0.0, 2.0, 0.0]).unwrap();
    check(&t);
    t.remove("b").unwrap();
    check(&t);
    t.set("a", &[0.5, 0.5, 0.5]).unwrap();
    check(&t);
    assert_eq!(
        t.scoring_vector(&[2.0, 0.0, 0.0]),
        centre.apply(&[2.0, 0.0, 0.0])
    );
    // Taking the centre off scores plain rows again.
    t.set_centre(None).unwrap();
    assert_eq!(t.scoring_rows(), t.rows());
    let short = Centre { mean: vec![0.0; 2] };
    assert!(matches!(
        t.set_centre(Some(short)),
        Err(TableError::Dim { .. })
    ));
}
