//! A flow's settings schema: JSON Schema that the flow's author embeds in the component (the
//! SDK's `flow!(run, settings_schema = "...")` puts it in a custom section of the core module),
//! shown by the API and checked when the flow is assigned to a number.
//!
//! Besides JSON Schema's own rules, a schema may mark strings that name the company's things
//! with our formats — `"format": "department"` (a department's id), `"format": "employee"` (an
//! employee's login), `"format": "schedule"` (a business-hours schedule's id), `"format":
//! "prompt"` (a built-in or uploaded prompt, or `tts:` text) — and a setting naming one that does
//! not exist is refused too.
//!
//! A setting the schema marks `"writeOnly": true` (a CRM's token, a webhook URL with its key) is
//! a secret: the API shows it as [`HIDDEN`], and an assignment that sends [`HIDDEN`] back keeps
//! the value it had.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

/// The custom section the SDK writes the schema into.
const SECTION: &str = "switchboard:settings-schema";

/// A schema much larger than any settings struct needs is refused.
const MAX_SCHEMA_BYTES: usize = 256 << 10;

pub struct SettingsSchema {
    pub json: Value,
}

/// The names settings may refer to (what the `department` and `employee` formats accept).
#[derive(Debug, Clone, Default)]
pub struct KnownNames {
    pub departments: HashSet<String>,
    pub employees: HashSet<String>,
    pub schedules: HashSet<String>,
    /// Built-in and uploaded prompts (spoken text is accepted besides).
    pub prompts: HashSet<String>,
}

impl std::fmt::Debug for SettingsSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsSchema").field("json", &self.json).finish()
    }
}

impl KnownNames {
    /// Whether `name` is a prompt a call can play: a built-in or uploaded one, or `tts:` text.
    pub fn knows_prompt(&self, name: &str) -> bool {
        is_prompt(&self.prompts, name)
    }
}

fn is_prompt(prompts: &HashSet<String>, name: &str) -> bool {
    prompts.contains(name) || crate::media::library::is_spoken(name)
}

/// How a secret setting is shown (and, sent back, means "keep it").
pub const HIDDEN: &str = "***";

impl SettingsSchema {
    /// `settings` as the API shows them: secrets replaced by [`HIDDEN`].
    pub fn hide_secrets(&self, settings: &mut Value) {
        for pointer in self.secrets(settings) {
            if let Some(secret) = settings.pointer_mut(&pointer)
                && secret.as_str().is_none_or(|s| !s.is_empty())
            {
                *secret = Value::String(HIDDEN.into());
            }
        }
    }

    /// Puts back into `settings` the secrets it sends as [`HIDDEN`], from `before`.
    pub fn keep_secrets(&self, settings: &mut Value, before: &Value) {
        for pointer in self.secrets(settings) {
            let kept = before.pointer(&pointer).cloned();
            if let (Some(secret), Some(kept)) = (settings.pointer_mut(&pointer), kept)
                && secret.as_str() == Some(HIDDEN)
            {
                *secret = kept;
            }
        }
    }

    /// Takes `settings` sent to replace `before`: the secrets sent back hidden keep their
    /// values, then the whole must fit ([`SettingsSchema::check`]).
    pub fn take(&self, settings: &mut Value, before: Option<&Value>, known: &KnownNames) -> Result<(), String> {
        if let Some(before) = before {
            self.keep_secrets(settings, before);
        }
        self.check(settings, known)
    }

