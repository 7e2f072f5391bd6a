//! `kiln image …`: keep a fleet of image specs and reconcile it (`kiln-fleet` with
//! [`crate::fleet::KilnEngine`]), or print the Kubernetes objects that run it (`kiln-k8s`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use kiln_fleet::{Action, History, ImageOutcome, ImageReport, Options, Reason, SpecStore};

use crate::error::Error;
use crate::services::Services;

/// `kiln image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Validate image specs (Kiln TOML or kpack `Image` YAML) and keep them in the spec dir.
    Apply(ApplyArgs),
    /// List the specs, with the result of each image's last build.
    List(ListArgs),
    /// One image: its spec, and its build history with reasons, digests and logs.
    Status(StatusArgs),
    /// Decide for each image (CONFIG, COMMIT, BUILDPACK, STACK, TRIGGER) and build, rebase or
    /// do nothing.
    Reconcile(ReconcileArgs),
    /// Ask for a build of an image at the next reconcile (reason TRIGGER).
    Trigger(TriggerArgs),
    /// Reconcile on an interval, with jitter; two watchers never build one image at once.
    Watch(WatchArgs),
    /// Print Kubernetes objects (YAML) that run the fleet: a CronJob, or an indexed Job.
    K8s(K8sArgs),
}

/// Where the specs and the fleet's state are.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The spec directory (default: `$KILN_SPECS_DIR`, else `<config dir>/kiln/images`).
    #[arg(long, value_name = "DIR", env = "KILN_SPECS_DIR")]
    pub specs: Option<PathBuf>,
    /// The state directory: history, logs, triggers, locks (default: `<specs>/.kiln`).
    #[arg(long, value_name = "DIR", env = "KILN_FLEET_STATE")]
    pub state: Option<PathBuf>,
}

impl StoreArgs {
    fn store(&self) -> Result<SpecStore, Error> {
        let specs = match &self.specs {
            Some(dir) => dir.clone(),
            None => dirs::config_dir()
                .map(|d| d.join("kiln").join("images"))
                .ok_or_else(|| {
                    Error::InvalidInput(
                        "no user config directory is known here; pass --specs DIR".into(),
                    )
                })?,
        };
        Ok(SpecStore::new(specs, self.state.clone()))
    }
}

/// `kiln image apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Spec files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where the specs and the state are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `kiln image list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Where the specs and the state are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kiln image status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The image's name.
    pub name: String,
    /// Where the specs and the state are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kiln image trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The image's name.
    pub name: String,
    /// Where the specs and the state are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `kiln image reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Images to reconcile (by name).
    #[arg(value_name = "NAME", conflicts_with_all = ["all", "index"])]
    pub names: Vec<String>,
    /// Every image of the spec directory.
    #[arg(long)]
    pub all: bool,
    /// Only the image at this index of the specs sorted by name (an indexed Kubernetes Job).
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub index: Option<usize>,
    /// Where the specs and the state are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Decide and print; build, rebase and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// Images worked on at once.
    #[arg(long, short = 'j', default_value_t = 1, value_name = "N")]
    pub jobs: usize,
}

/// `kiln image watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// What each reconcile does.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    /// Time between reconciles: `90s`, `5m`, `1h`.
    #[arg(long, default_value = "5m", value_parser = parse_interval)]
    pub every: Duration,
    /// Up to this fraction of `--every` is added at random to each wait.
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    pub jitter: f64,
    /// Stop after this many reconciles (default: never).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
}

/// `kiln image k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// Spec files or directories of them (default: the spec directory).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// An indexed Job with one pod per image, instead of a CronJob reconciling them all.
    #[arg(long)]
    pub indexed: bool,
    /// The Kiln container image the pods run.
    #[arg(long, value_name = "REF")]
    pub image: String,
    /// The CronJob's schedule.
    #[arg(long, default_value = "*/15 * * * *")]
    pub schedule: String,
    /// The Secret (type kubernetes.io/dockerconfigjson) with the registry credentials.
    #[arg(long, default_value = "kiln-registry")]
    pub registry_secret: String,
    /// Base name of the objects.
    #[arg(long, default_value = "kiln-fleet")]
    pub name: String,
    /// Namespace of the objects.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Builds at once in the CronJob's pod; pods at once for the indexed Job.
    #[arg(long, default_value_t = 2)]
    pub jobs: u32,
    /// Size limit of the work volume (e.g. `20Gi`).
    #[arg(long)]
    pub work_size: Option<String>,
    /// Where the specs and the state are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Run `kiln image …`.
