//! A blocking face over `oci-client`: one connection per registry and operation, with
//! credentials, retries with backoff on 5xx and connection failures, and errors that name the
//! image.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt as _;
use http::HeaderValue;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::{Client, RegistryOperation};

use super::auth::{Credentials, Sources};
use super::{Registries, RegistryError, RegistryRef};
use kiln_fs::retry::Retry;
use kiln_oci::{BlobStore, Descriptor, Digest};

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
    /// The `mediaType` field.
    pub media_type: String,
}

/// A connection to one repository of a registry.
pub struct Registry {
    client: Client,
    runtime: tokio::runtime::Handle,
    insecure: bool,
    concurrency: usize,
    credentials: Credentials,
    reference: RegistryRef,
    operation: RegistryOperation,
}

impl Registry {
    /// Connect for `operation` (pull or push) on `reference`'s repository, with the
    /// credentials the environment provides.
    pub fn connect(
        registries: &Registries,
        reference: &RegistryRef,
        operation: RegistryOperation,
    ) -> Result<Self, RegistryError> {
        let credentials = Sources::from_env().lookup(reference.registry())?;
        let settings = registries.settings();
        let insecure = reference.is_insecure(&settings.insecure);
        let protocol = if insecure {
            oci_client::client::ClientProtocol::Http
        } else {
            oci_client::client::ClientProtocol::Https
        };
        let client = Client::new(oci_client::client::ClientConfig {
            protocol,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_mins(2)),
            ..Default::default()
        });
        let registry = Self {
            client,
            runtime: registries.runtime().clone(),
            insecure,
            concurrency: settings.concurrency.max(1),
            credentials,
            reference: reference.clone(),
            operation,
        };
        let auth = registry.credentials.to_registry_auth();
        registry.block_on("authenticate", || {
            registry
                .client
                .auth(registry.reference.oci(), &auth, operation)
        })?;
        Ok(registry)
    }

    /// The repository this connection is for.
    pub fn reference(&self) -> &RegistryRef {
        &self.reference
    }

    /// Run `op` on the runtime, retrying transient failures with backoff.
    fn block_on<T, F, Fut>(&self, action: &str, op: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        self.runtime.block_on(self.retrying(action, op))
    }

    /// `op` with retries, for use inside the runtime.
    async fn retrying<T, F, Fut>(&self, action: &str, op: F) -> Result<T, RegistryError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        Retry::NETWORK
            .run(action, op, is_transient, tokio::time::sleep)
            .await
            .map_err(|(e, attempts)| self.classify(action, e, attempts))
    }

    /// Fetch a manifest (or index) by tag or digest; `None` if the registry has none.
    pub fn manifest(&self, at: &RegistryRef) -> Result<Option<RawManifest>, RegistryError> {
        const ACCEPT: &[&str] = &[
            kiln_oci::spec::MEDIA_TYPE_OCI_MANIFEST,
            kiln_oci::spec::MEDIA_TYPE_OCI_INDEX,
            kiln_oci::spec::MEDIA_TYPE_DOCKER_MANIFEST,
            kiln_oci::spec::MEDIA_TYPE_DOCKER_MANIFEST_LIST,
        ];
        let auth = self.credentials.to_registry_auth();
        let result = self.block_on("fetch the manifest", || {
            self.client.pull_manifest_raw(at.oci(), &auth, ACCEPT)
        });
        let (bytes, _) = match result {
            Ok(v) => v,
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = bytes.to_vec();
        let digest = Digest::of_bytes(&bytes);
        if let Some(expected) = at.digest()
            && expected != digest.as_str()
        {
            return Err(RegistryError::DigestInvalid {
                reference: at.whole(),
                expected: expected.to_owned(),
                detail: format!("the registry sent a manifest with digest {digest}"),
            });
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
            .ok_or_else(|| RegistryError::BadManifest {
                reference: at.whole(),
                reason: "the manifest is not JSON with a mediaType field".into(),
            })?;
        Ok(Some(RawManifest {
            bytes,
            digest,
            media_type,
        }))
    }

    /// Download blobs the store lacks into it, `concurrency` at a time, verifying each
    /// digest. Returns (blobs downloaded, bytes downloaded).
    pub fn download_blobs(
        &self,
        blobs: &[Descriptor],
        store: &BlobStore,
    ) -> Result<(usize, u64), RegistryError> {
        let missing: Vec<&Descriptor> = blobs.iter().filter(|d| !store.has(&d.digest)).collect();
        let concurrency = self.concurrency;
        let results: Vec<Result<u64, RegistryError>> = self.runtime.block_on(
            futures_util::stream::iter(missing.iter().map(|d| self.download_blob(d, store)))
                .buffer_unordered(concurrency)
                .collect(),
        );
        let mut bytes = 0;
        for r in results {
            bytes += r?;
        }
        Ok((missing.len(), bytes))
    }

    async fn download_blob(
        &self,
        desc: &Descriptor,
        store: &BlobStore,
    ) -> Result<u64, RegistryError> {
        let digest = desc.digest.as_str();
        let written = self
            .retrying(&format!("download blob {digest}"), || async {
                let mut stream = self
                    .client
                    .pull_blob_stream(self.reference.oci(), digest)
                    .await?;
                let mut writer = store.writer().map_err(io_error)?;
                while let Some(chunk) = stream.stream.next().await {
                    std::io::Write::write_all(&mut writer, &chunk?)?;
                }
                writer.finish(&desc.media_type).map_err(io_error)
            })
            .await?;
        if written.digest != desc.digest {
            let _ = std::fs::remove_file(store.path(&written.digest));
            return Err(RegistryError::mismatch(
                &self.reference.whole(),
                &desc.digest,
                &written.digest,
            ));
        }
        Ok(written.size)
    }

    /// Whether the repository has the blob (a HEAD request).
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        self.retrying(&format!("check blob {digest}"), || {
            self.client
                .blob_exists(self.reference.oci(), digest.as_str())
        })
        .await
    }

    /// Ask the registry to mount a blob from another repository of the same registry.
    /// Returns false when it declines (the caller then uploads).
    pub async fn mount_blob(&self, from: &RegistryRef, digest: &Digest) -> bool {
        self.client
            .mount_blob(self.reference.oci(), from.oci(), digest.as_str())
            .await
            .is_ok()
    }

    /// Upload a blob from a file, streamed (a blob is never held in memory whole).
    pub async fn upload_blob(&self, path: &Path, digest: &Digest) -> Result<u64, RegistryError> {
        let size = std::fs::metadata(path)
            .map_err(|e| {
                RegistryError::Store(kiln_oci::ImageError::Io {
                    action: "read blob",
                    path: path.to_owned(),
                    source: e,
                })
            })?
            .len();
        self.retrying(&format!("upload blob {digest}"), || async {
            let file = tokio::fs::File::open(path).await?;
            self.client
                .push_blob_stream(
                    self.reference.oci(),
                    file_chunks(file),
                    digest.as_str(),
                    Some(size),
                )
                .await
        })
        .await?;
        Ok(size)
    }

    /// Put manifest bytes under `at` (a tag or digest of this repository).
    pub fn put_manifest(
        &self,
        at: &RegistryRef,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let content_type =
            HeaderValue::from_str(media_type).map_err(|e| RegistryError::BadManifest {
                reference: at.whole(),
                reason: format!("media type {media_type:?} is not a valid header ({e})"),
            })?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.block_on("push the manifest", || {
            self.client
                .push_manifest_raw(at.oci(), body.clone(), content_type.clone())
        })?;
        Ok(())
    }

    /// Run a batch of async registry work to completion.
    pub fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, RegistryError> {
        Ok(self.runtime.block_on(work))
    }

    fn classify(&self, action: &str, e: OciDistributionError, attempts: u32) -> RegistryError {
        let reference = self.reference.whole();
        let registry = self.reference.registry().to_owned();
        let credentials = self.credentials.source.clone();
        let operation = match self.operation {
            RegistryOperation::Pull => "pull",
            RegistryOperation::Push => "push",
        };
        let protocol = |reason: String| RegistryError::Protocol {
            reference: reference.clone(),
            registry: registry.clone(),
            action: action.to_owned(),
            reason,
        };
        match e {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => RegistryError::Unauthorized {
                reference,
                registry,
                credentials,
            },
            OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound {
                reference,
                registry,
                what: "manifest".into(),
            },
            OciDistributionError::DigestError(d) => RegistryError::DigestInvalid {
                reference,
                expected: action.to_owned(),
                detail: d.to_string(),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let first = envelope.errors.first();
                let message = first.map(|e| e.message.clone()).unwrap_or_default();
                match first.map(|e| &e.code) {
                    Some(OciErrorCode::Unauthorized) => RegistryError::Unauthorized {
                        reference,
                        registry,
                        credentials,
                    },
                    Some(OciErrorCode::Denied) => RegistryError::Denied {
                        reference,
                        registry,
                        operation,
                        credentials,
                    },
                    Some(
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown,
                    ) => RegistryError::NotFound {
                        reference,
                        registry,
                        what: format!("{action}: {message}"),
                    },
                    Some(OciErrorCode::DigestInvalid) => RegistryError::DigestInvalid {
                        reference,
                        expected: action.to_owned(),
                        detail: format!("the registry answered DIGEST_INVALID ({message})"),
                    },
                    _ => protocol(envelope.to_string()),
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                401 => RegistryError::Unauthorized {
                    reference,
                    registry,
                    credentials,
                },
                403 => RegistryError::Denied {
                    reference,
                    registry,
                    operation,
                    credentials,
                },
                404 => RegistryError::NotFound {
                    reference,
                    registry,
                    what: action.to_owned(),
                },
                _ => protocol(format!("HTTP {code}: {message}")),
            },
            OciDistributionError::RequestError(r) => match r.status().map(|s| s.as_u16()) {
                Some(401) => RegistryError::Unauthorized {
                    reference,
                    registry,
                    credentials,
                },
                Some(403) => RegistryError::Denied {
                    reference,
                    registry,
                    operation,
                    credentials,
                },
                Some(404) => RegistryError::NotFound {
                    reference,
                    registry,
                    what: action.to_owned(),
                },
                Some(code) => protocol(format!("HTTP {code}")),
                None => {
                    let plain = self.insecure;
                    RegistryError::Unreachable {
                        reference,
                        hint: if plain {
                            String::new()
                        } else {
                            format!(" (a plain-HTTP registry needs --insecure-registry {registry})")
                        },
                        registry,
                        attempts,
                        reason: kiln_spec::error_chain(&r),
                    }
                }
            },
            other => protocol(other.to_string()),
        }
    }
}

/// Whether a failure is worth retrying: connection failures, timeouts and 5xx answers.
fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => {
            r.status().is_none_or(|s| s.is_server_error())
                && (r.is_connect() || r.is_timeout() || r.is_request() || r.is_body())
        }
        OciDistributionError::ServerError { code, .. } => *code >= 500,
        OciDistributionError::IoError(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::TimedOut
        ),
        _ => false,
    }
}

/// The file as a stream of 1 MiB chunks.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 1 << 20];
        match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(OciDistributionError::IoError(e)), None)),
        }
    })
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(io_error)`
fn io_error(e: kiln_oci::ImageError) -> OciDistributionError {
    OciDistributionError::IoError(std::io::Error::other(e.to_string()))
}
