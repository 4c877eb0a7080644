//! `/metrics` of the real `hotline serve` with a scrape token: anyone without it is
//! refused, the token reads the metrics, and scrapes close together reuse the database
//! figures instead of querying again (counted by `hotline_metrics_refreshes_total`).

mod web_support;

use web_support::*;

const TOKEN: &str = "a-scrape-token-for-this-test";

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_and_cache_the_database_figures() {
    let s = Served::start(&[
        ("HOTLINE__WEB__METRICS_TOKEN", TOKEN.into()),
        // No address is trusted without the token, not even loopback.
        ("HOTLINE__WEB__METRICS_ALLOW", "[]".into()),
        ("HOTLINE__WEB__METRICS_REFRESH_SECS", "3600".into()),
    ])
    .await;
    let url = format!("{}/metrics", s.base);
    let c = client();

    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let wrong = c.get(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let first = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    assert!(first.contains("hotline_database_up 1"), "{first}");
    assert_eq!(sample(&first, "hotline_metrics_refreshes_total"), Some(1.0));

    let second = c
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&second, "hotline_metrics_refreshes_total"),
        Some(1.0),
        "the second scrape reused the figures"
    );
    assert!(
        second.contains("hotline_tickets"),
        "the cached gauges are still there"
    );
    assert!(s.hotline.log().contains("/metrics refused"));
}