pub fn run(command: &ImageCommand, services: &Services) -> Result<(), Error> {
    match command {
        ImageCommand::Apply(a) => {
            let store = a.store.store()?;
            for applied in store.apply(&a.files).map_err(store_error)? {
                let what = if applied.changed {
                    "configured"
                } else {
                    "unchanged"
                };
                println!("image/{} {what} ({})", applied.name, applied.file.display());
            }
            Ok(())
        }
        ImageCommand::List(l) => list(&l.store.store()?, l.json),
        ImageCommand::Status(s) => status(&s.store.store()?, &s.name, s.json),
        ImageCommand::Trigger(t) => {
            t.store.store()?.trigger(&t.name).map_err(store_error)?;
            println!(
                "image/{} triggered: the next reconcile builds it (TRIGGER)",
                t.name
            );
            Ok(())
        }
        ImageCommand::Reconcile(r) => {
            let failed = reconcile(r, services)?;
            if failed > 0 {
                return Err(Error::Fleet(format!(
                    "{failed} image(s) failed; `kiln image status NAME` shows their logs"
                )));
            }
            Ok(())
        }
        ImageCommand::Watch(w) => watch(w, services),
        ImageCommand::K8s(k) => k8s(k),
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_error)`
fn store_error(e: kiln_fleet::StoreError) -> Error {
    Error::InvalidInput(e.to_string())
}

/// One reconcile; returns the number of failed images.
fn reconcile(args: &ReconcileArgs, services: &Services) -> Result<usize, Error> {
    let store = args.store.store()?;
    if args.names.is_empty() && !args.all && args.index.is_none() {
        return Err(Error::InvalidInput(
            "name the images to reconcile, or pass --all".into(),
        ));
    }
    let mut specs = store.select(&args.names).map_err(store_error)?;
    if let Some(i) = args.index {
        let count = specs.len();
        specs = specs.into_iter().nth(i).into_iter().collect();
        if specs.is_empty() {
            return Err(Error::InvalidInput(format!(
                "--index {i}: the spec directory has {count} image(s)"
            )));
        }
    }
    let engine = crate::fleet::KilnEngine::new(services.clone());
    let options = Options {
        dry_run: args.dry_run,
        jobs: args.jobs.max(1),
    };
    let reports = kiln_fleet::reconcile(&store, &specs, &engine, options);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else {
        for r in &reports {
            println!("{}", report_line(r));
        }
        println!("{}", summary(&reports, args.dry_run));
    }
    Ok(reports
        .iter()
        .filter(|r| matches!(r.outcome, ImageOutcome::Failed { .. }))
        .count())
}

fn reasons(r: &ImageReport) -> String {
    match &r.decision {
        Some(d) if !d.reasons.is_empty() => d
            .reasons
            .iter()
            .map(Reason::to_string)
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

fn report_line(r: &ImageReport) -> String {
    let (result, detail) = match &r.outcome {
        ImageOutcome::UpToDate => ("up-to-date", String::new()),
        ImageOutcome::Built { digest: Some(d) } => ("built", d.clone()),
        ImageOutcome::Built { digest: None } => ("would-build", String::new()),
        ImageOutcome::Rebased { digest: Some(d) } => ("rebased", d.clone()),
        ImageOutcome::Rebased { digest: None } => ("would-rebase", String::new()),
        ImageOutcome::Failed { error } => ("failed", error.clone()),
        ImageOutcome::Busy => ("busy", "another reconcile is working on it".into()),
    };
    let changes = r
        .decision
        .as_ref()
        .map(|d| d.changes.join("; "))
        .filter(|c| !c.is_empty())
        .map_or_else(String::new, |c| format!(" ({c})"));
    let log = r
        .log
        .as_ref()
        .filter(|_| matches!(r.outcome, ImageOutcome::Failed { .. }))
        .map_or_else(String::new, |l| format!(" [log: {}]", l.display()));
    format!(
        "{:<24} {:<16} {:<12} {detail}{changes}{log} {:.1}s",
        r.name,
        reasons(r),
        result,
        seconds(r.duration_ms)
    )
}

/// "would rebuild 12 images: 10 STACK (rebase), 2 COMMIT" / "reconciled 12 images: …".
fn summary(reports: &[ImageReport], dry_run: bool) -> String {
    let mut by_reason: std::collections::BTreeMap<String, usize> =
        std::collections::BTreeMap::new();
    let mut acting = 0;
    for r in reports {
        let Some(d) = &r.decision else { continue };
        if d.action == Action::Nothing {
            continue;
        }
        acting += 1;
        let mut key = d
            .reasons
            .iter()
            .map(Reason::to_string)
            .collect::<Vec<_>>()
            .join("+");
        if d.action == Action::Rebase {
            key.push_str(" (rebase)");
        }
        *by_reason.entry(key).or_default() += 1;
    }
    let parts: Vec<String> = by_reason.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let count = |f: fn(&ImageOutcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    let failed = count(|o| matches!(o, ImageOutcome::Failed { .. }));
    let busy = count(|o| matches!(o, ImageOutcome::Busy));
    let up = count(|o| matches!(o, ImageOutcome::UpToDate));
    let head = if dry_run {
        format!("would rebuild {acting} of {} images", reports.len())
    } else {
        format!(
            "reconciled {} images: {acting} rebuilt or rebased",
            reports.len()
        )
    };
    let reasons = if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    };
    format!("{head}{reasons}; {up} up to date, {failed} failed, {busy} busy")
}

fn list(store: &SpecStore, json: bool) -> Result<(), Error> {
    let specs = store.load_all().map_err(store_error)?;
    let mut rows = Vec::new();
    for spec in &specs {
        let history = History::read(&store.history_file(&spec.name)).map_err(store_error)?;
        rows.push((spec, history.last().cloned()));
    }
    if json {
        let value: Vec<_> = rows
            .iter()
            .map(|(s, last)| {
                serde_json::json!({
                    "name": s.name, "tag": s.tag, "file": s.file,
                    "last": last,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(());
    }
    for (spec, last) in rows {
        let last = last.map_or_else(
            || "never built".to_owned(),
            |b| {
                format!(
                    "#{} {:?} {}",
                    b.number,
                    b.result,
                    b.digest.or(b.error).unwrap_or_default()
                )
                .to_lowercase()
            },
        );
        println!("{:<24} {:<48} {last}", spec.name, spec.tag);
    }
    Ok(())
}

fn status(store: &SpecStore, name: &str, json: bool) -> Result<(), Error> {
    let spec = store
        .select(&[name.to_owned()])
        .map_err(store_error)?
        .remove(0);
    let history = History::read(&store.history_file(name)).map_err(store_error)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&history).unwrap_or_default()
        );
        return Ok(());
    }
    println!("image:    {}", spec.name);
    println!("spec:     {}", spec.file.display());
    println!("tag:      {}", spec.tag);
    println!("run image: {}", spec.builder.run_image);
    if store.is_triggered(name) {
        println!("triggered: the next reconcile builds it");
    }
    println!("history ({} kept, newest last):", history.builds.len());
    for b in &history.builds {
        let reasons: Vec<String> = b.reasons.iter().map(Reason::to_string).collect();
        println!(
            "  #{:<4} {:<8} {:<20} {:>7.1}s  {}  log: {}",
            b.number,
            format!("{:?}", b.result).to_lowercase(),
            reasons.join(","),
            seconds(b.duration_ms),
            b.digest
                .clone()
                .or_else(|| b.error.clone())
                .unwrap_or_default(),
            b.log.display()
        );
        if let Some(i) = &b.inputs {
            println!(
                "         source {} {}  run image {}",
                i.source.kind, i.source.id, i.run_image.digest
            );
        }
    }
    Ok(())
}

fn watch(args: &WatchArgs, services: &Services) -> Result<(), Error> {
    let mut run = 0u64;
    loop {
        run += 1;
        let failed = reconcile(&args.reconcile, services)?;
        if failed > 0 {
            eprintln!("warning: {failed} image(s) failed; the next reconcile tries them again");
        }
        if args.runs.is_some_and(|max| run >= max) {
            return Ok(());
        }
        let jitter = args.jitter.clamp(0.0, 1.0) * args.every.as_secs_f64() * random_fraction();
        let wait = args.every + Duration::from_secs_f64(jitter);
        eprintln!("next reconcile in {:.0}s", wait.as_secs_f64());
        std::thread::sleep(wait);
    }
}

/// A fraction in [0, 1) that differs between watchers started together.
fn random_fraction() -> f64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().rotate_left(16);
    f64::from(seed % 10_000) / 10_000.0
}

/// Milliseconds as seconds, for display.
#[allow(clippy::cast_precision_loss)] // durations far below 2^52 ms
fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// `90s`, `5m`, `1h`, or plain seconds.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an interval such as 90s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}`: use s, m or h")),
    };
    if secs == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

