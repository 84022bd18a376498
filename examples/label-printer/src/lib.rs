//! A thermal label printer at a packing station. Everything about its wire format comes from
//! `manifests/label-printer.yaml` through `build.rs`; this file is only the behaviour.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use lua_device::CommandError;

include!(concat!(env!("OUT_DIR"), "/label_printer.rs"));

/// The printer's state: a job counter and the paper left.
#[derive(Debug)]
pub struct Printer {
    next_job: AtomicU32,
    queue: Mutex<Vec<String>>,
    paper_percent: u8,
}

impl Default for Printer {
    fn default() -> Self {
        Self {
            next_job: AtomicU32::new(1),
            queue: Mutex::new(Vec::new()),
            paper_percent: 80,
        }
    }
}

impl LabelPrinterHandler for Printer {
    async fn print_label(&self, input: PrintLabelInput) -> Result<PrintLabelOutput, CommandError> {
        let copies = input.copies;
        let job = format!(
            "job-{}-{}",
            self.next_job.fetch_add(1, Ordering::SeqCst),
            input.label_data.tracking
        );
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| "the print queue is poisoned")?;
        for _ in 0..copies {
            queue.push(job.clone());
        }
        Ok(PrintLabelOutput {
            job_id: job,
            queued: queue.len() as u64,
        })
    }

    async fn get_status(&self) -> Result<GetStatusOutput, CommandError> {
        let busy = !self
            .queue
            .lock()
            .map_err(|_| "the print queue is poisoned")?
            .is_empty();
        Ok(GetStatusOutput {
            state: if busy {
                GetStatusOutputState::Printing
            } else {
                GetStatusOutputState::Ready
            },
            paper_remaining_percent: self.paper_percent,
            head_temperature_c: Some(41.5),
            last_error: None,
        })
    }

    async fn cancel_job(&self, input: CancelJobInput) -> Result<(), CommandError> {
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| "the print queue is poisoned")?;
        let before = queue.len();
        queue.retain(|job| *job != input.job_id);
        if queue.len() == before {
            return Err(format!("no queued job {}", input.job_id).into());
        }
        Ok(())
    }
}
