//! Registry credentials, looked up the way `docker` and `pack` do, in this order:
//!
//! 1. `CNB_REGISTRY_AUTH`: a JSON object `{"HOST": "Basic <base64 user:pass>" | "Bearer <token>"}`.
//! 2. `KILN_REGISTRY_USERNAME` + `KILN_REGISTRY_PASSWORD` (for every registry, or only for
//!    `KILN_REGISTRY_HOST` when it is set).
//! 3. `$REGISTRY_AUTH_FILE` (podman/skopeo), then `$DOCKER_CONFIG/config.json` or
//!    `~/.docker/config.json`: `credHelpers.HOST`, then `auths.HOST`, then `credsStore`.
//!    Helpers are `docker-credential-NAME` executables on `PATH`, asked with `get`.
//!
//! Credentials stay in the host process: buildpacks never see the host environment or files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::RegistryError;

/// Credentials for one registry, with where they came from (for messages; never the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// What to send.
    pub secret: Secret,
    /// Where they came from, e.g. `config.json /root/.docker/config.json`.
    pub source: String,
}

/// What is sent to the registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Nothing: anonymous access.
    Anonymous,
    /// HTTP basic credentials (also used to obtain bearer tokens).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// A registry bearer token.
    Bearer(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.secret {
            Secret::Anonymous => "anonymous",
            Secret::Basic { .. } => "basic",
            Secret::Bearer(_) => "bearer",
        };
        write!(f, "Credentials({kind} from {})", self.source)
    }
}

impl Credentials {
    /// No credentials.
    pub fn anonymous() -> Self {
        Self {
            secret: Secret::Anonymous,
            source: "no credentials found".into(),
        }
    }

    /// The oci-client form.
    pub fn to_registry_auth(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match &self.secret {
            Secret::Anonymous => RegistryAuth::Anonymous,
            Secret::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Secret::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// Where credentials are looked up; [`Sources::from_env`] reads the real environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `CNB_REGISTRY_AUTH`.
    pub cnb_registry_auth: Option<String>,
    /// `KILN_REGISTRY_USERNAME`, `KILN_REGISTRY_PASSWORD`, `KILN_REGISTRY_HOST`.
    pub env_basic: Option<(String, String, Option<String>)>,
    /// Config files, in order.
    pub config_files: Vec<PathBuf>,
}

impl Sources {
    /// The sources the process environment names.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let env_basic = match (var("KILN_REGISTRY_USERNAME"), var("KILN_REGISTRY_PASSWORD")) {
            (Some(u), Some(p)) => Some((u, p, var("KILN_REGISTRY_HOST"))),
            _ => None,
        };
        let mut config_files = Vec::new();
        if let Some(f) = var("REGISTRY_AUTH_FILE") {
            config_files.push(PathBuf::from(f));
        }
        if let Some(d) = var("DOCKER_CONFIG") {
            config_files.push(PathBuf::from(d).join("config.json"));
        } else if let Some(home) = dirs::home_dir() {
            config_files.push(home.join(".docker").join("config.json"));
        }
        Self {
            cnb_registry_auth: var("CNB_REGISTRY_AUTH"),
            env_basic,
            config_files,
        }
    }

    /// Credentials for `registry` (`host[:port]`), or anonymous.
    pub fn lookup(&self, registry: &str) -> Result<Credentials, RegistryError> {
        let bad = |reason: String| RegistryError::Credentials {
            registry: registry.to_owned(),
            reason,
        };
        if let Some(json) = &self.cnb_registry_auth {
            let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
                bad(format!(
                    "CNB_REGISTRY_AUTH is not a JSON object of strings ({e}); use {{\"HOST\": \"Basic BASE64\"}}"
                ))
            })?;
            if let Some(value) = host_keys(registry).iter().find_map(|k| map.get(k)) {
                return parse_authorization(value)
                    .map(|secret| Credentials {
                        secret,
                        source: "CNB_REGISTRY_AUTH".into(),
                    })
                    .map_err(|r| bad(format!("CNB_REGISTRY_AUTH: {r}")));
            }
        }
        if let Some((user, pass, host)) = &self.env_basic
            && host
                .as_deref()
                .is_none_or(|h| host_keys(registry).iter().any(|k| k == h))
        {
            return Ok(Credentials {
                secret: Secret::Basic {
                    username: user.clone(),
                    password: pass.clone(),
                },
                source: "KILN_REGISTRY_USERNAME/KILN_REGISTRY_PASSWORD".into(),
            });
        }
        for file in &self.config_files {
            if let Some(found) = from_config_file(file, registry)? {
                return Ok(found);
            }
        }
        Ok(Credentials::anonymous())
    }
}

