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

/// Asked again after a success, and after this long at most while failing.
const EVERY: Duration = Duration::from_secs(3600);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The next day's prices come early in the afternoon; until they are there, ask this often.
const TOMORROW_EVERY: Duration = Duration::from_secs(900);

/// Fetches today's and tomorrow's prices every hour (every 15 minutes in the afternoon until
/// tomorrow's are there), keeps them in `cache` so that a restart or an outage keeps the known
/// prices, and backs off while the service fails (as long as it asks after a 429).
pub async fn run(source: Source, url: String, cache: std::path::PathBuf, sink: crate::sink::Sink) {
    if let Some(slots) = load(&cache) {
        tracing::info!(
            slots = slots.len(),
            "Prices from the cache until the service answers."
        );
        if sink
            .events
            .send(crate::model::Event::Prices(Ok(slots)))
            .await
            .is_err()
        {
            return;
        }
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("Cannot set up HTTP for prices: {e}");
            return;
        }
    };
    let mut backoff = Duration::from_secs(60);
    loop {
        let now = jiff::Timestamp::now().to_zoned_datetime(berlin());
        let today = now.date();
        let tomorrow = today.tomorrow().unwrap_or(today);
        let (event, wait) = match fetch(&client, &source, &url, today, tomorrow).await {
            Ok(slots) => {
                backoff = Duration::from_secs(60);
                save(&cache, &slots);
                let has_tomorrow = slots
                    .iter()
                    .any(|s| crate::control::prices::local(s.start_s).date() == tomorrow);
                let wait = if !has_tomorrow && now.hour() >= 12 {
                    TOMORROW_EVERY
                } else {
                    EVERY
                };
                tracing::debug!(slots = slots.len(), "Fetched prices.");
                (Ok(slots), wait)
            }
            Err(FetchError::RateLimited(wait)) => {
                (Err(FetchError::RateLimited(wait).to_string()), wait)
            }
            Err(e) => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                (Err(e.to_string()), wait)
            }
        };
        if sink
            .events
            .send(crate::model::Event::Prices(event))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

fn load(path: &std::path::Path) -> Option<Vec<Slot>> {
    let text = std::fs::read_to_string(path).ok()?;
    let rows: Vec<(i64, i64, f64)> = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(file = %path.display(), "The price cache is unreadable ({e}); fetching afresh.");
            return None;
        }
    };
    rows.into_iter()
        .map(|(start, end, eur)| Slot::new(start, end, eur).ok())
        .collect()
}

fn save(path: &std::path::Path, slots: &[Slot]) {
    let rows: Vec<(i64, i64, f64)> = slots
        .iter()
        .map(|s| (s.start_s, s.end_s, s.eur_kwh))
        .collect();
    let json = serde_json::to_string(&rows).unwrap_or_default();
    if let Err(e) = crate::journal::write_atomically(path, json.as_bytes()) {
        tracing::warn!(file = %path.display(), "Cannot keep the prices: {e}.");
    }
}
