//! The CNB project descriptor: parsing `project.toml` and the app file filter.
//!
//! [`ProjectDescriptor::load`] reads `<app>/project.toml` in the current schema (0.2: `[_]`,
//! `[io.buildpacks]`) or the legacy one (0.1: `[project]`, `[build]`, `[metadata]`), plus
//! Kiln's own `[io.kiln]` table (`build-image`, `run-image`), validates it and reduces it to
//! what a platform acts on: the buildpack group (and pre/post groups), the build-time
//! environment, the builder, the images and the [`AppFilter`] for copying the app.
//!
//! Rules Kiln applies beyond the spec's own, so that a mistake is an error rather than a
//! silently different build:
//! - unknown keys in the tables Kiln reads (`[_]` except `[_.metadata]`, `[io.buildpacks]`
//!   and everything under it, `[io.kiln]`, `[project]`, `[build]`) are refused; other
//!   top-level tables and other `[io.*]` tables belong to other tools and are left alone;
//! - a table of the other schema (`[build]` next to `_.schema-version = "0.2"`,
//!   `[io.buildpacks]` in a legacy file) is refused;
//! - a build env name given twice is refused (the spec says nothing; `pack` lets the last
//!   one win);
//! - a group entry has exactly one of `id` and `uri` (the spec's rule; `pack` tolerates both).
//!
//! The label a descriptor implies is [`ProjectDescriptor::project_metadata_label`].

mod descriptor;
mod error;
pub mod filter;
mod metadata;
mod raw;

pub use descriptor::{
    BuildEnvVar, DEFAULT_INLINE_VERSION, DEFAULT_SHELL, FILE_NAME, GroupEntry, InlineBuildpack,
    License, ProjectDescriptor, ProjectInfo, SchemaVersion,
};
pub use error::ProjectError;
pub use filter::{AppFilter, PatternError};

#[cfg(test)]
mod tests;
