//! Temporal's payload shorthand in JSON (api-go's `payload_json.go`, on by default in its
//! HTTP API): a `Payload` whose only metadata is `encoding: json/plain` is written as its
//! JSON value, `Payloads` as an array of such values, `binary/null` as a fixed object and
//! `json/protobuf` as its object plus `_protoMessageType`; any other payload keeps the full
//! `{metadata, data}` base64 form. Requests accept both forms. The walk follows the message
//! descriptors, so only real payload fields are touched, however deep (inside `Any` too).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

const PAYLOAD: &str = "temporal.api.common.v1.Payload";
const PAYLOADS: &str = "temporal.api.common.v1.Payloads";
const ANY: &str = "google.protobuf.Any";
/// `binary/null` in base64: the shorthand of a null payload is this metadata alone.
const BINARY_NULL_BASE64: &str = "YmluYXJ5L251bGw=";
const MESSAGE_TYPE_KEY: &str = "_protoMessageType";

/// Rewrites the payloads in `value` (the proto JSON of a `message`) to their shorthand.
pub fn shorten(value: &mut Value, message: &MessageDescriptor) {
    walk(value, message, &|value, name| match name {
        PAYLOAD => {
            if let Some(short) = shorthand(value) {
                *value = short;
            }
            true
        }
        PAYLOADS => {
            let list = value.get("payloads").and_then(Value::as_array);
            let shorts: Option<Vec<Value>> = list.into_iter().flatten().map(shorthand).collect();
            if let Some(shorts) = shorts {
                *value = Value::Array(shorts);
            }
            true
        }
        _ => false,
    });
}

/// Rewrites shorthand payloads in a request's JSON to proto JSON.
pub fn expand(value: &mut Value, message: &MessageDescriptor) {
    walk(value, message, &|value, name| match name {
        PAYLOAD => {
            *value = expanded(value.take());
            true
        }
        PAYLOADS => {
            match value {
                Value::Array(items) => {
                    let items = items.drain(..).map(expanded).collect();
                    *value = json!({ "payloads": Value::Array(items) });
                }
                Value::Object(fields) => {
                    if let Some(Value::Array(items)) = fields.get_mut("payloads") {
                        for item in items {
                            *item = expanded(item.take());
                        }
                    }
                }
                _ => {}
            }
            true
        }
        _ => false,
    });
}

/// Visits every message value under `value`; `visit` returns true when it handled one.
fn walk(value: &mut Value, message: &MessageDescriptor, visit: &impl Fn(&mut Value, &str) -> bool) {
    if visit(value, message.full_name()) {
        return;
    }
    if message.full_name() == ANY {
        if let Some(inner) = any_type(value, message) {
            walk(value, &inner, visit);
        }
        return;
    }
    if message.package_name() == "google.protobuf" {
        return; // well-known types have their own JSON forms and hold no payloads
    }
    let Value::Object(fields) = value else {
        return;
    };
    for (name, child) in fields.iter_mut() {
        let field = message
            .get_field_by_json_name(name)
            .or_else(|| message.get_field_by_name(name));
        let Some(field) = field else { continue };
        let Kind::Message(child_message) = field.kind() else {
            continue;
        };
        if field.is_map() {
            let entry_value = child_message.map_entry_value_field();
            if let (Kind::Message(value_message), Value::Object(entries)) =
                (entry_value.kind(), child)
            {
                entries
                    .values_mut()
                    .for_each(|v| walk(v, &value_message, visit));
            }
        } else if field.is_list() {
            if let Value::Array(items) = child {
                items
                    .iter_mut()
                    .for_each(|item| walk(item, &child_message, visit));
            }
        } else {
            walk(child, &child_message, visit);
        }
    }
}

/// The message an `Any`'s `@type` names, when the pool knows it and it is not well-known.
fn any_type(value: &Value, any: &MessageDescriptor) -> Option<MessageDescriptor> {
    let url = value.get("@type")?.as_str()?;
    let name = url.rsplit('/').next()?;
    let inner = any.parent_pool().get_message_by_name(name)?;
    (inner.package_name() != "google.protobuf").then_some(inner)
}

/// The shorthand of one payload in proto JSON, if it has one.
fn shorthand(payload: &Value) -> Option<Value> {
    let metadata = payload.get("metadata").and_then(Value::as_object);
    let encoding = metadata
        .and_then(|m| m.get("encoding"))
        .and_then(decode_text)
        .unwrap_or_default();
    let data = payload
        .get("data")
        .and_then(Value::as_str)
        .map_or(Some(Vec::new()), decode_base64)?;
    let metadata_len = metadata.map_or(0, Map::len);
    match encoding.as_str() {
        "binary/null" => Some(json!({ "metadata": { "encoding": BINARY_NULL_BASE64 } })),
        "json/plain" if metadata_len == 1 => {
            serde_json::from_slice(&data).ok().map(as_go_writes_it)
        }
        "json/protobuf" if metadata_len == 2 => {
            let message_type = metadata?.get("messageType").and_then(decode_text)?;
            let mut object: Map<String, Value> = serde_json::from_slice(&data).ok()?;
            object.insert(MESSAGE_TYPE_KEY.into(), Value::String(message_type));
            Some(as_go_writes_it(Value::Object(object)))
        }
        _ => None,
    }
}

