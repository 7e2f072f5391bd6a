//! The buildpack's parsers and rules on their own: go.mod, go.sum, escaping, versions and
//! the inventory, GOPROXY, main-package discovery, binary names and processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_buildpack_go::gomod::GoMod;
use kiln_buildpack_go::gosum::{self, GoSumError, Kind};
use kiln_buildpack_go::inventory::{self, InventoryError, Release, Wanted};
use kiln_buildpack_go::targets::{self, Target, TargetError};
use kiln_buildpack_go::version::GoVersion;
use kiln_buildpack_go::{discover, escape, goproxy};

const H1: &str = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

#[test]
fn go_mod_gives_module_versions_and_requires() {
    let m = GoMod::parse(
        "// comment\nmodule \"example.com/app\" // trailing\n\ngo 1.22\ntoolchain go1.22.3\n\nrequire example.com/a v1.0.0\nrequire (\n\texample.com/b v1.2.0 // indirect\n\texample.com/c v0.1.0\n)\nreplace example.com/c => ./c\n",
    )
    .unwrap();
    assert_eq!(m.module, "example.com/app");
    assert_eq!(m.go.unwrap().to_string(), "1.22");
    assert_eq!(m.toolchain.unwrap().to_string(), "1.22.3");
    assert_eq!(m.requires, 3);
    let w = m.wanted().unwrap();
    assert_eq!(w.directive, "toolchain go1.22.3");
    let plain = GoMod::parse("module m\ngo 1.21.0\n").unwrap();
    assert_eq!(plain.wanted().unwrap().directive, "go 1.21.0");
    assert_eq!(plain.requires, 0);
    assert!(GoMod::parse("module m\n").unwrap().wanted().is_none());
    assert!(GoMod::parse("go 1.22\n").is_err());
    let err = GoMod::parse("module m\ngo one\n").unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn go_sum_lines_are_parsed_sorted_and_deduplicated() {
    let text = format!(
        "example.com/b v1.0.0 {H1}\nexample.com/a v1.0.0/go.mod {H1}\n\nexample.com/a v1.0.0 {H1}\nexample.com/a v1.0.0 {H1}\n"
    );
    let lines = gosum::parse(&text).unwrap();
    let seen: Vec<(&str, &str, Kind)> = lines
        .iter()
        .map(|l| (l.module.as_str(), l.version.as_str(), l.kind))
        .collect();
    assert_eq!(
        seen,
        [
            ("example.com/a", "v1.0.0", Kind::GoMod),
            ("example.com/a", "v1.0.0", Kind::Zip),
            ("example.com/b", "v1.0.0", Kind::Zip),
        ]
    );
    assert_eq!(lines[0].hash, H1);
}

#[test]
fn bad_go_sum_lines_name_the_line() {
    let cases = [
        ("example.com/a v1.0.0\n", "line 1 is malformed"),
        ("x v1 h1:short\n", "not h1:"),
        (
            &format!("a v1 {H1}\nexample.com/../x v1.0.0 {H1}\n"),
            "line 2",
        ),
        (&format!("example.com/a 1.0.0 {H1}\n"), "line 1"),
        (
            &format!("a v1 {H1}\na v1 h1:LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=\n"),
            "two different hashes",
        ),
    ];
    for (text, want) in cases {
        let err = gosum::parse(text).unwrap_err();
        let shown = kiln_sdk::Report::new(&err).to_string();
        assert!(shown.contains(want), "{text:?}: {shown}");
    }
    assert!(matches!(
        gosum::parse(&format!("a v1 {H1} extra\n")),
        Err(GoSumError::Malformed { line: 1, .. })
    ));
}

#[test]
fn module_paths_and_versions_are_escaped_and_checked() {
    assert_eq!(
        escape::module_path("github.com/Azure/azure-sdk-for-go").unwrap(),
        "github.com/!azure/azure-sdk-for-go"
    );
    assert_eq!(
        escape::module_path("github.com/BurntSushi/TOML").unwrap(),
        "github.com/!burnt!sushi/!t!o!m!l"
    );
    assert_eq!(escape::version("v1.0.0-RC1").unwrap(), "v1.0.0-!r!c1");
    assert_eq!(
        escape::version("v2.0.0+incompatible").unwrap(),
        "v2.0.0+incompatible"
    );
    for bad in [
        "", "/a", "a//b", "a/../b", "a/./b", "a\\b", "a!b", "a b", "a/b/",
    ] {
        assert!(escape::module_path(bad).is_err(), "{bad:?}");
    }
    for bad in ["1.0.0", "v", "v1/2", "v1 0"] {
        assert!(escape::version(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn go_versions_order_and_satisfy() {
    let v = |s: &str| GoVersion::parse(s).unwrap();
    assert!(v("1.21rc1") < v("1.21.0"));
    assert!(v("1.21beta1") < v("1.21rc1"));
    assert_eq!(v("1.19"), v("1.19.0"));
    assert!(v("1.19.10") > v("1.19.9"));
    assert!(v("1.22.5").satisfies(&v("1.22")));
    assert!(v("1.22.5").satisfies(&v("1.22.5")));
    assert!(!v("1.22.4").satisfies(&v("1.22.5")));
    assert!(!v("1.23.0").satisfies(&v("1.22")));
    assert_eq!(GoVersion::parse_toolchain("go1.23.4").unwrap(), v("1.23.4"));
    for bad in ["1", "1.x", "1.2.3.4", "1.21rc", "1.21alpha1", "go1.2"] {
        assert!(GoVersion::parse(bad).is_err(), "{bad}");
    }
    assert!(GoVersion::parse_toolchain("1.23.4").is_err());
}

fn rel(version: &str, arch: &str) -> Release {
    Release {
        version: version.into(),
        os: "linux".into(),
        arch: arch.into(),
        url: format!(
            "{}/go{version}.linux-{arch}.tar.gz",
            inventory::OFFICIAL_DIST
        ),
        sha256: "0".repeat(64),
    }
}

#[test]
fn the_newest_fitting_release_is_selected() {
    let all = vec![
        rel("1.22.1", "amd64"),
        rel("1.23.4", "amd64"),
        rel("1.22.5", "amd64"),
        rel("1.23.9", "arm64"),
    ];
    let want = |directive: &str, v: &str| Wanted {
        directive: directive.into(),
        minimum: GoVersion::parse(v).unwrap(),
    };
    let pick = |w: Option<&Wanted>, arch| {
        inventory::select(&all, w, "linux", arch).map(|r| r.version.clone())
    };
    assert_eq!(pick(None, "amd64").unwrap(), "1.23.4");
    assert_eq!(
        pick(Some(&want("go 1.22", "1.22")), "amd64").unwrap(),
        "1.22.5"
    );
    assert_eq!(
        pick(Some(&want("go 1.22.2", "1.22.2")), "amd64").unwrap(),
        "1.22.5"
    );
    assert_eq!(
        pick(Some(&want("toolchain go1.23.9", "1.23.9")), "arm64").unwrap(),
        "1.23.9"
    );
    let err = pick(Some(&want("go 1.22.6", "1.22.6")), "amd64").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, InventoryError::NoMatch { .. }));
    assert!(
        text.contains("`go 1.22.6`") && text.contains("1.22.x"),
        "{text}"
    );
    assert!(text.contains("available: 1.23.4, 1.22.5, 1.22.1"), "{text}");
    assert!(text.contains("KILN_GO_INVENTORY"), "{text}");
    assert!(matches!(
        pick(None, "riscv64"),
        Err(InventoryError::NoRelease { .. })
    ));
}

#[test]
fn the_shipped_inventory_and_mirrors() {
    let shipped = inventory::parse(inventory::SHIPPED, "inventory.toml").unwrap();
    for arch in ["amd64", "arm64"] {
        let r = inventory::select(&shipped, None, "linux", arch).unwrap();
        assert!(r.url.starts_with("https://go.dev/dl/go"), "{}", r.url);
        assert!(
            r.url.ends_with(&format!(".linux-{arch}.tar.gz")),
            "{}",
            r.url
        );
    }
    let r = rel("1.23.4", "amd64");
    assert_eq!(
        inventory::mirrored_url(&r, Some("http://127.0.0.1:9/go/")),
        "http://127.0.0.1:9/go/go1.23.4.linux-amd64.tar.gz"
    );
    assert_eq!(inventory::mirrored_url(&r, None), r.url);
    let bad = "[[release]]\nversion='1.2'\nos='linux'\narch='amd64'\nurl='u'\nsha256='00'\n";
    let err = inventory::parse(bad, "x.toml").unwrap_err().to_string();
    assert!(err.contains("x.toml") && err.contains("64 hex"), "{err}");
    assert_eq!(inventory::go_arch(None), "amd64");
    assert_eq!(inventory::go_arch(Some(&kiln_sdk::Arch::Arm64)), "arm64");
}

#[test]
fn goproxy_takes_the_first_http_entry() {
    let c = |s: Option<&str>| goproxy::configured(s);
    assert_eq!(c(None).unwrap(), "https://proxy.golang.org");
    assert_eq!(c(Some(" ")).unwrap(), "https://proxy.golang.org");
    assert_eq!(
        c(Some("https://a.example/,direct")).unwrap(),
        "https://a.example"
    );
    assert_eq!(
        c(Some("direct|off,http://127.0.0.1:8/p|https://b")).unwrap(),
        "http://127.0.0.1:8/p"
    );
    let err = c(Some("direct,off")).unwrap_err().to_string();
    assert!(
        err.contains("GOPROXY=\"direct,off\"") && err.contains("go mod vendor"),
        "{err}"
    );
    let line = gosum::parse(&format!("github.com/Foo/bar v1.2.3-RC/go.mod {H1}\n"))
        .unwrap()
        .remove(0);
    assert_eq!(
        goproxy::url("https://p", &line).unwrap(),
        "https://p/github.com/!foo/bar/@v/v1.2.3-!r!c.mod"
    );
    assert!(goproxy::is_pseudo_version(
        "v0.0.0-20240102150405-abcdefabcdef"
    ));
    assert!(goproxy::is_pseudo_version(
        "v1.2.4-0.20240102150405-abcdefabcdef"
    ));
    assert!(goproxy::is_pseudo_version(
        "v1.2.3-pre.0.20240102150405-abcdefabcdef+incompatible"
    ));
    assert!(!goproxy::is_pseudo_version("v1.2.3"));
    assert!(!goproxy::is_pseudo_version("v1.2.3-rc.1"));
}

#[test]
fn package_clauses_are_read_past_comments_and_ignore_constraints() {
    assert_eq!(discover::package_name("package main\n"), Some("main"));
    assert_eq!(
        discover::package_name(
            "// Copyright\n/* block\npackage x */\n\n//go:build linux\n\npackage main // import \"x\"\n"
        ),
        Some("main")
    );
    assert_eq!(
        discover::package_name("package greet\nfunc f() {}\n"),
        Some("greet")
    );
    assert_eq!(
        discover::package_name("//go:build ignore\n\npackage main\n"),
        None
    );
    assert_eq!(
        discover::package_name("// +build ignore\n\npackage main\n"),
        None
    );
    assert_eq!(discover::package_name("packagemain\n"), None);
    assert_eq!(discover::package_name("func main() {}\n"), None);
}

#[test]
fn main_packages_are_found_root_first_skipping_what_go_skips() {
    let dir = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("go.mod", "module example.com/app\n");
    w("main.go", "package main\n");
    w("cmd/b/main.go", "package main\n");
    w("cmd/a/a.go", "// doc\npackage main\n");
    w("cmd/a/sub/lib.go", "package sub\n");
    w("cmd/gen/gen.go", "//go:build ignore\n\npackage main\n");
    w("cmd/gen/lib.go", "package gen\n");
    w("internal/x/x_test.go", "package main\n");
    w("vendor/v/main.go", "package main\n");
    w("testdata/t/main.go", "package main\n");
    w(".hidden/main.go", "package main\n");
    w("_old/main.go", "package main\n");
    w("tools/_skip.go", "package main\n");
    w("nested/go.mod", "module example.com/nested\n");
    w("nested/main.go", "package main\n");
    assert_eq!(
        discover::main_packages(dir.path()).unwrap(),
        ["", "cmd/a", "cmd/b"]
    );

    let found =
        targets::from_dirs(&[String::new(), "cmd/a".into()], "example.com/tool/v2").unwrap();
    assert_eq!(
        found,
        [
            Target {
                package: ".".into(),
                binary: "tool".into()
            },
            Target {
                package: "./cmd/a".into(),
                binary: "a".into()
            },
        ]
    );
    assert!(matches!(
        targets::from_dirs(&[], "m"),
        Err(TargetError::NoMain)
    ));
}

#[test]
fn binary_names_follow_go_build() {
    assert_eq!(targets::binary_name("example.com/app"), "app");
    assert_eq!(targets::binary_name("example.com/app/cmd/srv"), "srv");
    assert_eq!(targets::binary_name("example.com/app/v2"), "app");
    assert_eq!(targets::binary_name("example.com/app/v1"), "v1");
    assert_eq!(targets::binary_name("example.com/app/v0"), "v0");
    assert_eq!(targets::binary_name("app"), "app");
}

#[test]
fn the_targets_setting_names_app_directories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cmd/a")).unwrap();
    std::fs::create_dir_all(dir.path().join("cmd/b")).unwrap();
    let t = targets::from_setting("./cmd/a: cmd/b/ :.", "example.com/m", dir.path()).unwrap();
    let names: Vec<(&str, &str)> = t
        .iter()
        .map(|t| (t.package.as_str(), t.binary.as_str()))
        .collect();
    assert_eq!(names, [("./cmd/a", "a"), ("./cmd/b", "b"), (".", "m")]);
    for bad in [
        "../x",
        "./cmd/../cmd/a",
        "/abs",
        "./cmd/...",
        "./missing",
        "./cmd/a\\b",
    ] {
        let err = targets::from_setting(bad, "m", dir.path()).unwrap_err();
        assert!(matches!(err, TargetError::Bad(_)), "{bad}: {err}");
    }
    assert!(matches!(
        targets::from_setting(" : ", "m", dir.path()),
        Err(TargetError::Empty)
    ));
    let dup = vec![
        Target {
            package: "./a/srv".into(),
            binary: "srv".into(),
        },
        Target {
            package: "./b/srv".into(),
            binary: "srv".into(),
        },
    ];
    let err = targets::check_unique(&dup).unwrap_err().to_string();
    assert!(
        err.contains("./a/srv and ./b/srv") && err.contains("KILN_GO_TARGETS"),
        "{err}"
    );
}

#[test]
fn one_process_per_binary_with_web_the_default() {
    let t = |b: &str| Target {
        package: format!("./{b}"),
        binary: b.into(),
    };
    let cmd = |t: &Target| format!("/bin/{}", t.binary);
    let types = |ps: &[kiln_sdk::Process]| -> Vec<(String, String, bool)> {
        ps.iter()
            .map(|p| {
                (
                    p.process_type().to_string(),
                    p.command()[0].clone(),
                    p.is_default(),
                )
            })
            .collect()
    };
    let all = [t("api"), t("worker")];
    assert_eq!(
        types(&targets::processes(&all, None, cmd).unwrap()),
        [
            ("web".into(), "/bin/api".into(), true),
            ("worker".into(), "/bin/worker".into(), false)
        ]
    );
    assert_eq!(
        types(&targets::processes(&all, Some("worker"), cmd).unwrap()),
        [
            ("api".into(), "/bin/api".into(), false),
            ("web".into(), "/bin/worker".into(), true)
        ]
    );
    let with_web = [t("api"), t("web")];
    assert_eq!(
        types(&targets::processes(&with_web, None, cmd).unwrap())[1].0,
        "web"
    );
    let err = targets::processes(&all, Some("nope"), cmd)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("KILN_GO_WEB=nope") && err.contains("api, worker"),
        "{err}"
    );
    assert!(matches!(
        targets::processes(&[t("a"), t("b~c")], None, cmd),
        Err(TargetError::ProcessType { .. })
    ));
}
