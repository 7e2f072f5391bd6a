//! Running one step: spawn bwrap (inside a pids cgroup where possible), stream its output
//! line by line, and kill the whole process tree at the time limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::pids_limit::PidsCgroup;
use crate::{Finished, OutputLine, Sandbox, Step, StepError, Stream};

/// Longest line passed on in one piece; longer lines are split.
const MAX_LINE: u64 = 16 * 1024;

/// `PATH` of the host processes that start the sandbox (not of the step).
const HOST_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

enum Message {
    Line(OutputLine),
    Captured(Vec<u8>, bool),
    Closed,
}

impl Sandbox {
    /// Run `step`, passing each output line to `on_line` as it arrives (stdout too, unless it
    /// is captured). Returns how the command exited; a step past its time limit is killed
    /// with every process it started, and is an error.
    pub fn run(
        &self,
        step: &Step,
        on_line: &mut dyn FnMut(OutputLine),
    ) -> Result<Finished, StepError> {
        step.validate()?;
        let host = |what| move |source| StepError::Host { what, source };
        let options = self.options(step).map_err(host("read the rootfs"))?;
        let cgroup = PidsCgroup::create(self.max_processes);
        if cgroup.is_none() {
            tracing::debug!("no cgroup for the step: its process count is not limited");
        }
        // A host shell sets the umask (and joins the cgroup), then becomes bwrap.
        let mut command = Command::new("/bin/sh");
        match &cgroup {
            Some(cg) => command
                .arg("-c")
                .arg(r#"umask 022 && echo $$ > "$0" && exec "$@""#)
                .arg(cg.procs_file()),
            None => command.arg("-c").arg(r#"umask 022 && exec "$@""#).arg("sh"),
        };
        command.arg(&self.bwrap);
        command
            .args(["--args", "0", "--"])
            .args(&step.argv)
            .env_clear()
            .env("PATH", HOST_PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(host("start bwrap"))?;
        if let Some(mut stdin) = child.stdin.take() {
            // bwrap reads its arguments to the end; the command then sees an empty stdin.
            stdin
                .write_all(&crate::args::nul_separated(&options))
                .map_err(host("pass the arguments to bwrap"))?;
        }
        let (tx, rx) = mpsc::channel();
        let readers = spawn_readers(&mut child, step.capture_stdout, &tx);
        drop(tx);
        let outcome = watch(&mut child, &rx, readers, step.timeout, on_line);
        let result = match outcome {
            Watched::Exited(code, (stdout, truncated)) => Ok(Finished {
                code,
                stdout,
                stdout_truncated: truncated,
            }),
            Watched::TimedOut => Err(StepError::TimedOut {
                limit: step.timeout,
            }),
            Watched::Failed(e) => Err(StepError::Host {
                what: "wait for the step",
                source: e,
            }),
        };
        drop(cgroup);
        result
    }
}

enum Watched {
    Exited(i32, (Vec<u8>, bool)),
    TimedOut,
    Failed(std::io::Error),
}

fn spawn_readers(child: &mut Child, capture: Option<usize>, tx: &mpsc::Sender<Message>) -> usize {
    let mut readers = 0;
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers += 1;
        match capture {
            Some(limit) => {
                std::thread::spawn(move || capture_all(out, limit, &tx));
            }
            None => {
                std::thread::spawn(move || forward_lines(out, Stream::Stdout, &tx));
            }
        }
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers += 1;
        std::thread::spawn(move || forward_lines(err, Stream::Stderr, &tx));
    }
    readers
}

fn forward_lines(reader: impl Read, stream: Stream, tx: &mpsc::Sender<Message>) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                if tx.send(Message::Line(OutputLine { stream, text })).is_err() {
                    break;
                }
            }
        }
    }
    let _ = tx.send(Message::Closed);
}

fn capture_all(reader: impl Read, limit: usize, tx: &mpsc::Sender<Message>) {
    let mut kept = Vec::new();
    let mut reader = reader;
    let cap = u64::try_from(limit).unwrap_or(u64::MAX);
    let _ = (&mut reader).take(cap).read_to_end(&mut kept);
    // Drain the rest so the step never blocks on a full pipe.
    let rest = std::io::copy(&mut reader, &mut std::io::sink()).unwrap_or(0);
    let _ = tx.send(Message::Captured(kept, rest > 0));
    let _ = tx.send(Message::Closed);
}

fn watch(
    child: &mut Child,
    rx: &mpsc::Receiver<Message>,
    mut open_readers: usize,
    timeout: Duration,
    on_line: &mut dyn FnMut(OutputLine),
) -> Watched {
    let deadline = Instant::now() + timeout;
    let mut captured = (Vec::new(), false);
    let mut status = None;
    loop {
        if status.is_none() {
            match child.try_wait() {
                Ok(Some(s)) => status = Some(s),
                Ok(None) => {}
                Err(e) => {
                    kill(child);
                    return Watched::Failed(e);
                }
            }
        }
        if let Some(s) = status
            && open_readers == 0
        {
            return Watched::Exited(exit_code(s), captured);
        }
        let now = Instant::now();
        if now >= deadline {
            kill(child);
            return Watched::TimedOut;
        }
        if open_readers == 0 {
            // Output is done; only the exit is left to see.
            std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
            continue;
        }
        let wait = (deadline - now).min(Duration::from_millis(20));
        match rx.recv_timeout(wait) {
            Ok(Message::Line(line)) => on_line(line),
            Ok(Message::Captured(bytes, truncated)) => captured = (bytes, truncated),
            Ok(Message::Closed) => open_readers = open_readers.saturating_sub(1),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => open_readers = 0,
        }
    }
}

/// Kill bwrap: its pid-1 child dies with it (`--die-with-parent`), and the kernel then ends
/// every process of the step's pid namespace.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    -1
}
