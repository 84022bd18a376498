//! What the gateway answers a trigger with, after its ack: the `trigger_result` an agent's
//! trigger handler would send (`PROTOCOL.md`, "Triggers"), or an `error` when answering
//! failed.
//!
//! The seam is [`TriggerAnswerer`]: given a [`TriggerCall`], an answerer returns a future
//! of `Ok(Some(result))` (published as `{"triggerName","result"}` on the device's
//! `trigger_result` topic, QoS 1, not retained), `Ok(None)` (nothing is published) or an
//! [`AnswerError`] (published on the device's `error` topic, naming the trigger, and logged).
//! The gateway bounds every answer, whatever its kind ([`TriggerAnswers`]): it is dropped
//! after a timeout (an answerer holding a process kills it when dropped, as
//! [`ScriptAnswerer`] does), and at most a fixed number run at once; a trigger over that
//! number is answered with an error at once, so a device firing in a loop grows nothing.
//!
//! Three answerers ship here, and [`FirstAnswer`] chains them: [`FixedResults`] (one result
//! per trigger name, `luagen dev --trigger-result`), [`ScriptAnswerer`] (a command run per
//! trigger, `--trigger-script`). A long-lived process answering JSON lines (an agent module
//! run by Node) is one more implementation: it writes `serde_json::to_string(&call)` and a
//! newline, matches the reply by `triggerId`, and returns its result.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use lua_device::topic::{Suffix, Topics};
use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::keys::loggable_payload;

/// A trigger the gateway acknowledged, as answerers get it (and as a script reads it on its
/// stdin: `{"agentId","deviceName","triggerName","triggerId","payload"}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerCall {
    /// The device's agent.
    pub agent_id: String,
    /// The device that fired it.
    pub device_name: String,
    /// The trigger's name.
    pub trigger_name: String,
    /// The id of the gateway's ack.
    pub trigger_id: String,
    /// The trigger's payload (`{}` when it had none).
    pub payload: Value,
}

/// Why there is no result; its text is what the device's `error` message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerError {
    /// The `code` of the `error` message.
    pub code: &'static str,
    /// The `message`, for the device: no secrets, no script output.
    pub message: String,
}

impl AnswerError {
    /// `TRIGGER_RESULT_FAILED` with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            code: "TRIGGER_RESULT_FAILED",
            message: message.into(),
        }
    }
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AnswerError {}

/// What an answerer's future gives: a result, no answer, or why not.
pub type AnswerFuture = Pin<Box<dyn Future<Output = Result<Option<Value>, AnswerError>> + Send>>;

/// Answers triggers. The future owns what it needs (clone from `self` into it); the gateway
/// may drop it at any point (timeout, shutdown), so what it holds must clean up on drop.
pub trait TriggerAnswerer: Send + Sync {
    /// The result for `call`, computed asynchronously.
    fn answer(&self, call: TriggerCall) -> AnswerFuture;

    /// What this answers with, for the gateway's log (`fixed results for a, b`).
    fn describe(&self) -> String;
}

/// How the gateway answers triggers: with whom, how long each answer may take, and how many
/// may run at once.
#[derive(Clone)]
pub struct TriggerAnswers {
    /// `None`: triggers are acknowledged only.
    pub answerer: Option<Arc<dyn TriggerAnswerer>>,
    /// How long one answer may take; it is dropped (a script killed) after that.
    pub timeout: Duration,
    /// Answers running at once; a trigger beyond them gets `TRIGGER_RESULT_BUSY`.
    pub max_in_flight: usize,
}

impl Default for TriggerAnswers {
    fn default() -> Self {
        Self {
            answerer: None,
            timeout: Duration::from_secs(10),
            max_in_flight: 16,
        }
    }
}

impl std::fmt::Debug for TriggerAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriggerAnswers")
            .field("answerer", &self.answerer.as_ref().map(|a| a.describe()))
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// One fixed result per trigger name; other triggers get no answer.
#[derive(Clone, Debug, Default)]
pub struct FixedResults(pub BTreeMap<String, Value>);

