//! Text positions in the unit an app counts in.
//!
//! Loro counts text positions in Unicode scalar values; Android's `String` and iOS's
//! `NSString` / `String.utf16` count UTF-16 code units, and some apps count UTF-8 bytes. A
//! position given in another unit is converted against the text as it is when the edit
//! runs; a position that falls inside a character (between the two halves of a surrogate
//! pair, or inside a UTF-8 sequence) is refused rather than rounded.

use crate::document::DocumentError;

/// The unit text positions and lengths are counted in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TextUnit {
    /// Unicode scalar values (Rust `char`s). The core's default.
    #[default]
    Unicode,
    /// UTF-16 code units (Kotlin/Java `String`, Swift `String.utf16`, `NSString`). The
    /// mobile packages' default.
    Utf16,
    /// UTF-8 bytes (Rust `str` byte offsets).
    Utf8,
}

impl TextUnit {
    /// Length of `c` in this unit.
    pub(crate) fn char_len(self, c: char) -> usize {
        match self {
            TextUnit::Unicode => 1,
            TextUnit::Utf16 => c.len_utf16(),
            TextUnit::Utf8 => c.len_utf8(),
        }
    }

    /// Length of `s` in this unit.
    pub(crate) fn len(self, s: &str) -> usize {
        match self {
            TextUnit::Unicode => s.chars().count(),
            TextUnit::Utf16 => s.encode_utf16().count(),
            TextUnit::Utf8 => s.len(),
        }
    }
}

/// The Unicode scalar position of position `pos` (in `unit`) of `text`.
///
/// # Errors
/// `OutOfBounds` past the end; `InvalidArgument` inside a character.
pub(crate) fn to_unicode(text: &str, unit: TextUnit, pos: usize) -> Result<usize, DocumentError> {
    if unit == TextUnit::Unicode {
        let len = text.chars().count();
        return if pos <= len {
            Ok(pos)
        } else {
            Err(DocumentError::OutOfBounds { index: pos, len })
        };
    }
    let mut at = 0usize;
    for (chars, c) in text.chars().enumerate() {
        if at == pos {
            return Ok(chars);
        }
        at += unit.char_len(c);
        if at > pos {
            return Err(DocumentError::InvalidArgument(format!(
                "text position {pos} ({unit:?}) falls inside a character"
            )));
        }
    }
    if at == pos {
        Ok(text.chars().count())
    } else {
        Err(DocumentError::OutOfBounds {
            index: pos,
            len: at,
        })
    }
}

/// The Unicode scalar range of `len` units of `text` from position `pos` (in `unit`):
/// (start, count).
pub(crate) fn range_to_unicode(
    text: &str,
    unit: TextUnit,
    pos: usize,
    len: usize,
) -> Result<(usize, usize), DocumentError> {
    let end = pos.checked_add(len).ok_or(DocumentError::OutOfBounds {
        index: usize::MAX,
        len: unit.len(text),
    })?;
    let start = to_unicode(text, unit, pos)?;
    let end = to_unicode(text, unit, end)?;
    Ok((start, end - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_after_an_emoji_and_a_combining_mark() {
        // "a😀e\u{301}b": a (1), 😀 (2 UTF-16, 4 UTF-8), e (1), combining acute (1, 2 UTF-8), b.
        let s = "a😀e\u{301}b";
        assert_eq!(
            to_unicode(s, TextUnit::Utf16, 3).unwrap(),
            2,
            "after the emoji"
        );
        assert!(
            matches!(
                to_unicode(s, TextUnit::Utf16, 2),
                Err(DocumentError::InvalidArgument(_))
            ),
            "inside the surrogate pair"
        );
        assert_eq!(to_unicode(s, TextUnit::Utf8, 5).unwrap(), 2);
        assert!(to_unicode(s, TextUnit::Utf8, 3).is_err());
        assert_eq!(to_unicode(s, TextUnit::Utf16, 6).unwrap(), 5, "the end");
        assert!(matches!(
            to_unicode(s, TextUnit::Utf16, 7),
            Err(DocumentError::OutOfBounds { index: 7, len: 6 })
        ));
        assert_eq!(to_unicode(s, TextUnit::Unicode, 5).unwrap(), 5);
        // The combining mark is its own scalar: a range may split it from its base.
        assert_eq!(range_to_unicode(s, TextUnit::Utf16, 1, 2).unwrap(), (1, 1));
        assert_eq!(range_to_unicode(s, TextUnit::Utf8, 5, 3).unwrap(), (2, 2));
        assert_eq!(TextUnit::Utf16.len(s), 6);
        assert_eq!(TextUnit::Utf8.len(s), 9);
    }
}
