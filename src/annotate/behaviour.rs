//! The seven reasoning behaviours of the paper's analysis (SPEC §6), each with the
//! single key an annotator presses for it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    AttributeAbstraction,
    PatternClustering,
    RoleBased,
    Temporal,
    SelfExplanation,
    NegativeExclusion,
    MultiObjective,
}

pub const ALL: [Behaviour; 7] = [
    Behaviour::AttributeAbstraction,
    Behaviour::PatternClustering,
    Behaviour::RoleBased,
    Behaviour::Temporal,
    Behaviour::SelfExplanation,
    Behaviour::NegativeExclusion,
    Behaviour::MultiObjective,
];

impl Behaviour {
    /// The key that toggles it: '1' to '7', in the paper's order.
    pub fn key(self) -> char {
        (b'1' + self.index() as u8) as char
    }

    pub fn index(self) -> usize {
        ALL.iter().position(|&b| b == self).unwrap_or(0)
    }

    pub fn from_key(c: char) -> Option<Self> {
        let i = (c as u32).checked_sub('1' as u32)? as usize;
        ALL.get(i).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::AttributeAbstraction => "attribute abstraction",
            Behaviour::PatternClustering => "pattern clustering",
            Behaviour::RoleBased => "role-based reasoning",
            Behaviour::Temporal => "temporal reasoning",
            Behaviour::SelfExplanation => "self-explanation",
            Behaviour::NegativeExclusion => "negative preference exclusion",
            Behaviour::MultiObjective => "multi-objective balancing",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Behaviour::AttributeAbstraction => "the underlying attributes of consumed items",
            Behaviour::PatternClustering => "frequent patterns forming interest clusters",
            Behaviour::RoleBased => "inferring the user's role or use case",
            Behaviour::Temporal => "using timing and order of interactions",
            Behaviour::SelfExplanation => "explicit rationale for the recommendation",
            Behaviour::NegativeExclusion => "avoiding item types rated low before",
            Behaviour::MultiObjective => "trading off conflicting interests",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_one_to_seven_round_trip() {
        for b in ALL {
            assert_eq!(Behaviour::from_key(b.key()), Some(b));
        }
        assert_eq!(
            Behaviour::from_key('1'),
            Some(Behaviour::AttributeAbstraction)
        );
        assert_eq!(Behaviour::from_key('7'), Some(Behaviour::MultiObjective));
        assert_eq!(Behaviour::from_key('8'), None);
        assert_eq!(Behaviour::from_key('0'), None);
    }
}
