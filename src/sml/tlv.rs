//! SML type-length-value encoding, parsed into a generic tree.
//!
//! Parsing into a tree first (instead of straight into typed messages) is what makes the decoder
//! tolerant: a time value in an unexpected form, an Attention response or an unknown message body
//! is still a well-formed tree, and the interpretation layer can skip what it does not understand
//! without losing its place in the byte stream.

#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// An optional field that is not set (encoded as the empty octet string `01`).
    Absent,
    Bytes(&'a [u8]),
    Bool(bool),
    /// Signed integer with its encoded width in bytes (the DZG quirk depends on the width).
    Int(i64, u8),
    Unsigned(u64, u8),
    List(Vec<Node<'a>>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("data ends inside a value at byte {0}")]
    UnexpectedEnd(usize),
    #[error("unknown type-length field {tl:#04x} at byte {at}")]
    BadTypeLength { tl: u8, at: usize },
    #[error("list nested deeper than {MAX_DEPTH} levels at byte {0}")]
    TooDeep(usize),
}

const MAX_DEPTH: usize = 16;

impl<'a> Node<'a> {
    pub fn as_list(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Node::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Node::Unsigned(v, _) => Some(v),
            Node::Int(v, _) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Node::Int(v, _) => Some(v),
            Node::Unsigned(v, _) => i64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// A cursor over SML bytes.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn node(&mut self) -> Result<Node<'a>, TlvError> {
        self.node_at_depth(0)
    }

    fn node_at_depth(&mut self, depth: usize) -> Result<Node<'a>, TlvError> {
        let start = self.pos;
        let (kind, len, tl_len) = self.type_length()?;
        match kind {
            0b111 => {
                if depth >= MAX_DEPTH {
                    return Err(TlvError::TooDeep(start));
                }
                let mut items = Vec::with_capacity(len.min(16));
                for _ in 0..len {
                    items.push(self.node_at_depth(depth + 1)?);
                }
                Ok(Node::List(items))
            }
            _ => {
                // For scalars the length counts the type-length bytes themselves.
                let Some(body_len) = len.checked_sub(tl_len) else {
                    return Err(TlvError::BadTypeLength {
                        tl: self.data[start],
                        at: start,
                    });
                };
                let end = self.pos + body_len;
                let body = self
                    .data
                    .get(self.pos..end)
                    .ok_or(TlvError::UnexpectedEnd(start))?;
                self.pos = end;
                scalar(kind, body).ok_or(TlvError::BadTypeLength {
                    tl: self.data[start],
                    at: start,
                })
            }
        }
    }

    /// Reads a possibly multi-byte type-length field: (type bits, length, bytes used).
    fn type_length(&mut self) -> Result<(u8, usize, usize), TlvError> {
        let start = self.pos;
        let first = *self
            .data
            .get(self.pos)
            .ok_or(TlvError::UnexpectedEnd(start))?;
        self.pos += 1;
        let kind = (first >> 4) & 0b111;
        let mut len = usize::from(first & 0x0f);
        let mut more = first & 0x80 != 0;
        while more {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(TlvError::UnexpectedEnd(start))?;
            self.pos += 1;
            if self.pos - start > 4 {
                return Err(TlvError::BadTypeLength {
                    tl: first,
                    at: start,
                });
            }
            len = (len << 4) | usize::from(b & 0x0f);
            more = b & 0x80 != 0;
        }
        Ok((kind, len, self.pos - start))
    }
}

fn scalar(kind: u8, body: &[u8]) -> Option<Node<'_>> {
    let width = u8::try_from(body.len()).ok()?;
    match kind {
        0b000 if body.is_empty() => Some(Node::Absent),
        0b000 => Some(Node::Bytes(body)),
        0b100 => Some(Node::Bool(*body.first()? != 0)),
        0b101 if (1..=8).contains(&body.len()) => {
            // Sign-extend from the encoded width; Integer24/40/48/56 occur on real meters.
            let shift = 64 - 8 * u32::from(width);
            let raw = body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            Some(Node::Int(((raw << shift) as i64) >> shift, width))
        }
        0b110 if (1..=8).contains(&body.len()) => {
            let raw = body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            Some(Node::Unsigned(raw, width))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_sign_extended_from_their_width() {
        // 54 fe 9a 84: Integer24 -91516 (a DZG export power of -915.16 W at scaler -2)
        assert_eq!(
            Reader::new(&[0x54, 0xfe, 0x9a, 0x84]).node(),
            Ok(Node::Int(-91516, 3))
        );
        assert_eq!(
            Reader::new(&[0x53, 0x80, 0xf7]).node(),
            Ok(Node::Int(-32521, 2))
        );
        assert_eq!(
            Reader::new(&[0x63, 0x80, 0xf7]).node(),
            Ok(Node::Unsigned(0x80f7, 2))
        );
    }

    #[test]
    fn multi_byte_lengths_and_empty_optionals() {
        let mut long = vec![0x81, 0x02]; // octet string, 0x12 = 18 bytes including both TL bytes
        long.extend_from_slice(&[0xab; 16]);
        assert_eq!(Reader::new(&long).node(), Ok(Node::Bytes(&[0xab; 16])));
        assert_eq!(Reader::new(&[0x01]).node(), Ok(Node::Absent));
    }

    #[test]
    fn truncation_and_bad_fields_are_errors_not_panics() {
        assert_eq!(
            Reader::new(&[0x72, 0x62]).node(),
            Err(TlvError::UnexpectedEnd(1))
        );
        assert!(Reader::new(&[0x59, 1, 2]).node().is_err());
        assert!(Reader::new(&[0x40]).node().is_err());
        let deep = vec![0x71; 100];
        assert!(matches!(
            Reader::new(&deep).node(),
            Err(TlvError::TooDeep(_))
        ));
    }
}
