//! The checks behind fccl's fuzz targets, one per decoder of input that comes from outside
//! the process: the frame header every collective message starts with, the registration a
//! rendezvous server reads from any client, the reply a rank reads from its rendezvous
//! server, the head of every record on a tcp connection between ranks, and the job string
//! a rank reads from its environment. Each check takes arbitrary bytes, must not panic, and requires that what
//! decodes encodes back to the same thing, so a decoder that accepts more than its encoder
//! can produce is caught too.
//!
//! `cargo fuzz` drives them through the targets in `fuzz_targets/`; the replay test
//! (`tests/replay.rs`) runs every input of the committed corpus through them on stable Rust.

use bytes::Bytes;
use fccl_collectives::JobSpec;
use fccl_collectives::frame::Header;
use fccl_transports::fuzzing::{RecordHead, RendezvousReply};
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

/// A rendezvous `Reply` body, as a rank reads it from its server: if it decodes, it
/// encodes back to a frame whose body decodes to the same reply, and to the same bytes
/// unless the decoder had to normalise them (a refusal with an error code this version
/// does not know, or a message that is not UTF-8, which it reads leniently).
pub fn rendezvous_reply(data: &[u8]) {
    let Ok(reply) = RendezvousReply::decode(data) else {
        return;
    };
    let frame = reply.encode();
    let (len, body) = frame.split_at(4);
    assert_eq!(
        u32::from_le_bytes(len.try_into().unwrap()) as usize,
        body.len()
    );
    let again = RendezvousReply::decode(body).expect("an encoded reply decodes");
    assert_eq!(again, reply);
    // Body: status u8 (0 table, 1 refusal); a refusal goes on with its code u8 (1 to 4
    // are known), its message length u16 and the message.
    let canonical = match data[0] {
        0 => true,
        _ => (1..=4).contains(&data[1]) && std::str::from_utf8(&data[4..]).is_ok(),
    };
    if canonical {
        assert_eq!(body, data, "{reply:?}");
    }
}

/// The bytes of a tcp record head that carry something: kind, tag and payload length. The
/// rest of the head is zeros that the reader skips unread.
const RECORD_HEAD_USED: usize = 1 + 25 + 8;

/// A tcp record head: if the bytes decode, the head encodes back to the same kind, tag and
/// length bytes, and its encoding decodes to the same head.
pub fn record_head(data: &[u8]) {
    let Ok(head) = RecordHead::decode(data) else {
        return;
    };
    let bytes = head.encode();
    assert_eq!(bytes.len(), RecordHead::LEN);
    assert_eq!(
        bytes[..RECORD_HEAD_USED],
        data[..RECORD_HEAD_USED],
        "{head:?}"
    );
    assert!(bytes[RECORD_HEAD_USED..].iter().all(|&b| b == 0));
    assert_eq!(
        RecordHead::decode(&bytes).expect("an encoded head decodes"),
        head
    );
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
    ("rendezvous_reply", rendezvous_reply),
    ("record_head", record_head),
    ("job_string", job_string),
];
