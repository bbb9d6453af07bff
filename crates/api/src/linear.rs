//! Encoding history events in time linear in their size, however deep their failures nest.
//!
//! prost measures a nested message again at every level it writes (`encode_raw` asks each
//! child for its `encoded_len`), so a failure with d causes costs d²/2 steps: seconds near the
//! 10,000-level limit, on every write and every read of that event. Here a deep cause chain is
//! encoded level by level with the lengths computed once, from the innermost outwards, and the
//! event around it is encoded without it; the chain is then appended as a second occurrence of
//! the event's attributes field holding only the failure. Protobuf merges repeated occurrences
//! of a message field, so every decoder reads the same event.

use std::any::Any;

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use temporalio_protos::temporal::api::failure::v1::Failure;
use temporalio_protos::temporal::api::history::v1::{HistoryEvent, history_event::Attributes};
use temporalio_protos::temporal::api::workflowservice::v1::{
    GetWorkflowExecutionHistoryResponse, GetWorkflowExecutionHistoryReverseResponse,
    PollWorkflowTaskQueueResponse,
};

/// Cause chains at most this deep go through prost as they are (their quadratic cost is
/// negligible); deeper ones are encoded here.
const SHALLOW_CAUSES: usize = 16;

/// `event` encoded, in time linear in its size.
pub fn encode_event(event: &HistoryEvent) -> Vec<u8> {
    if !has_deep_failure(event) {
        return event.encode_to_vec();
    }
    let mut shallow = event.clone();
    let Some((attributes_tag, failure_tag, failure)) = take_failure(&mut shallow) else {
        return event.encode_to_vec();
    };
    let mut out = shallow.encode_to_vec();
    let chain = encode_failure(&failure);
    let mut attributes = Vec::with_capacity(chain.len() + 10);
    encode_length_delimited(failure_tag, &chain, &mut attributes);
    encode_length_delimited(attributes_tag, &attributes, &mut out);
    out
}

/// A response that carries a history, encoded with [`encode_event`] for its events; `None`
/// for any other message, or a history without deep failures (prost encodes those).
pub fn encode_response<T: Message + 'static>(item: &mut T) -> Option<Vec<u8>> {
    let any = item as &mut dyn Any;
    let (history, history_tag) =
        if let Some(r) = any.downcast_mut::<GetWorkflowExecutionHistoryResponse>() {
            (r.history.as_mut()?, 1)
        } else if let Some(r) = any.downcast_mut::<GetWorkflowExecutionHistoryReverseResponse>() {
            (r.history.as_mut()?, 1)
        } else if let Some(r) = any.downcast_mut::<PollWorkflowTaskQueueResponse>() {
            (r.history.as_mut()?, 8)
        } else {
            return None;
        };
    if !history.events.iter().any(has_deep_failure) {
        return None;
    }
    let events = std::mem::take(&mut history.events);
    let mut out = item.encode_to_vec();
    // A second occurrence of the history field; its events are appended to the first's.
    let mut encoded = Vec::new();
    for event in &events {
        encode_length_delimited(1, &encode_event(event), &mut encoded);
    }
    encode_length_delimited(history_tag, &encoded, &mut out);
    Some(out)
}

/// A failure with all its causes, encoded in one pass over the chain.
pub fn encode_failure(failure: &Failure) -> Vec<u8> {
    let mut levels = Vec::new();
    let mut next = Some(failure);
    while let Some(level) = next {
        levels.push(without_cause(level).encode_to_vec());
        next = level.cause.as_deref();
    }
    // sizes[i]: level i with all its causes, as its parent's length prefix says.
    let mut sizes = vec![0; levels.len()];
    for i in (0..levels.len()).rev() {
        sizes[i] = levels[i].len()
            + sizes
                .get(i + 1)
                .map_or(0, |inner| 1 + encoded_len_varint(*inner as u64) + inner);
    }
    let mut out = Vec::with_capacity(sizes[0]);
    for (i, level) in levels.iter().enumerate() {
        out.extend_from_slice(level);
        if let Some(inner) = sizes.get(i + 1) {
            encode_key(4, WireType::LengthDelimited, &mut out);
            encode_varint(*inner as u64, &mut out);
        }
    }
    out
}

/// One level of a chain. Every field is named, so a field added to `Failure` must be
/// considered here.
fn without_cause(level: &Failure) -> Failure {
    Failure {
        message: level.message.clone(),
        source: level.source.clone(),
        stack_trace: level.stack_trace.clone(),
        encoded_attributes: level.encoded_attributes.clone(),
        cause: None,
        failure_info: level.failure_info.clone(),
    }
}

fn encode_length_delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn causes(failure: &Failure) -> usize {
    let mut count = 0;
    let mut next = failure.cause.as_deref();
    while let Some(level) = next {
        count += 1;
        next = level.cause.as_deref();
    }
    count
}

fn has_deep_failure(event: &HistoryEvent) -> bool {
    failure_slot(event).is_some_and(|f| causes(f) > SHALLOW_CAUSES)
}

