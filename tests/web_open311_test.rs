//! Open311 GeoReport v2: each endpoint in XML and JSON shaped like the spec's examples,
//! errors in the spec's error format, and our states mapped to open/closed.

mod web_support;

use hotline::tickets::{Action, Actor, DepartmentId};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::*;

fn xml_ok(body: &str, root: &str) {
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{body}"
    );
    assert!(
        body.contains(&format!("<{root}>")) && body.contains(&format!("</{root}>")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_and_definitions_in_both_formats() {
    let site = start_sqlite().await;
    let c = client();
    let u = |p: &str| format!("{}/open311/v2{}", site.base, p);
    let r = c.get(u("/services.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 6);
    for s in list {
        for k in [
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        ] {
            assert!(s.get(k).is_some(), "{k} in {s}");
        }
        assert!(s["metadata"].is_boolean());
        assert_eq!(s["type"], "realtime");
    }
    let x = c.get(u("/services.xml")).send().await.unwrap();
    assert!(x.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let body = x.text().await.unwrap();
    xml_ok(&body, "services");
    assert!(body.contains("<service><service_code>consultation</service_code>"));
    let d: Value = c
        .get(u("/services/complaint.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["service_code"], "complaint");
    assert!(d["attributes"].is_array());
    let dx = c
        .get(u("/services/complaint.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml_ok(&dx, "service_definition");
    let nf = c.get(u("/services/nope.json")).send().await.unwrap();
    assert_eq!(nf.status(), 404);
    let e: Value = nf.json().await.unwrap();
    assert_eq!(e[0]["code"], 404);
    assert!(e[0]["description"].is_string());
    let nfx = c
        .get(u("/services/nope.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml_ok(&nfx, "errors");
    assert!(nfx.contains("<error><code>404</code><description>"));
    let disc: Value = c
        .get(u("/discovery.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        disc["endpoints"][0]["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert!(disc["endpoints"][0]["formats"]
        .as_array()
        .unwrap()
        .contains(&Value::from("text/xml")));
    let dx = c
        .get(u("/discovery.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml_ok(&dx, "discovery");
    let wrong = c
        .get(u("/services.json?jurisdiction_id=elsewhere.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_request_then_read_it_back_by_id_token_and_filters() {
    // A city that publishes every kind of request (off by default).
    let cfg = hotline::web::WebConfig {
        open311_public_requests: true,
        open311_public_services: ["complaint", "help"].map(String::from).to_vec(),
        open311_per_minute: 1000,
        ..Default::default()
    };
    let site = start_sqlite_with(cfg, None).await;
    site.add_user("city_gis", Role::Operator, None).await;
    site.add_user("nobody_dept", Role::Department, Some("water"))
        .await;
    let key = site.token_for("city_gis").await;
    let dept_key = site.token_for("nobody_dept").await;
    let c = client();
    let u = |p: &str| format!("{}/open311/v2{}", site.base, p);

    // The spec's error cases.
    let r = c
        .post(u("/requests.json"))
        .form(&[
            ("service_code", "complaint"),
            ("lat", "34.3"),
            ("long", "117.9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no api_key");
    let r = c
        .post(u("/requests.xml"))
        .form(&[
            ("api_key", "bad"),
            ("service_code", "complaint"),
            ("lat", "34.3"),
            ("long", "117.9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    xml_ok(&r.text().await.unwrap(), "errors");
    let r = c
        .post(u("/requests.json"))
        .form(&[
            ("api_key", dept_key.as_str()),
            ("service_code", "complaint"),
            ("lat", "34.3"),
            ("long", "117.9"),
            ("phone", "13800001111"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a department's key may not create requests"
    );
    let r = c
        .post(u("/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "complaint"),
            ("phone", "13800001111"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "location required");
    let r = c
        .post(u("/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "nope"),
            ("lat", "34.3"),
            ("long", "117.9"),
            ("phone", "13800001111"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A good one, JSON.
    let r = c
        .post(u("/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "complaint"),
            ("address_string", "运河街道解放路12号"),
            ("description", "路面塌陷，存在安全隐患"),
            ("phone", "13800001111"),
            ("first_name", "三"),
            ("last_name", "张"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v[0]["service_request_id"].as_str().unwrap().to_string();
    let token = v[0]["token"].as_str().unwrap().to_string();
    assert!(v[0].get("service_notice").is_some() && v[0].get("account_id").is_some());
    // And XML.
    let r = c
        .post(u("/requests.xml"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "help"),
            ("lat", "34.31"),
            ("long", "117.95"),
            ("phone", "13800002222"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    xml_ok(&body, "service_requests");
    assert!(body.contains("<request><service_request_id>"));

    // Read back.
    let one: Value = c
        .get(u(&format!("/requests/{id}.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let req = &one[0];
    assert_eq!(req["service_request_id"], id.as_str());
    assert_eq!(req["status"], "open");
    assert_eq!(req["service_code"], "complaint");
    assert!(!req["status_notes"].as_str().unwrap().is_empty());
    assert!(req["requested_datetime"]
        .as_str()
        .unwrap()
        .ends_with("+08:00"));
    assert!(
        !one.to_string().contains("13800001111"),
        "no phone in public requests"
    );
    let onex = c
        .get(u(&format!("/requests/{id}.xml")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml_ok(&onex, "service_requests");
    assert!(onex.contains("<status>open</status>"));
    let tok: Value = c
        .get(u(&format!("/tokens/{token}.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tok[0]["service_request_id"], id.as_str());
    assert_eq!(tok[0]["token"], token.as_str());
    assert_eq!(
        c.get(u("/tokens/nope.json")).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        c.get(u("/requests/209901010001.json"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Dispatch it: agency_responsible is the department; close → status closed.
    let t = site.tickets.by_number(&id.parse().unwrap()).await.unwrap();
    site.tickets
        .transition(
            t.id,
            Action::Dispatch {
                department: DepartmentId("urban_management".into()),
            },
            &Actor::System,
        )
        .await
        .ok();
    site.tickets
        .transition(t.id, Action::Sign, &Actor::System)
        .await
        .unwrap();
    site.tickets
        .transition(
            t.id,
            Action::Resolve {
                answer: "已修复路面".into(),
            },
            &Actor::System,
        )
        .await
        .unwrap();
    let one: Value = c
        .get(u(&format!("/requests/{id}.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one[0]["status"], "closed");
    assert_eq!(one[0]["agency_responsible"], "市城市管理局");
    assert!(one[0]["status_notes"].as_str().unwrap().contains("已办结"));

    // Filters.
    let all: Value = c
        .get(u("/requests.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let open: Value = c
        .get(u("/requests.json?status=open"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1);
    let by_code: Value = c
        .get(u("/requests.json?service_code=complaint"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_code.as_array().unwrap().len(), 1);
    let by_id: Value = c
        .get(u(&format!(
            "/requests.json?service_request_id={id}&status=open"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        by_id.as_array().unwrap().len(),
        1,
        "service_request_id overrides other filters"
    );
    let bad = c
        .get(u("/requests.json?start_date=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e[0]["code"], 400);
    let wide = c
        .get(u(
            "/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wide.status(), 400, "more than 90 days");
    let xml = c
        .get(u("/requests.xml?status=closed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml_ok(&xml, "service_requests");
    assert!(xml.contains("<status>closed</status>") && !xml.contains("<status>open</status>"));
    let fmt = c.get(u("/requests.html")).send().await.unwrap();
    assert_eq!(fmt.status(), 404);
}
