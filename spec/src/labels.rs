//! Image label keys Kiln reads and writes (CNB Platform API image contract, plus Kiln's own).

/// The lifecycle metadata: run image, launch layers per buildpack, SBOM layer.
pub const LIFECYCLE_METADATA: &str = "io.buildpacks.lifecycle.metadata";
/// The build metadata: buildpacks, processes, launcher.
pub const BUILD_METADATA: &str = "io.buildpacks.build.metadata";
/// The execution environment of the build.
pub const EXEC_ENV: &str = "io.buildpacks.exec-env";
/// The project metadata.
pub const PROJECT_METADATA: &str = "io.buildpacks.project.metadata";
/// Run image label: the distribution's name (`/etc/os-release` `ID`).
pub const BASE_DISTRO_NAME: &str = "io.buildpacks.base.distro.name";
/// Run image label: the distribution's version (`/etc/os-release` `VERSION_ID`).
pub const BASE_DISTRO_VERSION: &str = "io.buildpacks.base.distro.version";
/// When exactly `"false"`, the image may not be rebased without `--force`.
pub const REBASABLE: &str = "io.buildpacks.rebasable";
/// `"false"` when a buildpack fetched something unpinned: the image is not reproducible.
pub const REPRODUCIBLE: &str = "io.kiln.reproducible";
