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

use super::profile::Fc;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp(String),
    RtuOverTcp(String),
    Rtu {
        path: String,
        baud: u32,
        parity: char,
        data_bits: u8,
        stop_bits: u8,
    },
}

impl Transport {
    /// Parses `tcp://host:port`, `rtuovertcp://host:port` or
    /// `rtu:///dev/ttyUSB0?baud=9600&parity=N&data_bits=8&stop_bits=1`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("'{url}' is not an address; use tcp://host:port, rtuovertcp://host:port or rtu:///dev/ttyUSB0?baud=9600"))?;
        let host_port = |rest: &str| -> Result<String, String> {
            let rest = rest.trim_end_matches('/');
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {
                    Ok(rest.to_string())
                }
                _ if !rest.is_empty() && !rest.contains(':') => Ok(format!("{rest}:502")),
                _ => Err(format!(
                    "'{url}' needs host:port, e.g. {scheme}://192.168.1.20:502"
                )),
            }
        };
        match scheme {
            "tcp" => Ok(Self::Tcp(host_port(rest)?)),
            "rtuovertcp" => Ok(Self::RtuOverTcp(host_port(rest)?)),
            "rtu" => {
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                if !path.starts_with('/') {
                    return Err(format!(
                        "'{url}' needs a device path, e.g. rtu:///dev/ttyUSB0?baud=9600"
                    ));
                }
                let (mut baud, mut parity, mut data_bits, mut stop_bits) = (9600, 'N', 8, 1);
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let bad = || format!("'{url}': '{pair}' is not valid");
                    match k {
                        "baud" => baud = v.parse().ok().filter(|b| *b >= 300).ok_or_else(bad)?,
                        "parity" => {
                            parity = v
                                .chars()
                                .next()
                                .map(|c| c.to_ascii_uppercase())
                                .filter(|c| "NEO".contains(*c))
                                .ok_or_else(bad)?
                        }
                        "data_bits" => {
                            data_bits = v
                                .parse()
                                .ok()
                                .filter(|b| (5..=8).contains(b))
                                .ok_or_else(bad)?
                        }
                        "stop_bits" => {
                            stop_bits = v
                                .parse()
                                .ok()
                                .filter(|b| (1..=2).contains(b))
                                .ok_or_else(bad)?
                        }
                        _ => {
                            return Err(format!(
                                "'{url}': unknown setting '{k}'; use baud, parity, data_bits, stop_bits"
                            ));
                        }
                    }
                }
                Ok(Self::Rtu {
                    path: path.to_string(),
                    baud,
                    parity,
                    data_bits,
                    stop_bits,
                })
            }
            other => Err(format!(
                "'{url}': unknown scheme '{other}'; use tcp, rtuovertcp or rtu"
            )),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp://{a}"),
            Self::RtuOverTcp(a) => write!(f, "rtuovertcp://{a}"),
            Self::Rtu {
                path, baud, parity, ..
            } => write!(f, "rtu://{path}?baud={baud}&parity={parity}"),
        }
    }
}

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
}

impl Bus {
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            ctx: None,
            connect_delay: Duration::ZERO,
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
        let ctx = self.connect().await?;
        ctx.set_slave(Slave(unit));
        let request = async {
            match fc {
                Fc::Holding => ctx.read_holding_registers(start, count).await,
                Fc::Input => ctx.read_input_registers(start, count).await,
            }
        };
        let result = tokio::time::timeout(timeout, request).await;
        match self.settle(result, timeout)? {
            words if words.len() != usize::from(count) => {
                self.ctx = None;
                Err(ReadError::Transport(format!(
                    "asked for {count} registers, got {}",
                    words.len()
                )))
            }
            words => Ok(words),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_what_is_wrong() {
        assert_eq!(
            Transport::parse("tcp://10.0.0.5:502"),
            Ok(Transport::Tcp("10.0.0.5:502".into()))
        );
        assert_eq!(
            Transport::parse("tcp://inverter"),
            Ok(Transport::Tcp("inverter:502".into()))
        );
        assert_eq!(
            Transport::parse("rtuovertcp://gw:8899"),
            Ok(Transport::RtuOverTcp("gw:8899".into()))
        );
        assert_eq!(
            Transport::parse("rtu:///dev/ttyUSB0?baud=19200&parity=E"),
            Ok(Transport::Rtu {
                path: "/dev/ttyUSB0".into(),
                baud: 19200,
                parity: 'E',
                data_bits: 8,
                stop_bits: 1
            })
        );
        assert!(
            Transport::parse("10.0.0.5:502")
                .unwrap_err()
                .contains("use tcp://host:port")
        );
        assert!(
            Transport::parse("udp://x:1")
                .unwrap_err()
                .contains("unknown scheme 'udp'")
        );
        assert!(
            Transport::parse("rtu:///dev/ttyUSB0?speed=9600")
                .unwrap_err()
                .contains("unknown setting 'speed'")
        );
        assert!(Transport::parse("tcp://host:0").is_err());
    }
}