/// api-go writes shorthand values through Go's `interface{}`, where an empty array becomes
/// `null`. (Its numbers are all float64, written `2` rather than `2.0`; the transcoder writes
/// every whole double that way.)
fn as_go_writes_it(value: Value) -> Value {
    match value {
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.into_iter().map(as_go_writes_it).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, as_go_writes_it(v)))
                .collect(),
        ),
        other => other,
    }
}

/// One request payload, shorthand or full, in proto JSON.
fn expanded(value: Value) -> Value {
    match value {
        Value::Null => json!({ "metadata": { "encoding": BINARY_NULL_BASE64 } }),
        Value::Object(fields) if is_full_form(&fields) => Value::Object(fields),
        Value::Object(mut fields) if fields.contains_key(MESSAGE_TYPE_KEY) => {
            let message_type = fields.remove(MESSAGE_TYPE_KEY);
            let message_type = message_type.as_ref().and_then(Value::as_str).unwrap_or("");
            json!({
                "metadata": {
                    "encoding": STANDARD.encode("json/protobuf"),
                    "messageType": STANDARD.encode(message_type),
                },
                "data": STANDARD.encode(Value::Object(fields).to_string()),
            })
        }
        other => json!({
            "metadata": { "encoding": STANDARD.encode("json/plain") },
            "data": STANDARD.encode(other.to_string()),
        }),
    }
}

/// Whether an object is a payload's full form rather than a JSON value: `metadata` with an
/// `encoding`, and `data` (both base64 strings) and nothing else, or `binary/null` alone.
fn is_full_form(fields: &Map<String, Value>) -> bool {
    let Some(Value::Object(metadata)) = fields.get("metadata") else {
        return false;
    };
    let Some(encoding) = metadata.get("encoding") else {
        return false;
    };
    let data = fields.get("data");
    if data.is_none() && encoding == BINARY_NULL_BASE64 {
        return fields.len() == 1;
    }
    let base64_text = |v: &Value| v.as_str().and_then(decode_base64).is_some();
    fields.len() == 2 && data.is_some_and(base64_text) && metadata.values().all(base64_text)
}

fn decode_text(value: &Value) -> Option<String> {
    String::from_utf8(decode_base64(value.as_str()?)?).ok()
}

/// Standard or URL-safe base64, padded or not, as protojson reads bytes.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let url_safe = text.contains(['-', '_']);
    let padded = text.len().is_multiple_of(4);
    match (url_safe, padded) {
        (false, true) => STANDARD.decode(text),
        (false, false) => STANDARD_NO_PAD.decode(text),
        (true, true) => URL_SAFE.decode(text),
        (true, false) => URL_SAFE_NO_PAD.decode(text),
    }
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(encoding: &str, data: &str) -> Value {
        json!({"metadata": {"encoding": STANDARD.encode(encoding)}, "data": STANDARD.encode(data)})
    }

    #[test]
    fn json_plain_is_written_as_its_value() {
        assert_eq!(
            shorthand(&full("json/plain", r#"{"b":[],"a":2}"#)),
            Some(json!({"a": 2, "b": null}))
        );
        assert_eq!(
            shorthand(&full("json/plain", "\"sdk\"")),
            Some(json!("sdk"))
        );
    }

    #[test]
    fn other_encodings_keep_the_full_form() {
        assert_eq!(shorthand(&full("binary/plain", "abc")), None);
        let mut extra = full("json/plain", "1");
        extra["metadata"]["x"] = json!(STANDARD.encode("y"));
        assert_eq!(shorthand(&extra), None);
    }

    #[test]
    fn requests_take_values_and_full_forms() {
        assert_eq!(expanded(json!("sdk")), full("json/plain", "\"sdk\""));
        assert_eq!(
            expanded(full("binary/plain", "abc")),
            full("binary/plain", "abc")
        );
        let null = expanded(Value::Null);
        assert_eq!(null["metadata"]["encoding"], BINARY_NULL_BASE64);
        // An object that only looks a bit like a payload is a JSON value.
        let value = json!({"metadata": {"encoding": "x"}, "data": 1});
        assert_eq!(
            expanded(value.clone()),
            full("json/plain", &value.to_string())
        );
    }
}
