//! Native build steps: one command run in a build image's root filesystem, isolated by
//! [bubblewrap](https://github.com/containers/bubblewrap) (`bwrap`), with the same directory
//! grants the buildpack's wasm guest has and nothing else of the host.
//!
//! What a step gets (see [`Sandbox::run`]):
//! - the build image's rootfs as `/`, read-only; a private `/tmp`, `/proc` and a minimal `/dev`;
//! - each [`Mount`] at its guest path, read-only or read-write as granted;
//! - new user, mount, pid, ipc, uts, cgroup and network namespaces (only loopback),
//!   `no_new_privs`, no capabilities, the build user's uid/gid, a fixed hostname;
//! - exactly the environment it is given, plus the determinism variables
//!   ([`DETERMINISM_ENV`]); nothing of the host's;
//! - a wall-clock limit, after which the whole process tree is killed, and a process-count
//!   limit where the host lets Kiln create a cgroup.
//!
//! Native steps are Linux only: [`Sandbox::locate`] says so elsewhere.

mod args;
mod locate;
mod pids_limit;
mod run;
mod step;

pub use locate::{BWRAP_ENV, Sandbox, SandboxError};
pub use step::{DETERMINISM_ENV, Finished, Mount, OutputLine, Step, StepError, Stream};
