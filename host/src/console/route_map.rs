//! A number's route map (`GET /numbers/{n}/route-map`, a decision tree found by exploring its
//! flow) laid out as rows of an SVG picture: each box one or more steps that follow one another,
//! indented under the step whose result (`pressed 1`, `no answer`…) leads to it. A part of the
//! tree met again is drawn once and referred to (`continues as A`) after that.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

/// Pixels: indentation under a box, row gap, line height, a character's width (13 px sans).
const INDENT: f64 = 16.0;
const GAP: f64 = 12.0;
const LINE: f64 = 18.0;
const CHAR: f64 = 7.1;
const PAD: f64 = 8.0;
const LEFT: f64 = 12.0;
/// Parts smaller than this many steps are drawn again rather than referred to.
const SHARED_MIN_STEPS: usize = 3;

/// One box of the picture, placed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Box {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The steps in it, one per line.
    pub lines: Vec<String>,
    /// Its colour's class: `menu`, `ring`, `queue`, `message`, `hours`, `end`, `fail`, `step`.
    pub class: &'static str,
    /// The result that leads to it, shown in front of it.
    pub when: String,
    /// Where `when` goes, and how wide it is.
    pub when_x: f64,
    pub when_width: f64,
    /// A part met again later: its letter.
    pub anchor: Option<char>,
    /// A part drawn earlier: this box refers to it.
    pub refers_to: Option<char>,
    /// The connector from the parent box: (x, top y, bottom y).
    pub link: Option<(f64, f64, f64)>,
}

/// The whole picture.
#[derive(Debug, Clone, Serialize)]
pub struct Picture {
    pub boxes: Vec<Box>,
    pub width: f64,
    pub height: f64,
}

/// Lays out `map` (the API's route map).
pub fn lay_out(map: &Value) -> Picture {
    let root = &map["root"];
    let mut counts = HashMap::new();
    count(root, &mut counts);
    let mut layout = Layout {
        counts,
        letters: HashMap::new(),
        boxes: Vec::new(),
        y: GAP,
    };
    layout.place(root, LEFT, String::new(), None);
    let width = layout.boxes.iter().map(|b| b.x + b.width).fold(400.0, f64::max) + LEFT;
    Picture {
        width,
        height: layout.y,
        boxes: layout.boxes,
    }
}

/// How often each part of the tree occurs (by its JSON); the parts inside a repeated part
/// count once, as they are drawn once.
fn count(step: &Value, counts: &mut HashMap<String, usize>) {
    let seen = counts.entry(step.to_string()).or_default();
    *seen += 1;
    if *seen > 1 {
        return;
    }
    for branch in step["then"].as_array().into_iter().flatten() {
        count(&branch["step"], counts);
    }
}

fn steps_in(step: &Value) -> usize {
    1 + step["then"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| steps_in(&b["step"]))
        .sum::<usize>()
}

struct Layout {
    counts: HashMap<String, usize>,
    letters: HashMap<String, char>,
    boxes: Vec<Box>,
    y: f64,
}

