//! Malformed commands are answered when an id can be read, and never stop the device.

use std::time::Duration;

use lua_device::topic::Suffix;
use lua_testkit::Mosquitto;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_error_responses_or_silence_and_the_device_keeps_working() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-bad";
    let _device = start_device(config(&broker.url(), dev)).await;
    let gw = agent(&broker.url(), "gw").await;
    let mut seen = gw.observe();

    // Without a readable id there is nobody to answer: silence, then business as usual.
    for unanswerable in [
        &b"\xff\xfe not json"[..],
        b"",
        br#"{"command":"echo"}"#,
        br#"{"commandId":12,"command":"echo"}"#,
        br#"[1,2,3]"#,
    ] {
        gw.publish(AGENT, dev, Suffix::Command, unanswerable)
            .await
            .unwrap();
        echo_works(&gw, dev).await;
    }

    let cases: [(&str, &[u8], &str); 4] = [
        (
            "b1",
            br#"{"commandId":"b1"}"#,
            "Malformed command: command is missing",
        ),
        (
            "b2",
            br#"{"commandId":"b2","command":42}"#,
            "Malformed command: command is not a string",
        ),
        (
            "b3",
            br#"{"commandId":"b3","command":"slow","payload":{"ms":"soon"}}"#,
            "ms: must be an integer",
        ),
        (
            "b4",
            br#"{"commandId":"b4","command":"nope","payload":{}}"#,
            "Unknown command: nope",
        ),
    ];
    for (id, raw, error) in cases {
        gw.publish(AGENT, dev, Suffix::Command, raw).await.unwrap();
        let r = next_observed(&mut seen, |o| {
            o.suffix == Suffix::Response && o.json()["commandId"] == id
        })
        .await
        .json();
        assert_eq!(
            r,
            json!({"commandId": id, "success": false, "error": error})
        );
        echo_works(&gw, dev).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_mebibyte_payload_is_echoed() {
    let broker = Mosquitto::start().unwrap();
    let dev = "dev-big";
    let _device = start_device(config(&broker.url(), dev)).await;
    let gw = agent(&broker.url(), "gw").await;
    let blob = "x".repeat(1024 * 1024);
    let r = gw
        .call(
            AGENT,
            dev,
            "echo",
            json!({ "blob": blob }),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(r.success);
    assert_eq!(
        r.data
            .as_ref()
            .and_then(|d| d["blob"].as_str())
            .map(str::len),
        Some(blob.len())
    );
    assert!(matches!(r.data, Some(Value::Object(_))));
    echo_works(&gw, dev).await;
}
