//! The cache layers around `go build`: the file-system module proxy (`goproxy`, kept while
//! `go.sum` is unchanged), GOCACHE (`gocache`, kept while the Go release is) and GOMODCACHE
//! (`gomodcache`, always kept).

use kiln_sdk::{BuildContext, CachedLayer, Layer, LayerTypes, RestoreDecision, layer_name};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::GoError;
use crate::gosum::SumLine;
use crate::{goproxy, modules};

/// What the `goproxy` layer was laid out from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ProxyMeta {
    layout: u32,
    go_sum_sha256: String,
}

/// What the `gocache` layer was compiled with.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct BuildCacheMeta {
    go_version: String,
}

/// The `gomodcache` layer (module contents are checked by `go` against `go.sum`).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ModCacheMeta {
    layout: u32,
}

/// Version of the `goproxy` and `gomodcache` layouts; a change starts them afresh.
const LAYOUT: u32 = 1;

/// The file-system module proxy (cache layer `goproxy`), kept while `go.sum` is unchanged.
pub fn proxy_layer(ctx: &BuildContext, lines: &[SumLine], go_sum: &str) -> Result<Layer, GoError> {
    let meta = ProxyMeta {
        layout: LAYOUT,
        go_sum_sha256: hex::encode(sha2::Sha256::digest(go_sum.as_bytes())),
    };
    let definition = CachedLayer::new(
        layer_name!("goproxy"),
        LayerTypes::none().cache(),
        |old: &ProxyMeta, _| {
            if *old == meta {
                RestoreDecision::keep("go.sum is unchanged")
            } else {
                RestoreDecision::discard("go.sum changed")
            }
        },
    );
    let (mut layer, restore) = ctx.cached(&definition)?;
    if restore.is_kept() {
        return Ok(layer.into_layer());
    }
    let proxy = goproxy::configured(ctx.detect.env("GOPROXY"))?;
    kiln_sdk::log::info(format!(
        "Downloading {} module file(s) pinned by go.sum from {proxy}",
        lines.len()
    ));
    let done = modules::download(lines, &proxy, layer.path())?;
    kiln_sdk::log::info(format!(
        "Module proxy ready: {} file(s), {} downloaded, {} from the download cache",
        done.files,
        done.fetched,
        done.files - done.fetched
    ));
    layer.set_metadata(&meta)?;
    Ok(layer.into_layer())
}

/// GOCACHE (cache layer `gocache`), kept while the Go release is unchanged.
pub fn build_cache_layer(ctx: &BuildContext, go_version: &str) -> Result<Layer, GoError> {
    let definition = CachedLayer::new(
        layer_name!("gocache"),
        LayerTypes::none().cache(),
        |old: &BuildCacheMeta, _| {
            if old.go_version == go_version {
                RestoreDecision::keep(format!("compiled by Go {go_version}"))
            } else {
                RestoreDecision::discard(format!(
                    "compiled by Go {}, now Go {go_version}",
                    old.go_version
                ))
            }
        },
    );
    let (mut layer, _) = ctx.cached(&definition)?;
    layer.set_metadata(&BuildCacheMeta {
        go_version: go_version.to_owned(),
    })?;
    Ok(layer.into_layer())
}

/// GOMODCACHE (cache layer `gomodcache`), always kept: `go` verifies it against `go.sum`.
pub fn mod_cache_layer(ctx: &BuildContext) -> Result<Layer, GoError> {
    let definition = CachedLayer::new(
        layer_name!("gomodcache"),
        LayerTypes::none().cache(),
        |old: &ModCacheMeta, _| {
            if old.layout == LAYOUT {
                RestoreDecision::keep("module contents are checked against go.sum")
            } else {
                RestoreDecision::discard("its layout changed")
            }
        },
    );
    let (mut layer, _) = ctx.cached(&definition)?;
    layer.set_metadata(&ModCacheMeta { layout: LAYOUT })?;
    Ok(layer.into_layer())
}
