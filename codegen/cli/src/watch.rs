//! `--watch`: regenerate whenever the manifest changes, until Ctrl-C. The manifest is polled
//! (its bytes, not its modification time: editors that save by renaming, and clocks that
//! stand still, both fool timestamps), and a change counts once two reads agree, so a file
//! caught half-written is not generated from.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How often the manifest is read.
const POLL: Duration = Duration::from_millis(250);

/// Run `generate` now and after every change of `manifest`; never returns. `generate` gets
/// `true` the first time only, so that a `--force` replaces the user's files once, not on
/// every save.
pub fn watch(manifest: &Path, mut generate: impl FnMut(bool) -> ExitCode) -> ExitCode {
    let mut seen = std::fs::read(manifest).ok();
    report(generate(true));
    eprintln!("watching {} for changes (Ctrl-C stops)", manifest.display());
    loop {
        std::thread::sleep(POLL);
        let now = std::fs::read(manifest).ok();
        if now == seen {
            continue;
        }
        // Settled: the same bytes a moment later.
        std::thread::sleep(POLL);
        let settled = std::fs::read(manifest).ok();
        if settled != now {
            continue;
        }
        seen = settled;
        if seen.is_none() {
            eprintln!(
                "{} is gone; waiting for it to come back",
                manifest.display()
            );
            continue;
        }
        eprintln!("{} changed: regenerating", manifest.display());
        report(generate(false));
    }
}

fn report(code: ExitCode) {
    if code != ExitCode::SUCCESS {
        // The problems are printed; the previous output stays as it was.
        eprintln!("not regenerated; fix the manifest and save again");
    }
}
