//! What the terminal shows and hears while a crawl runs: the progress bar (or plain progress
//! lines when stderr is not a terminal), and Ctrl-C/SIGTERM turned into the crawl's stop signal
//! (or, during an export to a file, into removing its unfinished temporary file).

use anyhow::{Context, Result};
use politecrawl::progress::Progress;
use politecrawl::StopSignal;

/// Shows a running crawl: an indicatif bar on a terminal, else a plain line every `every`.
pub struct ProgressDisplay {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    pub fn start(progress: Progress, plain: bool, every: std::time::Duration) -> Self {
        use std::io::IsTerminal;
        use std::sync::mpsc::RecvTimeoutError;
        let (done, d) = std::sync::mpsc::channel::<()>();
        let tty = !plain && std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let tick = std::time::Duration::from_millis(200);
            let bar = tty.then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_msg} {pos}/{len} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar
            });
            let mut last_line = std::time::Instant::now();
            // Ticks until the crawl ends (the sender is dropped), without delaying that end.
            while let Err(RecvTimeoutError::Timeout) = d.recv_timeout(tick) {
                let s = progress.get();
                match &bar {
                    Some(bar) => {
                        if let Some(max) = s.max_pages {
                            bar.set_length(max);
                        }
                        bar.set_position(s.done + s.failed);
                        bar.set_message(format!(
                            "{} done, {} queued, {} failed, {:.1}/s, {}, {} paused{}",
                            s.done,
                            s.queued,
                            s.failed,
                            s.rate(),
                            politecrawl::progress::human_bytes(s.bytes),
                            s.hosts_paused,
                            s.bottleneck().map(|b| format!("; {b}")).unwrap_or_default()
                        ));
                    }
                    None if last_line.elapsed() >= every => {
                        eprintln!("{}", s.line());
                        last_line = std::time::Instant::now();
                    }
                    None => {}
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        ProgressDisplay {
            done: Some(done),
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// First SIGINT/SIGTERM: stop taking new URLs and let requests in flight finish (`--grace`).
/// Second: exit at once, which is still safe (the database recovers to its last flush and
/// nothing in flight is lost).
pub fn watch_signals(stop: StopSignal) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install the Ctrl-C/SIGTERM handler")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if stop.request(signal) {
                eprintln!(
                    "\nstopping: no new requests; waiting for those in flight (signal again to exit now)"
                );
            } else {
                eprintln!("second signal: exiting now; the crawl resumes from its last flush");
                std::process::exit(128 + signal);
            }
        }
    });
    Ok(())
}

/// During an export to a file: SIGINT/SIGTERM remove the unfinished temporary file (see
/// `politecrawl::export::partial`), then exit as the signal asks (128 + its number).
pub fn remove_partial_on_signal() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install the Ctrl-C/SIGTERM handler")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            politecrawl::export::partial::remove_unfinished();
            eprintln!("\nstopped: the unfinished export was removed");
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}
