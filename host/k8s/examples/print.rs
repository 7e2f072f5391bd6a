//! Prints the CronJob (default) or, with `indexed`, the indexed Job manifests for two
//! sample specs: `cargo run --example print [indexed]`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    missing_docs
)]

use kiln_k8s::{FleetSettings, SpecFile, cron_job, indexed_job, to_yaml};

fn main() -> Result<(), kiln_k8s::K8sError> {
    let settings = FleetSettings {
        name: "kiln-fleet".into(),
        namespace: Some("builds".into()),
        image: "registry.example.com/kiln:0.1.0".into(),
        schedule: "*/15 * * * *".into(),
        registry_secret: "registry-creds".into(),
        jobs: 4,
        work_size_limit: Some("20Gi".into()),
        specs: vec![
            SpecFile {
                file_name: "web.toml".into(),
                image_name: "web".into(),
                contents: "name = \"web\"\ntag = \"registry.example.com/web:latest\"\n".into(),
            },
            SpecFile {
                file_name: "api.yaml".into(),
                image_name: "api".into(),
                contents: "apiVersion: kpack.io/v1alpha2\nkind: Image\nmetadata:\n  name: api\n"
                    .into(),
            },
        ],
    };
    let objects = if std::env::args().nth(1).as_deref() == Some("indexed") {
        indexed_job(&settings)?
    } else {
        cron_job(&settings)?
    };
    print!("{}", to_yaml(&objects)?);
    Ok(())
}
