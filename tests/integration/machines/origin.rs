//! Behind CloudFront (`LATCHKEY_ORIGIN_SECRET` set), a request that did not come through it
//! is refused before anything is read or written: API Gateway's own address must not be a
//! way around the WAF's limits or a way to name one's own viewer address.

use super::harness::Machine;
use crate::support::PASSWORD;
use lambda_http::http::HeaderValue;
use latchkey::config::ORIGIN_HEADER;
use latchkey::Operation;
use serde_json::json;

const ORIGIN_SECRET: &str = "c2hhcmVkIHdpdGggY2xvdWRmcm9udCBhbmQgbm8gb25lIGVsc2U";

async fn create_account(m: &Machine, origin: Option<&str>) -> crate::support::Response {
    let mut request = Machine::request(
        Operation::CreateAccount,
        None,
        None,
        json!({"username": "dora", "password": PASSWORD}),
    );
    if let Some(value) = origin {
        request
            .headers_mut()
            .insert(ORIGIN_HEADER, HeaderValue::from_str(value).unwrap());
    }
    m.serve(Operation::CreateAccount, request).await
}

#[tokio::test]
async fn requests_without_cloudfronts_secret_are_refused_and_change_nothing() {
    let m = Machine::with_env(&[("LATCHKEY_ORIGIN_SECRET", ORIGIN_SECRET)]);
    let refused = create_account(&m, None)
        .await
        .expect_error(403, "forbidden");
    assert!(!refused.body.to_string().contains(ORIGIN_SECRET));
    let almost = &ORIGIN_SECRET[..ORIGIN_SECRET.len() - 1];
    create_account(&m, Some(almost))
        .await
        .expect_error(403, "forbidden");
    create_account(&m, Some(&format!("{ORIGIN_SECRET}A")))
        .await
        .expect_error(403, "forbidden");
    // Nothing was written: the name is still free.
    create_account(&m, Some(ORIGIN_SECRET)).await.expect(201);
}

#[tokio::test]
async fn without_an_origin_secret_every_request_is_served() {
    let m = Machine::new();
    create_account(&m, None).await.expect(201);
}
