//! Escape attempts against a real bubblewrap sandbox over a busybox rootfs: what the step
//! sees of the host (nothing that was not granted) and what happens to runaway processes.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_sandbox::{Finished, Mount, Sandbox, Step, StepError, Stream};

/// A rootfs with the host's static busybox as every command, and its own `/etc/passwd`.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("these tests need a static busybox (Debian package busybox-static; scripts/setup.sh --test installs it)");
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "cat", "echo", "id", "touch", "ls", "sleep", "nc", "wget", "hostname", "env",
        "mkdir", "ps", "true", "ln", "umask",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "builder:x:1000:1000::/home:/bin/sh\n",
    )
    .unwrap();
    root
}

struct Fixture {
    _dir: tempfile::TempDir,
    sandbox: Sandbox,
    workspace: PathBuf,
    own_layer: PathBuf,
    other_layer: PathBuf,
    downloads: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let mk = |name: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let (workspace, own_layer, other_layer, downloads) =
        (mk("app"), mk("own"), mk("other"), mk("downloads"));
    std::fs::write(other_layer.join("tool"), "other's").unwrap();
    std::fs::write(downloads.join("file"), "downloaded").unwrap();
    let sandbox = Sandbox::locate(&rootfs, 1000, 1000)
        .expect("these tests need bubblewrap (Debian package bubblewrap; scripts/setup.sh --test installs it)")
        .with_max_processes(64);
    Fixture {
        _dir: dir,
        sandbox,
        workspace,
        own_layer,
        other_layer,
        downloads,
    }
}

impl Fixture {
    fn step(&self, script: &str) -> Step {
        Step {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![("PATH".into(), "/bin".into())],
            cwd: "/workspace".into(),
            timeout: Duration::from_secs(20),
            mounts: vec![
                Mount {
                    host: self.workspace.clone(),
                    guest: "/workspace".into(),
                    writable: true,
                },
                Mount {
                    host: self.own_layer.clone(),
                    guest: "/layers/me".into(),
                    writable: true,
                },
                Mount {
                    host: self.other_layer.clone(),
                    guest: "/layers/other/tools".into(),
                    writable: false,
                },
                Mount {
                    host: self.downloads.clone(),
                    guest: "/downloads".into(),
                    writable: false,
                },
            ],
            source_date_epoch: 315_532_800,
            capture_stdout: None,
        }
    }

    /// Run `step`; its stdout lines (stderr goes to the test's output).
    fn run(&self, step: &Step) -> (Result<Finished, StepError>, Vec<String>) {
        let mut lines = Vec::new();
        let result = self.sandbox.run(step, &mut |l| match l.stream {
            Stream::Stdout => lines.push(l.text),
            Stream::Stderr => eprintln!("step stderr: {}", l.text),
        });
        (result, lines)
    }

    fn run_script(&self, script: &str) -> (i32, Vec<String>) {
        let (result, lines) = self.run(&self.step(script));
        (result.unwrap().code, lines)
    }
}

#[test]
fn the_step_reads_the_build_images_passwd_not_the_hosts() {
    let f = fixture();
    let (code, lines) = f.run_script("cat /etc/passwd; id -u; hostname");
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines[0], "builder:x:1000:1000::/home:/bin/sh");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1], "1000");
    assert_eq!(lines[2], "kiln");
}

#[test]
fn the_step_sees_none_of_the_hosts_environment() {
    let f = fixture();
    let secret = "kiln-test-secret-value-7f3a";
    let mut step = f.step("env");
    step.env.push(("GIVEN".into(), "yes".into()));
    // The test binary runs itself again with a secret in its environment; that child runs
    // the step and fails if the step's output shows the secret.
    let (result, lines) = {
        let mut lines = Vec::new();
        let r = temp_env_run(&f.sandbox, &step, secret, &mut lines);
        (r, lines)
    };
    assert_eq!(result.unwrap().code, 0);
    let text = lines.join("\n");
    assert!(!text.contains(secret), "{text}");
    for expected in [
        "GIVEN=yes",
        "TZ=UTC",
        "LC_ALL=C.UTF-8",
        "SOURCE_DATE_EPOCH=315532800",
        "HOME=/tmp/home",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
}

/// Run `step` from a child copy of this test binary whose environment holds `secret`, so the
/// secret is really in the environment of the process that starts the sandbox.
fn temp_env_run(
    sandbox: &Sandbox,
    step: &Step,
    secret: &str,
    lines: &mut Vec<String>,
) -> Result<Finished, StepError> {
    if std::env::var("KILN_SANDBOX_TEST_SECRET").is_err() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "the_step_sees_none_of_the_hosts_environment",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KILN_SANDBOX_TEST_SECRET", secret)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "child run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("STEP-ENV-BEGIN"), "{stdout}");
    }
    let result = sandbox.run(step, &mut |l| lines.push(l.text));
    if std::env::var("KILN_SANDBOX_TEST_SECRET").is_ok() {
        println!("STEP-ENV-BEGIN");
        for l in lines.iter() {
            println!("{l}");
            assert!(!l.contains(secret), "the step saw the host's secret: {l}");
        }
    }
    result
}

