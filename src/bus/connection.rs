//! One physical Modbus connection (a TCP socket, a serial line, or a gateway), shared by every
//! unit id behind it. Requests are made one at a time by the task that owns the bus.
//!
//! tokio-modbus has no request timeout and no reconnect; both live here. After a timeout the
//! connection is dropped and rebuilt, because a late reply would otherwise be taken as the
//! answer to the next request. A device exception (IllegalDataAddress, busy) is an answer: the
//! connection stays.

use std::time::Duration;

use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};

use crate::modbus::Transport;
use crate::modbus::value::Fc;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The device answered with an exception; the connection is fine.
    #[error("the device answered {0:?}")]
    Exception(ExceptionCode),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
}

pub struct Bus {
    pub transport: Transport,
    ctx: Option<Context>,
    /// Longest delay any device on this bus needs after connecting (Huawei: about 1.5 s).
    pub connect_delay: Duration,
    /// The last request got an answer that was not Modbus, rather than none.
    garbled: bool,
}

impl Bus {
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            ctx: None,
            connect_delay: Duration::ZERO,
            garbled: false,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.ctx.is_some()
    }

    pub fn disconnect(&mut self) {
        self.ctx = None;
    }

    async fn connect(&mut self) -> Result<&mut Context, ReadError> {
        if self.ctx.is_none() {
            let ctx = match &self.transport {
                Transport::Tcp(addr) => tokio_modbus::client::tcp::attach(tcp(addr).await?),
                Transport::RtuOverTcp(addr) => tokio_modbus::client::rtu::attach(tcp(addr).await?),
                Transport::Rtu {
                    path,
                    baud,
                    parity,
                    data_bits,
                    stop_bits,
                } => {
                    use tokio_serial::SerialPortBuilderExt;
                    let port = tokio_serial::new(path, *baud)
                        .parity(match parity {
                            'E' => tokio_serial::Parity::Even,
                            'O' => tokio_serial::Parity::Odd,
                            _ => tokio_serial::Parity::None,
                        })
                        .data_bits(match data_bits {
                            5 => tokio_serial::DataBits::Five,
                            6 => tokio_serial::DataBits::Six,
                            7 => tokio_serial::DataBits::Seven,
                            _ => tokio_serial::DataBits::Eight,
                        })
                        .stop_bits(if *stop_bits == 2 {
                            tokio_serial::StopBits::Two
                        } else {
                            tokio_serial::StopBits::One
                        })
                        .open_native_async()
                        .map_err(|e| ReadError::Transport(format!("cannot open {path}: {e}")))?;
                    tokio_modbus::client::rtu::attach(port)
                }
            };
            if !self.connect_delay.is_zero() {
                tokio::time::sleep(self.connect_delay).await;
            }
            self.ctx = Some(ctx);
        }
        self.ctx
            .as_mut()
            .ok_or_else(|| ReadError::Transport("not connected".into()))
    }

    /// Reads `count` registers from `unit`, within `timeout`.
    pub async fn read(
        &mut self,
        unit: u8,
        fc: Fc,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<Vec<u16>, ReadError> {
        // A garbled answer (noise on a gateway, a device that mixes up its frames) is asked
        // again once on a fresh connection: one bad frame must not cost a whole poll, nor a
        // SunSpec discovery its chain. A timeout is not repeated; it would only wait again.
        match self.read_once(unit, fc, start, count, timeout).await {
            Err(ReadError::Transport(why)) if self.garbled => {
                tracing::debug!(unit, start, count, %why, "A garbled answer; asking again.");
                self.read_once(unit, fc, start, count, timeout).await
            }
            other => other,
        }
    }

    async fn read_once(
        &mut self,
        unit: u8,
        fc: Fc,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<Vec<u16>, ReadError> {
        self.garbled = false;
        let ctx = self.connect().await?;
        ctx.set_slave(Slave(unit));
        let request = async {
            let bits = |r: Result<Result<Vec<bool>, _>, _>| {
                r.map(|r| r.map(|bits: Vec<bool>| bits.into_iter().map(u16::from).collect()))
            };
            match fc {
                Fc::Coil => bits(ctx.read_coils(start, count).await),
                Fc::Discrete => bits(ctx.read_discrete_inputs(start, count).await),
                Fc::Holding => ctx.read_holding_registers(start, count).await,
                Fc::Input => ctx.read_input_registers(start, count).await,
            }
        };
        let result = tokio::time::timeout(timeout, request).await;
        let words = self.settle(result, timeout)?;
        if words.len() != usize::from(count) {
            self.ctx = None;
            self.garbled = true;
            return Err(ReadError::Transport(format!(
                "asked for {count} registers, got {}",
                words.len()
            )));
        }
        Ok(words)
    }

    /// Writes `words` at `address` of `unit` with function code 6 (one word) or 16.
    pub async fn write(
        &mut self,
        unit: u8,
        fc: u8,
        address: u16,
        words: &[u16],
        timeout: Duration,
    ) -> Result<(), ReadError> {
        let ctx = self.connect().await?;
        ctx.set_slave(Slave(unit));
        let request = async {
            match (fc, words) {
                (6, [word]) => ctx.write_single_register(address, *word).await,
                _ => ctx.write_multiple_registers(address, words).await,
            }
        };
        let result = tokio::time::timeout(timeout, request).await;
        self.settle(result, timeout)
    }

    /// The outcome of a request: a timeout or a broken connection drops the connection, so a
    /// late reply is never taken for the next answer; an exception is an answer and keeps it.
    fn settle<T>(
        &mut self,
        result: Result<tokio_modbus::Result<T>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> Result<T, ReadError> {
        match result {
            Err(_) => {
                self.ctx = None;
                Err(ReadError::Timeout(timeout))
            }
            Ok(Err(e)) => {
                self.ctx = None;
                // Noise or a mismatched header, not a closed connection: a dropped link must
                // reach the device's owner, which sets the device up again.
                self.garbled = match &e {
                    tokio_modbus::Error::Protocol(_) => true,
                    tokio_modbus::Error::Transport(io) => {
                        io.kind() == std::io::ErrorKind::InvalidData
                    }
                };
                Err(ReadError::Transport(e.to_string()))
            }
            Ok(Ok(Err(code))) => Err(ReadError::Exception(code)),
            Ok(Ok(Ok(v))) => Ok(v),
        }
    }
}

async fn tcp(addr: &str) -> Result<tokio::net::TcpStream, ReadError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| ReadError::Transport(format!("connecting to {addr} timed out")))?
        .map_err(|e| ReadError::Transport(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