impl TriggerAnswerer for FixedResults {
    fn answer(&self, call: TriggerCall) -> AnswerFuture {
        let result = self.0.get(&call.trigger_name).cloned();
        Box::pin(async move { Ok(result) })
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        format!("fixed results for {}", names.join(", "))
    }
}

/// Ask each answerer in turn; the first `Some` (or the first error) is the answer.
#[derive(Clone, Default)]
pub struct FirstAnswer(pub Vec<Arc<dyn TriggerAnswerer>>);

impl TriggerAnswerer for FirstAnswer {
    fn answer(&self, call: TriggerCall) -> AnswerFuture {
        let answerers = self.0.clone();
        Box::pin(async move {
            for answerer in answerers {
                if let Some(result) = answerer.answer(call.clone()).await? {
                    return Ok(Some(result));
                }
            }
            Ok(None)
        })
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|a| a.describe()).collect();
        parts.join(", then ")
    }
}

/// A shell command (`sh -c`) run once per trigger: the [`TriggerCall`] as JSON on its stdin,
/// its stdout (JSON) the result, nothing printed no answer. A non-zero exit, output that is
/// not JSON or larger than a device accepts is an error; its stderr goes to the gateway's log
/// only. Dropping the answer kills the command's whole process group.
#[derive(Clone, Debug)]
pub struct ScriptAnswerer {
    /// The program and its arguments.
    argv: Vec<std::ffi::OsString>,
    /// How the log names it.
    shown: String,
}

/// How much of a script's stderr the log shows.
const STDERR_SHOWN: usize = 4096;

impl ScriptAnswerer {
    /// Run `command` with `sh -c` per trigger.
    pub fn new(command: impl Into<String>) -> Self {
        let command = command.into();
        Self {
            argv: vec!["sh".into(), "-c".into(), command.clone().into()],
            shown: format!("the trigger script `{command}`"),
        }
    }

    /// Run `argv` itself (no shell) per trigger; `shown` names it in the log.
    pub fn exec(argv: Vec<std::ffi::OsString>, shown: impl Into<String>) -> Self {
        assert!(!argv.is_empty(), "a program to run");
        Self {
            argv,
            shown: shown.into(),
        }
    }
}

impl TriggerAnswerer for ScriptAnswerer {
    fn answer(&self, call: TriggerCall) -> AnswerFuture {
        let (argv, shown) = (self.argv.clone(), self.shown.clone());
        Box::pin(async move { run_script(&argv, &shown, &call).await })
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

async fn run_script(
    argv: &[std::ffi::OsString],
    shown: &str,
    call: &TriggerCall,
) -> Result<Option<Value>, AnswerError> {
    let name = &call.trigger_name;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        tracing::error!(error = %e, "could not start {shown}");
        AnswerError::failed(format!(
            "trigger {name}: the trigger script could not start"
        ))
    })?;
    // Its background children too, whenever this future ends or is dropped.
    let _group = ProcessGroup(child.id());
    let input = serde_json::to_vec(call).expect("a trigger call always serializes");
    let (mut stdin, stdout, stderr) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let write = async move {
        if let Some(stdin) = stdin.as_mut() {
            // A script that does not read its input is fine.
            let _ = stdin.write_all(&input).await;
        }
        drop(stdin);
    };
    let limit = crate::limits::relay_limit();
    let (_, out, err, status) = tokio::join!(
        write,
        bounded(stdout, limit),
        bounded(stderr, STDERR_SHOWN),
        child.wait()
    );
    let (out, out_len) = out;
    let (err, _) = err;
    let status = status.map_err(|e| {
        tracing::error!(error = %e, "waiting for the trigger script");
        AnswerError::failed(format!("trigger {name}: the trigger script was lost"))
    })?;
    let stderr_text = String::from_utf8_lossy(&err);
    let stderr_text = stderr_text.trim();
    if !status.success() {
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        tracing::warn!(trigger = %name, stderr = %stderr_text, "the trigger script {how}");
        return Err(AnswerError::failed(format!(
            "trigger {name}: the trigger script {how}"
        )));
    }
    if !stderr_text.is_empty() {
        tracing::info!(trigger = %name, stderr = %stderr_text, "the trigger script said");
    }
    if out_len > limit {
        return Err(AnswerError {
            code: "TRIGGER_RESULT_TOO_LARGE",
            message: format!(
                "trigger {name}: the trigger script printed {out_len} bytes; a result is at most {}",
                crate::limits::size(limit)
            ),
        });
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&out).map(Some).map_err(|e| {
        tracing::warn!(trigger = %name, output = %loggable_payload(&out), "the trigger script printed something that is not JSON");
        AnswerError::failed(format!(
            "trigger {name}: the trigger script printed something that is not JSON ({e})"
        ))
    })
}

