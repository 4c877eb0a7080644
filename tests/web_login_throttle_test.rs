//! Password guessing against the real `hotline serve`: guesses sent in parallel are
//! counted before the password is checked (only the limit reaches argon2), a forged
//! X-Forwarded-For from a client does not buy a fresh address, and the header of a proxy
//! the city configured is honoured (its right-most untrusted hop).

mod web_support;

use std::net::IpAddr;

use hotline::web::accounts::Role;
use web_support::*;

/// The CSRF cookie and form token of the login page (double submit), as a browser has them.
async fn login_csrf(s: &Served) -> (String, String) {
    let mut b = s.anon();
    let page = b.get("/login").await;
    let token = csrf_of(&page.body);
    let cookie = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    (cookie, token)
}

/// One login form post from `from` (a loopback source address) with an optional
/// X-Forwarded-For; the status.
async fn attempt(
    s: &Served,
    csrf: &(String, String),
    from: &str,
    xff: Option<&str>,
    name: &str,
    pw: &str,
) -> u16 {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<IpAddr>().ok())
        .build()
        .unwrap();
    let mut r = c
        .post(format!("{}/login", s.base))
        .header("cookie", &csrf.0)
        .form(&[("csrf", csrf.1.as_str()), ("name", name), ("password", pw)]);
    if let Some(x) = xff {
        r = r.header("x-forwarded-for", x);
    }
    r.send().await.expect("login post").status().as_u16()
}

/// `hotline_login_password_checks_total` from `/metrics`, read from loopback (0 when never
/// counted).
async fn password_checks(s: &Served) -> f64 {
    let text = client()
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("hotline_login_password_checks_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_counted_before_the_hash() {
    // Waiting for a password check never times out here: every guess meets the throttle.
    let s = Served::start(&[("HOTLINE__WEB__LOGIN_HASH_WAIT_MS", "600000".into())]).await;
    s.add_user("op1", Role::Operator, None).await;
    let csrf = login_csrf(&s).await;
    let guesses = (0..50).map(|i| {
        let csrf = &csrf;
        let s = &s;
        async move { attempt(s, csrf, "127.0.0.1", None, "op1", &format!("wrong-{i}")).await }
    });
    let codes = futures::future::join_all(guesses).await;
    let wrong = codes.iter().filter(|c| **c == 401).count();
    let throttled = codes.iter().filter(|c| **c == 429).count();
    assert_eq!(
        (wrong, throttled),
        (5, 45),
        "login_max_failures (5) guesses are checked, the rest refused: {codes:?}"
    );
    assert_eq!(password_checks(&s).await, 5.0);
    // Locked: even the right password is refused now.
    assert_eq!(
        attempt(&s, &csrf, "127.0.0.1", None, "op1", &password("op1")).await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_does_not_escape_the_throttle() {
    // The header is named, but no proxy is trusted: the TCP peer is the client.
    let s = Served::start(&[
        ("HOTLINE__WEB__CLIENT_IP_HEADER", "x-forwarded-for".into()),
        ("HOTLINE__WEB__LOGIN_MAX_FAILURES", "1".into()),
    ])
    .await;
    let csrf = login_csrf(&s).await;
    let mut codes = Vec::new();
    // A different account name and a different claimed address each time: only the
    // per-address limit (4 × login_max_failures) can stop it.
    for i in 0..6 {
        let xff = format!("203.0.113.{i}");
        codes.push(attempt(&s, &csrf, "127.0.0.1", Some(&xff), &format!("user{i}"), "x").await);
    }
    assert_eq!(codes[..4], [401; 4], "{codes:?}");
    assert_eq!(codes[4..], [429; 2], "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_is_believed_for_its_own_hop_only() {
    // 127.0.0.1 is our proxy; a client connecting from 127.0.0.2 is not.
    let s = Served::start(&[
        ("HOTLINE__WEB__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]".into()),
        ("HOTLINE__WEB__LOGIN_MAX_FAILURES", "1".into()),
    ])
    .await;
    s.add_user("op2", Role::Operator, None).await;
    let csrf = login_csrf(&s).await;
    // Behind the proxy, one resident forges the left part of the header each time; the
    // proxy appended the address it saw (198.51.100.7), which is what counts.
    let mut codes = Vec::new();
    for i in 0..5 {
        let xff = format!("203.0.113.{i}, 198.51.100.7");
        codes.push(attempt(&s, &csrf, "127.0.0.1", Some(&xff), &format!("u{i}"), "x").await);
    }
    assert_eq!(codes, [401, 401, 401, 401, 429]);
    // Another resident behind the same proxy has an address of their own.
    assert_eq!(
        attempt(
            &s,
            &csrf,
            "127.0.0.1",
            Some("198.51.100.8"),
            "op2",
            &password("op2")
        )
        .await,
        303
    );
    // A client that is not the proxy cannot claim that fresh address either: its own
    // address (127.0.0.2) counts, and it has not failed yet.
    for i in 0..4 {
        let c = attempt(
            &s,
            &csrf,
            "127.0.0.2",
            Some("198.51.100.99"),
            &format!("v{i}"),
            "x",
        )
        .await;
        assert_eq!(c, 401);
    }
    assert_eq!(
        attempt(&s, &csrf, "127.0.0.2", Some("198.51.100.100"), "w", "x").await,
        429,
        "the forged header of an untrusted peer is ignored"
    );
}
