//! A form from a flow's settings schema (JSON Schema, as the flow's author wrote it): one input
//! per top-level setting — text, number, checkbox or a choice for simple ones, JSON for nested
//! ones (a menu's routes) — labelled with the schema's title and description, bounded by its
//! limits. The API checks the result against the schema; its messages (`/timeout_ms: 100 is
//! less than the minimum of 500`) are shown beside the input they name.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::flow::resolve_schema_ref as resolve;

/// Form fields are named `s.<setting>` so they cannot collide with the number's own fields.
pub const PREFIX: &str = "s.";

/// How a setting is typed in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    /// One of the schema's `enum` values.
    Choice(Vec<String>),
    /// Anything nested, as JSON text.
    Json,
}

/// One setting's input.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub description: String,
    pub kind: Kind,
    /// What the input shows: the number's setting, else the schema's default.
    pub value: String,
    pub checked: bool,
    pub required: bool,
    /// The schema's bounds as it wrote them (`500`, not `500.0`).
    pub minimum: Option<serde_json::Number>,
    pub maximum: Option<serde_json::Number>,
    /// A secret (`writeOnly`): the input starts empty and an empty one keeps what is stored.
    pub secret: bool,
}

fn kind_of(schema: &Value, root: &Value) -> Kind {
    let schema = resolve(schema, root);
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && options.iter().all(Value::is_string)
    {
        return Kind::Choice(options.iter().filter_map(Value::as_str).map(str::to_owned).collect());
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Kind::Text,
        Some("integer") => Kind::Integer,
        Some("number") => Kind::Number,
        Some("boolean") => Kind::Boolean,
        _ => Kind::Json,
    }
}

/// The inputs for `schema`'s settings, showing `settings` (the number's, when it runs this flow).
pub fn fields(schema: &Value, settings: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let own = property;
            let property = resolve(property, schema);
            let kind = kind_of(property, schema);
            let secret = own.get("writeOnly") == Some(&Value::Bool(true))
                || property.get("writeOnly") == Some(&Value::Bool(true));
            let given = settings.get(name);
            let shown = given
                .or_else(|| own.get("default"))
                .or_else(|| property.get("default"))
                .filter(|_| !secret);
            let value = match (&kind, shown) {
                (_, None) | (_, Some(Value::Null)) => String::new(),
                (Kind::Json, Some(v)) => serde_json::to_string_pretty(v).unwrap_or_default(),
                (_, Some(Value::String(s))) => s.clone(),
                (_, Some(v)) => v.to_string(),
            };
            let text = |key: &str| {
                own.get(key)
                    .or_else(|| property.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let title = text("title");
            Field {
                label: if title.is_empty() { label_of(name) } else { title },
                description: text("description"),
                checked: shown == Some(&Value::Bool(true)),
                required: required.contains(&name.as_str()),
                minimum: bound(property, "minimum"),
                maximum: bound(property, "maximum"),
                name: name.clone(),
                kind,
                value,
                secret,
            }
        })
        .collect()
}

fn bound(schema: &Value, key: &str) -> Option<serde_json::Number> {
    match schema.get(key) {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    }
}