fn k8s(args: &K8sArgs) -> Result<(), Error> {
    let mut files = Vec::new();
    let inputs = if args.files.is_empty() {
        vec![args.store.store()?.specs_dir().to_path_buf()]
    } else {
        args.files.clone()
    };
    for input in inputs {
        if input.is_dir() {
            files.extend(SpecStore::new(&input, None).files().map_err(store_error)?);
        } else {
            files.push(input);
        }
    }
    let mut specs = Vec::new();
    for file in &files {
        let spec =
            kiln_fleet::ImageSpec::load(file).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let contents = std::fs::read_to_string(file)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", file.display())))?;
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("toml");
        specs.push(kiln_k8s::SpecFile {
            file_name: format!("{}.{ext}", spec.name),
            image_name: spec.name,
            contents,
        });
    }
    let settings = kiln_k8s::FleetSettings {
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        schedule: args.schedule.clone(),
        registry_secret: args.registry_secret.clone(),
        jobs: args.jobs,
        work_size_limit: args.work_size.clone(),
        specs,
    };
    let objects = if args.indexed {
        kiln_k8s::indexed_job(&settings)
    } else {
        kiln_k8s::cron_job(&settings)
    }
    .map_err(|e| Error::InvalidInput(e.to_string()))?;
    let yaml = kiln_k8s::to_yaml(&objects).map_err(|e| Error::InvalidInput(e.to_string()))?;
    print!("{yaml}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_interval("5m").unwrap(), Duration::from_mins(5));
        assert_eq!(parse_interval("2h").unwrap(), Duration::from_hours(2));
        assert_eq!(parse_interval("7").unwrap(), Duration::from_secs(7));
        assert!(parse_interval("5d").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("m").is_err());
    }
}
