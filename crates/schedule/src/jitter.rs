//! Jitter as Temporal derives it: a fingerprint (FarmHash `Fingerprint32`) of the nominal
//! time in Go's binary time encoding followed by the schedule's seed, scaled to the allowed
//! jitter in milliseconds. Same inputs, same jitter, on every server.

/// Seconds from 0001-01-01 to 1970-01-01, the origin of Go's binary time encoding.
const GO_EPOCH_OFFSET: i64 = 62_135_596_800;

/// Go's `time.Time.MarshalBinary` of a whole UTC second (version 1, offset -1 = UTC).
fn go_binary_time(unix_second: i64) -> [u8; 15] {
    let mut bytes = [0u8; 15];
    bytes[0] = 1;
    bytes[1..9].copy_from_slice(&(unix_second + GO_EPOCH_OFFSET).to_be_bytes());
    // Bytes 9..13 are the nanoseconds (zero); 13..15 the zone offset in minutes, -1 for UTC.
    bytes[13..15].copy_from_slice(&(-1i16).to_be_bytes());
    bytes
}

/// The jitter, in nanoseconds (whole milliseconds), of the action at `nominal_second`.
pub fn jitter_nanos(seed: &str, nominal_second: i64, max_jitter_nanos: i64) -> i64 {
    let mut input = go_binary_time(nominal_second).to_vec();
    input.extend_from_slice(seed.as_bytes());
    let fingerprint = u64::from(farmhash::fingerprint32(&input));
    let max_ms = u64::try_from(max_jitter_nanos / 1_000_000)
        .unwrap_or(0)
        .min(u64::from(u32::MAX));
    let jitter_ms = (fingerprint * max_ms) >> 32;
    (jitter_ms as i64) * 1_000_000
}
