//! Who may act: write actions are off unless `DASHBOARD_TOKEN` is set, and then need that
//! token, as `Authorization: Bearer <token>` (scripts, `/api/`) or as the cookie the unlock
//! form sets (the page's buttons).
//!
//! The cookie holds a hash of the token, not the token (a browser's cookie store is not where
//! the secret should sit). It is `SameSite=Strict`, but a site is a host, not a port: a page
//! another local port serves would still send it. So a button's request counts only if its
//! `Origin` is this dashboard's own (browsers send `Origin` with every form POST).

use axum::http::{HeaderMap, StatusCode, header};
use ml_core::model::artifact::sha256_hex;

use crate::pages::PageError;

const COOKIE: &str = "boltfleet_operator";
/// The shortest operator token accepted.
const MIN_TOKEN_CHARS: usize = 12;

/// A configured operator token, checked once.
#[derive(Clone)]
pub struct OperatorToken(String);

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(hidden)")
    }
}

impl OperatorToken {
    /// The token without surrounding whitespace (a secret mounted from a file ends in a
    /// newline); refused if shorter than 12 characters or holding a control character, which
    /// no header could carry.
    pub fn new(token: &str) -> Result<Self, String> {
        let token = token.trim();
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!(
                "DASHBOARD_TOKEN is shorter than {MIN_TOKEN_CHARS} characters: pick a longer one (e.g. openssl rand -hex 16)"
            ));
        }
        if token.chars().any(char::is_control) {
            return Err("DASHBOARD_TOKEN holds a control character: no request could carry it".to_owned());
        }
        Ok(Self(token.to_owned()))
    }
}

fn cookie_value(token: &str) -> String {
    sha256_hex(format!("boltfleet dashboard operator:{token}").as_bytes())
}

/// Compares the texts' digests, in time that depends on neither text.
fn same(given: &str, expected: &str) -> bool {
    let (given, expected) = (sha256_hex(given.as_bytes()), sha256_hex(expected.as_bytes()));
    given.bytes().zip(expected.bytes()).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn texts(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = &str> {
    headers.get_all(name).into_iter().filter_map(|value| value.to_str().ok())
}

/// Whether the request's `Origin` is the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = texts(headers, header::HOST).next();
    let origin = texts(headers, header::ORIGIN).next();
    let origin_host = origin.and_then(|origin| origin.split_once("://")).map(|(_, authority)| authority);
    host.is_some() && origin_host == host
}

/// How a request may prove it is the operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// `Authorization: Bearer`, only: the JSON API.
    Bearer,
    /// The bearer header, or the unlock cookie on a same-origin request: the page's buttons.
    BearerOrCookie,
}

/// Whether the request holds the unlock cookie of `token`.
fn has_cookie(token: &str, headers: &HeaderMap) -> bool {
    let expected_cookie = cookie_value(token);
    texts(headers, header::COOKIE)
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .any(|given| same(given, &expected_cookie))
}

/// Whether the request carries the configured token (never, when none is configured).
pub(crate) fn allowed(token: Option<&OperatorToken>, headers: &HeaderMap, proof: Proof) -> bool {
    let Some(OperatorToken(token)) = token else { return false };
    let mut bearer = texts(headers, header::AUTHORIZATION).filter_map(|value| value.strip_prefix("Bearer "));
    bearer.any(|given| same(given.trim(), token))
        || (proof == Proof::BearerOrCookie && same_origin(headers) && has_cookie(token, headers))
}

/// Whether the reader already unlocked the actions (for showing the buttons; any request
/// they make is checked again).
pub(crate) fn unlocked(token: Option<&OperatorToken>, headers: &HeaderMap) -> bool {
    token.is_some_and(|OperatorToken(token)| has_cookie(token, headers))
}

fn read_only() -> PageError {
    PageError::Refused(
        StatusCode::FORBIDDEN,
        "this dashboard is read-only: write actions need DASHBOARD_TOKEN set where it runs".to_owned(),
    )
}

fn wrong_token() -> PageError {
    PageError::Refused(StatusCode::UNAUTHORIZED, "the operator token is missing or wrong".to_owned())
}

/// Refuses a write action: 403 on a read-only dashboard, 401 without the right token.
pub(crate) fn require(
    token: Option<&OperatorToken>,
    headers: &HeaderMap,
    proof: Proof,
) -> Result<(), PageError> {
    match token {
        None => Err(read_only()),
        Some(_) if allowed(token, headers, proof) => Ok(()),
        Some(_) => Err(wrong_token()),
    }
}

/// The `Set-Cookie` value for an operator who typed `given`, if it is the token.
pub(crate) fn cookie_for(token: Option<&OperatorToken>, given: &str) -> Result<String, PageError> {
    let OperatorToken(token) = token.ok_or_else(read_only)?;
    if !same(given.trim(), token) {
        return Err(wrong_token());
    }
    Ok(format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", cookie_value(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_the_configured_token_lets_an_operator_act() {
        let token = OperatorToken::new(" s3cret-s3cret\n").unwrap();
        let token = Some(&token);
        let bearer = |value: &str| headers(&[(header::AUTHORIZATION, value)]);
        assert!(allowed(token, &bearer("Bearer s3cret-s3cret"), Proof::Bearer), "trimmed at start-up");
        assert!(!allowed(token, &bearer("Bearer s3cret-s3cre"), Proof::Bearer));
        assert!(!allowed(None, &bearer("Bearer s3cret-s3cret"), Proof::Bearer), "no token: read-only");

        let cookie = cookie_for(token, "s3cret-s3cret").unwrap();
        assert!(!cookie.contains("s3cret"), "the cookie holds no secret: {cookie}");
        let pair = cookie.split(';').next().unwrap();
        let with_cookie = |origin: &str| {
            headers(&[
                (header::HOST, "127.0.0.1:8080"),
                (header::ORIGIN, origin),
                (header::COOKIE, &format!("theme=dark; {pair}")),
            ])
        };
        assert!(allowed(token, &with_cookie("http://127.0.0.1:8080"), Proof::BearerOrCookie));
        assert!(
            !allowed(token, &with_cookie("http://127.0.0.1:9999"), Proof::BearerOrCookie),
            "a page of another port sends the cookie too, with its own origin"
        );
        assert!(
            !allowed(token, &with_cookie("http://127.0.0.1:8080"), Proof::Bearer),
            "the API takes no cookie"
        );
        assert!(unlocked(token, &with_cookie("http://127.0.0.1:9999")));
        let other = OperatorToken::new("another-token-here").unwrap();
        assert!(!allowed(Some(&other), &with_cookie("http://127.0.0.1:8080"), Proof::BearerOrCookie));
        assert!(cookie_for(token, "wrong").is_err());
        assert!(cookie_for(None, "s3cret-s3cret").is_err());
    }

    #[test]
    fn a_short_or_unsendable_token_is_refused_at_start_up() {
        assert!(OperatorToken::new("short").is_err());
        assert!(OperatorToken::new("            ").is_err(), "spaces alone are no token");
        assert!(OperatorToken::new("long-enough\u{7}-token").is_err());
    }
}
