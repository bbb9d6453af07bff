//! Decoding the way Go's protobuf runtime (and so Temporal's server) does where prost is
//! stricter: a field whose wire type does not match its declared type is skipped as an
//! unknown field instead of failing the whole message.
//!
//! prost is tried first; only a message it refuses is rewritten here, with the schema from the
//! descriptor set, dropping mismatched fields at every depth, and decoded again. Errors keep
//! grpc-go's wording, which clients and tools match on.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};

/// What a field of a message is, as far as its wire encoding goes.
#[derive(Debug, Clone)]
struct FieldShape {
    /// The wire type the field is written with (for repeated scalars, packed is also valid).
    wire_type: u8,
    packable: bool,
    /// For message fields: the message's full name (without the leading dot).
    message: Option<String>,
}

type Schema = HashMap<String, HashMap<u32, FieldShape>>;

/// Decodes `U` from `bytes`, skipping fields with the wrong wire type as Go does.
pub fn decode<U: Message + Default + prost::Name>(bytes: &[u8]) -> Result<U, String> {
    match U::decode(bytes) {
        Ok(message) => Ok(message),
        Err(error) => {
            let cleaned = clean(bytes, &U::full_name()).ok_or_else(|| go_wording(&error))?;
            U::decode(cleaned.as_slice()).map_err(|e| go_wording(&e))
        }
    }
}

/// `bytes` of the message `full_name` (e.g. `temporal.api.workflowservice.v1.
/// StartWorkflowExecutionRequest`) without the fields Go would skip for their wire type;
/// `None` when they are no message at all.
pub fn without_mistyped_fields(bytes: &[u8], full_name: &str) -> Option<Vec<u8>> {
    clean(bytes, full_name)
}

/// grpc-go's words for a request it cannot unmarshal.
fn go_wording(error: &prost::DecodeError) -> String {
    let reason = if error.to_string().contains("UTF-8") {
        "string field contains invalid UTF-8"
    } else {
        // Go's protobuf separates "proto:" from its text with a no-break space.
        "proto:\u{a0}cannot parse invalid wire-format data"
    };
    format!("grpc: error unmarshalling request: {reason}")
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let set =
            prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let mut schema = Schema::new();
        for file in &set.file {
            let package = file.package();
            for message in &file.message_type {
                add_message(&mut schema, package, message);
            }
        }
        schema
    })
}

fn add_message(schema: &mut Schema, scope: &str, message: &prost_types::DescriptorProto) {
    let name = format!("{scope}.{}", message.name());
    let fields = message
        .field
        .iter()
        .map(|field| (field.number() as u32, shape(field)))
        .collect();
    for nested in &message.nested_type {
        add_message(schema, &name, nested);
    }
    schema.insert(name, fields);
}

fn shape(field: &prost_types::FieldDescriptorProto) -> FieldShape {
    let (wire_type, message) = match field.r#type() {
        Type::Double | Type::Fixed64 | Type::Sfixed64 => (1, None),
        Type::Float | Type::Fixed32 | Type::Sfixed32 => (5, None),
        Type::String | Type::Bytes => (2, None),
        Type::Message => (
            2,
            Some(field.type_name().trim_start_matches('.').to_string()),
        ),
        Type::Group => (3, None),
        _ => (0, None),
    };
    FieldShape {
        wire_type,
        packable: field.label() == Label::Repeated && wire_type != 2 && wire_type != 3,
        message,
    }
}

/// `bytes` as a `message` without its mismatched fields, recursively; `None` if the bytes are
/// not a well-formed message at all.
fn clean(bytes: &[u8], message: &str) -> Option<Vec<u8>> {
    let fields = schema().get(message);
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let start = rest;
        let key = prost::encoding::decode_varint(&mut rest).ok()?;
        let (number, wire_type) = ((key >> 3) as u32, (key & 7) as u8);
        let body = skip(&mut rest, wire_type)?;
        let field_bytes = &start[..start.len() - rest.len()];
        let Some(shape) = fields.and_then(|f| f.get(&number)) else {
            out.extend_from_slice(field_bytes);
            continue;
        };
        let packed = shape.packable && wire_type == 2;
        if wire_type != shape.wire_type && !packed {
            continue;
        }
        match (&shape.message, wire_type) {
            (Some(nested), 2) => {
                let cleaned = clean(body, nested)?;
                prost::encoding::encode_key(
                    number,
                    prost::encoding::WireType::LengthDelimited,
                    &mut out,
                );
                prost::encoding::encode_varint(cleaned.len() as u64, &mut out);
                out.extend_from_slice(&cleaned);
            }
            _ => out.extend_from_slice(field_bytes),
        }
    }
    Some(out)
}

/// Moves past one field's value; returns a length-delimited field's contents.
fn skip<'a>(rest: &mut &'a [u8], wire_type: u8) -> Option<&'a [u8]> {
    let len = match wire_type {
        0 => {
            prost::encoding::decode_varint(rest).ok()?;
            return Some(&[]);
        }
        1 => 8,
        5 => 4,
        2 => usize::try_from(prost::encoding::decode_varint(rest).ok()?).ok()?,
        // Groups are not used by Temporal's protos; Go fails on a stray one too.
        _ => return None,
    };
    let (value, after) = (rest.get(..len)?, rest.get(len..)?);
    *rest = after;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;

    #[test]
    fn mismatched_fields_are_skipped_at_any_depth() {
        let valid = StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: "w".into(),
            ..Default::default()
        }
        .encode_to_vec();
        // Field 1 (namespace, a string) sent as a varint, before the valid fields.
        let mut bytes = vec![0x08, 0x07];
        bytes.extend_from_slice(&valid);
        // Field 3 (workflow_type, a message) whose field 1 (name, a string) is a varint.
        bytes.extend_from_slice(&[0x1a, 0x02, 0x08, 0x01]);
        let decoded: StartWorkflowExecutionRequest = decode(&bytes).expect("lenient decode");
        assert_eq!(decoded.namespace, "default");
        assert_eq!(decoded.workflow_id, "w");
        assert_eq!(decoded.workflow_type.expect("present").name, "");
    }

    #[test]
    fn garbage_keeps_go_wording() {
        let error = decode::<StartWorkflowExecutionRequest>(&[0x0f, 0x0f, 0x0f]).unwrap_err();
        assert_eq!(
            error,
            "grpc: error unmarshalling request: proto:\u{a0}cannot parse invalid wire-format data"
        );
        let error = decode::<StartWorkflowExecutionRequest>(&[0x0a, 0x02, 0xff, 0xfe]).unwrap_err();
        assert_eq!(
            error,
            "grpc: error unmarshalling request: string field contains invalid UTF-8"
        );
    }
}
