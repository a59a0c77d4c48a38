//! Feature codes an employee types during a bridged call. `*3<extension>#` brings the colleague
//! at that extension into the call (three-way calling). The same features can be asked for from
//! outside the call (the API), as [`FeatureRequest`]s.

/// What a feature code asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    ThreeWay { extension: String },
}

/// A feature asked for from outside the call; `reply` says what came of it (`Ok`: under way).
#[derive(Debug)]
pub struct FeatureRequest {
    pub feature: Feature,
    pub reply: tokio::sync::oneshot::Sender<Result<String, String>>,
}

/// Where a call receives the features asked of it.
pub type FeatureRequests = tokio::sync::mpsc::UnboundedReceiver<FeatureRequest>;

/// Longest code kept (`*3` and a long extension); longer input is not a code.
const MAX_CODE: usize = 12;

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
        assert_eq!(typed("*31234567890123#"), vec![]);
        assert_eq!(typed("102#"), vec![]);
    }
}
