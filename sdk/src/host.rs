//! The imports a buildpack uses (log, fetch, extract, exec) behind one trait, so the
//! same `detect`/`build` code runs as a component (the real WIT imports, [`WitHost`]) and as
//! native Rust in `cargo test` (a host installed with [`with_host`], such as
//! [`crate::testing::FakeHost`]).

pub(crate) mod native;
mod wit;

use std::cell::RefCell;
use std::rc::Rc;

use crate::exec::{ExecError, ExecOutput, ExecRequest};
use crate::extract::HostExtract;
use crate::fetch::{Download, FetchError, Fetched};
use crate::log::Level;

pub use kiln_extract::ExtractReport;
pub use native::NativeHost;
pub use wit::WitHost;

/// What the host does for a buildpack. Batches answer in request order.
pub trait Host {
    /// Write one line to the build log.
    fn log(&self, level: Level, message: &str);

    /// Download and verify a batch of files.
    fn fetch(&self, requests: &[Download]) -> Vec<Result<Fetched, FetchError>>;

    /// Download a batch of package-index pages (unpinned metadata).
    fn fetch_index(&self, urls: &[String]) -> Vec<Result<Fetched, FetchError>>;

    /// Unpack verified downloads into the buildpack's layers; an error is one line.
    fn extract(&self, requests: &[HostExtract]) -> Vec<Result<ExtractReport, String>>;

    /// Run a native command in the build image and wait for it.
    fn exec(&self, request: &ExecRequest) -> Result<ExecOutput, ExecError>;
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<dyn Host>>> = const { RefCell::new(None) };
}

/// Run `f` with `host` answering this thread's imports; the previous host is put back after,
/// also when `f` panics.
pub fn with_host<R>(host: Rc<dyn Host>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<dyn Host>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(host));
    let _restore = Restore(previous);
    f()
}

/// Call `f` with the current host: the one installed by [`with_host`], else the default
/// ([`WitHost`] in a component, [`NativeHost`] elsewhere).
pub(crate) fn with_current<R>(f: impl FnOnce(&dyn Host) -> R) -> R {
    let installed = CURRENT.with(|c| c.borrow().clone());
    match installed {
        Some(host) => f(host.as_ref()),
        None => f(&default_host()),
    }
}

#[cfg(target_arch = "wasm32")]
fn default_host() -> WitHost {
    WitHost
}

#[cfg(not(target_arch = "wasm32"))]
fn default_host() -> NativeHost {
    NativeHost
}