impl Layout {
    /// Places `step` (and the steps that simply follow it) as one box from `x_box_start`
    /// (after the result that leads to it), then its branches under it.
    fn place(&mut self, step: &Value, x_box_start: f64, when: String, parent: Option<(f64, f64)>) {
        let key = step.to_string();
        let when_width = if when.is_empty() {
            0.0
        } else {
            when.chars().count() as f64 * CHAR * 0.92 + 2.0 * PAD
        };
        let x = x_box_start + if when_width > 0.0 { when_width + 6.0 } else { 0.0 };
        let link = parent.map(|(px, py)| (px, py, self.y + LINE / 2.0 + PAD));
        if let Some(letter) = self.letters.get(&key) {
            let line = format!("continues as {letter} above");
            self.boxes.push(Box {
                x,
                y: self.y,
                width: line.chars().count() as f64 * CHAR + 2.0 * PAD,
                height: LINE + 2.0 * PAD,
                lines: vec![line],
                class: "ref",
                when,
                when_x: x_box_start,
                when_width,
                anchor: None,
                refers_to: Some(*letter),
                link,
            });
            self.y += LINE + 2.0 * PAD + GAP;
            return;
        }
        let anchor =
            (self.counts.get(&key).copied().unwrap_or(0) > 1 && steps_in(step) >= SHARED_MIN_STEPS).then(|| {
                let letter = (b'A' + (self.letters.len() % 26) as u8) as char;
                self.letters.insert(key.clone(), letter);
                letter
            });
        // A chain of steps with one unconditional way on is one box.
        let mut lines = vec![label(step)];
        let mut class = class_of(step);
        let mut last = step;
        while let Some([only]) = last["then"].as_array().map(Vec::as_slice) {
            let when_empty = only["when"]
                .as_array()
                .is_none_or(|w| w.iter().all(|v| v.as_str().unwrap_or("").is_empty()));
            let next = &only["step"];
            let shared =
                self.counts.get(&next.to_string()).copied().unwrap_or(0) > 1 && steps_in(next) >= SHARED_MIN_STEPS;
            if !when_empty || shared {
                break;
            }
            lines.push(label(next));
            if class == "step" {
                class = class_of(next);
            }
            last = next;
        }
        let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR + 2.0 * PAD;
        let height = lines.len() as f64 * LINE + 2.0 * PAD;
        let top = self.y;
        self.boxes.push(Box {
            x,
            y: top,
            width,
            height,
            lines,
            class,
            when,
            when_x: x_box_start,
            when_width,
            anchor,
            refers_to: None,
            link,
        });
        self.y += height + GAP;
        let last = last.clone();
        for branch in last["then"].as_array().into_iter().flatten() {
            let when = when_label(&branch["when"]);
            self.place(&branch["step"], x + INDENT, when, Some((x + 8.0, top + height)));
        }
    }
}

fn label(step: &Value) -> String {
    step["label"].as_str().unwrap_or("").to_owned()
}

/// The box's colour by what its step does.
fn class_of(step: &Value) -> &'static str {
    let label = step["label"].as_str().unwrap_or("");
    match step["kind"].as_str().unwrap_or("") {
        "collect" => "menu",
        "dial" | "department" | "employee" | "transfer" => "ring",
        "enqueue" => "queue",
        "record" | "request-callback" => "message",
        "is-open" => "hours",
        "end" if label.starts_with("The flow") => "fail",
        "end" | "hangup" | "reject" => "end",
        _ => "step",
    }
}

/// `["pressed 3", "pressed 4"]` → `pressed 3, 4`.
fn when_label(when: &Value) -> String {
    let parts: Vec<&str> = when
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::new();
    let mut last_verb = "";
    for part in parts {
        let (verb, rest) = part.split_once(' ').unwrap_or(("", part));
        if !out.is_empty() {
            out.push_str(", ");
        }
        if verb == "pressed" && last_verb == "pressed" {
            out.push_str(rest);
        } else {
            out.push_str(part);
        }
        last_verb = verb;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(label: &str, kind: &str, then: Value) -> Value {
        json!({ "label": label, "kind": kind, "then": then })
    }

    #[test]
    fn chains_are_one_box_and_branches_indent_under_it() {
        let voicemail = step(
            "Plays all-busy",
            "play",
            json!([{ "when": [""], "step": step("Records a message", "record", json!([{ "when": ["message left"], "step": step("The call ends", "end", json!([])) }])) }]),
        );
        let map = json!({ "root": step("A call comes in", "call", json!([{ "when": [""], "step":
            step("Menu: plays ivr-greeting", "collect", json!([
                { "when": ["pressed 1"], "step": voicemail.clone() },
                { "when": ["pressed 2", "pressed 3"], "step": voicemail },
            ])) }])) });
        let picture = lay_out(&map);
        let lines: Vec<Vec<String>> = picture.boxes.iter().map(|b| b.lines.clone()).collect();
        assert_eq!(lines[0], vec!["A call comes in", "Menu: plays ivr-greeting"]);
        assert_eq!(picture.boxes[0].class, "menu");
        assert_eq!(lines[1], vec!["Plays all-busy", "Records a message"]);
        assert_eq!(picture.boxes[1].when, "pressed 1");
        assert_eq!(picture.boxes[1].anchor, Some('A'));
        assert_eq!(picture.boxes[2].when, "message left");
        // The same part again is referred to, not drawn twice.
        assert_eq!(picture.boxes[3].when, "pressed 2, 3");
        assert_eq!(picture.boxes[3].refers_to, Some('A'));
        assert_eq!(picture.boxes.len(), 4);
        assert!(picture.boxes[1].x > picture.boxes[0].x);
        assert!(picture.height > picture.boxes[3].y);
    }
}
