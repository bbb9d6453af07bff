//! The gRPC codec of every served RPC: prost's, with one extra rule on the way in.
//!
//! prost's decoder stops at 100 nested messages (the C++ default). Temporal's Go decoder
//! allows 10,000, and a failure's cause chain nests one message per cause, so a client may
//! legitimately send a failure 1,000 causes deep. Worse, a limit applied when a stored record
//! is read but not when the request was accepted makes a run unreadable forever. So Temper
//! builds prost without its limit (`no-recursion-limit`) and enforces one limit here, before a
//! request reaches any handler: [`MAX_NESTING`] levels, counted over the raw bytes by
//! [`nesting_exceeds`] without recursion. Records are only ever written from requests that
//! passed this check (plus a handful of wrapping levels), so every stored record reads back;
//! the server's threads get stacks sized for that depth.
//!
//! Past those checks a request decodes as Go's protobuf would decode it (`crate::lenient`):
//! a field with the wrong wire type is skipped, not fatal; and a request over
//! [`MAX_REQUEST_BYTES`] is RESOURCE_EXHAUSTED, in grpc-go's words.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Deepest message nesting a request may have: protobuf-go's default recursion limit, which
/// is what Temporal's server decodes with.
pub const MAX_NESTING: usize = 10_000;

/// Largest request accepted, after decompression: grpc-go's default receive limit, which
/// Temporal's frontend runs with. (The transport lets larger ones through so that this codec
/// can answer them as grpc-go does.)
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Stack size of every thread that decodes, encodes, clones or drops protos (tokio's workers
/// and blocking threads, the store's writer): prost walks a failure's cause chain
/// recursively, and [`MAX_NESTING`] levels need up to 16 MiB of stack (optimised builds
/// inline into bigger frames); four times that leaves room for callers.
pub const THREAD_STACK_BYTES: usize = 64 << 20;

/// prost's codec with the nesting check in front of its decoder.
#[derive(Debug, Clone)]
pub struct CheckedCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for CheckedCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for CheckedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + prost::Name + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = CheckedEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        CheckedEncoder { _type: PhantomData }
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder { _type: PhantomData }
    }
}

/// Encodes like prost, except histories with deep failures, which [`crate::linear`] encodes
/// in linear time.
#[derive(Debug, Clone)]
pub struct CheckedEncoder<T> {
    _type: PhantomData<T>,
}

impl<T: Message + 'static> Encoder for CheckedEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, mut item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes::BufMut;
        match crate::linear::encode_response(&mut item) {
            Some(bytes) => buf.put_slice(&bytes),
            None => item
                .encode(buf)
                .map_err(|e| Status::internal(format!("encoding the response: {e}")))?,
        }
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// Decodes `U` once its bytes are known to nest no deeper than [`MAX_NESTING`].
#[derive(Debug, Clone)]
pub struct CheckedDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default + prost::Name> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        use bytes::Buf;
        if buf.remaining() > MAX_REQUEST_BYTES {
            return Err(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({} vs. {MAX_REQUEST_BYTES})",
                buf.remaining()
            )));
        }
        if nesting_exceeds(buf.chunk(), MAX_NESTING) {
            return Err(Status::invalid_argument(format!(
                "request message nests more than {MAX_NESTING} levels deep"
            )));
        }
        let noted = crate::request_namespace::note(U::PACKAGE, U::NAME, buf.chunk());
        if crate::request_gate::active() {
            let bytes = buf.chunk();
            let namespace =
                noted.or_else(|| crate::request_namespace::read(U::PACKAGE, U::NAME, bytes));
            let target = crate::request_namespace::read_target(U::PACKAGE, U::NAME, bytes);
            crate::request_gate::check(&crate::request_gate::RequestFacts {
                namespace: namespace.as_deref(),
                target: target
                    .as_ref()
                    .map(|(label, value)| (*label, value.as_str())),
            })?;
        }
        let decoded = crate::lenient::decode::<U>(buf.chunk()).map_err(Status::internal)?;
        buf.advance(buf.remaining());
        Ok(Some(decoded))
    }
}

/// Whether `bytes`, read as a protobuf message, may nest more than `limit` messages (or
/// groups) deep.
///
/// Without the schema a length-delimited field may be a string, bytes or a message, so every
/// one is tried as a message: a field whose contents do not parse is abandoned and skipped
/// whole. That can only overestimate the depth (a string that happens to parse as a deep
/// message counts), never miss a real nested message. Each byte is scanned once; the walk
/// keeps its own stack of open fields, so hostile input cannot exhaust the thread's stack.
pub fn nesting_exceeds(bytes: &[u8], limit: usize) -> bool {
    let mut scan = Scan {
        bytes,
        pos: 0,
        open: Vec::new(),
    };
    let mut deepest = 0;
    loop {
        let end = scan.open.last().map_or(bytes.len(), |frame| frame.end);
        if scan.pos == end {
            let depth = scan.open.len();
            match scan.open.pop() {
                // A group must be closed by its end tag, not by running out of bytes.
                Some(Frame { group: Some(_), .. }) => {
                    if !scan.abandon() {
                        return false;
                    }
                }
                Some(_) => deepest = deepest.max(depth),
                None => return false,
            }
        } else {
            match scan.step(end) {
                Step::Field => {}
                Step::Open(frame) => scan.open.push(frame),
                Step::Close => {
                    deepest = deepest.max(scan.open.len());
                    scan.open.pop();
                }
                // Malformed at the top level: prost will say so when it decodes.
                Step::Malformed => {
                    if !scan.abandon() {
                        return false;
                    }
                }
            }
        }
        if deepest > limit || scan.open.len() > limit + SPECULATIVE_LEVELS {
            return true;
        }
    }
}

