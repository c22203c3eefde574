//! What the records of every network transport are, whatever their wire format: a message,
//! an abort, or a goodbye.

/// The largest abort reason a record carries, in bytes.
pub(crate) const MAX_REASON: usize = 4096;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// (A part of) a message of the transport: `(tag, payload)`.
    Data = 0,
    /// The sender aborted communicator `tag.comm`; the payload is the reason.
    Abort = 1,
    /// The sender leaves the job; no more records follow.
    Bye = 2,
}

impl Kind {
    /// The kind with wire code `code`, if there is one.
    pub(crate) fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Data),
            1 => Some(Kind::Abort),
            2 => Some(Kind::Bye),
            _ => None,
        }
    }
}

/// The abort reason, shortened to [`MAX_REASON`] on a character boundary.
pub(crate) fn reason_bytes(reason: &str) -> &[u8] {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason.as_bytes()[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_reasons_are_cut_on_a_character_boundary() {
        for kind in [Kind::Data, Kind::Abort, Kind::Bye] {
            assert_eq!(Kind::from_code(kind as u8), Some(kind));
        }
        assert_eq!(Kind::from_code(3), None);
        let long = "é".repeat(3000);
        let b = reason_bytes(&long);
        assert!(b.len() <= MAX_REASON);
        assert!(std::str::from_utf8(b).is_ok());
    }
}