/// The failure an event carries, for the event types that carry one.
fn failure_slot(event: &HistoryEvent) -> Option<&Failure> {
    match event.attributes.as_ref()? {
        Attributes::WorkflowExecutionStartedEventAttributes(a) => a.continued_failure.as_ref(),
        Attributes::WorkflowExecutionFailedEventAttributes(a) => a.failure.as_ref(),
        Attributes::WorkflowTaskFailedEventAttributes(a) => a.failure.as_ref(),
        Attributes::ActivityTaskFailedEventAttributes(a) => a.failure.as_ref(),
        Attributes::ActivityTaskTimedOutEventAttributes(a) => a.failure.as_ref(),
        Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => a.failure.as_ref(),
        _ => None,
    }
}

/// Takes the event's failure out: (attributes field tag, failure field tag, failure). The tags
/// are those of `temporal.api.history.v1` (checked by the round-trip test below).
fn take_failure(event: &mut HistoryEvent) -> Option<(u32, u32, Failure)> {
    let (attributes_tag, failure_tag, slot) = match event.attributes.as_mut()? {
        Attributes::WorkflowExecutionStartedEventAttributes(a) => (6, 12, &mut a.continued_failure),
        Attributes::WorkflowExecutionFailedEventAttributes(a) => (8, 1, &mut a.failure),
        Attributes::WorkflowTaskFailedEventAttributes(a) => (14, 4, &mut a.failure),
        Attributes::ActivityTaskFailedEventAttributes(a) => (18, 1, &mut a.failure),
        Attributes::ActivityTaskTimedOutEventAttributes(a) => (19, 1, &mut a.failure),
        Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => (38, 1, &mut a.failure),
        _ => return None,
    };
    Some((attributes_tag, failure_tag, slot.take()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::history::v1::{self as history, History};

    fn chain(causes: usize) -> Failure {
        let mut failure = Failure {
            message: "root".into(),
            ..Default::default()
        };
        for level in 0..causes {
            failure = Failure {
                message: format!("level {level}"),
                source: "test".into(),
                cause: Some(Box::new(failure)),
                ..Default::default()
            };
        }
        failure
    }

    fn events(failure: &Failure) -> Vec<HistoryEvent> {
        let with = |attributes| HistoryEvent {
            event_id: 7,
            attributes: Some(attributes),
            ..Default::default()
        };
        vec![
            with(Attributes::WorkflowExecutionStartedEventAttributes(
                history::WorkflowExecutionStartedEventAttributes {
                    continued_failure: Some(failure.clone()),
                    identity: "x".into(),
                    ..Default::default()
                },
            )),
            with(Attributes::WorkflowExecutionFailedEventAttributes(
                history::WorkflowExecutionFailedEventAttributes {
                    failure: Some(failure.clone()),
                    ..Default::default()
                },
            )),
            with(Attributes::WorkflowTaskFailedEventAttributes(
                history::WorkflowTaskFailedEventAttributes {
                    failure: Some(failure.clone()),
                    identity: "x".into(),
                    ..Default::default()
                },
            )),
            with(Attributes::ActivityTaskFailedEventAttributes(
                history::ActivityTaskFailedEventAttributes {
                    failure: Some(failure.clone()),
                    scheduled_event_id: 5,
                    ..Default::default()
                },
            )),
            with(Attributes::ActivityTaskTimedOutEventAttributes(
                history::ActivityTaskTimedOutEventAttributes {
                    failure: Some(failure.clone()),
                    ..Default::default()
                },
            )),
            with(Attributes::ChildWorkflowExecutionFailedEventAttributes(
                history::ChildWorkflowExecutionFailedEventAttributes {
                    failure: Some(failure.clone()),
                    ..Default::default()
                },
            )),
        ]
    }

    #[test]
    fn failures_encode_as_prost_encodes_them() {
        for causes in [0, 1, 2, 40] {
            assert_eq!(
                encode_failure(&chain(causes)),
                chain(causes).encode_to_vec()
            );
        }
    }

    #[test]
    fn deep_events_and_histories_decode_unchanged() {
        let deep = chain(200);
        for event in events(&deep) {
            let decoded = HistoryEvent::decode(encode_event(&event).as_slice()).expect("decodes");
            assert_eq!(decoded, event);
        }
        let mut response = GetWorkflowExecutionHistoryResponse {
            history: Some(History {
                events: events(&deep),
            }),
            next_page_token: b"next".to_vec(),
            ..Default::default()
        };
        let expected = response.clone();
        let encoded = encode_response(&mut response).expect("deep history");
        let decoded =
            GetWorkflowExecutionHistoryResponse::decode(encoded.as_slice()).expect("decodes");
        assert_eq!(decoded, expected);
        let mut poll = PollWorkflowTaskQueueResponse {
            history: Some(History {
                events: events(&deep),
            }),
            attempt: 3,
            ..Default::default()
        };
        let expected = poll.clone();
        let encoded = encode_response(&mut poll).expect("deep history");
        let decoded = PollWorkflowTaskQueueResponse::decode(encoded.as_slice()).expect("decodes");
        assert_eq!(decoded, expected);
        let mut shallow = GetWorkflowExecutionHistoryResponse {
            history: Some(History {
                events: events(&chain(3)),
            }),
            ..Default::default()
        };
        assert!(encode_response(&mut shallow).is_none());
    }
}
