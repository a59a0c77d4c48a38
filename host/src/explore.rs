//! Route maps: where calls to a number go, found by running its flow — whatever it is, built-in
//! or uploaded — in the simulator under each thing callers and colleagues may do: business
//! hours open or closed, each digit (or none) at each menu, each outcome of each dial and queue.
//! The runs' traces are merged into one decision tree; branches that lead to the same place are
//! folded into one (`pressed 3, 4, 5…`). Exploration is bounded (runs, depth and time): a map
//! cut short says so.
//!
//! Each run is a simulated call on a paused clock (no real waiting), on a thread of its own so
//! it takes none from calls in progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::call::script::{Script, ScriptedCall};
use crate::flow::{FlowEngine, FlowExit, FlowVersion};
use crate::media::PromptLibrary;

/// The most simulated calls one map takes.
pub const MAX_RUNS: usize = 2000;
/// Decisions (digits, dials, queues) followed along one path.
const MAX_DECISIONS: usize = 10;
/// Wall-clock time one map may take.
const MAX_TIME: Duration = Duration::from_secs(5);
/// When the simulated caller gives up, if the flow never ends the call.
const CALLER_PATIENCE: &str = "900s hangup";
/// The digits a caller may press at a menu.
const DIGITS: &str = "1234567890*#";

/// Where calls go, as a tree of what the flow does.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteMap {
    pub root: Step,
    /// Simulated calls that made it.
    pub runs: usize,
    /// Why the exploration stopped before it had tried everything, if it did.
    pub cut_short: Option<String>,
}

/// One thing the flow does, and where each of its results leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// What it does, for people: `Menu: plays ivr-greeting, waits 5 s for a digit`.
    pub label: String,
    /// The verb as the call's trace names it (`collect`, `dial`, `end`...).
    pub kind: String,
    #[schema(no_recursion)]
    pub then: Vec<Branch>,
}

/// A result of a step and what follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Branch {
    /// The results that lead here: `pressed 1`, `no answer, busy`…
    pub when: Vec<String>,
    #[schema(no_recursion)]
    pub step: Step,
}

/// What the simulated company looks like: whose prompts play, its departments as script lines.
#[derive(Debug, Clone, Default)]
pub struct Company {
    pub id: Option<crate::tenant::CompanyId>,
    pub script: String,
}

impl Company {
    /// The company's departments as the simulated directory shows them (members ringing, their
    /// ring time and overflow), so a map follows the real overflow routes.
    pub fn with_departments(id: crate::tenant::CompanyId, departments: &[crate::store::Department]) -> Self {
        let mut script = String::new();
        for d in departments {
            let free = d.members.len().saturating_sub(d.logged_out.len() + d.paused.len());
            // As the directory's card says it (`location.rs`): it rings until its timeout.
            let mut line = format!("department {} ring {}s free {free}", d.id, d.timeout_secs.max(1));
            if !d.extension.is_empty() {
                line.push_str(&format!(" ext {}", d.extension));
            }
            if let Some(overflow) = &d.overflow {
                line.push_str(&format!(" overflow {overflow}"));
            }
            script.push_str(&line);
            script.push('\n');
        }
        Company { id: Some(id), script }
    }
}

/// A decision the flow reached: what the caller or the colleagues could do there.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    /// A menu waiting for one digit, from `at_ms` on.
    Digit {
        at_ms: u64,
    },
    Dial,
    Queue,
}

