//! Which namespace a request names, for labelling its metrics, read from the request's bytes
//! as the codec decodes them — whatever the RPC, without a handler having to say.
//!
//! The `namespace` field's number in every message comes from the protos at build time. A
//! caller that wants to know (the server's RPC layer) runs the call inside
//! [`with_namespace_slot`]; the codec writes the namespace into that slot. Outside a slot
//! nothing is read.

use std::future::Future;
use std::sync::{Arc, Mutex};

include!(concat!(env!("OUT_DIR"), "/namespace_fields.rs"));

/// Where the codec leaves the namespace of the request it decoded.
pub type NamespaceSlot = Arc<Mutex<Option<String>>>;

tokio::task_local! {
    static SLOT: NamespaceSlot;
}

/// Runs `call` with `slot` receiving the namespace of the request it decodes.
pub async fn with_namespace_slot<F: Future>(slot: NamespaceSlot, call: F) -> F::Output {
    SLOT.scope(slot, call).await
}

/// The namespace a `package.name` message whose bytes are `bytes` names, if any.
pub(crate) fn read(package: &str, name: &str, bytes: &[u8]) -> Option<String> {
    namespace_field(package, name).and_then(|f| top_level_string(bytes, f))
}

/// Notes the namespace of a `package.name` message whose bytes are `bytes`, if a slot waits;
/// returns it when read.
pub(crate) fn note(package: &str, name: &str, bytes: &[u8]) -> Option<String> {
    SLOT.try_with(|slot| {
        let namespace = read(package, name, bytes);
        if let Some(namespace) = &namespace {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(namespace.clone());
        }
        namespace
    })
    .ok()
    .flatten()
}

/// What a `package.name` message whose bytes are `bytes` acts on: the field's name and value
/// (a workflow id, schedule id, …), if it names one.
pub(crate) fn read_target(
    package: &str,
    name: &str,
    bytes: &[u8],
) -> Option<(&'static str, String)> {
    let (label, path) = target_field(package, name)?;
    let (last, outer) = path.split_last()?;
    let mut message = bytes;
    for field in outer {
        message = top_level_bytes(message, *field)?;
    }
    Some((label, top_level_string(message, *last)?))
}

/// The value of top-level string field `field` in protobuf `bytes`, or `None` if absent or
/// malformed.
fn top_level_string(bytes: &[u8], field: u32) -> Option<String> {
    String::from_utf8(top_level_bytes(bytes, field)?.to_vec()).ok()
}

/// The contents of top-level length-delimited field `field` in protobuf `bytes` (skipping
/// other fields by their lengths), or `None` if absent or malformed.
fn top_level_bytes(bytes: &[u8], field: u32) -> Option<&[u8]> {
    let mut at = 0;
    while at < bytes.len() {
        let (key, next) = varint(bytes, at)?;
        at = next;
        let number = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            0 => at = varint(bytes, at)?.1,
            1 => at = at.checked_add(8)?,
            5 => at = at.checked_add(4)?,
            2 => {
                let (length, start) = varint(bytes, at)?;
                let end = start.checked_add(usize::try_from(length).ok()?)?;
                let value = bytes.get(start..end)?;
                if number == field {
                    return Some(value);
                }
                at = end;
            }
            _ => return None,
        }
    }
    None
}

/// A varint at `at`: its value and the position after it.
fn varint(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.get(at..)?.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, at + i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use temporalio_protos::temporal::api::workflowservice::v1::{
        RespondWorkflowTaskCompletedRequest, StartWorkflowExecutionRequest,
    };

    #[test]
    fn the_namespace_is_found_wherever_its_field_is() {
        let start = StartWorkflowExecutionRequest {
            namespace: "orders".into(),
            workflow_id: "w".into(),
            ..Default::default()
        };
        assert_eq!(
            namespace_field(
                "temporal.api.workflowservice.v1",
                "StartWorkflowExecutionRequest"
            ),
            Some(1)
        );
        assert_eq!(
            top_level_string(&start.encode_to_vec(), 1).as_deref(),
            Some("orders")
        );
        let completed = RespondWorkflowTaskCompletedRequest {
            task_token: vec![7; 300],
            namespace: "billing".into(),
            identity: "me".into(),
            ..Default::default()
        };
        let field = namespace_field(
            "temporal.api.workflowservice.v1",
            "RespondWorkflowTaskCompletedRequest",
        );
        let found = field.and_then(|f| top_level_string(&completed.encode_to_vec(), f));
        assert_eq!(found.as_deref(), Some("billing"));
    }

    #[test]
    fn malformed_bytes_give_none() {
        assert_eq!(top_level_string(&[0x0a, 0x7f], 1), None);
        assert_eq!(top_level_string(&[0xff; 12], 1), None);
    }
}
