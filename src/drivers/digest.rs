//! HTTP digest authentication with SHA-256 (RFC 7616), as Shelly devices from the second
//! generation on require once a password is set. Pure: the caller brings the challenge, the
//! counter and the client nonce.

use ring::digest::{SHA256, digest};

/// What the device's `WWW-Authenticate: Digest ...` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
}

impl Challenge {
    /// Parses a digest challenge; `None` for another scheme, another algorithm than SHA-256,
    /// or one without realm and nonce.
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header.trim().strip_prefix("Digest")?;
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = None;
        for part in split_params(rest) {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "opaque" => opaque = Some(value),
                "algorithm" => algorithm = Some(value),
                _ => {}
            }
        }
        if algorithm.is_some_and(|a| !a.eq_ignore_ascii_case("SHA-256")) {
            return None;
        }
        Some(Self {
            realm: realm?,
            nonce: nonce?,
            opaque,
        })
    }

    /// The `Authorization` header for one request.
    pub fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let ha1 = hex_sha256(&format!("{user}:{}:{password}", self.realm));
        let ha2 = hex_sha256(&format!("{method}:{uri}"));
        let nc = format!("{nc:08x}");
        let response = hex_sha256(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce));
        let mut header = format!(
            r#"Digest username="{user}", realm="{}", uri="{uri}", algorithm=SHA-256, nonce="{}", nc={nc}, cnonce="{cnonce}", qop=auth, response="{response}""#,
            self.realm, self.nonce
        );
        if let Some(opaque) = &self.opaque {
            header.push_str(&format!(r#", opaque="{opaque}""#));
        }
        header
    }
}

/// Splits `a="x, y", b=z` at the commas outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn hex_sha256(text: &str) -> String {
    digest(&SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-256 example of RFC 7616, section 3.9.1.
    #[test]
    fn the_rfc_example_gives_the_rfc_response() {
        let challenge = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        assert_eq!(challenge.realm, "http-auth@example.org");
        let header = challenge.authorization(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert!(
            header.contains(
                r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#
            ),
            "{header}"
        );
        assert!(header.ends_with(r#"opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#));
    }

    #[test]
    fn other_schemes_and_algorithms_are_not_taken() {
        assert_eq!(Challenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(
            Challenge::parse(r#"Digest realm="x", nonce="n", algorithm=MD5"#),
            None
        );
        assert_eq!(
            Challenge::parse(r#"Digest qop="auth", realm="shellyplus1-a8032ab1", nonce="66e2"#),
            Some(Challenge {
                realm: "shellyplus1-a8032ab1".into(),
                nonce: "66e2".into(),
                opaque: None
            })
        );
    }
}