/// What was chosen at a decision.
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    Digit(Option<char>),
    Dial(&'static str),
    Queue(&'static str),
}

impl Decision {
    /// What happens when the script says nothing (first), then everything else.
    fn choices(&self) -> Vec<Choice> {
        match self {
            Decision::Digit { .. } => std::iter::once(Choice::Digit(None))
                .chain(DIGITS.chars().map(|d| Choice::Digit(Some(d))))
                .collect(),
            Decision::Dial => ["unavailable", "answered", "no-answer", "busy"]
                .into_iter()
                .map(Choice::Dial)
                .collect(),
            Decision::Queue => ["timeout", "answered", "full", "empty", "callback"]
                .into_iter()
                .map(Choice::Queue)
                .collect(),
        }
    }
}

/// A simulated call: whether business hours are open, and the choices at the decisions met.
#[derive(Debug, Clone)]
struct Scenario {
    open: bool,
    choices: Vec<(Decision, Choice)>,
}

impl Scenario {
    fn script(&self, company: &Company) -> String {
        let mut lines = vec![format!("schedule * {}", if self.open { "open" } else { "closed" })];
        for (decision, choice) in &self.choices {
            match (decision, choice) {
                (Decision::Digit { at_ms }, Choice::Digit(Some(d))) => {
                    lines.push(format!("{}ms press {d}", at_ms + 50))
                }
                (_, Choice::Dial(outcome)) => lines.push(format!("dial {outcome}")),
                (_, Choice::Queue(outcome)) => lines.push(format!("queue {outcome}")),
                _ => {}
            }
        }
        lines.push(CALLER_PATIENCE.into());
        lines.push(company.script.clone());
        lines.join("\n")
    }
}

/// One simulated call's story: (time, trace event), and how the flow ended.
struct Run {
    events: Vec<(u64, String)>,
    end: String,
}

/// Explores `version` run with `settings` for a call from `caller` to `dialled`.
pub fn explore(
    engine: &FlowEngine,
    version: &Arc<FlowVersion>,
    settings: &str,
    prompts: &Arc<PromptLibrary>,
    company: &Company,
    dialled: &str,
) -> anyhow::Result<RouteMap> {
    let runtime = crate::simulate::paused_runtime()?;
    let started = Instant::now();
    // Breadth first: a map cut short lacks the longest paths, not whole branches.
    let mut queue = std::collections::VecDeque::from([
        Scenario {
            open: true,
            choices: Vec::new(),
        },
        Scenario {
            open: false,
            choices: Vec::new(),
        },
    ]);
    let mut tree = Tree::default();
    let mut runs = 0;
    let mut cut_short = None;
    let mut schedules_seen = true;
    while let Some(scenario) = queue.pop_front() {
        if !scenario.open && scenario.choices.is_empty() && !schedules_seen {
            // The flow never asked about business hours: closed is the same call.
            continue;
        }
        if runs >= MAX_RUNS {
            cut_short = Some(format!("stopped after {MAX_RUNS} simulated calls"));
            break;
        }
        if started.elapsed() > MAX_TIME {
            cut_short = Some(format!("stopped after {} s", MAX_TIME.as_secs()));
            break;
        }
        let script: Script = scenario
            .script(company)
            .parse()
            .map_err(|e| anyhow::anyhow!("exploration script: {e}"))?;
        let call = || {
            let call = ScriptedCall::new(script, prompts.clone(), "+15550100001", dialled);
            match company.id {
                Some(id) => call.of_company(id),
                None => call,
            }
        };
        let run = crate::simulate::run_scripted(&runtime, engine, version, settings, call);
        runs += 1;
        let run = Run {
            events: run.trace.entries().iter().map(|e| (e.at_ms, e.event.clone())).collect(),
            end: match run.exit {
                FlowExit::Completed => "The call ends".into(),
                FlowExit::Failed(why) => format!("The flow fails: {why}"),
                FlowExit::Trapped(why) => format!("The flow traps: {why}"),
            },
        };
        if scenario.open && scenario.choices.is_empty() {
            schedules_seen = run.events.iter().any(|(_, e)| e.starts_with("is-open "));
        }
        // Each decision met past the scenario's own took the default: branch on the others.
        let decisions = decisions(&run.events);
        for k in scenario.choices.len()..decisions.len().min(MAX_DECISIONS) {
            for choice in decisions[k].choices().into_iter().skip(1) {
                let mut choices = scenario.choices.clone();
                for earlier in &decisions[scenario.choices.len()..k] {
                    choices.push((earlier.clone(), earlier.choices().remove(0)));
                }
                choices.push((decisions[k].clone(), choice));
                queue.push_back(Scenario {
                    open: scenario.open,
                    choices,
                });
            }
        }
        if decisions.len() > MAX_DECISIONS && cut_short.is_none() {
            cut_short = Some(format!("paths are followed for {MAX_DECISIONS} decisions"));
        }
        tree.add(&run);
    }
    Ok(RouteMap {
        root: tree.into_step(),
        runs,
        cut_short,
    })
}

/// The decisions in a run, in order.
fn decisions(events: &[(u64, String)]) -> Vec<Decision> {
    let mut out = Vec::new();
    let mut before = 0;
    for (at, event) in events {
        let verb = event.split(" → ").next().unwrap_or("");
        if verb.starts_with("collect ") && verb.contains("max 1,") {
            out.push(Decision::Digit { at_ms: before });
        } else if verb.starts_with("dial ") {
            out.push(Decision::Dial);
        } else if verb.starts_with("enqueue ") {
            out.push(Decision::Queue);
        }
        before = *at;
    }
    out
}

/// Trace events that tell nothing about where the call goes.
fn is_noise(event: &str) -> bool {
    event.starts_with("log ")
        || event.starts_with("answer →")
        || (event.starts_with("flow ") && event.ends_with(" starts"))
}

/// The runs merged: each node an action, each edge a result.
#[derive(Default)]
struct Tree {
    nodes: Vec<Node>,
}

struct Node {
    action: String,
    /// (result, child).
    children: Vec<(String, usize)>,
}

impl Tree {
    fn add(&mut self, run: &Run) {
        if self.nodes.is_empty() {
            self.nodes.push(Node {
                action: "call".into(),
                children: Vec::new(),
            });
        }
        let mut at = 0;
        let mut result = String::new();
        let steps = run
            .events
            .iter()
            .map(|(_, e)| e.as_str())
            .filter(|e| !is_noise(e))
            .map(|e| match e.split_once(" → ") {
                Some((action, result)) => (action.to_owned(), result.to_owned()),
                None => (e.to_owned(), String::new()),
            })
            .chain(std::iter::once((format!("end {}", run.end), String::new())));
        for (action, next_result) in steps {
            let found = self.nodes[at]
                .children
                .iter()
                .find(|(r, child)| *r == result && self.nodes[*child].action == action)
                .map(|(_, child)| *child);
            at = match found {
                Some(child) => child,
                None => {
                    self.nodes.push(Node {
                        action,
                        children: Vec::new(),
                    });
                    let child = self.nodes.len() - 1;
                    self.nodes[at].children.push((result, child));
                    child
                }
            };
            result = next_result;
        }
    }

    fn into_step(self) -> Step {
        if self.nodes.is_empty() {
            return Step {
                label: "No call was simulated".into(),
                kind: "end".into(),
                then: Vec::new(),
            };
        }
        self.step(0)
    }

    /// Node `at` as a step, its children with the same subtree folded into one branch.
    fn step(&self, at: usize) -> Step {
        let node = &self.nodes[at];
        let (kind, label) = describe(&node.action);
        let mut then: Vec<Branch> = Vec::new();
        for (result, child) in &node.children {
            let step = self.step(*child);
            let when = describe_result(&kind, result);
            match then.iter_mut().find(|b| b.step == step) {
                Some(branch) => {
                    if !branch.when.contains(&when) {
                        branch.when.push(when);
                    }
                }
                None => then.push(Branch { when: vec![when], step }),
            }
        }
        Step { label, kind, then }
    }
}

/// A trace action for people: (verb, sentence).
fn describe(action: &str) -> (String, String) {
    if action == "call" {
        return ("call".into(), "A call comes in".into());
    }
    if let Some(end) = action.strip_prefix("end ") {
        return ("end".into(), end.to_owned());
    }
    let (verb, rest) = action.split_once(' ').unwrap_or((action, ""));
    let label = match verb {
        "collect" => {
            let prompt = between(rest, "prompt ", ",").unwrap_or("nothing");
            let wait = between(rest, "first digit ", " ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(|ms| format!(", waits {} s for a digit", ms as f64 / 1000.0))
                .unwrap_or_default();
            format!("Menu: plays {prompt}{wait}")
        }
        "dial" => format!("Rings {}", describe_legs(rest)),
        "is-open" => format!("Open now? (business hours: {rest})"),
        "department" => format!("Looks up department {rest}"),
        "employee" => format!("Looks up employee {rest}"),
        "play" => format!("Plays {rest}"),
        "record" => format!("Records a message {}", rest.trim_matches(|c| c == '(' || c == ')')),
        "enqueue" => format!("Waits in queue {}", rest.split(" (").next().unwrap_or(rest)),
        "request-callback" => format!("Files a callback request {rest}"),
        "reject" => format!("Refuses the call {rest}"),
        "hangup" => "Hangs up".into(),
        "transfer" => format!("Transfers to {rest}"),
        _ => action.to_owned(),
    };
    (verb.to_owned(), label)
}

/// `[Department("sales")@0ms, Employee("bob")@15000ms]` → `department sales, then employee bob
/// after 15 s`.
fn describe_legs(rest: &str) -> String {
    let legs = rest.split(']').next().unwrap_or(rest).trim_start_matches('[');
    let mut out = Vec::new();
    for leg in legs.split(", ") {
        let (target, delay) = leg.split_once('@').unwrap_or((leg, "0ms"));
        let target = match target.split_once('(') {
            Some((kind, name)) => format!(
                "{} {}",
                kind.to_lowercase(),
                name.trim_end_matches(')').trim_matches('"')
            ),
            None => target.to_owned(),
        };
        let delay_ms: u64 = delay.trim_end_matches("ms").parse().unwrap_or(0);
        match delay_ms {
            0 => out.push(target),
            ms => out.push(format!("{target} after {} s", ms as f64 / 1000.0)),
        }
    }
    out.join(", then ")
}

/// A result for people, by the verb it came from.
fn describe_result(kind: &str, result: &str) -> String {
    match (kind, result) {
        (_, "") => String::new(),
        (_, r) if r.starts_with("error: hangup") => "the caller hangs up".into(),
        ("collect", r) if r.starts_with("no digit") => "no digit".into(),
        ("collect", r) => format!("pressed {r}"),
        ("record", r) if !r.starts_with("error") => "message left".into(),
        ("department", r) => r.split(", ").find(|p| p.ends_with(" free")).unwrap_or(r).to_owned(),
        ("dial", r) => {
            let word = r.split([' ', '{', '(']).next().unwrap_or(r);
            match word {
                "Answered" => "answered".into(),
                "NoAnswer" => "no answer".into(),
                "Busy" => "busy".into(),
                "Unavailable" => "nobody available".into(),
                _ => r.to_lowercase(),
            }
        }
        (_, "ok") => String::new(),
        (_, r) => r.to_owned(),
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[&str], end: &str) -> Run {
        Run {
            events: events
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 * 1000, e.to_string()))
                .collect(),
            end: end.into(),
        }
    }

    #[test]
    fn runs_merge_into_a_tree_and_same_endings_fold() {
        let menu = "collect (prompt ivr-greeting, max 1, first digit 5000 ms)";
        let mut tree = Tree::default();
        for digit in ["1", "2", "3", "4"] {
            let target = if digit == "1" { "sales" } else { "support" };
            tree.add(&run(
                &[
                    "flow 1234 starts",
                    "answer → ok",
                    &format!("{menu} → {digit}"),
                    &format!("dial [Department(\"{target}\")@0ms] timeout 30000 ms → Unavailable"),
                ],
                "The call ends",
            ));
        }
        let root = tree.into_step();
        assert_eq!(root.label, "A call comes in");
        let menu = &root.then[0].step;
        assert_eq!(menu.label, "Menu: plays ivr-greeting, waits 5 s for a digit");
        assert_eq!(menu.then.len(), 2, "{menu:#?}");
        assert_eq!(menu.then[0].when, vec!["pressed 1"]);
        assert_eq!(menu.then[0].step.label, "Rings department sales");
        assert_eq!(menu.then[1].when, vec!["pressed 2", "pressed 3", "pressed 4"]);
        assert_eq!(menu.then[1].step.then[0].when, vec!["nobody available"]);
        assert_eq!(menu.then[1].step.then[0].step.kind, "end");
    }

    #[test]
    fn decisions_are_found_with_when_each_began() {
        let events = vec![
            (0, "answer → ok".to_string()),
            (4000, "play welcome → ok".to_string()),
            (
                9000,
                "collect (prompt menu, max 1, first digit 5000 ms) → no digit (timeout)".to_string(),
            ),
            (
                9000,
                "collect (prompt pin, max 4, first digit 5000 ms) → no digit (timeout)".to_string(),
            ),
            (
                9500,
                "dial [Employee(\"bob\")@0ms] timeout 30000 ms → Unavailable".to_string(),
            ),
            (
                9600,
                "enqueue sales (InOrder, max wait 60 s, max length 10) → Timeout".to_string(),
            ),
        ];
        assert_eq!(
            decisions(&events),
            vec![Decision::Digit { at_ms: 4000 }, Decision::Dial, Decision::Queue]
        );
    }

    /// The built-in voice menu, explored: one path per digit it knows, the others folded; a
    /// menu that replays itself more often than a map follows says it was cut short.
    #[test]
    fn the_voice_menu_is_mapped_and_a_long_one_is_cut_short() {
        let engine = FlowEngine::new(crate::flow::FlowLimits::default()).unwrap();
        let wasm = crate::flow::BUILTIN_FLOWS.iter().find(|(n, _)| *n == "ivr").unwrap().1;
        let version = Arc::new(engine.load(wasm).unwrap());
        let prompts = Arc::new(PromptLibrary::with_builtins());
        let company = Company::default();
        let settings = r#"{"options": {"1": {"department": "sales"}, "2": {"department": "support"}}, "retries": 0}"#;
        let map = explore(&engine, &version, settings, &prompts, &company, "+15550100100").unwrap();
        assert_eq!(map.cut_short, None, "{map:#?}");
        let menu = &map.root.then[0].step;
        assert!(menu.label.starts_with("Menu: plays ivr-greeting"), "{menu:#?}");
        let when: Vec<String> = menu.then.iter().map(|b| b.when.join(", ")).collect();
        assert!(when.contains(&"pressed 2".to_string()), "{when:?}");
        assert!(
            when.iter().any(|w| w.contains("pressed 1") && w.contains("no digit")),
            "{when:?}"
        );
        let long = explore(
            &engine,
            &version,
            r#"{"options": {}, "retries": 10}"#,
            &prompts,
            &company,
            "+1555",
        )
        .unwrap();
        assert!(long.cut_short.is_some(), "runs {}: {:#?}", long.runs, long.root);
    }

    #[test]
    fn legs_read_as_people_say_them() {
        assert_eq!(
            describe_legs("[Department(\"sales\")@0ms, Employee(\"bob\")@15000ms] timeout 30000 ms"),
            "department sales, then employee bob after 15 s"
        );
    }
}
