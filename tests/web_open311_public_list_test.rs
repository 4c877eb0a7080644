//! Open311 reading against the real `hotline serve`: by default nobody may list or read
//! service requests (the list would hand out what `/status` guards with the phone's last
//! four digits); a city that opts some service codes in publishes only those, redacted, and
//! a client that reads too fast is told 429 — all in the Open311 error format.

mod web_support;

use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::*;

/// Files a request through Open311 with an operator's key; its id.
async fn file(s: &Served, key: &str, code: &str, address: &str, text: &str) -> String {
    let r = client()
        .post(format!("{}/open311/v2/requests.json", s.base))
        .form(&[
            ("api_key", key),
            ("service_code", code),
            ("address_string", address),
            ("description", text),
            ("phone", "13812345678"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v[0]["service_request_id"].as_str().unwrap().to_string()
}

async fn get(s: &Served, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}/open311/v2{path}", s.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn open311_error(body: &str, code: u16) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error: {body}"));
    assert_eq!(v[0]["code"], code, "{body}");
    assert!(v[0]["description"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_not_listed_by_default() {
    let s = Served::start(&[]).await;
    s.add_user("city_gis", Role::Operator, None).await;
    let key = s.token_for("city_gis").await;
    let id = file(&s, &key, "complaint", "运河街道解放路12号", "路面塌陷").await;

    let (status, body) = get(&s, "/requests.json").await;
    assert_eq!(status, 403, "{body}");
    open311_error(&body, 403);
    let (status, body) = get(&s, &format!("/requests/{id}.json")).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("路面塌陷"), "{body}");
    let (status, body) = get(&s, &format!("/requests.xml?service_request_id={id}")).await;
    assert_eq!(status, 403);
    assert!(body.contains("<errors><error>"), "{body}");
    // Filing and the discovery of services stay open.
    assert_eq!(get(&s, "/services.json").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opted_in_codes_are_listed_redacted_and_reads_are_limited() {
    let s = Served::start(&[
        ("HOTLINE__WEB__OPEN311_PUBLIC_REQUESTS", "true".into()),
        (
            "HOTLINE__WEB__OPEN311_PUBLIC_SERVICES",
            "[\"suggestion\"]".into(),
        ),
        ("HOTLINE__WEB__OPEN311_PER_MINUTE", "8".into()),
    ])
    .await;
    s.add_user("city_gis", Role::Operator, None).await;
    let key = s.token_for("city_gis").await;
    let public = file(
        &s,
        &key,
        "suggestion",
        "运河街道解放路12号3栋",
        "建议解放路12号路口加装红绿灯，我叫张三，电话13987654321",
    )
    .await;
    let private = file(&s, &key, "complaint", "幸福小区5栋", "邻居装修噪音扰民").await;

    let (status, body) = get(&s, "/requests.json").await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "only the opted-in code: {body}");
    let r = &list[0];
    assert_eq!(r["service_request_id"], public.as_str());
    let text = r["description"].as_str().unwrap();
    assert!(text.contains("红绿灯"), "{text}");
    for secret in ["13987654321", "张三", "12号", "13812345678"] {
        assert!(!body.contains(secret), "`{secret}` in {body}");
    }
    assert_eq!(r["address"], "运河街道解放路*号*栋");

    let (status, body) = get(&s, &format!("/requests/{public}.xml")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("红绿灯") && !body.contains("张三"), "{body}");
    let (status, body) = get(&s, &format!("/requests/{private}.json")).await;
    assert_eq!(status, 404, "a code not opted in does not exist: {body}");
    open311_error(&body, 404);
    let (_, body) = get(&s, &format!("/requests.json?service_request_id={private}")).await;
    assert_eq!(body.trim(), "[]", "{body}");

    // Four reads so far of eight a minute: a burst runs into 429.
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(get(&s, "/requests.json").await);
    }
    let refused: Vec<_> = codes.iter().filter(|(c, _)| *c == 429).collect();
    assert_eq!(
        refused.len(),
        4,
        "{:?}",
        codes.iter().map(|c| c.0).collect::<Vec<_>>()
    );
    open311_error(&refused[0].1, 429);
    assert!(s.hotline.log().contains("open311 read refused"));
}
