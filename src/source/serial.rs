//! SML from a serial port: an IR reading head on USB, or an RS-485 adapter.

use tokio_serial::{DataBits, Parity, SerialPortBuilderExt, StopBits};

use super::{MeterDecoder, Wording, keep_reading};
use crate::config::SerialFormat;
use crate::sink::Sink;

pub async fn run(
    id: &str,
    port: &str,
    baud: u32,
    format: SerialFormat,
    mut decoder: MeterDecoder,
    sink: Sink,
) {
    let (bits, parity) = match format {
        SerialFormat::EightN1 => (DataBits::Eight, Parity::None),
        SerialFormat::SevenE1 => (DataBits::Seven, Parity::Even),
    };
    let words = Wording {
        what: "the serial port",
        open_hint: "Is the reading head plugged in and the path right? In the add-on, pick the \
                    device under Configuration.",
        silent_hint: "Check that the reading head sits on the meter's optical interface and that \
                      the meter's IR output is on.",
    };
    let open = || async {
        tokio_serial::new(port, baud)
            .data_bits(bits)
            .parity(parity)
            .stop_bits(StopBits::One)
            .open_native_async()
            .map_err(std::io::Error::from)
    };
    keep_reading(id, port, words, open, &mut decoder, &sink).await;
}
