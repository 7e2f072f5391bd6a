//! The buildpacks of a build and the detection order.

use kiln_lifecycle::OrderEntry;
use kiln_lifecycle::buildpack::{self, Buildpack};
use kiln_lifecycle::order;
use kiln_runtime::Runtime;

use super::Request;
use crate::buildpack_artifact;
use crate::embedded::EMBEDDED_BUILDPACKS;
use crate::error::{Error, Result};
use crate::services::Services;

/// Load the requested buildpacks and make the detection order: the `--order` file's groups,
/// else one group of the `--buildpack` refs, else one group of the embedded buildpacks (each
/// optional).
pub fn load_buildpacks(
    request: &Request,
    runtime: &Runtime,
) -> Result<(Vec<Buildpack>, Vec<Vec<OrderEntry>>)> {
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
