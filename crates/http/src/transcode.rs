//! JSON ↔ protobuf for the HTTP API, by Temporal's rules (protojson as its HTTP API writes
//! it): camelCase names, 64-bit integers as strings, enums by name, RFC 3339 times, `"10s"`
//! durations, default values left out, payload shorthand unless the caller asks for
//! `noPayloadShorthand`. The messages are described by the descriptor set of
//! `temporalio-protos`, decoded once on the first HTTP request.

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    SerializeOptions,
};
use serde_json::{Map, Value};
use tonic::{Code, Status};

use crate::payload;

/// How answers are written, from the query string (`?pretty`, `?noPayloadShorthand`).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub pretty: bool,
    pub shorthand: bool,
}

impl Style {
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let has = |name: &str| pairs.iter().any(|(key, _)| key == name);
        Style {
            pretty: has("pretty"),
            shorthand: !has("noPayloadShorthand"),
        }
    }
}

fn pool() -> Result<&'static DescriptorPool, Status> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(temper_api::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Status::internal(format!("reading the API descriptors: {e}")))
}

fn message(name: &str) -> Result<MessageDescriptor, Status> {
    pool()?
        .get_message_by_name(name)
        .ok_or_else(|| Status::internal(format!("no descriptor for {name}")))
}

/// What an HTTP request says, split as grpc-gateway reads it.
pub struct HttpRequest<'a> {
    /// The binding's body field: `*` for the whole request, empty for none.
    pub body_field: &'a str,
    pub body: &'a [u8],
    /// Path captures (`execution.workflow_id` → value); they win over the body.
    pub captures: &'a [(&'static str, String)],
    /// Query parameters; read only when the binding takes no body.
    pub query: &'a [(String, String)],
    pub style: Style,
}

/// The encoded protobuf request of message `input` that an HTTP request describes.
pub fn request(input: &str, http: &HttpRequest<'_>) -> Result<Vec<u8>, Status> {
    let descriptor = message(input)?;
    let mut json = body_json(http)?;
    if http.body_field.is_empty() {
        for (path, text) in http.query {
            set_path(&mut json, &descriptor, path, text, true)?;
        }
    }
    for (path, text) in http.captures {
        set_path(&mut json, &descriptor, path, text, false)?;
    }
    if http.style.shorthand {
        payload::expand(&mut json, &descriptor);
    }
    let options = DeserializeOptions::new();
    let decoded = DynamicMessage::deserialize_with_options(descriptor, json, &options)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(decoded.encode_to_vec())
}

/// The request body as a JSON object placed at the binding's body field.
fn body_json(http: &HttpRequest<'_>) -> Result<Value, Status> {
    let text = std::str::from_utf8(http.body)
        .map_err(|_| Status::invalid_argument("request body is not UTF-8"))?;
    if http.body_field.is_empty() || text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let body: Value =
        serde_json::from_str(text).map_err(|e| Status::invalid_argument(e.to_string()))?;
    if http.body_field == "*" {
        return Ok(body);
    }
    let mut object = Map::new();
    object.insert(http.body_field.to_string(), body);
    Ok(Value::Object(object))
}

/// Sets the field at `path` (`execution.workflow_id`, names in proto or JSON form) to the
/// value `text` means for its type. Query parameters naming no field are ignored, as
/// grpc-gateway ignores them; repeated fields collect every occurrence.
fn set_path(
    json: &mut Value,
    descriptor: &MessageDescriptor,
    path: &str,
    text: &str,
    ignore_unknown: bool,
) -> Result<(), Status> {
    let mut message = descriptor.clone();
    let mut slot = json;
    let mut parts = path.split('.').peekable();
    while let Some(name) = parts.next() {
        let field = message
            .get_field_by_name(name)
            .or_else(|| message.get_field_by_json_name(name));
        let Some(field) = field else {
            return if ignore_unknown {
                Ok(())
            } else {
                Err(Status::invalid_argument(format!("no field {path}")))
            };
        };
        let object = ensure_object(slot);
        let entry = object
            .entry(field.json_name().to_string())
            .or_insert(Value::Null);
        match (parts.peek(), field.kind()) {
            (None, kind) => {
                let value = scalar_json(&field, &kind, text)?;
                if field.is_list() {
                    ensure_array(entry).push(value);
                } else {
                    *entry = value;
                }
                return Ok(());
            }
            (Some(_), Kind::Message(inner)) if !field.is_list() && !field.is_map() => {
                message = inner;
                slot = entry;
            }
            (Some(_), _) => {
                return Err(Status::invalid_argument(format!(
                    "{path}: not a message field"
                )));
            }
        }
    }
    Ok(())
}

fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn ensure_array(value: &mut Value) -> &mut Vec<Value> {
    if !value.is_array() {
        *value = Value::Array(Vec::new());
    }
    match value {
        Value::Array(items) => items,
        _ => unreachable!("just made an array"),
    }
}

