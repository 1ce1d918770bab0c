//! Child processes that say when they are ready: readiness is the program's own word on
//! stdout, never a sleep.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Spawns `cmd` and reads its stdout until a line satisfies `ready`; afterwards its output
/// keeps being drained so it never blocks on a full pipe. `None` (and the process reaped)
/// when it exits first, e.g. because its port was taken meanwhile. Panics with `hint` when
/// it cannot be spawned at all.
// The child is returned to its owner, whose `Drop` kills and reaps it; every other path
// reaps it here. The lint cannot see through the return.
#[allow(clippy::zombie_processes)]
pub fn start_when_ready(
    mut cmd: Command,
    ready: impl Fn(&str) -> bool,
    hint: &str,
) -> Option<Child> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{hint} ({e})"));
    let stdout = child.stdout.take()?;
    let mut lines = BufReader::new(stdout).lines();
    if lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| ready(&line))
    {
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        return Some(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Sends `signal` (e.g. `-STOP`, `-CONT`) to process `pid` with kill(1): how tests freeze
/// a server in its tracks and let it go again.
pub fn signal(pid: &str, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([signal, pid])
        .status()
        .map_err(|e| format!("kill {signal} {pid}: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("kill {signal} {pid} failed")),
    }
}