    /// JSON pointers to the values in `settings` that the schema marks `writeOnly`.
    fn secrets(&self, settings: &Value) -> Vec<String> {
        let mut out = Vec::new();
        collect_secrets(settings, &self.json, &self.json, String::new(), &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// The schema the component carries, if any; an error says why an embedded one is unusable.
    pub fn of_component(wasm: &[u8]) -> Result<Option<SettingsSchema>, String> {
        let Some(bytes) = custom_section(wasm, SECTION)? else {
            return Ok(None);
        };
        if bytes.len() > MAX_SCHEMA_BYTES {
            return Err(format!("the settings schema is over {MAX_SCHEMA_BYTES} bytes"));
        }
        let json: Value = serde_json::from_slice(bytes).map_err(|e| format!("the settings schema is not JSON: {e}"))?;
        validator(&json, &KnownNames::default())
            .map_err(|e| format!("the settings schema is not a JSON Schema: {e}"))?;
        Ok(Some(SettingsSchema { json }))
    }

    /// `Err` names what is wrong with `settings`, e.g. `/max_secs: 9000 is greater than the
    /// maximum of 600` or `/default/department: "sails" is not a "department"` (at most three
    /// problems).
    pub fn check(&self, settings: &Value, known: &KnownNames) -> Result<(), String> {
        let validator = validator(&self.json, known).map_err(|e| e.to_string())?;
        let problems: Vec<String> = validator
            .iter_errors(settings)
            .take(3)
            .map(|e| match e.instance_path().as_str() {
                "" => e.to_string(),
                path => format!("{path}: {e}"),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// `schema` after following its local `$ref`s into `root` (a few deep; an unknown one is null).
pub fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..8 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(pointer) => schema = root.pointer(pointer).unwrap_or(&Value::Null),
            None => break,
        }
    }
    schema
}

/// Walks `value` along `schema` (local `$ref`s, `oneOf`/`anyOf`/`allOf`, properties, items),
/// noting the pointers of values whose schema says `writeOnly`.
fn collect_secrets(value: &Value, schema: &Value, root: &Value, at: String, out: &mut Vec<String>) {
    let schema = resolve(schema, root);
    if value.is_null() {
        return;
    }
    if schema.get("writeOnly") == Some(&Value::Bool(true)) {
        out.push(at);
        return;
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for alternative in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            collect_secrets(value, alternative, root, at.clone(), out);
        }
    }
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let field_schema = schema
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(field_schema) = field_schema {
                    let escaped = name.replace('~', "~0").replace('/', "~1");
                    collect_secrets(field, field_schema, root, format!("{at}/{escaped}"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|i| i.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    collect_secrets(item, item_schema, root, format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

/// A validator for `schema` whose `department` and `employee` formats accept `known`'s names.
fn validator(
    schema: &Value,
    known: &KnownNames,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    let departments = Arc::new(known.departments.clone());
    let employees = Arc::new(known.employees.clone());
    let schedules = Arc::new(known.schedules.clone());
    let prompts = Arc::new(known.prompts.clone());
    jsonschema::options()
        .should_validate_formats(true)
        .with_format("department", move |name: &str| departments.contains(name))
        .with_format("employee", move |name: &str| employees.contains(name))
        .with_format("schedule", move |name: &str| schedules.contains(name))
        .with_format("prompt", move |name: &str| is_prompt(&prompts, name))
        .build(schema)
}

/// The first custom section called `name`, in the component or any module nested in it.
fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("unreadable component: {e}"))? {
            wasmparser::Payload::CustomSection(section) if section.name() == name => {
                return Ok(Some(section.data()));
            }
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A component with the schema in a nested core module, as the SDK makes it.
    fn component_with(schema: &str) -> Vec<u8> {
        let escaped: String = schema.bytes().map(|b| format!("\\{b:02x}")).collect();
        wat::parse_str(format!(
            r#"(component (core module (@custom "switchboard:settings-schema" "{escaped}")))"#
        ))
        .unwrap()
    }

    #[test]
    fn secrets_are_shown_hidden_and_kept_when_sent_back_hidden() {
        let schema = SettingsSchema {
            json: json!({"type": "object", "properties": {
                "crm": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/crm"}]},
                "name": {"type": "string"}},
                "$defs": {"crm": {"type": "object", "properties": {
                    "token": {"type": "string", "writeOnly": true},
                    "hooks": {"type": "array", "items": {"type": "string", "writeOnly": true}}}}}}),
        };
        let stored = json!({"name": "acme", "crm": {"token": "t0k", "hooks": ["https://x/rest/1/KEY"]}});
        let mut shown = stored.clone();
        schema.hide_secrets(&mut shown);
        assert_eq!(
            shown,
            json!({"name": "acme", "crm": {"token": HIDDEN, "hooks": [HIDDEN]}})
        );
        let mut sent_back = json!({"name": "acme2", "crm": {"token": HIDDEN, "hooks": ["https://y/new"]}});
        schema.keep_secrets(&mut sent_back, &stored);
        assert_eq!(
            sent_back,
            json!({"name": "acme2", "crm": {"token": "t0k", "hooks": ["https://y/new"]}})
        );
        let mut without = json!({"name": "acme", "crm": null});
        schema.hide_secrets(&mut without);
        assert_eq!(without, json!({"name": "acme", "crm": null}));
    }

    #[test]
    fn reads_the_schema_and_checks_settings_against_it() {
        let schema = r#"{"type": "object", "additionalProperties": false,
            "properties": {"max_secs": {"type": "integer", "maximum": 600}}}"#;
        let schema = SettingsSchema::of_component(&component_with(schema)).unwrap().unwrap();
        let known = KnownNames::default();
        assert_eq!(schema.json["properties"]["max_secs"]["maximum"], 600);
        assert_eq!(schema.check(&json!({"max_secs": 60}), &known), Ok(()));
        let problem = schema.check(&json!({"max_secs": 9000}), &known).unwrap_err();
        assert!(problem.starts_with("/max_secs: 9000"), "{problem}");
        assert!(
            schema
                .check(&json!({"max_sec": 1}), &known)
                .unwrap_err()
                .contains("max_sec")
        );
    }

    #[test]
    fn names_of_departments_and_employees_must_exist() {
        let schema = r#"{"type": "object", "properties": {
            "to": {"type": "string", "format": "department"},
            "members": {"type": "array", "items": {"type": "string", "format": "employee"}}}}"#;
        let schema = SettingsSchema::of_component(&component_with(schema)).unwrap().unwrap();
        let known = KnownNames {
            departments: HashSet::from(["sales".to_owned()]),
            employees: HashSet::from(["alice".to_owned()]),
            ..KnownNames::default()
        };
        assert_eq!(
            schema.check(&json!({"to": "sales", "members": ["alice"]}), &known),
            Ok(())
        );
        let problem = schema.check(&json!({"to": "sails"}), &known).unwrap_err();
        assert!(problem.starts_with("/to: ") && problem.contains("sails"), "{problem}");
        let problem = schema.check(&json!({"members": ["alice", "zed"]}), &known).unwrap_err();
        assert!(problem.starts_with("/members/1: "), "{problem}");
    }

    #[test]
    fn prompts_are_known_or_spoken() {
        let schema =
            r#"{"type": "object", "properties": {"greeting": {"type": ["string", "null"], "format": "prompt"}}}"#;
        let schema = SettingsSchema::of_component(&component_with(schema)).unwrap().unwrap();
        let known = KnownNames {
            prompts: HashSet::from(["welcome".to_owned()]),
            ..KnownNames::default()
        };
        for fine in [
            json!("welcome"),
            json!("tts:Hello."),
            json!("tts@de:Hallo."),
            json!(null),
        ] {
            assert_eq!(schema.check(&json!({ "greeting": fine }), &known), Ok(()), "{fine}");
        }
        for wrong in ["welcom", "tts:", "tts@-w:x"] {
            let problem = schema.check(&json!({ "greeting": wrong }), &known).unwrap_err();
            assert!(problem.starts_with("/greeting: "), "{wrong}: {problem}");
        }
    }

    #[test]
    fn no_schema_and_broken_schemas() {
        let plain = wat::parse_str("(component (core module))").unwrap();
        assert!(SettingsSchema::of_component(&plain).unwrap().is_none());
        let not_json = SettingsSchema::of_component(&component_with("{oops")).unwrap_err();
        assert!(not_json.contains("not JSON"), "{not_json}");
        let not_schema = SettingsSchema::of_component(&component_with(r#"{"type": 7}"#)).unwrap_err();
        assert!(not_schema.contains("not a JSON Schema"), "{not_schema}");
    }
}
