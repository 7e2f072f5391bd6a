//! The buildpacks of a build and the detection order.

use kiln_lifecycle::OrderEntry;
use kiln_lifecycle::buildpack::{self, Buildpack};
use kiln_lifecycle::order;
use kiln_runtime::Runtime;

use super::Request;
use crate::buildpack_artifact;
use crate::embedded::{EMBEDDED_BUILDPACKS, INLINE_RUNNER};
use crate::error::{Error, Result};
use crate::services::Services;
use kiln_project::{GroupEntry, ProjectDescriptor};

/// Load the requested buildpacks and make the detection order: the `--order` file's groups,
/// else one group of the `--buildpack` refs, else the project descriptor's group (pre, main
/// and post), else one group of the embedded buildpacks (each optional).
pub fn load_buildpacks(
    request: &Request,
    runtime: &Runtime,
) -> Result<(Vec<Buildpack>, Vec<Vec<OrderEntry>>)> {
    if request.buildpacks.is_empty()
        && request.order.is_none()
        && let Some(project) = &request.project
        && !project.group.is_empty()
    {
        let loaded = project_group(project, runtime, &request.services)?;
        let group = (0..loaded.len())
            .map(|buildpack| OrderEntry {
                buildpack,
                optional: false,
            })
            .collect();
        return Ok((loaded, vec![group]));
    }
    let mut loaded: Vec<Buildpack> = Vec::new();
    let explicit = if request.buildpacks.is_empty() && request.order.is_none() {
        buildpack::embedded_ids(EMBEDDED_BUILDPACKS)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        request.buildpacks.clone()
    };
    for r in &explicit {
        add_buildpack(&mut loaded, load_buildpack(r, runtime, &request.services)?)?;
    }
    let Some(path) = &request.order else {
        let optional = request.buildpacks.is_empty();
        let group = (0..loaded.len())
            .map(|buildpack| OrderEntry {
                buildpack,
                optional,
            })
            .collect();
        return Ok((loaded, vec![group]));
    };
    let groups = order::parse(path).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut order = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut entries = Vec::new();
        for r in group {
            let index = match loaded.iter().position(|b| b.descriptor.id.as_str() == r.id) {
                Some(i) => i,
                None if buildpack::embedded_ids(EMBEDDED_BUILDPACKS).contains(&r.id.as_str()) => {
                    add_buildpack(
                        &mut loaded,
                        load_buildpack(&r.id, runtime, &request.services)?,
                    )?;
                    loaded.len() - 1
                }
                None => {
                    return Err(Error::InvalidInput(format!(
                        "{}: group {} names buildpack {}, which is neither given with --buildpack nor embedded",
                        path.display(),
                        g + 1,
                        r.id
                    )));
                }
            };
            let have = &loaded[index].descriptor.version;
            if let Some(want) = &r.version
                && want != have
            {
                return Err(Error::InvalidInput(format!(
                    "{}: group {} wants {}@{want} but the buildpack is version {have}",
                    path.display(),
                    g + 1,
                    r.id
                )));
            }
            entries.push(OrderEntry {
                buildpack: index,
                optional: r.optional,
            });
        }
        order.push(entries);
    }
    Ok((loaded, order))
}
/// The buildpacks of a project descriptor's `pre`, main and `post` groups, in order.
fn project_group(
    project: &ProjectDescriptor,
    runtime: &Runtime,
    services: &Services,
) -> Result<Vec<Buildpack>> {
    let file = project.file.display();
    let base = project.file.parent().unwrap_or(std::path::Path::new("."));
    let mut loaded = Vec::new();
    let entries = project
        .pre_group
        .iter()
        .chain(&project.group)
        .chain(&project.post_group);
    for entry in entries {
        let bp = match entry {
            GroupEntry::Id { id, version } => {
                let bp = load_buildpack(id.as_str(), runtime, services)?;
                if let Some(want) = version
                    && *want != bp.descriptor.version
                {
                    return Err(Error::InvalidInput(format!(
                        "{file}: the group wants {id}@{want} but that buildpack is version {}",
                        bp.descriptor.version
                    )));
                }
                bp
            }
            GroupEntry::Uri { uri } => {
                let is_path = !uri.contains("://") && !uri.starts_with("oci:");
                let reference = if is_path && std::path::Path::new(uri).is_relative() {
                    base.join(uri).display().to_string()
                } else {
                    uri.clone()
                };
                load_buildpack(&reference, runtime, services)?
            }
            GroupEntry::Inline(inline) => buildpack::load_as(
                INLINE_RUNNER,
                inline.id.clone(),
                &inline.version,
                &format!("{file} (inline buildpack {})", inline.id),
                vec![
                    ("KILN_INLINE_SCRIPT".into(), inline.inline.clone()),
                    ("KILN_INLINE_SHELL".into(), inline.shell.clone()),
                ],
                runtime,
            )?,
        };
        add_buildpack(&mut loaded, bp)?;
    }
    Ok(loaded)
}
/// Load one buildpack reference: a packaged artifact (registry or `oci:`), else a local one.
fn load_buildpack(reference: &str, runtime: &Runtime, services: &Services) -> Result<Buildpack> {
    if let Some(fetched) = buildpack_artifact::fetch(reference, services)? {
        return Ok(buildpack::load_unpacked(
            fetched.dir.as_deref(),
            &fetched.component,
            &fetched.origin,
            runtime,
        )?);
    }
    Ok(buildpack::load(reference, runtime, EMBEDDED_BUILDPACKS)?)
}
fn add_buildpack(loaded: &mut Vec<Buildpack>, bp: Buildpack) -> Result<()> {
    if let Some(other) = loaded
        .iter()
        .find(|b| b.escaped_id().eq_ignore_ascii_case(&bp.escaped_id()))
    {
        return Err(buildpack::BuildpackError::Duplicate {
            id: bp.descriptor.id.to_string(),
            first: other.origin.clone(),
            second: bp.origin.clone(),
        }
        .into());
    }
    loaded.push(bp);
    Ok(())
}