/// The keys a registry may be filed under in config files.
fn host_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        keys.extend(
            [
                "docker.io",
                "index.docker.io",
                "https://index.docker.io/v1/",
            ]
            .map(str::to_owned),
        );
    }
    keys
}

fn parse_authorization(value: &str) -> Result<Secret, String> {
    if let Some(b64) = value.strip_prefix("Basic ") {
        return decode_basic(b64.trim());
    }
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Ok(Secret::Bearer(token.trim().to_owned()));
    }
    Err("values must start with `Basic ` or `Bearer `".into())
}

fn decode_basic(b64: &str) -> Result<Secret, String> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| format!("`auth` is not base64 ({e})"))?;
    let text = String::from_utf8(bytes).map_err(|_| "`auth` is not UTF-8".to_owned())?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| "`auth` must encode USER:PASSWORD".to_owned())?;
    Ok(Secret::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

fn from_config_file(file: &Path, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let bad = |reason: String| RegistryError::Credentials {
        registry: registry.to_owned(),
        reason: format!("{}: {reason}", file.display()),
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read it ({e})"))),
    };
    let config: ConfigFile = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a docker config file ({e}); fix or remove it")))?;
    let keys = host_keys(registry);
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return run_helper(helper, registry).map_err(bad);
    }
    if let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) {
        let source = format!("config.json {}", file.display());
        let secret = if let Some(token) = &entry.registrytoken {
            Secret::Bearer(token.clone())
        } else if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            decode_basic(auth).map_err(|r| bad(format!("auths.{registry}: {r}")))?
        } else if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            Secret::Basic {
                username: u.clone(),
                password: p.clone(),
            }
        } else if let Some(token) = &entry.identitytoken {
            Secret::Bearer(token.clone())
        } else {
            return Ok(None);
        };
        return Ok(Some(Credentials { secret, source }));
    }
    if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        return run_helper(store, registry).map_err(bad);
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Ask `docker-credential-NAME get` for the registry's credentials. "Not found" is `None`.
fn run_helper(name: &str, registry: &str) -> Result<Option<Credentials>, String> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run {program} ({e}); install it or remove it from the config")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .map_err(|e| format!("{program}: cannot write the server URL ({e})"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program} failed ({e})"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).trim().to_owned()
            + String::from_utf8_lossy(&out.stderr).trim();
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{program} get exited with {} ({said})", out.status));
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{program} get printed invalid JSON ({e})"))?;
    let secret = if reply.username == "<token>" {
        Secret::Bearer(reply.secret)
    } else {
        Secret::Basic {
            username: reply.username,
            password: reply.secret,
        }
    };
    Ok(Some(Credentials {
        secret,
        source: format!("credential helper {program}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> Secret {
        Secret::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn config_json_auths_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        let auth = STANDARD.encode("alice:s3cret");
        std::fs::write(
            &file,
            format!(
                r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}},"https://other.io":{{"username":"bob","password":"pw"}}}}}}"#
            ),
        )
        .unwrap();
        let sources = Sources {
            config_files: vec![file],
            ..Sources::default()
        };
        assert_eq!(
            sources.lookup("127.0.0.1:5000").unwrap().secret,
            basic("alice", "s3cret")
        );
        assert_eq!(
            sources.lookup("other.io").unwrap().secret,
            basic("bob", "pw")
        );
        assert!(sources.lookup("third.io").unwrap().secret == Secret::Anonymous);
    }

    #[test]
    fn env_sources_come_first() {
        let sources = Sources {
            cnb_registry_auth: Some(format!(
                r#"{{"reg.io":"Basic {}"}}"#,
                STANDARD.encode("u:p")
            )),
            env_basic: Some(("e".into(), "f".into(), Some("only.io".into()))),
            config_files: Vec::new(),
        };
        assert_eq!(sources.lookup("reg.io").unwrap().secret, basic("u", "p"));
        assert_eq!(sources.lookup("only.io").unwrap().secret, basic("e", "f"));
        assert!(sources.lookup("x.io").unwrap().secret == Secret::Anonymous);
    }

    #[test]
    fn malformed_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, "{not json").unwrap();
        let sources = Sources {
            config_files: vec![file.clone()],
            ..Sources::default()
        };
        let err = sources.lookup("r.io").unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, r#"{"credHelpers":{"r.io":"kiln-test-nonexistent"}}"#).unwrap();
        let sources = Sources {
            config_files: vec![file],
            ..Sources::default()
        };
        let err = sources.lookup("r.io").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-kiln-test-nonexistent"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            secret: basic("u", "hunter2"),
            source: "test".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
