//! SML over TCP: ser2net, ESP bridges and other raw byte forwarders.

use tokio::net::TcpStream;

use super::{MeterDecoder, Wording, keep_reading};
use crate::sink::Sink;

pub async fn run(id: &str, address: &str, mut decoder: MeterDecoder, sink: Sink) {
    let words = Wording {
        what: "the SML bridge",
        open_hint: "Is the bridge on and the address (tcp: host:port) right?",
        silent_hint: "Reconnecting, in case the bridge lost its side of the connection.",
    };
    let open = || async {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    };
    keep_reading(id, address, words, open, &mut decoder, &sink).await;
}