/// The first `keep` bytes of `stream`, and how many it held in all; the rest is read and
/// dropped, so the writer never blocks on a full pipe.
async fn bounded<R: AsyncRead + Unpin>(stream: Option<R>, keep: usize) -> (Vec<u8>, usize) {
    let Some(mut stream) = stream else {
        return (Vec::new(), 0);
    };
    let mut kept = Vec::new();
    let mut total = 0;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return (kept, total),
            Ok(n) => {
                total += n;
                let room = keep.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&chunk[..room]);
            }
        }
    }
}

/// Kills a process group when dropped (the script was started as its leader).
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: a plain signal to the group this answer started; ESRCH when it is gone.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

/// The gateway's side: runs answers with their bounds and publishes what they give.
pub(crate) struct Answering {
    answerer: Arc<dyn TriggerAnswerer>,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    client: AsyncClient,
}

impl Answering {
    /// `None` when `answers` has no answerer.
    pub(crate) fn new(answers: &TriggerAnswers, client: AsyncClient) -> Option<Self> {
        let answerer = answers.answerer.clone()?;
        tracing::info!(
            "answering triggers with {} (each within {:?})",
            answerer.describe(),
            answers.timeout
        );
        Some(Self {
            answerer,
            timeout: answers.timeout,
            in_flight: Arc::new(Semaphore::new(answers.max_in_flight.max(1))),
            max_in_flight: answers.max_in_flight.max(1),
            client,
        })
    }

    /// Answer `call` on a task of its own; the caller never waits.
    pub(crate) fn dispatch(&self, call: TriggerCall) {
        let topics = Topics::new(&call.agent_id, &call.device_name);
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            let error = AnswerError {
                code: "TRIGGER_RESULT_BUSY",
                message: format!(
                    "trigger {}: the gateway is answering {} already; this one gets no result",
                    call.trigger_name,
                    crate::count(self.max_in_flight, "trigger")
                ),
            };
            tracing::warn!("{}:{} {error}", call.agent_id, call.device_name);
            publish_error(&self.client, &topics, &call, &error);
            return;
        };
        let answer = self.answerer.answer(call.clone());
        let (client, timeout) = (self.client.clone(), self.timeout);
        tokio::spawn(async move {
            let _permit = permit;
            let who = format!("{}:{}", call.agent_id, call.device_name);
            let name = &call.trigger_name;
            let outcome = match tokio::time::timeout(timeout, answer).await {
                Ok(outcome) => outcome,
                Err(_) => Err(AnswerError {
                    code: "TRIGGER_RESULT_TIMEOUT",
                    message: format!(
                        "trigger {name}: no result within {} ms; the answer was stopped",
                        timeout.as_millis()
                    ),
                }),
            };
            match outcome {
                Ok(None) => tracing::info!("{who} TRIGGER {name}: no result to send"),
                Ok(Some(result)) => {
                    let body = json!({"triggerName": name, "result": result}).to_string();
                    let topic = topics.topic(Suffix::TriggerResult);
                    let limit = crate::limits::relay_limit();
                    if body.len() + topic.len() + 8 > limit {
                        let error = AnswerError {
                            code: "TRIGGER_RESULT_TOO_LARGE",
                            message: format!(
                                "trigger {name}: its result is {} bytes; a device accepts at most {}",
                                body.len(),
                                crate::limits::size(limit)
                            ),
                        };
                        tracing::warn!("{who} {error}");
                        publish_error(&client, &topics, &call, &error);
                        return;
                    }
                    tracing::info!(
                        "{who} TRIGGER {name} → trigger_result {}",
                        loggable_payload(result.to_string().as_bytes())
                    );
                    if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, false, body) {
                        tracing::error!(error = %e, "could not publish a trigger_result");
                    }
                }
                Err(error) => {
                    tracing::warn!("{who} {error}");
                    publish_error(&client, &topics, &call, &error);
                }
            }
        });
    }
}

