//! Where a Modbus bus is: a TCP address, RTU over TCP through a gateway, or a serial line.

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
