//! End-to-end checks of the generated manifests, done on the typed objects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    missing_docs
)]

use kiln_k8s::k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use kiln_k8s::k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec};
use kiln_k8s::{
    FleetSettings, K8sError, Object, SpecFile, cron_job, from_yaml, indexed_job, to_yaml,
};

fn spec(file: &str, image: &str) -> SpecFile {
    SpecFile {
        file_name: file.into(),
        image_name: image.into(),
        contents: format!("# spec of {image}\nname = \"{image}\"\n"),
    }
}

/// File-name order (api, web, worker) differs from image-name order (billing, frontend, queue).
fn settings() -> FleetSettings {
    FleetSettings {
        name: "kiln-fleet".into(),
        namespace: Some("builds".into()),
        image: "registry.example.com/kiln:0.1.0".into(),
        schedule: "*/15 * * * *".into(),
        registry_secret: "registry-creds".into(),
        jobs: 4,
        work_size_limit: Some("20Gi".into()),
        specs: vec![
            spec("web.toml", "frontend"),
            spec("api.yaml", "billing"),
            spec("worker.yml", "queue"),
        ],
    }
}

fn config_map(objects: &[Object]) -> &ConfigMap {
    objects
        .iter()
        .find_map(|o| match o {
            Object::ConfigMap(c) => Some(c),
            _ => None,
        })
        .expect("a ConfigMap")
}

fn the_cron(objects: &[Object]) -> &CronJob {
    objects
        .iter()
        .find_map(|o| match o {
            Object::CronJob(c) => Some(c),
            _ => None,
        })
        .expect("a CronJob")
}

fn the_job(objects: &[Object]) -> &Job {
    objects
        .iter()
        .find_map(|o| match o {
            Object::Job(j) => Some(j),
            _ => None,
        })
        .expect("a Job")
}

fn cron_job_spec(objects: &[Object]) -> &JobSpec {
    the_cron(objects)
        .spec
        .job_template
        .spec
        .as_ref()
        .expect("job spec")
}

fn pod_of(job: &JobSpec) -> &PodSpec {
    job.template.spec.as_ref().expect("pod spec")
}

fn container(pod: &PodSpec) -> &Container {
    assert_eq!(pod.containers.len(), 1);
    &pod.containers[0]
}

fn env_value<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    c.env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .as_deref()
}

/// Every security property, walked over the typed pod spec.
fn assert_secure(pod: &PodSpec) {
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_ne!(pod.host_network, Some(true));
    assert_ne!(pod.host_pid, Some(true));
    assert_ne!(pod.host_ipc, Some(true));
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let sc = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(65532));
    assert_eq!(sc.run_as_group, Some(65532));
    assert_eq!(sc.fs_group, Some(65532));
    let seccomp = sc.seccomp_profile.as_ref().expect("seccompProfile");
    assert_eq!(seccomp.type_, "RuntimeDefault");

    for volume in pod.volumes.as_deref().unwrap_or_default() {
        assert!(
            volume.host_path.is_none(),
            "hostPath volume {}",
            volume.name
        );
        let kinds = [
            volume.config_map.is_some(),
            volume.secret.is_some(),
            volume.empty_dir.is_some(),
        ];
        assert_eq!(
            kinds.iter().filter(|k| **k).count(),
            1,
            "volume {} must be exactly one of configMap, secret, emptyDir",
            volume.name
        );
    }
    let containers = pod
        .containers
        .iter()
        .chain(pod.init_containers.as_deref().unwrap_or_default());
    for c in containers {
        let sc = c
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let caps = sc.capabilities.as_ref().expect("capabilities");
        assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert!(caps.add.as_deref().unwrap_or_default().is_empty());
        assert!(c.ports.is_none(), "no ports");
    }
}

