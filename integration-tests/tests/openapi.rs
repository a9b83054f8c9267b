//! The OpenAPI document describes every route the server has, and only those.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use integration_tests::spawn_app;
use testkit::TestDatabase;

#[tokio::test]
async fn the_document_lists_exactly_the_routes_that_exist() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));

    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
        }
    }
    // Built while the app was spawned: every route goes through `routing::endpoint`.
    let routed: BTreeSet<(String, String)> = scoremate::http::endpoint::registered_routes()
        .into_iter()
        .map(|(method, template)| (method, template.to_owned()))
        .collect();
    assert_eq!(documented, routed);
    app.stop().await;
}

#[tokio::test]
async fn every_documented_error_is_problem_json_with_the_shared_schema() {
    let document = serde_json::to_value(scoremate::routes::openapi::document()).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/Problem",
                        "{method} {path} {status} is not documented as a problem"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_docs_page_is_served_locally() {
    let app = spawn_app(TestDatabase::sqlite().await).await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger"), "not the Swagger UI page");
    assert!(
        !html.contains("cdn."),
        "the page must not load assets from a CDN"
    );
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/api/v1/openapi.json"));
    app.stop().await;
}