/// How far past the limit a field that is not yet known to be a message may open before the
/// scan gives up: a depth only counts once its field has parsed whole, but a hostile request
/// must not make the scan keep millions of open fields.
const SPECULATIVE_LEVELS: usize = 64;

/// A field being read as a nested message: a length-delimited field (ends at `end`) or a
/// group (closed by the end-group tag of field `group`, within its parent's `end`).
struct Frame {
    end: usize,
    group: Option<u32>,
}

enum Step {
    /// A scalar field was skipped.
    Field,
    /// A length-delimited field or a group begins.
    Open(Frame),
    /// The innermost group's end tag.
    Close,
    Malformed,
}

struct Scan<'a> {
    bytes: &'a [u8],
    pos: usize,
    open: Vec<Frame>,
}

impl Scan<'_> {
    /// Reads one field at `pos`, which is before `end`.
    fn step(&mut self, end: usize) -> Step {
        let Some(key) = self.varint(end) else {
            return Step::Malformed;
        };
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Step::Malformed;
        }
        let field = field as u32;
        let skipped = match key & 7 {
            0 => self.varint(end).map(|_| ()),
            1 => self.skip(8, end),
            5 => self.skip(4, end),
            2 => {
                let Some(len) = self.varint(end) else {
                    return Step::Malformed;
                };
                let Some(field_end) = usize::try_from(len)
                    .ok()
                    .and_then(|len| self.pos.checked_add(len))
                    .filter(|field_end| *field_end <= end)
                else {
                    return Step::Malformed;
                };
                return Step::Open(Frame {
                    end: field_end,
                    group: None,
                });
            }
            3 => {
                return Step::Open(Frame {
                    end,
                    group: Some(field),
                });
            }
            4 => {
                let closes = self.open.last().and_then(|frame| frame.group) == Some(field);
                return if closes { Step::Close } else { Step::Malformed };
            }
            _ => None,
        };
        match skipped {
            Some(()) => Step::Field,
            None => Step::Malformed,
        }
    }

    /// Gives up on the innermost length-delimited field (it is not a message) and resumes
    /// after it. False when there is none: the message itself is malformed.
    fn abandon(&mut self) -> bool {
        while let Some(frame) = self.open.pop() {
            if frame.group.is_none() {
                self.pos = frame.end;
                return true;
            }
        }
        false
    }

    fn varint(&mut self, end: usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            if self.pos >= end {
                return None;
            }
            let byte = self.bytes[self.pos];
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return None;
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn skip(&mut self, len: usize, end: usize) -> Option<()> {
        let next = self.pos.checked_add(len).filter(|next| *next <= end)?;
        self.pos = next;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::failure::v1::Failure;

    fn failure_chain(causes: usize) -> Failure {
        let mut failure = Failure {
            message: "the innermost cause".into(),
            ..Default::default()
        };
        for level in 0..causes {
            failure = Failure {
                message: format!("level {level}"),
                cause: Some(Box::new(failure)),
                ..Default::default()
            };
        }
        failure
    }

    #[test]
    fn counts_nested_messages() {
        let bytes = failure_chain(50).encode_to_vec();
        assert!(!nesting_exceeds(&bytes, 50));
        assert!(nesting_exceeds(&bytes, 49));
    }

    #[test]
    fn strings_that_are_not_messages_are_skipped() {
        let failure = Failure {
            message: "{\"json\": [1, 2, 3]} is not protobuf".into(),
            stack_trace: "\u{0}\u{ff}garbage".into(),
            ..Default::default()
        };
        assert!(!nesting_exceeds(&failure.encode_to_vec(), 8));
    }

    #[test]
    fn nested_groups_count_as_levels() {
        // Field 1 start-group tags, 20 deep, then their end tags.
        let mut bytes = vec![0x0b; 20];
        bytes.extend(std::iter::repeat_n(0x0c, 20));
        assert!(!nesting_exceeds(&bytes, 20));
        assert!(nesting_exceeds(&bytes, 19));
        // Unterminated groups are malformed, not deep.
        assert!(!nesting_exceeds(&[0x0b; 5], 100));
    }

    #[test]
    fn hostile_depth_is_refused_without_recursion() {
        // A million nested groups (one byte each): scanned on a heap stack, refused early.
        assert!(nesting_exceeds(&vec![0x0b; 1_000_000], MAX_NESTING));
        // Nested length-delimited fields, built from the inside out.
        let mut bytes: Vec<u8> = Vec::new();
        for _ in 0..2_000 {
            let mut outer = vec![0x0a];
            prost::encoding::encode_varint(bytes.len() as u64, &mut outer);
            outer.extend_from_slice(&bytes);
            bytes = outer;
        }
        assert!(nesting_exceeds(&bytes, 1_999));
        assert!(!nesting_exceeds(&bytes, 2_000));
    }

    #[test]
    fn deep_failures_fit_the_thread_stack() {
        // The deepest request plus the levels a record wraps around it (history event,
        // attributes, poll response), on a thread with the stack the server gives its threads.
        let depth = MAX_NESTING + 16;
        let run = move || {
            let failure = failure_chain(depth);
            let bytes = failure.encode_to_vec();
            assert!(!nesting_exceeds(&bytes, depth));
            let decoded = Failure::decode(&*bytes).expect("prost decodes without a depth limit");
            assert!(decoded == failure.clone());
            bytes.len()
        };
        // A quarter of the server's stack must be enough.
        let encoded = std::thread::Builder::new()
            .stack_size(THREAD_STACK_BYTES / 4)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
        assert!(encoded > depth);
    }
}