#[test]
fn the_step_cannot_reach_a_server_on_the_hosts_loopback() {
    let f = fixture();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let (code, lines) = f.run_script(&format!(
        "echo hello | nc -w 2 127.0.0.1 {port} && echo CONNECTED; wget -q -T 2 -O - http://127.0.0.1:{port}/ && echo FETCHED; echo done"
    ));
    assert_eq!(code, 0, "{lines:?}");
    assert!(
        !lines.iter().any(|l| l == "CONNECTED" || l == "FETCHED"),
        "{lines:?}"
    );
    let mut accepted = listener.accept();
    if let Ok((stream, _)) = &mut accepted {
        let mut buf = String::new();
        let _ = stream.read_to_string(&mut buf);
        panic!("the host server got a connection from the step: {buf:?}");
    }
    // And the server itself works from the host side.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"x").unwrap();
}

#[test]
fn read_only_grants_and_the_rootfs_cannot_be_written() {
    let f = fixture();
    let (code, lines) = f.run_script(
        "for p in /layers/other/tools/tool /downloads/file /etc/passwd /bin/new /layers/new /new; do \
           if echo x >> $p 2>/dev/null; then echo WROTE $p; else echo refused $p; fi; done; \
         echo ok > /workspace/out && echo ok > /layers/me/out && echo ok > /tmp/t && echo writable",
    );
    assert_eq!(code, 0, "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("WROTE")), "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("refused")).count(), 6);
    assert_eq!(lines.last().map(String::as_str), Some("writable"));
    assert_eq!(
        std::fs::read_to_string(f.other_layer.join("tool")).unwrap(),
        "other's"
    );
    assert_eq!(
        std::fs::read_to_string(f.downloads.join("file")).unwrap(),
        "downloaded"
    );
    assert_eq!(
        std::fs::read_to_string(f.workspace.join("out")).unwrap(),
        "ok\n"
    );
    assert_eq!(
        std::fs::read_to_string(f.own_layer.join("out")).unwrap(),
        "ok\n"
    );
}

#[test]
fn files_are_written_with_umask_022_and_exit_codes_come_back() {
    let f = fixture();
    let (code, lines) = f.run_script("umask; touch /workspace/f; exit 7");
    assert_eq!(code, 7, "{lines:?}");
    assert_eq!(lines, ["0022"]);
    let mode = std::fs::metadata(f.workspace.join("f"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

fn marker_processes(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .count()
}

#[test]
fn an_endless_loop_is_killed_at_the_time_limit_with_its_children() {
    let f = fixture();
    let marker = "kiln-endless-7c1";
    let mut step = f.step(&format!(
        "(exec -a {marker} sleep 1000) & (exec -a {marker} sleep 1001) & while :; do :; done"
    ));
    step.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let (result, _) = f.run(&step);
    assert!(
        matches!(result, Err(StepError::TimedOut { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        marker_processes(marker),
        0,
        "processes of the step survived"
    );
}

#[test]
fn a_fork_bomb_is_contained_and_leaves_no_process_behind() {
    let f = fixture();
    let mut step = f.step("bomb() { bomb | bomb & }; bomb; sleep 100");
    step.timeout = Duration::from_secs(3);
    let (result, _) = f.run(&step);
    assert!(
        matches!(result, Err(StepError::TimedOut { .. })),
        "{result:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    // The host can still start processes, and the sandbox is gone.
    let (code, _) = f.run_script("true");
    assert_eq!(code, 0);
}
