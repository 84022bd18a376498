//! Commands registered at run time by name, with JSON payloads: the API to use until the
//! generated one exists, and for devices whose commands come from a file.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::dispatch::{CommandResult, CommandSpec, Dispatch};

type BoxedFuture = Pin<Box<dyn Future<Output = CommandResult> + Send>>;
type Handler = Arc<dyn Fn(Value) -> BoxedFuture + Send + Sync>;

/// A [`Dispatch`] over closures. The payload reaches the handler unchecked: validating it
/// against the spec's `inputSchema` is the handler's job here (generated code does it for you).
#[derive(Default, Clone)]
pub struct DynamicDispatch {
    specs: Vec<CommandSpec>,
    handlers: HashMap<String, Handler>,
}

impl DynamicDispatch {
    /// No commands yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `handler` for `spec.name`, replacing any earlier command of that name.
    pub fn command<F, Fut>(&mut self, spec: CommandSpec, handler: F) -> &mut Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CommandResult> + Send + 'static,
    {
        let name = spec.name.to_string();
        match self.specs.iter_mut().find(|s| s.name == spec.name) {
            Some(existing) => *existing = spec,
            None => self.specs.push(spec),
        }
        self.handlers
            .insert(name, Arc::new(move |payload| Box::pin(handler(payload))));
        self
    }
}

impl Dispatch for DynamicDispatch {
    fn commands(&self) -> Vec<CommandSpec> {
        self.specs.clone()
    }

    fn dispatch(
        &self,
        command: &str,
        payload: Value,
    ) -> impl Future<Output = CommandResult> + Send {
        let handler = self.handlers.get(command).cloned();
        let name = command.to_string();
        async move {
            match handler {
                Some(handler) => handler(payload).await,
                None => Err(crate::CommandError::unknown(name)),
            }
        }
    }
}
