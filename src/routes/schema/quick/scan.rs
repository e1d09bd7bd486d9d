//! The fast check's reader: one pass over the body's text, checking each value against its
//! schema node as it goes, with nothing built. It reads the plain JSON that callers send and
//! gives up (None: the full check decides) on anything less plain: a `\` escape in a string,
//! a number with a fraction or an exponent (whose rounding the full parser decides), `-0`, an
//! integer past 18 digits, nesting deeper than `MAX_DEPTH`. What it does read, it reads as
//! strictly as serde_json: no control character in a string, no leading zero, no trailing
//! comma, nothing after the document but whitespace. The body's bytes are not checked as
//! UTF-8 beforehand: outside strings only ASCII tokens are read, and a string with a byte past
//! ASCII is checked as UTF-8 when it is read, so plain ASCII bodies pay no separate pass.

use super::{Additional, Node, ARRAY, OBJECT};

/// Deeper documents are left to the full parser (serde_json stops at 128).
const MAX_DEPTH: usize = 64;

type Renames = [(Box<str>, Box<str>)];

/// Whether `text` is one document that `node` accepts, with none of the `renamed` names at its
/// top level.
pub(super) fn holds(text: &[u8], node: &Node, renamed: &Renames) -> bool {
    let mut scan = Scan { text, at: 0, depth: 0 };
    scan.value(node, renamed).is_some() && {
        scan.space();
        scan.at == text.len()
    }
}

struct Scan<'t> {
    text: &'t [u8],
    at: usize,
    depth: usize,
}

/// Checks every value the schema does not describe (an open object's other members, an
/// array's items when `items` is not given).
const ANY: &Node = &Node::any();

impl<'t> Scan<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Takes `byte` (after whitespace).
    fn take(&mut self, byte: u8) -> Option<()> {
        self.space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn value(&mut self, node: &Node, renamed: &Renames) -> Option<()> {
        self.space();
        let ok = match self.peek()? {
            b'{' => return self.object(node, renamed),
            b'[' => return self.array(node),
            b'"' => {
                let s = self.string()?;
                node.string(s)
            }
            b't' => self.word(b"true")? && node.boolean(true),
            b'f' => self.word(b"false")? && node.boolean(false),
            b'n' => self.word(b"null")? && node.null(),
            b'-' | b'0'..=b'9' => self.integer(node)?,
            _ => false,
        };
        ok.then_some(())
    }

    fn word(&mut self, word: &[u8]) -> Option<bool> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            true
        })
    }

    /// A string without escapes, its quotes taken: its bytes, valid UTF-8.
    fn string(&mut self) -> Option<&'t [u8]> {
        let bytes = self.text;
        let start = self.at + 1;
        let mut end = start + stop::<true>(&bytes[start..])?;
        let ascii = bytes[end] < 0x80;
        if !ascii {
            end += stop::<false>(&bytes[end..])?;
        }
        (bytes[end] == b'"').then_some(())?;
        let s = &bytes[start..end];
        if !ascii {
            std::str::from_utf8(s).ok()?;
        }
        self.at = end + 1;
        Some(s)
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits, followed by none of `.eE`.
    fn integer(&mut self, node: &Node) -> Option<bool> {
        let bytes = self.text;
        let negative = bytes[self.at] == b'-';
        let start = self.at + usize::from(negative);
        let digits = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 18 || (digits > 1 && bytes[start] == b'0') {
            return None;
        }
        let end = start + digits;
        if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let magnitude = bytes[start..end].iter().fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        if negative && magnitude == 0 {
            return None;
        }
        self.at = end;
        let value = if negative {
            -(magnitude as f64)
        } else {
            magnitude as f64
        };
        Some(node.integer(magnitude, value))
    }

    /// The members of an array or an object, after its opening bracket, up to `close`: `each`
    /// reads one member, the commas between them are taken here (none after the last).
    fn members(&mut self, close: u8, mut each: impl FnMut(&mut Scan<'t>) -> Option<()>) -> Option<()> {
        self.depth += 1;
        self.at += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.space();
        if self.peek()? == close {
            self.at += 1;
        } else {
            loop {
                each(self)?;
                self.space();
                match self.peek()? {
                    b',' => self.at += 1,
                    b if b == close => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self, node: &Node) -> Option<()> {
        if node.types & ARRAY == 0 || node.enumerated.is_some() {
            return None;
        }
        let item = node.items.as_deref().unwrap_or(ANY);
        let mut n = 0usize;
        self.members(b']', |scan| {
            scan.value(item, &[])?;
            n += 1;
            node.max_items.is_none_or(|max| n <= max).then_some(())
        })?;
        node.min_items.is_none_or(|min| n >= min).then_some(())
    }

    fn object(&mut self, node: &Node, renamed: &Renames) -> Option<()> {
        if node.types & OBJECT == 0 || node.enumerated.is_some() {
            return None;
        }
        let mut seen = 0u64;
        // Names the schema does not list, kept only to refuse one given twice.
        let mut others: Vec<&'t [u8]> = Vec::new();
        self.members(b'}', |scan| {
            scan.space();
            if scan.peek()? != b'"' {
                return None;
            }
            let name = scan.string()?;
            if renamed.iter().any(|(old, _)| old.as_bytes() == name) {
                return None;
            }
            let value = match node.property(name) {
                Some(at) => {
                    let bit = 1u64 << at;
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    &node.properties[at].1
                }
                None => {
                    if others.contains(&name) {
                        return None;
                    }
                    others.push(name);
                    match &node.additional {
                        Additional::Any => ANY,
                        Additional::Schema(schema) => schema,
                        Additional::Never => return None,
                    }
                }
            };
            scan.take(b':')?;
            scan.value(value, &[])
        })?;
        (seen & node.required == node.required).then_some(())
    }
}

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// Where a string's text stops: the first `"`, `\` or control character, and with `HIGH` also
/// the first byte past ASCII (None: none before the end). Eight bytes at a time: a word's
/// lowest flagged byte is exact (a borrow only flags bytes above a real match).
fn stop<const HIGH: bool>(bytes: &[u8]) -> Option<usize> {
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let equal = |word: u64, b: u8| below(word ^ (ONES * u64::from(b)), 1);
    let flags = |b: u8| b == b'"' || b == b'\\' || b < 0x20 || (HIGH && b >= 0x80);
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let high = if HIGH { word & HIGHS } else { 0 };
        let flagged = equal(word, b'"') | equal(word, b'\\') | below(word, 0x20) | high;
        if flagged != 0 {
            return Some(at + (flagged.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words.remainder().iter().position(|&b| flags(b)).map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::stop;

    proptest! {
        /// The word-at-a-time search finds what a byte-at-a-time one does.
        #[test]
        fn stop_is_the_first_quote_backslash_or_control(
            bytes in proptest::collection::vec(prop_oneof![12 => 0x23u8..=0xff, 1 => any::<u8>()], 0..40)
        ) {
            let plain = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(stop::<false>(&bytes), plain);
            let ascii = bytes.iter().position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b));
            prop_assert_eq!(stop::<true>(&bytes), ascii);
        }
    }
}
