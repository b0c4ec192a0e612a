use super::*;

fn ex(index: usize, user: &str, target: &str, rank: Option<usize>) -> ExampleOutcome {
    ExampleOutcome {
        key: ExampleKey {
            index,
            user_id: user.into(),
            target_id: target.into(),
        },
        rank,
    }
}

fn reference() -> Vec<ExampleOutcome> {
    vec![
        ex(0, "u1", "a", Some(1)),
        ex(3, "u2", "b", Some(12)),
        ex(7, "u3", "c", None),
    ]
}

#[test]
fn examples_in_another_order_still_pair() {
    let other = vec![
        ex(7, "u3", "c", Some(2)),
        ex(0, "u1", "a", Some(5)),
        ex(3, "u2", "b", None),
    ];
    let pairs = pair_examples(&reference(), &other).unwrap();
    assert_eq!(
        pairs,
        vec![(Some(1), Some(5)), (Some(12), None), (None, Some(2))]
    );
}

#[test]
fn a_missing_or_different_example_is_reported() {
    // u2's example is missing, and u3's has another target: one missing, one extra...
    let other = vec![ex(0, "u1", "a", Some(5)), ex(7, "u3", "z", Some(2))];
    let err = pair_examples(&reference(), &other).unwrap_err();
    assert_eq!((err.missing, err.extra), (2, 1));
    assert_eq!((err.reference_n, err.other_n), (3, 2));
    assert_eq!(err.example, Some(reference()[1].key.clone()));
    let text = err.to_string();
    assert!(
        text.contains("2 of the reference's 3 examples are missing"),
        "{text}"
    );
    assert!(text.contains("index 3, user u2, target b"), "{text}");
    // ...and the same example listed twice pairs once.
    let mut doubled = reference();
    doubled.push(ex(0, "u1", "a", Some(9)));
    let err = pair_examples(&reference(), &doubled).unwrap_err();
    assert_eq!((err.missing, err.extra), (0, 1));
    // Nothing missing: the first extra example in the other report's order is named.
    let mut more = reference();
    more.extend([ex(9, "u9", "x", None), ex(8, "u8", "y", None)]);
    let err = pair_examples(&reference(), &more).unwrap_err();
    assert_eq!((err.missing, err.extra), (0, 2));
    assert_eq!(err.example, Some(more[3].key.clone()));
}

#[test]
fn tests_every_metric_on_the_pairs() {
    let pairs = vec![(Some(1), Some(1)); 20];
    let tests = paired_tests(&pairs, 200, 1);
    let labels: Vec<&str> = tests.iter().map(|(l, _)| *l).collect();
    assert_eq!(labels, ["N@10", "H@10"]);
    assert!(tests.iter().all(|(_, t)| t.diff == 0.0 && t.p == 1.0));
    // Reference always first, the other always missing: a difference of exactly 1.
    let pairs = vec![(Some(1), None); 20];
    for (_, t) in paired_tests(&pairs, 200, 1) {
        assert_eq!((t.diff, t.n, t.p), (1.0, 20, 1.0 / 201.0));
    }
}

#[test]
fn reads_examples_jsonl_and_names_the_bad_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("examples.jsonl");
    let line = |i: usize, rank: &str| {
        format!(
            "{{\"index\":{i},\"user_id\":\"u{i}\",\"target\":{{\"item_id\":\"t\",\"title\":\"T\"}},\"rank\":{rank},\"top\":[]}}\n"
        )
    };
    std::fs::write(&path, [line(4, "3"), "\n".into(), line(2, "null")].concat()).unwrap();
    let read = read_outcomes(&path).unwrap();
    assert_eq!(
        read,
        vec![ex(4, "u4", "t", Some(3)), ex(2, "u2", "t", None)]
    );

    let cases = [
        (line(1, "0"), "line 1: field `rank`: 0 is not"),
        (
            "{\"index\":1,\"user_id\":\"u\",\"target\":{\"item_id\":\"t\"}}\n".into(),
            "line 1: field `rank`: missing",
        ),
        (
            "{\"index\":1,\"user_id\":\"u\",\"rank\":1}\n".into(),
            "line 1: field `target.item_id`",
        ),
        (
            "{\"user_id\":\"u\",\"target\":{\"item_id\":\"t\"},\"rank\":1}\n".into(),
            "line 1: field `index`",
        ),
        (
            [line(1, "1"), line(1, "2")].concat(),
            "line 2: example (index 1, user u1, target t) already on line 1",
        ),
        ("{\"index\": 1,\n".into(), "line 1: not JSON"),
    ];
    for (text, want) in cases {
        std::fs::write(&path, text).unwrap();
        let err = read_outcomes(&path).unwrap_err().to_string();
        assert!(
            err.contains("examples.jsonl: ") && err.contains(want),
            "{err}"
        );
    }
    let err = read_outcomes(&dir.path().join("none.jsonl")).unwrap_err();
    assert!(err.to_string().contains("none.jsonl"), "{err}");
}
