//! The build.rs-generated label printer against a real broker, driven by the generated typed
//! agent client and by raw commands with payloads that break the schema.

use std::time::Duration;

use label_printer::*;
use lua_device::agent::AgentClient;
use lua_device::Config;
use lua_testkit::Mosquitto;
use serde_json::json;

const AGENT: &str = "agent-test";

fn address(name: &str) -> Address {
    Address {
        name: name.into(),
        street: "1 Main St".into(),
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: "US".into(),
    }
}

#[tokio::test]
async fn typed_calls_round_trip_and_bad_payloads_never_reach_the_handler() {
    let broker = Mosquitto::start().unwrap();
    let config = Config::new(AGENT, "secret-key", "label-printer").with_url(broker.url());
    let _device = LabelPrinterDevice::new(Printer::default())
        .connect(config)
        .await
        .unwrap();
    let client = AgentClient::connect(&broker.url(), "agent-label-printer")
        .await
        .unwrap();
    let agent = LabelPrinterAgent::new(&client, AGENT);

    let printed = agent
        .print_label(
            "label-printer",
            &PrintLabelInput {
                label_data: PrintLabelInputLabelData {
                    tracking: "1Z999AA10123456784".into(),
                    carrier: PrintLabelInputLabelDataCarrier::Ups,
                    to: address("Ada"),
                    from: None,
                    weight_grams: Some(1200),
                },
                copies: 2,
                format: PrintLabelInputFormat::N4x6,
            },
        )
        .await
        .unwrap();
    assert_eq!(printed.queued, 2);
    assert!(printed.job_id.ends_with("1Z999AA10123456784"));

    let status = agent.get_status("label-printer").await.unwrap();
    assert_eq!(status.state, GetStatusOutputState::Printing);

    // Defaults from the schema fill what the agent leaves out (copies: 1, format: 4x6).
    let response = client
        .call(
            AGENT,
            "label-printer",
            "print_label",
            json!({"labelData": {"tracking": "ABCDEFGH", "carrier": "dhl", "to": {
                "name": "B", "street": "S", "city": "C", "postalCode": "999", "country": "DE"}}}),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(response.success, "{response:?}");
    assert_eq!(response.data.unwrap()["queued"], 3);

    // A payload that breaks the schema is answered with the field and the rule.
    let bad = client
        .call(
            AGENT,
            "label-printer",
            "print_label",
            json!({"labelData": {"tracking": "lowercase", "carrier": "ups", "to": {
                "name": "B", "street": "S", "city": "C", "postalCode": "999", "country": "DE"}}}),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(!bad.success);
    assert_eq!(
        bad.error.as_deref(),
        Some("labelData.tracking: does not match ^[A-Z0-9]{8,20}$")
    );
    let closed = client
        .call(
            AGENT,
            "label-printer",
            "cancel_job",
            json!({"jobId": "x", "force": true}),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(closed.error.as_deref(), Some("force: is not allowed"));

    // The typed client refuses locally what the device would refuse, and sends nothing.
    let refused = agent
        .cancel_job(
            "label-printer",
            &CancelJobInput {
                job_id: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "invalid payload: jobId: must have at least 1 characters"
    );

    // A handler error travels back as the device's error.
    let failed = agent
        .cancel_job(
            "label-printer",
            &CancelJobInput {
                job_id: "job-404".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        failed.to_string(),
        "the device answered with an error: no queued job job-404"
    );
}
