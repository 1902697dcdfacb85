//! Framing: a 4-byte big-endian length, then the body. Pure: looks at a buffer and says
//! whether a whole frame is there, how long it is, or why the stream is unusable.

/// Four-letter words arrive on the client port without a length prefix; their four ASCII bytes
/// read as a length are far beyond any sane frame size, so they are told apart from frames.
pub const FOUR_LETTER_WORDS: &[&str] =
    &["ruok", "srvr", "stat", "mntr", "conf", "cons", "crst", "srst", "envi", "isro", "wchs", "wchc", "wchp", "dump", "dirs"];

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet.
    Incomplete,
    /// A whole frame: `body_len` bytes follow the 4-byte length prefix.
    Complete { body_len: usize },
    /// The frame announces more than `max` bytes.
    TooLarge { len: usize },
    /// A negative length: the stream is garbage.
    Invalid { len: i32 },
}

/// Looks at the start of `buf` for a frame whose body may be up to `max` bytes.
pub fn check(buf: &[u8], max: usize) -> Frame {
    if buf.len() < 4 {
        return Frame::Incomplete;
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 {
        return Frame::Invalid { len };
    }
    let len = len as usize;
    if len > max {
        return Frame::TooLarge { len };
    }
    if buf.len() - 4 < len {
        Frame::Incomplete
    } else {
        Frame::Complete { body_len: len }
    }
}

/// The four-letter word at the start of a connection, if these four bytes are one.
pub fn four_letter_word(first4: &[u8]) -> Option<&'static str> {
    FOUR_LETTER_WORDS.iter().copied().find(|w| w.as_bytes() == first4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(check(&[0, 0], 10), Frame::Incomplete);
        assert_eq!(check(&[0, 0, 0, 2, 1], 10), Frame::Incomplete);
        assert_eq!(check(&[0, 0, 0, 2, 1, 2, 3], 10), Frame::Complete { body_len: 2 });
        assert_eq!(check(&[0, 0, 1, 0], 10), Frame::TooLarge { len: 256 });
        assert_eq!(check(&[0xff, 0, 0, 0], 10), Frame::Invalid { len: i32::from_be_bytes([0xff, 0, 0, 0]) });
    }

    #[test]
    fn four_letter_words_are_recognised() {
        assert_eq!(four_letter_word(b"ruok"), Some("ruok"));
        assert_eq!(four_letter_word(&[0, 0, 0, 44]), None);
    }
}
