//! SML (Smart Message Language): the push protocol of German electricity meters.
//!
//! Layers, each usable alone: [`frame`] finds frames in a byte stream, [`tlv`] and [`message`]
//! parse their content, [`telegram`] turns it into readings, and [`quirks`] corrects known meter
//! bugs on request. None of them does I/O.

pub mod crc;
pub mod decode;
pub mod frame;
pub mod message;
pub mod obis;
pub mod pacing;
pub mod quirks;
pub mod telegram;
pub mod tlv;

pub use crc::Checksum;
pub use frame::{Frame, FrameError, FrameEvent, Framer};
pub use obis::Obis;
pub use pacing::Pacing;
pub use quirks::{QuirkState, Quirks};
pub use telegram::{Reading, Telegram, Value};