fn publish_error(client: &AsyncClient, topics: &Topics, call: &TriggerCall, error: &AnswerError) {
    let body = json!({
        "code": error.code,
        "message": error.message,
        "triggerName": call.trigger_name,
        "triggerId": call.trigger_id,
    });
    if let Err(e) = client.try_publish(
        topics.topic(Suffix::Error),
        QoS::AtLeastOnce,
        false,
        body.to_string(),
    ) {
        tracing::error!(error = %e, "could not publish an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str) -> TriggerCall {
        TriggerCall {
            agent_id: "a".into(),
            device_name: "d".into(),
            trigger_name: name.into(),
            trigger_id: "trg-1".into(),
            payload: json!({"level": 3}),
        }
    }

    struct Failing;

    impl TriggerAnswerer for Failing {
        fn answer(&self, call: TriggerCall) -> AnswerFuture {
            Box::pin(async move { Err(AnswerError::failed(call.trigger_name)) })
        }

        fn describe(&self) -> String {
            "failure".into()
        }
    }

    #[test]
    fn the_call_is_the_documented_json() {
        assert_eq!(
            serde_json::to_value(call("alert")).unwrap(),
            json!({"agentId": "a", "deviceName": "d", "triggerName": "alert",
                "triggerId": "trg-1", "payload": {"level": 3}})
        );
    }

    #[tokio::test]
    async fn the_first_answer_wins_and_an_error_stops_the_chain() {
        let fixed = FixedResults([("alert".to_string(), json!(1))].into());
        let chain = FirstAnswer(vec![Arc::new(fixed.clone()), Arc::new(Failing)]);
        assert_eq!(chain.answer(call("alert")).await, Ok(Some(json!(1))));
        assert_eq!(
            chain.answer(call("other")).await,
            Err(AnswerError::failed("other"))
        );
        assert_eq!(fixed.answer(call("other")).await, Ok(None));
        assert_eq!(chain.describe(), "fixed results for alert, then failure");
    }

    #[tokio::test]
    async fn a_script_that_prints_nothing_answers_nothing_and_one_too_large_is_refused() {
        let quiet = ScriptAnswerer::new("cat >/dev/null");
        assert_eq!(quiet.answer(call("alert")).await, Ok(None));
        let json = ScriptAnswerer::new("echo ' [1, 2] '");
        assert_eq!(json.answer(call("alert")).await, Ok(Some(json!([1, 2]))));
        // 3 MB of digits: read to the end (the script is not left blocked), kept to the limit.
        let huge = ScriptAnswerer::new("head -c 3000000 /dev/zero | tr '\\0' 1");
        let error = huge.answer(call("alert")).await.unwrap_err();
        assert_eq!(error.code, "TRIGGER_RESULT_TOO_LARGE", "{error}");
        assert!(error.message.contains("3000000 bytes"), "{error}");
    }
}