/// The JSON that the text of a path or query parameter stands for, given its field's type.
fn scalar_json(field: &FieldDescriptor, kind: &Kind, text: &str) -> Result<Value, Status> {
    let bad =
        || Status::invalid_argument(format!("{}: {text:?} is not a valid value", field.name()));
    Ok(match kind {
        Kind::Bool => match text {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => Value::Bool(true),
            "false" | "False" | "FALSE" | "f" | "F" | "0" => Value::Bool(false),
            _ => return Err(bad()),
        },
        Kind::Double | Kind::Float => {
            let number: f64 = text.parse().map_err(|_| bad())?;
            serde_json::Number::from_f64(number)
                .map(Value::Number)
                .ok_or_else(bad)?
        }
        Kind::Enum(_) => match text.parse::<i64>() {
            Ok(number) => Value::from(number),
            Err(_) => Value::String(text.to_string()),
        },
        // Integers, strings, bytes (base64) and well-known messages (times, durations)
        // all take their proto JSON string form.
        _ => Value::String(text.to_string()),
    })
}

/// The JSON answer for an encoded response of message `output`.
pub fn response(output: &str, bytes: &[u8], style: Style) -> Result<String, Status> {
    let descriptor = message(output)?;
    let decoded = DynamicMessage::decode(descriptor.clone(), bytes)
        .map_err(|e| Status::internal(format!("decoding {output}: {e}")))?;
    Ok(render(&decoded, &descriptor, style))
}

fn render(message: &DynamicMessage, descriptor: &MessageDescriptor, style: Style) -> String {
    text(to_json(message, descriptor, style), style)
}

fn to_json(message: &DynamicMessage, descriptor: &MessageDescriptor, style: Style) -> Value {
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(true)
        .use_enum_numbers(false)
        .skip_default_fields(true);
    let mut json = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or(Value::Null);
    if style.shorthand {
        payload::shorten(&mut json, descriptor);
    }
    whole_floats_as_integers(&mut json);
    json
}

/// Go writes a double that holds a whole number without a fraction (`2`, not `2.0`).
fn whole_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            // Whole doubles below 2^53 are exact as integers.
            let whole = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0);
            if let Some(f) = whole.filter(|f| f.abs() < 9.0e15) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_floats_as_integers),
        _ => {}
    }
}

fn text(json: Value, style: Style) -> String {
    let text = if style.pretty {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    };
    text.unwrap_or_default()
}

/// A failed call as Temporal's HTTP API writes it: the `google.rpc.Status` with its
/// details (`{"code":5,"message":"…","details":[{"@type":…}]}`).
pub fn status(status: &Status, style: Style) -> String {
    let mut json = status_details(status.details(), style).unwrap_or_default();
    json.insert("code".into(), Value::from(status.code() as i32));
    if status.message().is_empty() {
        json.remove("message");
    } else {
        json.insert("message".into(), Value::from(status.message()));
    }
    text(Value::Object(json), style)
}

/// The `google.rpc.Status` a gRPC error carries in its details header, as JSON.
fn status_details(encoded: &[u8], style: Style) -> Option<Map<String, Value>> {
    if encoded.is_empty() {
        return None;
    }
    let descriptor = message("google.rpc.Status").ok()?;
    let decoded = DynamicMessage::decode(descriptor.clone(), encoded).ok()?;
    match to_json(&decoded, &descriptor, style) {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The HTTP status grpc-gateway gives each gRPC code.
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode as H;
    match code {
        Code::Ok => H::OK,
        Code::Cancelled => H::from_u16(499).unwrap_or(H::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => H::BAD_REQUEST,
        Code::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        Code::NotFound => H::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => H::CONFLICT,
        Code::PermissionDenied => H::FORBIDDEN,
        Code::Unauthenticated => H::UNAUTHORIZED,
        Code::ResourceExhausted => H::TOO_MANY_REQUESTS,
        Code::Unimplemented => H::NOT_IMPLEMENTED,
        Code::Unavailable => H::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => H::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "temporal.api.workflowservice.v1.StartWorkflowExecutionRequest";

    fn start_request(body: &str, style: Style) -> Result<Vec<u8>, Status> {
        let captures = [
            ("namespace", "default".to_string()),
            ("workflow_id", "w1".to_string()),
        ];
        request(
            START,
            &HttpRequest {
                body_field: "*",
                body: body.as_bytes(),
                captures: &captures,
                query: &[],
                style,
            },
        )
    }

    #[test]
    fn shorthand_payloads_round_trip() {
        let style = Style {
            pretty: false,
            shorthand: true,
        };
        let encoded = start_request(
            r#"{"input":["first",{"a":1}],"workflowType":{"name":"X"}}"#,
            style,
        )
        .expect("request");
        let json = response(START, &encoded, style).expect("response");
        let json: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(json["input"], serde_json::json!(["first", {"a": 1}]));
        assert_eq!(json["workflowId"], "w1");
        assert_eq!(json["namespace"], "default");
    }
}
