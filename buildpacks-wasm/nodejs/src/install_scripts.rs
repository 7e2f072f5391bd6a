//! Run install scripts in the build image: every package of the layout is ordered after the
//! packages it depends on (see `graph`), and those chosen to run go in that order, each with
//! its events in sequence (`preinstall`, `install`, `postinstall`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::NodejsError;
use crate::graph::{self, Node};
use crate::lifecycle;
use crate::npm_env::ScriptEnv;
use crate::runtime::NodeRuntime;
use crate::shell;

/// A package whose scripts are to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its directory.
    pub dir: PathBuf,
    /// The events to run (`lifecycle::PACKAGE_EVENTS` or `LINK_EVENTS`).
    pub events: &'static [&'static str],
}

/// The packages of the layout and the ones whose scripts run.
#[derive(Debug, Clone, Default)]
pub struct Plan<'a> {
    /// Every package of the layout (installed ones and workspace folders).
    pub nodes: Vec<Node<'a>>,
    /// `node_modules` links → the folder (node path) each points at.
    pub links: BTreeMap<String, String>,
    /// Node path → the package to run the scripts of.
    pub targets: BTreeMap<String, Target>,
}

/// Run the plan's scripts; returns how many packages had scripts to run.
pub fn run(plan: &Plan<'_>, runtime: &NodeRuntime, env: &ScriptEnv) -> Result<usize, NodejsError> {
    let mut ran = 0;
    for i in graph::order(&plan.nodes, &plan.links) {
        let path = plan.nodes[i].path;
        let Some(target) = plan.targets.get(path) else {
            continue;
        };
        let Some(scripts) = lifecycle::read(&target.dir, target.events)? else {
            continue;
        };
        if scripts.uses_node_gyp() {
            let missing = if runtime.node_gyp().is_none() {
                Some("npm's node-gyp (lib/node_modules/npm/node_modules/node-gyp)")
            } else if !runtime.has_headers() {
                Some("the headers (include/node)")
            } else {
                None
            };
            if let Some(missing) = missing {
                return Err(NodejsError::NodeGypMissing {
                    package: scripts.label(),
                    version: runtime.version.clone(),
                    missing: missing.to_owned(),
                });
            }
        }
        ran += 1;
        for step in &scripts.steps {
            shell::run(env, &target.dir, &scripts, step).map_err(|source| {
                NodejsError::InstallScript {
                    package: scripts.label(),
                    path: path.to_owned(),
                    event: step.event.clone(),
                    command: step.command.clone(),
                    source: Box::new(source),
                }
            })?;
        }
    }
    Ok(ran)
}
