//! The pod template shared by the CronJob and the indexed Job, and the specs ConfigMap.
//!
//! The pod runs as UID/GID 65532 with a read-only root filesystem, so everything Kiln writes
//! goes to `emptyDir` volumes:
//!
//! | path | volume | what |
//! | --- | --- | --- |
//! | `/specs` | ConfigMap `<name>-specs`, read-only | the image specs |
//! | `/home/kiln` | `emptyDir` `home` | `HOME`, writable for tools that expect one |
//! | `/home/kiln/.docker` | Secret, read-only | `config.json` from `.dockerconfigjson` |
//! | `/work` | `emptyDir` `work` (`sizeLimit` = `work_size_limit`) | source checkouts, layers |
//! | `/work/cache`, `/work/tmp` | `work` again, `subPath` `cache` / `tmp` | `KILN_CACHE_DIR`, `TMPDIR` |
//!
//! The `subPath` mounts only make the kubelet create `cache/` and `tmp/` inside `work`
//! before the container starts (the image may have no shell to `mkdir` them); they share
//! the volume and its size limit. The secret is mounted inside the `home` volume; container
//! runtimes (containerd, CRI-O) mount a parent path before the paths beneath it.
//!
//! The `work` volume dies with the pod: the layer cache that matters between runs is each
//! spec's registry cache image (`cache-image`), which Kiln reads and writes itself.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, KeyToPath, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::FleetSettings;

/// UID, GID and fsGroup of the pod (the conventional "nonroot" user of distroless images).
pub const RUN_AS_ID: i64 = 65532;
/// Where the specs ConfigMap is mounted.
pub const SPECS_DIR: &str = "/specs";
/// `HOME` of the container.
pub const HOME_DIR: &str = "/home/kiln";
/// `DOCKER_CONFIG`: where the registry Secret's `config.json` appears.
pub const DOCKER_CONFIG_DIR: &str = "/home/kiln/.docker";
/// Mount point of the work volume.
pub const WORK_DIR: &str = "/work";
/// `KILN_CACHE_DIR`, inside the work volume.
pub const CACHE_DIR: &str = "/work/cache";
/// `KILN_FLEET_STATE` (history, logs, locks), inside the work volume: `/specs` is a
/// read-only ConfigMap, and the registry is the state that outlives the pod.
pub const STATE_DIR: &str = "/work/state";
/// `TMPDIR`, inside the work volume.
pub const TMP_DIR: &str = "/work/tmp";
/// CPU request of the container: one core per pod. No CPU limit, so builds are not throttled.
pub const CPU_REQUEST: &str = "1";
/// Memory request of the container.
pub const MEMORY_REQUEST: &str = "2Gi";
/// Memory limit of the container, so a runaway build is OOM-killed instead of the node.
pub const MEMORY_LIMIT: &str = "4Gi";
/// Size limit of the `home` emptyDir.
pub const HOME_SIZE_LIMIT: &str = "1Gi";
/// Name of the container.
pub const CONTAINER_NAME: &str = "kiln";

/// The container's `app.kubernetes.io/*` labels, also used on every object.
pub fn labels(settings: &FleetSettings) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", "kiln"),
        ("app.kubernetes.io/component", "fleet-reconcile"),
        ("app.kubernetes.io/managed-by", "kiln"),
        ("app.kubernetes.io/instance", settings.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Metadata of a top-level object: name, namespace and labels.
pub(crate) fn metadata(settings: &FleetSettings, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: settings.namespace.clone(),
        labels: Some(labels(settings)),
        ..ObjectMeta::default()
    }
}

/// Name of the specs ConfigMap: `<name>-specs`.
pub fn config_map_name(settings: &FleetSettings) -> String {
    format!("{}-specs", settings.name)
}

/// The ConfigMap holding one key per spec file (keys sorted, as everywhere here).
pub(crate) fn config_map(settings: &FleetSettings) -> ConfigMap {
    let data = settings
        .specs
        .iter()
        .map(|s| (s.file_name.clone(), s.contents.clone()))
        .collect();
    ConfigMap {
        metadata: metadata(settings, config_map_name(settings)),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// The pod template running `args` in the Kiln image, with `extra_env` after the common env.
pub(crate) fn template(
    settings: &FleetSettings,
    args: Vec<String>,
    extra_env: Vec<EnvVar>,
) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(settings)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(false),
            security_context: Some(pod_security_context()),
            containers: vec![container(settings, args, extra_env)],
            volumes: Some(volumes(settings)),
            ..PodSpec::default()
        }),
    }
}

/// Non-root user 65532, fsGroup 65532 (so the Secret and emptyDirs are readable), and the
/// runtime's default seccomp profile.
fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_ID),
        run_as_group: Some(RUN_AS_ID),
        fs_group: Some(RUN_AS_ID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// No privilege escalation, no capabilities, read-only root filesystem.
fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// An env var read from the pod's own metadata through the downward API.
pub(crate) fn field_env(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

fn container(settings: &FleetSettings, args: Vec<String>, extra_env: Vec<EnvVar>) -> Container {
    let mut env_vars = vec![
        env("DOCKER_CONFIG", DOCKER_CONFIG_DIR),
        env("HOME", HOME_DIR),
        env("KILN_CACHE_DIR", CACHE_DIR),
        env("KILN_FLEET_STATE", STATE_DIR),
        env("TMPDIR", TMP_DIR),
    ];
    env_vars.extend(extra_env);
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(settings.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args),
        env: Some(env_vars),
        working_dir: Some(WORK_DIR.into()),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&[
                ("cpu", CPU_REQUEST),
                ("memory", MEMORY_REQUEST),
            ])),
            limits: Some(quantities(&[("memory", MEMORY_LIMIT)])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![
            mount("specs", SPECS_DIR, None, true),
            mount("home", HOME_DIR, None, false),
            mount("registry-auth", DOCKER_CONFIG_DIR, None, true),
            mount("work", WORK_DIR, None, false),
            mount("work", CACHE_DIR, Some("cache"), false),
            mount("work", TMP_DIR, Some("tmp"), false),
        ]),
        ..Container::default()
    }
}

fn mount(name: &str, path: &str, sub_path: Option<&str>, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        sub_path: sub_path.map(Into::into),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

fn empty_dir(name: &str, size_limit: Option<&str>) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: size_limit.map(|s| Quantity(s.to_owned())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn volumes(settings: &FleetSettings) -> Vec<Volume> {
    vec![
        Volume {
            name: "specs".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(settings),
                default_mode: Some(0o444),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        empty_dir("home", Some(HOME_SIZE_LIMIT)),
        Volume {
            name: "registry-auth".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(settings.registry_secret.clone()),
                default_mode: Some(0o440),
                items: Some(vec![KeyToPath {
                    key: ".dockerconfigjson".into(),
                    path: "config.json".into(),
                    ..KeyToPath::default()
                }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        empty_dir("work", settings.work_size_limit.as_deref()),
    ]
}
