//! HTTP as the edges use it to reach devices and bridges in the home: what went wrong, in words
//! that say what to check. reqwest's own text ("error sending request for url") hides the cause
//! in its chain of sources.

use std::error::Error as _;
use std::io::ErrorKind;

/// Linux's EINPROGRESS: a connection attempt that never completed, which some layers report
/// instead of the refusal or timeout behind it.
const IN_PROGRESS: i32 = 115;

/// Why a request failed, with what to check.
pub fn why(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time: is the device on, and is the address right?".into();
    }
    if e.is_redirect() {
        let to = e
            .url()
            .map(|u| format!(" (last to {u})"))
            .unwrap_or_default();
        return format!(
            "it redirects in a loop{to}: is the address right, or does the device want https?"
        );
    }
    // The innermost I/O error says what happened on the wire.
    let mut io = None;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(i) = s.downcast_ref::<std::io::Error>() {
            io = Some(i);
        }
        source = s.source();
    }
    match io {
        Some(i) if i.kind() == ErrorKind::ConnectionRefused => {
            "connection refused: nothing listens at that address (is the device on, is the port right?)".into()
        }
        Some(i) if i.kind() == ErrorKind::TimedOut || i.raw_os_error() == Some(IN_PROGRESS) => {
            "the connection was never answered: is the device on and in this network?".into()
        }
        Some(i) if matches!(i.kind(), ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable) => {
            format!("the address cannot be reached from here ({i})")
        }
        Some(i) => i.to_string(),
        None if e.is_connect() => "cannot connect (the host name may not resolve)".into(),
        None => e.to_string(),
    }
}