/// Mounts, env, volumes and resources shared by both kinds.
fn assert_pod_layout(pod: &PodSpec, size_limit: Option<&str>) {
    let c = container(pod);
    assert_eq!(c.image.as_deref(), Some("registry.example.com/kiln:0.1.0"));
    assert_eq!(env_value(c, "DOCKER_CONFIG"), Some("/home/kiln/.docker"));
    assert_eq!(env_value(c, "HOME"), Some("/home/kiln"));
    assert_eq!(env_value(c, "KILN_CACHE_DIR"), Some("/work/cache"));
    assert_eq!(env_value(c, "TMPDIR"), Some("/work/tmp"));

    let mounts = c.volume_mounts.as_deref().expect("mounts");
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m.mount_path == path)
            .unwrap_or_else(|| panic!("a mount at {path}"))
    };
    assert_eq!(mount("/specs").read_only, Some(true));
    assert_eq!(mount("/home/kiln/.docker").read_only, Some(true));
    assert_ne!(mount("/work").read_only, Some(true));
    assert_ne!(mount("/home/kiln").read_only, Some(true));
    // Cache and tmp live in the work volume, so its size limit covers them.
    for (path, sub) in [("/work/cache", "cache"), ("/work/tmp", "tmp")] {
        assert_eq!(mount(path).name, mount("/work").name);
        assert_eq!(mount(path).sub_path.as_deref(), Some(sub));
    }

    let volumes = pod.volumes.as_deref().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("a volume {name}"))
    };
    for m in mounts {
        volume(&m.name);
    }
    let specs = volume(&mount("/specs").name)
        .config_map
        .as_ref()
        .expect("configMap");
    assert_eq!(specs.name, "kiln-fleet-specs");
    let secret = volume(&mount("/home/kiln/.docker").name)
        .secret
        .as_ref()
        .expect("secret");
    assert_eq!(secret.secret_name.as_deref(), Some("registry-creds"));
    let items = secret.items.as_deref().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].key, ".dockerconfigjson");
    assert_eq!(items[0].path, "config.json");
    let work = volume(&mount("/work").name)
        .empty_dir
        .as_ref()
        .expect("emptyDir");
    assert_eq!(work.size_limit.as_ref().map(|q| q.0.as_str()), size_limit);
    assert!(volume(&mount("/home/kiln").name).empty_dir.is_some());

    let resources = c.resources.as_ref().expect("resources");
    let requests = resources.requests.as_ref().expect("requests");
    assert_eq!(requests["cpu"].0, "1");
    assert_eq!(requests["memory"].0, "2Gi");
}

fn assert_labels(labels: Option<&std::collections::BTreeMap<String, String>>) {
    let labels = labels.expect("labels");
    assert_eq!(labels["app.kubernetes.io/name"], "kiln");
    assert_eq!(labels["app.kubernetes.io/component"], "fleet-reconcile");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "kiln");
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn cron_job_yaml_round_trip() {
    let objects = cron_job(&settings()).unwrap();
    let yaml = to_yaml(&objects).unwrap();
    assert_eq!(from_yaml(&yaml).unwrap(), objects);
}

#[test]
fn indexed_job_yaml_round_trip() {
    let objects = indexed_job(&settings()).unwrap();
    let yaml = to_yaml(&objects).unwrap();
    assert_eq!(from_yaml(&yaml).unwrap(), objects);
}

#[test]
fn json_round_trip_both_kinds() {
    for objects in [
        cron_job(&settings()).unwrap(),
        indexed_job(&settings()).unwrap(),
    ] {
        let json = serde_json::to_string(&objects).unwrap();
        let back: Vec<Object> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, objects);
        // And through untyped JSON values, as `kubectl` would see them.
        let values: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(values[0]["kind"], "ConfigMap");
        assert_eq!(values[0]["apiVersion"], "v1");
        assert_eq!(values[1]["apiVersion"], "batch/v1");
    }
}

#[test]
fn yaml_documents_have_api_version_kind_and_separators() {
    let yaml = to_yaml(&cron_job(&settings()).unwrap()).unwrap();
    let documents: Vec<&str> = yaml.split("\n---\n").collect();
    assert_eq!(documents.len(), 2, "{yaml}");
    assert!(documents[0].starts_with("apiVersion: v1\n"), "{yaml}");
    assert!(documents[0].contains("\nkind: ConfigMap\n"), "{yaml}");
    assert!(documents[1].starts_with("apiVersion: batch/v1\n"), "{yaml}");
    assert!(documents[1].contains("\nkind: CronJob\n"), "{yaml}");
    assert!(!yaml.contains("hostPath"));
    assert!(!yaml.contains("status"));
}

