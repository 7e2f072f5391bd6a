//! Run `detect` and `build` as native Rust in `cargo test`, without Kiln: a [`FakeHost`]
//! answers the imports (logs recorded, downloads served from memory, archives unpacked
//! in-process), installed with [`crate::host::with_host`] or [`FakeHost::run`].
//!
//! ```
//! use kiln_sdk::testing::FakeHost;
//! use kiln_sdk::fetch::{fetch, Download};
//!
//! let downloads = tempfile::tempdir().unwrap();
//! let host = FakeHost::new(downloads.path()).serve("https://example.invalid/a.txt", b"abc");
//! let sha = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
//! let file = host.run(|| fetch(&Download::pinned("https://example.invalid/a.txt", sha))).unwrap();
//! assert_eq!(std::fs::read(file.path).unwrap(), b"abc");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use kiln_spec::{Algorithm, Integrity};
use sha2::Digest as _;

use crate::exec::{ExecError, ExecOutput, ExecRequest};
use crate::extract::HostExtract;
use crate::fetch::{Download, FetchError, FetchErrorKind, Fetched};
use crate::host::{ExtractReport, Host};
use crate::log::Level;

#[derive(Debug, Default)]
struct State {
    logs: Vec<(Level, String)>,
    requests: Vec<String>,
    commands: Vec<ExecRequest>,
}

/// Answers native commands in a [`FakeHost`].
pub type ExecHandler = Rc<dyn Fn(&ExecRequest) -> Result<ExecOutput, ExecError>>;

/// An in-memory host for native tests. Clones share their state.
#[derive(Clone)]
pub struct FakeHost {
    downloads_dir: PathBuf,
    files: Rc<BTreeMap<String, Vec<u8>>>,
    state: Rc<RefCell<State>>,
    exec: Option<ExecHandler>,
}

impl std::fmt::Debug for FakeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHost")
            .field("downloads_dir", &self.downloads_dir)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("state", &self.state)
            .field("exec", &self.exec.is_some())
            .finish()
    }
}

impl FakeHost {
    /// A host that writes verified downloads into `downloads_dir` (created when needed).
    pub fn new(downloads_dir: impl Into<PathBuf>) -> Self {
        Self {
            downloads_dir: downloads_dir.into(),
            files: Rc::default(),
            state: Rc::default(),
            exec: None,
        }
    }

    /// Answer native commands with `handler` (without one they are refused as
    /// `Unavailable`, as on a host with no build image). Every command is recorded.
    #[must_use]
    pub fn on_exec(
        mut self,
        handler: impl Fn(&ExecRequest) -> Result<ExecOutput, ExecError> + 'static,
    ) -> Self {
        self.exec = Some(Rc::new(handler));
        self
    }

    /// The native commands asked for so far, in order.
    pub fn commands(&self) -> Vec<ExecRequest> {
        self.state.borrow().commands.clone()
    }

    /// Serve `bytes` at `url`. Unknown URLs answer `NotFound`.
    #[must_use]
    pub fn serve(mut self, url: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Rc::make_mut(&mut self.files).insert(url.into(), bytes.into());
        self
    }