/// `timeout_ms` → `Timeout ms`.
fn label_of(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The settings a submitted form gives (`form` holds its `s.`-prefixed fields), or the inputs
/// that could not be read, with why. An empty input is left out (the flow's default applies);
/// an empty secret sends back what the API showed of it (`***`), which keeps the stored one.
pub fn collect(schema: &Value, form: &[(String, String)], shown: &Value) -> Result<Value, BTreeMap<String, String>> {
    let mut settings = Map::new();
    let mut problems = BTreeMap::new();
    let given = |name: &str| {
        form.iter()
            .find(|(k, _)| k.strip_prefix(PREFIX) == Some(name))
            .map(|(_, v)| v.trim())
    };
    for field in fields(schema, &Value::Null) {
        let name = field.name.as_str();
        let text = given(name).unwrap_or("");
        let value = match field.kind {
            Kind::Boolean => Ok(Some(Value::Bool(given(name).is_some_and(|v| v == "true" || v == "on")))),
            _ if text.is_empty() => Ok(None),
            Kind::Text | Kind::Choice(_) => Ok(Some(Value::from(text))),
            Kind::Integer => text
                .parse::<i64>()
                .map(|n| Some(Value::from(n)))
                .map_err(|_| "a whole number".to_owned()),
            Kind::Number => text
                .parse::<f64>()
                .map(|n| Some(Value::from(n)))
                .map_err(|_| "a number".to_owned()),
            Kind::Json => serde_json::from_str::<Value>(text)
                .map(Some)
                .map_err(|e| format!("not JSON: {e}")),
        };
        match value {
            Ok(Some(value)) => {
                settings.insert(name.to_owned(), value);
            }
            Ok(None) => {
                if let Some(kept) = shown.get(name).filter(|_| field.secret) {
                    settings.insert(name.to_owned(), kept.clone());
                }
            }
            Err(why) => {
                problems.insert(name.to_owned(), why);
            }
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(settings))
    } else {
        Err(problems)
    }
}

/// The API's schema messages (`/options/1/department: "sails" is not a "department"; /retries:
/// …`) by the top-level setting each names; a message about the whole object goes under "".
pub fn problems_by_setting(detail: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    // `the settings do not fit the flow: /timeout_ms: …`: the problems start at the first path.
    let detail = detail.find(": /").map(|at| &detail[at + 2..]).unwrap_or(detail);
    for problem in detail.split("; ") {
        let (setting, message) = match problem.strip_prefix('/').and_then(|p| p.split_once(": ")) {
            Some((path, message)) => {
                let top = path
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .replace("~1", "/")
                    .replace("~0", "~");
                let nested = path.contains('/');
                (
                    top,
                    if nested {
                        format!("/{path}: {message}")
                    } else {
                        message.to_owned()
                    },
                )
            }
            None => (String::new(), problem.to_owned()),
        };
        let entry = out.entry(setting).or_default();
        if !entry.is_empty() {
            entry.push_str("; ");
        }
        entry.push_str(&message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["greeting"],
            "properties": {
                "greeting": {"type": "string", "default": "ivr-greeting", "description": "Prompt played first."},
                "timeout_ms": {"type": "integer", "minimum": 500, "maximum": 60000, "default": 5000},
                "strategy": {"enum": ["ring-all", "in-order"], "default": "ring-all"},
                "record": {"type": "boolean", "title": "Record calls"},
                "token": {"type": "string", "writeOnly": true},
                "default": {"$ref": "#/$defs/route", "default": {"department": "sales"}}
            },
            "$defs": {"route": {"type": "object"}}
        })
    }

    #[test]
    fn each_setting_becomes_a_labelled_input_of_its_kind() {
        let fields = fields(&schema(), &json!({"timeout_ms": 3000, "token": "s3cret"}));
        let by = |n: &str| fields.iter().find(|f| f.name == n).unwrap().clone();
        assert_eq!(by("greeting").kind, Kind::Text);
        assert_eq!(by("greeting").value, "ivr-greeting");
        assert!(by("greeting").required);
        assert_eq!(by("greeting").description, "Prompt played first.");
        assert_eq!(by("timeout_ms").kind, Kind::Integer);
        assert_eq!(by("timeout_ms").value, "3000");
        assert_eq!(by("timeout_ms").label, "Timeout ms");
        assert_eq!(
            (by("timeout_ms").minimum, by("timeout_ms").maximum),
            (Some(500.into()), Some(60000.into()))
        );
        assert_eq!(
            by("strategy").kind,
            Kind::Choice(vec!["ring-all".into(), "in-order".into()])
        );
        assert_eq!(by("record").label, "Record calls");
        assert_eq!(by("default").kind, Kind::Json);
        assert!(by("default").value.contains("\"department\": \"sales\""));
        // A secret is never shown.
        assert!(by("token").secret);
        assert_eq!(by("token").value, "");
    }

    #[test]
    fn a_form_becomes_settings_or_names_the_inputs_it_could_not_read() {
        let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let settings = collect(
            &schema(),
            &form(&[
                ("s.greeting", "hello"),
                ("s.timeout_ms", " 800 "),
                ("s.record", "on"),
                ("s.default", r#"{"voicemail": {}}"#),
                ("s.token", ""),
                ("flow", "ivr"),
            ]),
            &json!({"token": "***"}),
        )
        .unwrap();
        assert_eq!(
            settings,
            json!({"greeting": "hello", "timeout_ms": 800, "record": true, "default": {"voicemail": {}}, "token": "***"})
        );
        let problems = collect(
            &schema(),
            &form(&[("s.timeout_ms", "soon"), ("s.default", "{")]),
            &Value::Null,
        )
        .unwrap_err();
        assert_eq!(problems["timeout_ms"], "a whole number");
        assert!(problems["default"].starts_with("not JSON"));
    }

    #[test]
    fn schema_messages_go_to_the_setting_they_name() {
        let by = problems_by_setting(
            "the settings do not fit the flow: /timeout_ms: 100 is less than the minimum of 500; /default/department: \"sails\" is not a \"department\"; \"x\" is not allowed",
        );
        assert_eq!(by["timeout_ms"], "100 is less than the minimum of 500");
        assert_eq!(by["default"], "/default/department: \"sails\" is not a \"department\"");
        assert_eq!(by[""], "\"x\" is not allowed");
    }
}
