//! SML messages inside a frame: open, get-list, attention and close responses.
//!
//! Each message is checked and interpreted on its own, so one bad message never costs the others.
//! A message checksum mismatch is reported but the message is still used: the transport checksum
//! has already proven the bytes intact, and captures show meters (and anonymised test frames)
//! whose message checksums are off while every value is right.

use super::crc::{self, Checksum};
use super::tlv::{Node, Reader, TlvError};

const TAG_OPEN_RESPONSE: u32 = 0x0101;
const TAG_CLOSE_RESPONSE: u32 = 0x0201;
const TAG_GET_LIST_RESPONSE: u32 = 0x0701;
const TAG_ATTENTION_RESPONSE: u32 = 0xff01;

#[derive(Debug, Clone, PartialEq)]
pub enum Body<'a> {
    Open,
    Close,
    GetList(GetList<'a>),
    Attention { number: &'a [u8] },
    Other(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct GetList<'a> {
    pub server_id: &'a [u8],
    pub entries: Vec<Entry<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub obis: [u8; 6],
    pub status: Option<u64>,
    pub unit: Option<u8>,
    pub scaler: Option<i8>,
    pub value: Node<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message {index}: {source}")]
    Tlv { index: usize, source: TlvError },
    #[error("message {index}: not an SML message (expected a list of 6 at byte {at})")]
    Shape { index: usize, at: usize },
    #[error("message {index}: get-list response is malformed ({what})")]
    GetList { index: usize, what: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub index: usize,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct File<'a> {
    pub bodies: Vec<Body<'a>>,
    pub errors: Vec<MessageError>,
    pub warnings: Vec<Warning>,
}

/// Parses all messages of a frame payload (or a bare message sequence).
pub fn parse(payload: &[u8]) -> File<'_> {
    let mut file = File::default();
    let mut r = Reader::new(payload);
    let mut index = 0;
    loop {
        // Zero bytes between and after messages are fill (end-of-message markers and padding).
        while r.peek() == Some(0) {
            r.skip(1);
        }
        if r.is_empty() {
            break;
        }
        match message(&mut r, payload, index) {
            Ok((body, mismatch)) => {
                if let Some(what) = mismatch {
                    file.warnings.push(Warning { index, what });
                }
                file.bodies.push(body);
            }
            Err(e) => {
                let fatal = matches!(e, MessageError::Tlv { .. });
                file.errors.push(e);
                if fatal {
                    // Without a valid length the start of the next message is unknown.
                    break;
                }
            }
        }
        index += 1;
    }
    file
}

fn message<'a>(
    r: &mut Reader<'a>,
    payload: &'a [u8],
    index: usize,
) -> Result<(Body<'a>, Option<String>), MessageError> {
    let start = r.pos();
    let tlv = |source| MessageError::Tlv { index, source };
    if r.peek() != Some(0x76) {
        // Not a message: skip this value whole, so the next one is read from its start.
        r.node().map_err(tlv)?;
        return Err(MessageError::Shape { index, at: start });
    }
    r.skip(1);
    let mut fields = Vec::with_capacity(4);
    for _ in 0..4 {
        fields.push(r.node().map_err(tlv)?);
    }
    let crc_at = r.pos();
    let sent = r.node().map_err(tlv)?.as_u64();
    if r.peek() == Some(0) {
        r.skip(1);
    }
    let mismatch = check_crc(&payload[start..crc_at], sent);
    let body = interpret(&fields[3], index)?;
    Ok((body, mismatch))
}

fn check_crc(span: &[u8], sent: Option<u64>) -> Option<String> {
    let sent = sent.and_then(|s| u16::try_from(s).ok())?;
    match crc::identify(span, sent) {
        Some(Checksum::X25 | Checksum::Kermit) => None,
        None => Some(format!(
            "message checksum mismatch (sent {sent:#06x}, X.25 {:#06x}); values kept because the frame checksum is valid",
            crc::x25(span)
        )),
    }
}

fn interpret<'a>(body: &Node<'a>, index: usize) -> Result<Body<'a>, MessageError> {
    let shape = |what| MessageError::GetList { index, what };
    let Some([tag, content]) = body.as_list().and_then(|l| <&[Node; 2]>::try_from(l).ok()) else {
        return Ok(Body::Other(0));
    };
    let tag = tag
        .as_u64()
        .and_then(|t| u32::try_from(t).ok())
        .unwrap_or(0);
    Ok(match tag {
        TAG_OPEN_RESPONSE => Body::Open,
        TAG_CLOSE_RESPONSE => Body::Close,
        TAG_ATTENTION_RESPONSE => {
            let number = content
                .as_list()
                .and_then(|l| l.get(1))
                .and_then(Node::as_bytes)
                .unwrap_or_default();
            Body::Attention { number }
        }
        TAG_GET_LIST_RESPONSE => {
            let fields = content.as_list().ok_or(shape("body is not a list"))?;
            let server_id = fields
                .get(1)
                .and_then(Node::as_bytes)
                .ok_or(shape("no server id"))?;
            let list = fields
                .get(4)
                .and_then(Node::as_list)
                .ok_or(shape("no value list"))?;
            let entries = list.iter().filter_map(entry).collect();
            Body::GetList(GetList { server_id, entries })
        }
        other => Body::Other(other),
    })
}

/// One value-list entry; entries without a 6-byte OBIS name are skipped.
fn entry<'a>(node: &Node<'a>) -> Option<Entry<'a>> {
    let f = node.as_list()?;
    let obis: [u8; 6] = f.first()?.as_bytes()?.try_into().ok()?;
    Some(Entry {
        obis,
        status: f.get(1).and_then(Node::as_u64),
        unit: f
            .get(3)
            .and_then(Node::as_u64)
            .and_then(|u| u8::try_from(u).ok()),
        scaler: f
            .get(4)
            .and_then(Node::as_i64)
            .and_then(|s| i8::try_from(s).ok()),
        value: f.get(5).cloned().unwrap_or(Node::Absent),
    })
}
