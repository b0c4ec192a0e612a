//! Stop strings over streamed text (SPEC §2: a reasoning chain ends at `<answer>`, which
//! is kept). Pieces of decoded text arrive one token at a time; text that could still
//! turn into a stop string is held back, so a viewer never sees "<ans" and then has it
//! taken away. Everything released, concatenated, is the generated text up to and
//! including the first stop string.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopState {
    /// Keep generating; `0` is the text that can be shown now (possibly empty).
    Continue(String),
    /// A stop string was completed: `text` is the rest to show, ending with the stop
    /// string; `stop` is which stop string it was (index into the list given).
    Stopped { text: String, stop: usize },
}

#[derive(Debug, Clone)]
pub struct StopDetector {
    stops: Vec<String>,
    /// Text received but not released: always a prefix of some stop string.
    pending: String,
    /// Which stop string ended the text, once one has.
    stopped: Option<usize>,
}

impl StopDetector {
    /// Empty stop strings are ignored (they would stop before any text).
    pub fn new(stops: &[&str]) -> Self {
        let stops = stops
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .collect();
        Self {
            stops,
            pending: String::new(),
            stopped: None,
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Feed the next piece. After a stop, further pieces are ignored and
    /// `Stopped` with empty text is returned.
    pub fn push(&mut self, piece: &str) -> StopState {
        if let Some(stop) = self.stopped {
            return StopState::Stopped {
                text: String::new(),
                stop,
            };
        }
        self.pending.push_str(piece);
        // The earliest stop string wins; on equal starts, the shorter one ends first.
        let found = self
            .stops
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.pending.find(s.as_str()).map(|at| (at + s.len(), i)))
            .min();
        if let Some((end, stop)) = found {
            self.stopped = Some(stop);
            let mut text = std::mem::take(&mut self.pending);
            text.truncate(end);
            return StopState::Stopped { text, stop };
        }
        let hold = self.held_back_len();
        let release = self.pending.len() - hold;
        let rest = self.pending.split_off(release);
        StopState::Continue(std::mem::replace(&mut self.pending, rest))
    }

    /// Generation ended without a stop string (end of turn, token limit): release what
    /// was held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of a stop
    /// string; that part might still complete one.
    fn held_back_len(&self) -> usize {
        self.pending
            .char_indices()
            .map(|(at, _)| at)
            .find(|&at| {
                let tail = &self.pending[at..];
                self.stops
                    .iter()
                    .any(|s| s.len() > tail.len() && s.starts_with(tail))
            })
            .map_or(0, |at| self.pending.len() - at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<StopState>, String) {
        let mut d = StopDetector::new(stops);
        let states: Vec<StopState> = pieces.iter().map(|p| d.push(p)).collect();
        let tail = d.finish();
        (states, tail)
    }

    fn shown(states: &[StopState]) -> String {
        states
            .iter()
            .map(|s| match s {
                StopState::Continue(t) | StopState::Stopped { text: t, .. } => t.as_str(),
            })
            .collect()
    }

    #[test]
    fn stop_split_across_pieces_is_held_back_then_kept() {
        let (states, tail) = run(
            &["<answer>"],
            &["I think ", "a com", "edy <an", "sw", "er> extra"],
        );
        assert_eq!(states[0], StopState::Continue("I think ".into()));
        assert_eq!(states[1], StopState::Continue("a com".into()));
        assert_eq!(states[2], StopState::Continue("edy ".into()));
        assert_eq!(states[3], StopState::Continue(String::new()));
        assert_eq!(
            states[4],
            StopState::Stopped {
                text: "<answer>".into(),
                stop: 0
            }
        );
        assert_eq!(shown(&states), "I think a comedy <answer>");
        assert_eq!(tail, "");
    }

    #[test]
    fn a_prefix_that_is_not_a_stop_is_released() {
        let (states, tail) = run(&["<answer>"], &["x <ans", "wer", "s are", " <a"]);
        assert_eq!(states[0], StopState::Continue("x ".into()));
        assert_eq!(states[1], StopState::Continue(String::new()));
        assert_eq!(states[2], StopState::Continue("<answers are".into()));
        assert_eq!(states[3], StopState::Continue(" ".into()));
        assert_eq!(tail, "<a", "held-back text is released at the end");
    }

    #[test]
    fn stop_at_the_very_start_and_inside_one_piece() {
        let (states, _) = run(&["<answer>"], &["<answer>", "more"]);
        assert_eq!(
            states[0],
            StopState::Stopped {
                text: "<answer>".into(),
                stop: 0
            }
        );
        assert!(matches!(&states[1], StopState::Stopped { text, .. } if text.is_empty()));
        let (states, _) = run(&["<answer>"], &["ab<answer>cd"]);
        assert_eq!(
            states[0],
            StopState::Stopped {
                text: "ab<answer>".into(),
                stop: 0
            }
        );
    }

    #[test]
    fn several_stops_the_earliest_wins_and_unicode_is_split_safely() {
        let (states, _) = run(&["</s>", "<answer>"], &["é<ans", "wer></s>"]);
        assert_eq!(states[0], StopState::Continue("é".into()));
        assert_eq!(
            states[1],
            StopState::Stopped {
                text: "<answer>".into(),
                stop: 1
            }
        );
        let (states, tail) = run(&["«stop»"], &["a«st", "x"]);
        assert_eq!(states[0], StopState::Continue("a".into()));
        assert_eq!(states[1], StopState::Continue("«stx".into()));
        assert_eq!(tail, "");
    }
}