#[test]
fn cron_job_is_secure() {
    let objects = cron_job(&settings()).unwrap();
    assert_secure(pod_of(cron_job_spec(&objects)));
}

#[test]
fn indexed_job_is_secure() {
    let objects = indexed_job(&settings()).unwrap();
    assert_secure(pod_of(the_job(&objects).spec.as_ref().unwrap()));
}

#[test]
fn cron_job_spec_and_args() {
    let objects = cron_job(&settings()).unwrap();
    assert_eq!(objects.len(), 2);
    let cron = the_cron(&objects);
    assert_eq!(cron.metadata.name.as_deref(), Some("kiln-fleet"));
    assert_eq!(cron.metadata.namespace.as_deref(), Some("builds"));
    assert_labels(cron.metadata.labels.as_ref());
    let spec = &cron.spec;
    assert_eq!(spec.schedule, "*/15 * * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert!(spec.successful_jobs_history_limit.is_some());
    assert!(spec.failed_jobs_history_limit.is_some());
    assert!(spec.starting_deadline_seconds.is_some_and(|s| s > 0));

    let job = cron_job_spec(&objects);
    let pod = pod_of(job);
    assert_labels(
        job.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
    );
    assert_eq!(
        container(pod).args.as_deref(),
        Some(
            &strings(&[
                "image",
                "reconcile",
                "--all",
                "--specs",
                "/specs",
                "--jobs",
                "4"
            ])[..]
        )
    );
    assert_pod_layout(pod, Some("20Gi"));
}

#[test]
fn indexed_job_spec_args_and_env() {
    let objects = indexed_job(&settings()).unwrap();
    assert_eq!(objects.len(), 2);
    let job = the_job(&objects);
    assert_eq!(job.metadata.name.as_deref(), Some("kiln-fleet"));
    assert_labels(job.metadata.labels.as_ref());
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(3));
    assert_eq!(spec.parallelism, Some(3), "min(jobs = 4, completions = 3)");
    assert!(
        spec.backoff_limit_per_index
            .is_some_and(|b| (0..=3).contains(&b))
    );

    let pod = pod_of(spec);
    let c = container(pod);
    assert_eq!(
        c.args.as_deref(),
        Some(
            &strings(&[
                "image",
                "reconcile",
                "--specs",
                "/specs",
                "--index",
                "$(JOB_COMPLETION_INDEX)"
            ])[..]
        )
    );
    let index = c
        .env
        .as_deref()
        .unwrap()
        .iter()
        .find(|e| e.name == "JOB_COMPLETION_INDEX")
        .expect("JOB_COMPLETION_INDEX env");
    let field = index
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("fieldRef");
    assert_eq!(
        field.field_path,
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert_pod_layout(pod, Some("20Gi"));

    // Index order is image-name order, not file-name order.
    let order = &job.metadata.annotations.as_ref().unwrap()["kiln/index-order"];
    assert_eq!(order, "billing\nfrontend\nqueue");
}

#[test]
fn indexed_job_parallelism_is_jobs_when_fewer() {
    let mut s = settings();
    s.jobs = 2;
    let objects = indexed_job(&s).unwrap();
    let spec = the_job(&objects).spec.as_ref().unwrap();
    assert_eq!(spec.completions, Some(3));
    assert_eq!(spec.parallelism, Some(2));
}

#[test]
fn config_map_has_one_key_per_spec() {
    for objects in [
        cron_job(&settings()).unwrap(),
        indexed_job(&settings()).unwrap(),
    ] {
        let cm = config_map(&objects);
        assert_eq!(cm.metadata.name.as_deref(), Some("kiln-fleet-specs"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("builds"));
        assert_labels(cm.metadata.labels.as_ref());
        let data = cm.data.as_ref().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["api.yaml", "web.toml", "worker.yml"]);
        for s in settings().specs {
            assert_eq!(data[&s.file_name], s.contents);
        }
        assert!(cm.binary_data.is_none());
    }
}

#[test]
fn no_size_limit_and_no_namespace_when_not_given() {
    let mut s = settings();
    s.work_size_limit = None;
    s.namespace = None;
    let objects = cron_job(&s).unwrap();
    assert!(objects.iter().all(|o| match o {
        Object::ConfigMap(c) => c.metadata.namespace.is_none(),
        Object::CronJob(c) => c.metadata.namespace.is_none(),
        Object::Job(j) => j.metadata.namespace.is_none(),
    }));
    assert_pod_layout(pod_of(cron_job_spec(&objects)), None);
}

#[test]
fn output_is_deterministic() {
    let s = settings();
    assert_eq!(
        to_yaml(&cron_job(&s).unwrap()).unwrap(),
        to_yaml(&cron_job(&s).unwrap()).unwrap()
    );
    assert_eq!(
        to_yaml(&indexed_job(&s).unwrap()).unwrap(),
        to_yaml(&indexed_job(&s).unwrap()).unwrap()
    );
    // The order the specs are given in does not matter either.
    let mut reversed = s.clone();
    reversed.specs.reverse();
    assert_eq!(
        to_yaml(&indexed_job(&s).unwrap()).unwrap(),
        to_yaml(&indexed_job(&reversed).unwrap()).unwrap()
    );
}

#[test]
fn object_kind_and_name() {
    let objects = indexed_job(&settings()).unwrap();
    let summary: Vec<(&str, Option<&str>)> = objects.iter().map(|o| (o.kind(), o.name())).collect();
    assert_eq!(
        summary,
        [
            ("ConfigMap", Some("kiln-fleet-specs")),
            ("Job", Some("kiln-fleet"))
        ]
    );
}

#[test]
fn accepted_schedules() {
    for schedule in [
        "*/15 * * * *",
        "0 3 * * MON-FRI",
        "5,35 1-23/2 1 jan,jul sun",
        "0 0 ? * 0",
        "  30 2 * * *  ",
        "@hourly",
        "@daily",
    ] {
        let mut s = settings();
        s.schedule = schedule.into();
        cron_job(&s).unwrap_or_else(|e| panic!("{schedule:?}: {e}"));
    }
}

fn cron_err(s: &FleetSettings) -> K8sError {
    cron_job(s).expect_err("must be refused")
}

#[test]
fn bad_names_are_refused() {
    for name in [
        "Kiln",
        "kiln_fleet",
        "-kiln",
        "kiln-",
        "",
        &"a".repeat(53),
        "kiln.fleet",
    ] {
        let mut s = settings();
        s.name = name.into();
        let err = cron_err(&s);
        assert!(
            matches!(&err, K8sError::InvalidName { field: "name", .. }),
            "{name:?}: {err}"
        );
        assert!(err.to_string().contains("invalid name"), "{err}");
        assert!(indexed_job(&s).is_err());
    }
    let mut s = settings();
    s.namespace = Some("Builds".into());
    assert!(matches!(
        cron_err(&s),
        K8sError::InvalidName {
            field: "namespace",
            ..
        }
    ));
    let mut s = settings();
    s.registry_secret = "creds/x".into();
    assert!(matches!(
        cron_err(&s),
        K8sError::InvalidName {
            field: "registry_secret",
            ..
        }
    ));
    let mut s = settings();
    s.registry_secret = "registry.creds".into();
    cron_job(&s).expect("a DNS subdomain is a valid Secret name");
}

#[test]
fn bad_schedules_are_refused() {
    for schedule in [
        "*/15 * * *",
        "0 */15 * * * *",
        "",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "*/0 * * * *",
        "5-1 * * * *",
        "x * * * *",
        "TZ=UTC 0 * * * *",
        "@sometimes",
    ] {
        let mut s = settings();
        s.schedule = schedule.into();
        let err = cron_err(&s);
        assert!(
            matches!(err, K8sError::InvalidSchedule { .. }),
            "{schedule:?}: {err}"
        );
        assert!(err.to_string().contains("invalid schedule"), "{err}");
    }
    // The indexed Job has no schedule.
    let mut s = settings();
    s.schedule = "nonsense".into();
    indexed_job(&s).expect("schedule unused");
}

#[test]
fn duplicate_spec_file_names_are_refused() {
    let mut s = settings();
    s.specs.push(spec("web.toml", "other"));
    let err = cron_err(&s);
    assert!(
        matches!(&err, K8sError::DuplicateSpecFile(f) if f == "web.toml"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("duplicate spec file name \"web.toml\"")
    );
    assert!(matches!(
        indexed_job(&s),
        Err(K8sError::DuplicateSpecFile(_))
    ));
}

#[test]
fn duplicate_image_names_are_refused() {
    let mut s = settings();
    s.specs.push(spec("other.toml", "frontend"));
    let err = indexed_job(&s).expect_err("duplicate image");
    assert!(matches!(err, K8sError::DuplicateImageName { .. }), "{err}");
    let mut s = settings();
    s.specs.push(spec("empty.toml", ""));
    assert!(matches!(cron_err(&s), K8sError::InvalidImageName { .. }));
}

#[test]
fn invalid_spec_file_names_are_refused() {
    for file in [
        "dir/web.toml",
        ".hidden.toml",
        "..toml",
        "web",
        "web.json",
        "wéb.toml",
        "web toml.yaml",
        "",
    ] {
        let mut s = settings();
        s.specs.push(spec(file, "extra"));
        let err = cron_err(&s);
        assert!(
            matches!(err, K8sError::InvalidSpecFileName { .. }),
            "{file:?}: {err}"
        );
    }
    let mut s = settings();
    s.specs.push(spec("UPPER_case-1.TOML", "extra"));
    cron_job(&s).expect("valid key with a spec extension");
}

#[test]
fn zero_specs_refused_for_the_indexed_job_only() {
    let mut s = settings();
    s.specs.clear();
    let err = indexed_job(&s).expect_err("no specs");
    assert!(matches!(err, K8sError::NoSpecs), "{err}");
    let objects = cron_job(&s).expect("an empty fleet is a valid CronJob");
    assert!(config_map(&objects).data.as_ref().unwrap().is_empty());
}

#[test]
fn other_settings_are_validated() {
    let mut s = settings();
    s.jobs = 0;
    assert!(matches!(cron_err(&s), K8sError::ZeroJobs));
    for bad in ["20 Gi", "Gi", "20GB", "1.2.3Gi", "", "20e"] {
        let mut s = settings();
        s.work_size_limit = Some(bad.into());
        assert!(
            matches!(cron_err(&s), K8sError::InvalidQuantity(_)),
            "{bad:?}"
        );
    }
    for good in ["20Gi", "500M", "1.5Gi", "1e9", "100"] {
        let mut s = settings();
        s.work_size_limit = Some(good.into());
        cron_job(&s).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    let mut s = settings();
    s.image = "registry.example.com/kiln :0.1".into();
    assert!(matches!(cron_err(&s), K8sError::InvalidImage(_)));
    let mut s = settings();
    s.specs = vec![SpecFile {
        file_name: "big.toml".into(),
        image_name: "big".into(),
        contents: "#".repeat(1024 * 1024),
    }];
    assert!(matches!(cron_err(&s), K8sError::SpecsTooLarge { .. }));
}

#[test]
fn from_yaml_refuses_other_kinds_and_skips_empty_documents() {
    let err = from_yaml("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n").unwrap_err();
    assert!(
        matches!(&err, K8sError::UnsupportedKind { kind, .. } if kind == "Secret"),
        "{err}"
    );
    let err = from_yaml("apiVersion: apps/v1\nkind: Job\n").unwrap_err();
    assert!(matches!(err, K8sError::UnsupportedKind { .. }));
    let yaml = to_yaml(&cron_job(&settings()).unwrap()).unwrap();
    let padded = format!("---\n{yaml}---\n");
    assert_eq!(from_yaml(&padded).unwrap(), cron_job(&settings()).unwrap());
    let err = from_yaml("apiVersion: v1\nkind: ConfigMap\ndata: 3\n").unwrap_err();
    assert!(matches!(err, K8sError::Document { index: 0, .. }), "{err}");
    assert!(from_yaml("a: [").is_err());
}
