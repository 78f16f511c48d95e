//! Asking the price services for a day's prices: Energy-Charts (no account), aWATTar (DE or
//! AT), Tibber (a token). The answers are read by [`crate::control::prices::sources`].

use std::time::Duration;

use jiff::civil::Date;

use crate::control::prices::sources;
use crate::control::prices::{Slot, Source, berlin};

/// Energy-Charts asks to be credited for its data (CC BY 4.0).
pub const ENERGY_CHARTS_CREDIT: &str =
    "Prices: Bundesnetzagentur | SMARD.de via Energy-Charts (Fraunhofer ISE), CC BY 4.0";

/// Why a fetch failed, so the caller can wait as long as the service asks.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    /// HTTP 429: try again after this long (the service's Retry-After, else a minute).
    RateLimited(Duration),
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::RateLimited(d) => write!(
                f,
                "the service asks to wait {} s before asking again (HTTP 429)",
                d.as_secs()
            ),
            FetchError::Failed(why) => f.write_str(why),
        }
    }
}

/// The slots from the local midnight of `from` to the one after `to`.
pub async fn fetch(
    client: &reqwest::Client,
    source: &Source,
    url: &str,
    from: Date,
    to: Date,
) -> Result<Vec<Slot>, FetchError> {
    let midnight = |d: Date| {
        d.to_zoned_datetime(berlin())
            .map(|z| z.timestamp().as_second())
            .map_err(|e| FetchError::Failed(format!("no local midnight on {d}: {e}")))
    };
    let (start, end) = (midnight(from)?, midnight(to.tomorrow().unwrap_or(to))?);
    let base = url.trim_end_matches('/');
    let request = match source {
        // Energy-Charts takes local dates; the slots outside the day are dropped below.
        Source::EnergyCharts { zone } => {
            client.get(format!("{base}/price?bzn={zone}&start={from}&end={to}"))
        }
        Source::Awattar { .. } => client.get(format!(
            "{base}/v1/marketdata?start={}&end={}",
            start * 1000,
            end * 1000
        )),
        Source::Tibber { token } => {
            let query = "{ viewer { homes { currentSubscription { priceInfo(resolution: QUARTER_HOURLY) { today { total energy tax startsAt currency } tomorrow { total energy tax startsAt currency } } } } } }";
            client
                .post(base)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::json!({ "query": query }).to_string())
        }
    };
    let response = request
        .send()
        .await
        .map_err(|e| FetchError::Failed(format!("{base}: {}", crate::http::why(&e))))?;
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(60);
        return Err(FetchError::RateLimited(Duration::from_secs(wait)));
    }
    let body = response
        .text()
        .await
        .map_err(|e| FetchError::Failed(format!("{base}: {}", crate::http::why(&e))))?;
    if !status.is_success() {
        return Err(FetchError::Failed(format!("{base} answered {status}")));
    }
    let slots = match source {
        Source::EnergyCharts { .. } => sources::energy_charts(&body),
        Source::Awattar { .. } => sources::awattar(&body),
        Source::Tibber { .. } => sources::tibber(&body),
    }
    .map_err(|e| FetchError::Failed(format!("{base}: {e}")))?;
    Ok(slots
        .into_iter()
        .filter(|s| s.start_s >= start && s.start_s < end)
        .collect())
}
