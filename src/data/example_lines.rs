//! Fast writing of `{train,valid,test}.jsonl`. An interaction shows up in up to 21
//! examples (20 histories and one target), so each user's sequence is serialized to JSON
//! once and every example line is assembled by copying byte ranges out of it. The bytes
//! are exactly what `serde_json::to_writer(&Example)` writes (a unit test holds that).

use std::io::{self, Write};

use super::examples::ExampleRef;
use super::sequences::UserSequence;

/// One user's interactions as JSON, comma separated: interaction `j` is
/// `bytes[offsets[j]..offsets[j + 1] - 1]` (the byte before `offsets[j + 1]` is a comma).
struct SequenceJson {
    user_id: Vec<u8>,
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl SequenceJson {
    fn new(seq: &UserSequence) -> serde_json::Result<Self> {
        let mut bytes = Vec::with_capacity(seq.interactions.len() * 64);
        let mut offsets = Vec::with_capacity(seq.interactions.len() + 1);
        for it in &seq.interactions {
            offsets.push(bytes.len());
            serde_json::to_writer(&mut bytes, it)?;
            bytes.push(b',');
        }
        offsets.push(bytes.len());
        Ok(Self {
            user_id: serde_json::to_vec(&seq.user_id)?,
            bytes,
            offsets,
        })
    }

    /// Interactions `from..to` joined by commas (empty when `from == to`).
    fn range(&self, from: usize, to: usize) -> &[u8] {
        if from == to {
            return &[];
        }
        &self.bytes[self.offsets[from]..self.offsets[to] - 1]
    }
}

/// Every user's sequence serialized once, ready to write examples from.
pub struct ExampleLines {
    users: Vec<SequenceJson>,
    window: usize,
}

impl ExampleLines {
    pub fn new(users: &[UserSequence], window: usize) -> serde_json::Result<Self> {
        let users = users
            .iter()
            .map(SequenceJson::new)
            .collect::<Result<_, _>>()?;
        Ok(Self { users, window })
    }

    /// Write one example as a JSON line.
    pub fn write(&self, out: &mut impl Write, r: &ExampleRef) -> io::Result<()> {
        let user = &self.users[r.user as usize];
        let pos = r.position as usize;
        out.write_all(b"{\"user_id\":")?;
        out.write_all(&user.user_id)?;
        out.write_all(b",\"history\":[")?;
        out.write_all(user.range(pos.saturating_sub(self.window), pos))?;
        out.write_all(b"],\"target\":")?;
        out.write_all(user.range(pos, pos + 1))?;
        out.write_all(b"}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::examples::generate;
    use crate::data::types::Interaction;

    #[test]
    fn lines_equal_serde_json_of_the_example() {
        let users = vec![
            UserSequence {
                user_id: "u \"quoted\" é".into(),
                interactions: (0..30)
                    .map(|i| Interaction {
                        item_id: format!("Item, \\ {i} (1995)"),
                        rating: 0.5 * (i % 10) as f32,
                        timestamp: 1_000_000 + i * 7,
                    })
                    .collect(),
            },
            UserSequence {
                user_id: "v".into(),
                interactions: vec![
                    Interaction {
                        item_id: "x".into(),
                        rating: 3.0,
                        timestamp: -5
                    };
                    2
                ],
            },
        ];
        for window in [1, 3, 20, 100] {
            let lines = ExampleLines::new(&users, window).unwrap();
            for r in generate(&users) {
                let mut ours = Vec::new();
                lines.write(&mut ours, &r).unwrap();
                let mut theirs = serde_json::to_vec(&r.view(&users, window).to_example()).unwrap();
                theirs.push(b'\n');
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    String::from_utf8(theirs).unwrap()
                );
            }
        }
    }
}
