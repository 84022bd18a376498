//! Handlers run here, in a task of their own, so that a slow one (a motor that takes 90 s, a
//! sensor read that waits) never stops the connection task from pinging, sending heartbeats
//! and triggers, and taking `trigger_ack`s. One job runs at a time, as before; the connection
//! task keeps the next ones and stops reading the link while any wait, so the broker still
//! holds the backlog and memory stays bounded (see `connection.rs`).

use alloc::collections::VecDeque;
use alloc::string::String;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use lua_device::message::{Command, TriggerResult};
use lua_device::{CommandResult, LocalDispatch};

use crate::device::Device;

/// Work for the handlers.
pub enum Job {
    Command(Command),
    /// The agent's answer to a trigger, for `handlers::trigger_results`.
    TriggerResult(TriggerResult),
}

/// A finished job: a command's result, to be answered on whatever connection is up by then.
pub enum Done {
    Command { id: String, result: CommandResult },
    TriggerResult,
}

/// The one worker: the connection task hands it jobs, the worker task runs them.
pub static WORKER: Worker = Worker::new();

/// The two hand-over points between the connection task and the worker task.
pub struct Worker {
    jobs: Channel<CriticalSectionRawMutex, Job, 1>,
    done: Channel<CriticalSectionRawMutex, Done, 1>,
}

impl Worker {
    pub const fn new() -> Self {
        Self {
            jobs: Channel::new(),
            done: Channel::new(),
        }
    }

    /// The next finished job (the connection task waits on this beside the link).
    pub async fn finished(&self) -> Done {
        self.done.receive().await
    }
}

/// The worker task's body: run each job, hand back its outcome, forever.
pub async fn run(worker: &Worker, device: &Device) -> ! {
    loop {
        let done = match worker.jobs.receive().await {
            Job::Command(command) => Done::Command {
                result: device.dispatch(&command.command, command.payload).await,
                id: command.command_id,
            },
            Job::TriggerResult(result) => {
                device.trigger_result(result).await;
                Done::TriggerResult
            }
        };
        worker.done.send(done).await;
    }
}

/// The connection task's side: jobs not handed over yet, and whether one is out. It outlives
/// each connection: a command taken (and acknowledged) on a connection that then dropped is
/// still run, and answered on the next one.
pub struct Work {
    waiting: VecDeque<Job>,
    busy: bool,
}

impl Work {
    pub const fn new() -> Self {
        Self {
            waiting: VecDeque::new(),
            busy: false,
        }
    }

    pub fn push(&mut self, job: Job) {
        self.waiting.push_back(job);
    }

    /// Whether to read the link: only while no job waits. What one read brings (at most one
    /// packet of `MAX_PACKET_BYTES` and the rest of that read) is what may wait at once.
    pub fn reading(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Hand the next job to the worker if it is free.
    pub fn start(&mut self, worker: &Worker) {
        if self.busy {
            return;
        }
        if let Some(job) = self.waiting.pop_front() {
            // The worker took the last job before finishing it, so the slot is free.
            match worker.jobs.try_send(job) {
                Ok(()) => self.busy = true,
                Err(embassy_sync::channel::TrySendError::Full(job)) => self.waiting.push_front(job),
            }
        }
    }

    /// The job out came back.
    pub fn finished(&mut self) {
        self.busy = false;
    }
}
