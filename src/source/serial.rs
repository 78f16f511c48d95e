//! SML from a serial port: an IR reading head on USB, or an RS-485 adapter.

use tokio_serial::{DataBits, Parity, SerialPortBuilderExt, StopBits};

use super::{Backoff, Ended, MeterDecoder, Sink, pump};
use crate::config::SerialFormat;

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
    let mut backoff = Backoff::new();
    let mut failed_before = false;
    loop {
        let opened = tokio_serial::new(port, baud)
            .data_bits(bits)
            .parity(parity)
            .stop_bits(StopBits::One)
            .open_native_async();
        match opened {
            Ok(stream) => {
                tracing::info!(meter = %id, %port, baud, "Reading the meter from the serial port.");
                failed_before = false;
                backoff.reset();
                let ended = pump(stream, &mut decoder, &sink).await;
                decoder.reset();
                match ended {
                    Ended::CoreGone => return,
                    Ended::Silent => {
                        tracing::warn!(meter = %id, %port, "No data from the reading head for {} s. Check that it sits on the meter's optical interface and that the meter's IR output is on.", super::SILENCE.as_secs())
                    }
                    Ended::Closed => {
                        tracing::warn!(meter = %id, %port, "The serial port closed; reopening.")
                    }
                    Ended::Failed(e) => {
                        tracing::warn!(meter = %id, %port, "Reading the serial port failed: {e}; reopening.")
                    }
                }
            }
            Err(e) => {
                if !failed_before {
                    tracing::error!(meter = %id, %port, "Cannot open the serial port: {e}. Is the reading head plugged in and the path right? In the add-on, pick the device under Configuration. Retrying.");
                }
                failed_before = true;
            }
        }
        backoff.wait().await;
    }
}
