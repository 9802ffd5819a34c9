//! Who may act: write actions are off unless `DASHBOARD_TOKEN` is set, and then need that
//! token, as `Authorization: Bearer <token>` or as the cookie the unlock form sets.
//!
//! The cookie holds a hash of the token, not the token (a browser's cookie store is not where
//! the secret should sit), and is `SameSite=Strict`: another site's page cannot post a form
//! with it.

use axum::http::{HeaderMap, StatusCode, header};
use shared::model::artifact::sha256_hex;

use crate::pages::PageError;

const COOKIE: &str = "boltfleet_operator";

fn cookie_value(token: &str) -> String {
    sha256_hex(format!("boltfleet dashboard operator:{token}").as_bytes())
}

/// Compares in time independent of where the texts differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Whether the request carries the configured token (never, when none is configured).
pub(crate) fn allowed(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else { return false };
    let texts = |name| headers.get_all(name).into_iter().filter_map(|value| value.to_str().ok());
    let bearer = texts(header::AUTHORIZATION).filter_map(|value| value.strip_prefix("Bearer "));
    let expected_cookie = cookie_value(token);
    let cookies = texts(header::COOKIE)
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='));
    bearer.into_iter().any(|given| same(given.trim(), token))
        || cookies.into_iter().any(|given| same(given, &expected_cookie))
}

/// Refuses a write action: 403 on a read-only dashboard, 401 without the right token.
pub(crate) fn require(token: Option<&str>, headers: &HeaderMap) -> Result<(), PageError> {
    match token {
        None => Err(PageError::Refused(
            StatusCode::FORBIDDEN,
            "this dashboard is read-only: write actions need DASHBOARD_TOKEN set where it runs".to_owned(),
        )),
        Some(_) if allowed(token, headers) => Ok(()),
        Some(_) => Err(PageError::Refused(
            StatusCode::UNAUTHORIZED,
            "the operator token is missing or wrong".to_owned(),
        )),
    }
}

/// The `Set-Cookie` value for an operator who typed `given`, if it is the token.
pub(crate) fn cookie_for(token: Option<&str>, given: &str) -> Result<String, PageError> {
    let mut headers = HeaderMap::new();
    if let Ok(value) = format!("Bearer {given}").parse() {
        headers.insert(header::AUTHORIZATION, value);
    }
    require(token, &headers)?;
    let value = cookie_value(given);
    Ok(format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_configured_token_lets_an_operator_act() {
        let token = Some("s3cret");
        assert!(allowed(token, &with(header::AUTHORIZATION, "Bearer s3cret")));
        assert!(!allowed(token, &with(header::AUTHORIZATION, "Bearer s3cre")));
        assert!(!allowed(None, &with(header::AUTHORIZATION, "Bearer s3cret")), "no token: read-only");
        let cookie = cookie_for(token, "s3cret").unwrap();
        assert!(!cookie.contains("s3cret"), "the cookie holds no secret: {cookie}");
        let pair = cookie.split(';').next().unwrap();
        assert!(allowed(token, &with(header::COOKIE, &format!("theme=dark; {pair}"))));
        assert!(!allowed(Some("other"), &with(header::COOKIE, pair)), "a cookie of another token");
        assert!(cookie_for(token, "wrong").is_err());
        assert!(cookie_for(None, "s3cret").is_err());
    }
}
