//! The day's price service: a loopback HTTP server that answers Energy-Charts' `/price` the
//! way the real one does (quarter hours of the local days asked for, EUR/MWh), with the
//! house's price curve in place of the market's.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::control::prices::berlin;

pub async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(answer(stream));
    }
}

async fn answer(mut s: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // The request head is all the service needs; it ends with an empty line.
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        if len == buf.len() {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]).into_owned();
    let (status, body) = match body_for(head.lines().next().unwrap_or_default()) {
        Some(body) => ("200 OK", body),
        None => (
            "400 Bad Request",
            "{\"error\":\"start and end dates needed\"}".into(),
        ),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(reply.as_bytes()).await;
}

/// The answer to `GET /price?bzn=…&start=YYYY-MM-DD&end=YYYY-MM-DD`: every quarter hour from
/// the start's local midnight to the midnight after the end.
fn body_for(request_line: &str) -> Option<String> {
    let date = |key: &str| {
        request_line
            .split(['?', '&', ' '])
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
    };
    let (from, to) = (date("start")?, date("end")?);
    let midnight = |d: jiff::civil::Date| d.to_zoned_datetime(berlin()).ok();
    let (start, end) = (midnight(from)?, midnight(to.tomorrow().ok()?)?);
    let (start_s, end_s) = (start.timestamp().as_second(), end.timestamp().as_second());
    let starts: Vec<i64> = (start_s..end_s).step_by(900).collect();
    let prices: Vec<f64> = starts
        .iter()
        .map(|&s| {
            let local = jiff::Timestamp::from_second(s)
                .map(|t| t.to_zoned_datetime(berlin()))
                .ok();
            let hour = local.map_or(0.0, |z| f64::from(z.hour()) + f64::from(z.minute()) / 60.0);
            super::house::spot_eur_mwh(hour)
        })
        .collect();
    Some(
        serde_json::json!({
            "license_info": "CC BY 4.0 (demo prices, not the market's)",
            "unix_seconds": starts,
            "price": prices,
            "unit": "EUR / MWh",
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_96_quarter_hours_from_local_midnight() {
        let body = body_for("GET /price?bzn=DE-LU&start=2026-06-24&end=2026-06-24 HTTP/1.1");
        let json: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        let starts = json["unix_seconds"].as_array().unwrap();
        assert_eq!(starts.len(), 96);
        // 24 June 2026, 00:00 CEST.
        assert_eq!(starts[0], 1_782_252_000);
        assert_eq!(json["price"][12], super::super::house::spot_eur_mwh(3.0));
        assert_eq!(body_for("GET /price HTTP/1.1"), None);
    }
}
