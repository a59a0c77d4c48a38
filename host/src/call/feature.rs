//! Feature codes an employee types during a bridged call. `*3<extension>#` brings the colleague
//! at that extension into the call (three-way calling); `*3<number>#` an outside number,
//! through the carrier under the same rules as any call out. The same features, and a
//! supervisor coming in, can be asked for from outside the call (the API), as
//! [`FeatureRequest`]s.

use super::supervision::Mode;
use super::{Target, number};

/// What a feature code asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    /// `extension`: a colleague's (or department's) extension, or an outside number.
    ThreeWay { extension: String },
    /// Ring the supervisor at `extension`; once he answers he is in the call as `mode`.
    Supervise { mode: Mode, extension: String },
}

impl Feature {
    /// How the feature travels to another node (`store::Change`).
    pub fn encode(&self) -> String {
        match self {
            Feature::ThreeWay { extension } => format!("threeway:{extension}"),
            Feature::Supervise { mode, extension } => format!("supervise:{}:{extension}", mode.as_str()),
        }
    }

    pub fn decode(encoded: &str) -> Option<Feature> {
        if let Some(extension) = encoded.strip_prefix("threeway:") {
            return Some(Feature::ThreeWay {
                extension: extension.to_owned(),
            });
        }
        let (mode, extension) = encoded.strip_prefix("supervise:")?.split_once(':')?;
        Some(Feature::Supervise {
            mode: Mode::parse(mode)?,
            extension: extension.to_owned(),
        })
    }
}

/// Whom a three-way code or request rings: an extension, or an outside number.
pub fn three_way_target(typed: &str) -> Target {
    match number::is_outside_number(typed) {
        true => Target::External(number::canonical(typed)),
        false => Target::Extension(typed.to_owned()),
    }
}

/// A feature asked for from outside the call; `reply` says what came of it (`Ok`: under way).
#[derive(Debug)]
pub struct FeatureRequest {
    pub feature: Feature,
    pub reply: tokio::sync::oneshot::Sender<Result<String, String>>,
}

/// Where a call receives the features asked of it.
pub type FeatureRequests = tokio::sync::mpsc::UnboundedReceiver<FeatureRequest>;

/// Longest code kept (`*3` and an international number); longer input is not a code.
const MAX_CODE: usize = 20;

/// One party's typing: `*` starts a code, `#` ends it.
#[derive(Debug, Default)]
pub struct FeatureCodes {
    typed: String,
}

impl FeatureCodes {
    pub fn push(&mut self, digit: char) -> Option<Feature> {
        match digit {
            '*' => {
                self.typed.clear();
                self.typed.push('*');
                None
            }
            '#' => {
                let typed = std::mem::take(&mut self.typed);
                let extension = typed.strip_prefix("*3")?;
                (!extension.is_empty()).then(|| Feature::ThreeWay {
                    extension: extension.to_string(),
                })
            }
            _ if self.typed.is_empty() => None,
            d if d.is_ascii_digit() && self.typed.len() < MAX_CODE => {
                self.typed.push(d);
                None
            }
            _ => {
                self.typed.clear();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(digits: &str) -> Vec<Feature> {
        let mut codes = FeatureCodes::default();
        digits.chars().filter_map(|d| codes.push(d)).collect()
    }

    #[test]
    fn star_three_extension_hash_is_three_way() {
        let three_way = |e: &str| Feature::ThreeWay { extension: e.into() };
        assert_eq!(typed("*3102#"), vec![three_way("102")]);
        assert_eq!(
            typed("12*3102#"),
            vec![three_way("102")],
            "digits before the star are speech-menu input"
        );
        assert_eq!(typed("*3#"), vec![]);
        assert_eq!(typed("*4102#"), vec![]);
        assert_eq!(typed("*31A2#"), vec![], "not an extension");
        assert_eq!(typed("*3*3103#"), vec![three_way("103")], "a star starts again");
        assert_eq!(
            typed("*300493012345678#"),
            vec![three_way("00493012345678")],
            "an outside number"
        );
        assert_eq!(typed("*31234567890123456789#"), vec![]);
        assert_eq!(typed("102#"), vec![]);
    }

    #[test]
    fn features_travel_between_nodes_unchanged() {
        for feature in [
            Feature::ThreeWay {
                extension: "102".into(),
            },
            Feature::Supervise {
                mode: Mode::Whisper,
                extension: "200".into(),
            },
        ] {
            assert_eq!(Feature::decode(&feature.encode()), Some(feature));
        }
        assert_eq!(Feature::decode("supervise:peek:200"), None);
        assert_eq!(three_way_target("102"), Target::Extension("102".into()));
        assert_eq!(three_way_target("+4930123456"), Target::External("+4930123456".into()));
    }
}
