//! The checks behind fccl's fuzz targets, one per decoder of input that comes from outside
//! the process: the frame header every collective message starts with, the registration a
//! rendezvous server reads from any client, and the job string a rank reads from its
//! environment. Each check takes arbitrary bytes, must not panic, and requires that what
//! decodes encodes back to the same thing, so a decoder that accepts more than its encoder
//! can produce is caught too.
//!
//! `cargo fuzz` drives them through the targets in `fuzz_targets/`; the replay test
//! (`tests/replay.rs`) runs every input of the committed corpus through them on stable Rust.

use bytes::Bytes;
use fccl_collectives::JobSpec;
use fccl_collectives::frame::Header;
use fccl_transports::tcp::rendezvous::Registration;

/// A frame: if its header decodes, the header and payload encode back to the same bytes.
pub fn frame_header(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    if let Ok((header, payload)) = Header::decode(&frame) {
        assert_eq!(header.encode(&payload), frame, "{header:?}");
    }
}

/// A rendezvous `Register` body: if it decodes and passes the checks the server makes next
/// (`validate`), it encodes back to a frame whose body decodes to the same registration.
pub fn registration(data: &[u8]) {
    if let Ok(registration) = Registration::decode(data)
        && registration.validate().is_ok()
    {
        // The encoding is the frame: a little-endian u32 length, then the body.
        let frame = registration
            .encode()
            .expect("a decoded registration encodes");
        let (len, body) = frame.split_at(4);
        assert_eq!(
            u32::from_le_bytes(len.try_into().unwrap()) as usize,
            body.len()
        );
        let again = Registration::decode(body).expect("an encoded registration decodes");
        assert!(
            again == registration,
            "{registration:?} changed to {again:?}"
        );
    }
}

/// A job string: if it parses, its canonical form parses to the same job.
pub fn job_string(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(job) = text.parse::<JobSpec>() {
        let again: JobSpec = job.to_string().parse().expect("a job's own string parses");
        assert_eq!(again.to_string(), job.to_string());
    }
}

/// A check of one target: arbitrary bytes in, a panic on a defect.
pub type Check = fn(&[u8]);

/// Every check by the name of its target (and of its corpus folder).
pub const TARGETS: &[(&str, Check)] = &[
    ("frame_header", frame_header),
    ("registration", registration),
    ("job_string", job_string),
];
