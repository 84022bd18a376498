//! Running one incoming command: admission through the ledger, a concurrency slot, the
//! handler in its own task so a panic is caught, and the response (once per delivery).
//!
//! Delivery: the driver acknowledges a command's PUBLISH when the work queue takes it (see
//! `backlog`), before the handler ran. A crash between that ack and the response loses the
//! command; the gateway's timeout and retry cover it. Acking after the response instead would
//! make the broker redeliver after a crash, but would also hold the broker's in-flight window
//! for as long as the slowest handler runs and stall every other command behind it. The
//! ledger makes redeliveries harmless either way.

use std::any::Any;
use std::sync::Arc;

use rumqttc::QoS;

use crate::ledger::Admission;
use crate::message::{Command, Response};
use crate::session;
use crate::{CommandError, Dispatch};

use super::backlog::Permit;
use super::clock::monotonic_ms;
use super::context::Context;
use super::relay;

/// Handle a message on `command`, holding its place in the work queue (`permit`) until its
/// response is ready. Never blocks the event loop: all work is spawned.
pub(crate) fn accept<D: Dispatch>(ctx: &Arc<Context<D>>, payload: &[u8], permit: Permit) {
    if let Some(over) = relay::oversized(payload) {
        tracing::warn!(bytes = over.bytes, command = ?over.command, "command over the size limit");
        if let Some(id) = over.command_id {
            let error = CommandError::too_large(over.bytes, over.limit);
            spawn_publish(ctx, Response::failure(id, &error).to_json(), 1);
        }
        return;
    }
    let command = match Command::parse(payload) {
        Ok(command) => command,
        Err(rejected) => {
            tracing::warn!(error = %rejected.error, "rejected a command message");
            if let Some(id) = rejected.command_id {
                let json = Response::failure(id, &rejected.error).to_json();
                spawn_publish(ctx, json, 1);
            }
            return;
        }
    };
    let admission = ctx
        .ledger
        .lock()
        .expect("ledger lock")
        .admit(&command.command_id, monotonic_ms());
    match admission {
        Admission::Run => {
            let ctx = Arc::clone(ctx);
            tokio::spawn(async move { run(ctx, command, permit).await });
        }
        Admission::Replay(json) => {
            tracing::debug!(id = %command.command_id, "duplicate command, replaying its response");
            spawn_publish(ctx, json, 1);
        }
        Admission::Running => {
            tracing::debug!(id = %command.command_id, "duplicate of a running command");
        }
    }
}

async fn run<D: Dispatch>(ctx: Arc<Context<D>>, command: Command, permit: Permit) {
    let Command {
        command_id,
        command: name,
        payload,
        ..
    } = command;
    let result = {
        let _slot = ctx.slots.clone().acquire_owned().await;
        let dispatcher = Arc::clone(&ctx.dispatcher);
        let task_name = name.clone();
        let handler = tokio::spawn(async move { dispatcher.dispatch(&task_name, payload).await });
        match handler.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => {
                let message = panic_message(e.into_panic());
                tracing::error!(command = %name, %message, "handler panicked");
                Err(CommandError::Panicked { message })
            }
            Err(_) => Err(CommandError::Panicked {
                message: "handler task was cancelled".into(),
            }),
        }
    };
    let json = Response::from_result(command_id.clone(), result).to_json();
    let copies =
        ctx.ledger
            .lock()
            .expect("ledger lock")
            .complete(&command_id, json.clone(), monotonic_ms());
    // The response's PUBLISH wakes the driver, which then finds the room given back here.
    drop(permit);
    publish(&ctx, json, copies).await;
}

fn spawn_publish<D: Dispatch>(ctx: &Arc<Context<D>>, json: String, copies: u32) {
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move { publish(&ctx, json, copies).await });
}

async fn publish<D>(ctx: &Context<D>, json: String, copies: u32) {
    let response = session::response_json(ctx.topics(), json);
    // Only the extra copies are clones: nearly every response goes out once, as itself.
    for _ in 1..copies {
        send(ctx, response.topic.clone(), response.payload.clone()).await;
    }
    if copies > 0 {
        send(ctx, response.topic, response.payload).await;
    }
}

async fn send<D>(ctx: &Context<D>, topic: String, payload: Vec<u8>) {
    let sent = ctx
        .client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not queue a response");
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}
