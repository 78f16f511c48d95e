//! Text shown to people, in configuration errors and in the log: passwords inside URLs are
//! masked, and control characters escaped so that a value from a file or a device can neither
//! rewrite the terminal nor forge a log line.

use std::borrow::Cow;

/// Keys whose values are never shown.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password", "passwd", "secret", "token", "api_key", "apikey", "psk",
    ]
    .iter()
    .any(|s| key.contains(s))
}

/// `text` with the password of every URL in it masked and its control characters escaped.
pub fn shown(text: &str) -> Cow<'_, str> {
    match mask_credentials(text) {
        Cow::Borrowed(t) => escape_controls(t),
        Cow::Owned(t) => Cow::Owned(escape_controls(&t).into_owned()),
    }
}

/// `http://user:pw@host/` becomes `http://user:***@host/`, wherever a URL stands in `text`.
pub fn mask_credentials(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut done = 0;
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        let end = text[start..]
            .find(|c: char| matches!(c, '/' | '?' | '#' | '\'' | '"' | '`') || c.is_whitespace())
            .map_or(text.len(), |i| start + i);
        from = end.max(start);
        let authority = &text[start..end];
        let Some(at_sign) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..at_sign].find(':') else {
            continue;
        };
        out.push_str(&text[done..start + colon + 1]);
        out.push_str("***");
        done = start + at_sign;
    }
    if done == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[done..]);
        Cow::Owned(out)
    }
}

/// Control characters (newlines, escape sequences) as Rust escapes: `\n`, `\u{1b}`.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_credentials("GET http://admin:s3cr:et@192.168.1.5/rpc failed, see https://x.org"),
            "GET http://admin:***@192.168.1.5/rpc failed, see https://x.org"
        );
        assert_eq!(
            mask_credentials("'http://u:p@a' and 'http://v:q@b:80/'"),
            "'http://u:***@a' and 'http://v:***@b:80/'"
        );
        // A user without a password, and no URL at all, stay as they are.
        assert!(matches!(
            mask_credentials("mqtt://user@host and a:b@c"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(shown("grid\n\u{1b}[31mred"), "grid\\n\\u{1b}[31mred");
        assert_eq!(shown("Zählerstand"), "Zählerstand");
    }

    #[test]
    fn secret_keys_are_known_by_name() {
        assert!(is_secret("password") && is_secret("mqtt_password") && is_secret("token"));
        assert!(!is_secret("user") && !is_secret("host"));
    }
}