    /// Run `f` with this host answering the imports.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        crate::host::with_host(Rc::new(self.clone()), f)
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state.borrow().logs.clone()
    }

    /// The log lines at `level`.
    pub fn logs_at(&self, level: Level) -> Vec<String> {
        self.state
            .borrow()
            .logs
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// True when some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.state
            .borrow()
            .logs
            .iter()
            .any(|(_, m)| m.contains(needle))
    }

    /// The URLs asked for so far, in order.
    pub fn requested(&self) -> Vec<String> {
        self.state.borrow().requests.clone()
    }

    fn fetch_one(&self, d: &Download) -> Result<Fetched, FetchError> {
        let fail = |kind, message: String| FetchError {
            url: d.url.clone(),
            kind,
            message,
        };
        self.state.borrow_mut().requests.push(d.url.clone());
        let Some(integrity) = &d.integrity else {
            return Err(fail(
                FetchErrorKind::Denied,
                format!("{} has no expected digest", d.url),
            ));
        };
        let want = Integrity::parse(integrity)
            .map_err(|e| fail(FetchErrorKind::Invalid, format!("{}: {e}", d.url)))?;
        let bytes = self.files.get(&d.url).ok_or_else(|| {
            fail(
                FetchErrorKind::NotFound,
                format!("{} is not served by the fake host", d.url),
            )
        })?;
        let mismatch = |why: String| {
            fail(
                FetchErrorKind::IntegrityMismatch,
                format!("{} does not match the pinned digest {want}{why}", d.url),
            )
        };
        let got = match want.algorithm() {
            Algorithm::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            Algorithm::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
            // As the host: a module zip or a go.mod, hashed whole.
            Algorithm::GoH1 => kiln_extract::go_h1(&mut std::io::Cursor::new(bytes))
                .map_err(|e| mismatch(format!(" ({e})")))?
                .to_vec(),
        };
        if got != want.bytes() {
            return Err(mismatch(String::new()));
        }
        let storage = |e: std::io::Error| fail(FetchErrorKind::Storage, format!("{}: {e}", d.url));
        std::fs::create_dir_all(&self.downloads_dir).map_err(storage)?;
        let path = self.downloads_dir.join(want.hex());
        std::fs::write(&path, bytes).map_err(storage)?;
        Ok(Fetched {
            url: d.url.clone(),
            path,
            size: bytes.len() as u64,
            digest: want.to_string(),
            cached: false,
        })
    }
}

impl FakeHost {
    /// A served file as an index page: no digest asked for, stored under its sha256.
    fn fetch_page(&self, url: &str) -> Result<Fetched, FetchError> {
        let bytes = self.files.get(url).ok_or_else(|| FetchError {
            url: url.to_owned(),
            kind: FetchErrorKind::NotFound,
            message: format!("{url} is not served by the fake host"),
        })?;
        let pinned = Download::pinned(url, crate::testing::sha256_integrity(bytes));
        self.fetch_one(&pinned)
    }
}

impl Host for FakeHost {
    fn log(&self, level: Level, message: &str) {
        self.state
            .borrow_mut()
            .logs
            .push((level, message.to_owned()));
    }

    fn fetch(&self, requests: &[Download]) -> Vec<Result<Fetched, FetchError>> {
        requests.iter().map(|d| self.fetch_one(d)).collect()
    }

    fn fetch_index(&self, urls: &[String]) -> Vec<Result<Fetched, FetchError>> {
        urls.iter().map(|url| self.fetch_page(url)).collect()
    }

    fn extract(&self, requests: &[HostExtract]) -> Vec<Result<ExtractReport, String>> {
        requests
            .iter()
            .map(crate::host::native::extract_natively)
            .collect()
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutput, ExecError> {
        self.state.borrow_mut().commands.push(request.clone());
        match &self.exec {
            Some(handler) => handler(request),
            None => crate::host::NativeHost.exec(request),
        }
    }
}

/// The sha256 integrity (`sha256:<hex>`) of `bytes`, for pinning fixture downloads.
pub fn sha256_integrity(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ArchiveFormat, ExtractOptions, extract_download};
    use crate::fetch::{fetch, fetch_all};
    use crate::log;

    #[test]
    fn native_commands_are_answered_by_the_handler_and_recorded() {
        use crate::exec::{Command, ExecErrorKind, ExecFailure, ExecOutput};
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost::new(dir.path()).on_exec(|r| {
            Ok(ExecOutput {
                code: i32::from(r.argv[0] == "false"),
                stdout: b"go1.23".to_vec(),
            })
        });
        host.run(|| {
            Command::new("go").arg("version").run().unwrap();
            assert_eq!(Command::new("go").output().unwrap(), b"go1.23");
            let err = Command::new("false").run().unwrap_err();
            assert!(
                crate::Report::new(&err).to_string().contains("status 1"),
                "{err}"
            );
        });
        let commands = host.commands();
        assert_eq!(commands.len(), 3);
        assert_eq!(commands[0].argv, ["go", "version"]);
        assert!(commands[1].capture_stdout);
        FakeHost::new(dir.path()).run(|| {
            let err = Command::new("go").run().unwrap_err();
            assert!(matches!(
                err,
                crate::Error::Exec {
                    source: ExecFailure::Host(crate::exec::ExecError {
                        kind: ExecErrorKind::Unavailable,
                        ..
                    }),
                    ..
                }
            ));
        });
    }

    #[test]
    fn serves_verifies_and_records() {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost::new(dir.path()).serve("https://x.invalid/a", b"abc".to_vec());
        let good = sha256_integrity(b"abc");
        let bad = sha256_integrity(b"abd");
        let results = host.run(|| {
            log::info("starting");
            fetch_all(&[
                Download::pinned("https://x.invalid/a", &good),
                Download::pinned("https://x.invalid/a", &bad),
                Download::pinned("https://x.invalid/missing", &good),
                Download::unpinned("https://x.invalid/a"),
            ])
        });
        let file = results[0].as_ref().unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), b"abc");
        assert_eq!(file.digest, good);
        let kinds: Vec<_> = results[1..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().kind)
            .collect();
        assert_eq!(
            kinds,
            [
                FetchErrorKind::IntegrityMismatch,
                FetchErrorKind::NotFound,
                FetchErrorKind::Denied
            ]
        );
        assert_eq!(host.requested().len(), 4);
        assert_eq!(host.logs_at(Level::Info), ["starting"]);
    }

    #[test]
    fn verifies_go_h1_pins() {
        let dir = tempfile::tempdir().unwrap();
        let go_mod = b"module golang.org/x/text\n";
        // A real go.sum line: `golang.org/x/text v0.3.0/go.mod h1:NqM8…` (that version has no
        // go.mod; the proxy serves this synthesized one).
        let pin = "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=";
        let host = FakeHost::new(dir.path())
            .serve(
                "https://proxy.invalid/golang.org/x/text/@v/v0.3.0.mod",
                go_mod,
            )
            .serve("https://proxy.invalid/evil.mod", b"module evil\n")
            .serve("https://proxy.invalid/broken.zip", b"PK\x03\x04broken");
        let results = host.run(|| {
            fetch_all(&[
                Download::pinned("https://proxy.invalid/golang.org/x/text/@v/v0.3.0.mod", pin),
                Download::pinned("https://proxy.invalid/evil.mod", pin),
                Download::pinned("https://proxy.invalid/broken.zip", pin),
            ])
        });
        let file = results[0].as_ref().unwrap();
        assert_eq!(file.digest, pin);
        assert_eq!(std::fs::read(&file.path).unwrap(), go_mod);
        for r in &results[1..] {
            let err = r.as_ref().unwrap_err();
            assert_eq!(
                err.kind,
                FetchErrorKind::IntegrityMismatch,
                "{}",
                err.message
            );
            assert!(err.message.contains(pin), "{}", err.message);
        }
    }

    #[test]
    fn without_a_host_native_code_gets_refusals() {
        let err = fetch(&Download::pinned(
            "https://x.invalid/a",
            sha256_integrity(b""),
        ))
        .unwrap_err();
        assert_eq!(err.kind, FetchErrorKind::Denied);
    }

    #[test]
    fn extracts_in_process_and_refuses_a_full_destination() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("f.txt"), "hi").unwrap();
        let archive = dir.path().join("a.tar");
        let mut builder = tar_writer(&archive);
        builder
            .append_path_with_name(src.join("f.txt"), "top/f.txt")
            .unwrap();
        builder.finish().unwrap();
        let dest = dir.path().join("out");
        let request = HostExtract {
            archive: archive.clone(),
            format: ArchiveFormat::Tar,
            destination: dest.clone(),
            options: ExtractOptions {
                strip_components: 1,
            },
        };
        let host = FakeHost::new(dir.path().join("downloads"));
        let report = host.run(|| extract_download(&request)).unwrap();
        assert_eq!(report.files, 1);
        assert_eq!(std::fs::read_to_string(dest.join("f.txt")).unwrap(), "hi");
        let err = host.run(|| extract_download(&request)).unwrap_err();
        assert!(matches!(err, crate::Error::Extract { .. }), "{err}");
        assert!(
            crate::Report::new(&err).detail.contains("not empty"),
            "{err}"
        );
    }

    fn tar_writer(path: &std::path::Path) -> tar::Builder<std::fs::File> {
        tar::Builder::new(std::fs::File::create(path).unwrap())
    }
}
