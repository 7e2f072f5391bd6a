//! A wheel with a real compiled extension: built by the test with the machine's C compiler
//! against the CPython the runtime is made from, tagged for Linux, published beside a macOS
//! build of the same version (which must not be chosen), installed by Kiln and imported in
//! the running image.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod python_support;
mod support;

use python_support::{
    Index, Server, Wheel, cpython_tag, python_dist, requirements_txt, source_prefix,
};
use support::*;

const EXTENSION: &str = r#"#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}

static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "Add two integers."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedup", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speedup(void) { return PyModule_Create(&module); }
"#;

/// `_speedup.cpython-3X-x86_64-linux-gnu.so` compiled for the dist's CPython.
fn compile_extension(work: &std::path::Path, minor: &str) -> (String, Vec<u8>) {
    let include = source_prefix().join(format!("include/python{minor}"));
    assert!(
        include.join("Python.h").is_file(),
        "no Python.h in {}",
        include.display()
    );
    let src = work.join("speedup.c");
    std::fs::write(&src, EXTENSION).unwrap();
    let so = work.join("speedup.so");
    let out = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&src)
        .arg(format!("-I{}", include.display()))
        .output()
        .expect("gcc is needed for the compiled-extension test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = format!(
        "_speedup.cpython-{}-x86_64-linux-gnu.so",
        minor.replace('.', "")
    );
    (name, std::fs::read(so).unwrap())
}

#[test]
fn a_compiled_extension_for_the_target_is_chosen_and_imports() {
    let work = tempfile::tempdir().unwrap();
    let served_dir = work.path().join("served");
    let dist = python_dist();
    dist.serve(&served_dir, "python-dist");
    let mut index = Index::new(&served_dir);
    let (so_name, so) = compile_extension(work.path(), &dist.minor());
    let init = "from speedup._speedup import add\n";
    let mut linux = Wheel::pure("speedup", "1.0.0", &[("speedup/__init__.py", init)]);
    linux.tag = cpython_tag(&dist.version, "manylinux_2_17_x86_64");
    linux.files.push((format!("speedup/{so_name}"), so));
    let (linux_file, linux_sha) = index.publish(&linux);
    let mut mac = Wheel::pure(
        "speedup",
        "1.0.0",
        &[("speedup/__init__.py", "raise ImportError('macOS build')\n")],
    );
    mac.tag = cpython_tag(&dist.version, "macosx_11_0_arm64");
    let (mac_file, mac_sha) = index.publish(&mac);
    let server = Server::start(&served_dir);

    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("python-inventory.toml"), dist.inventory_toml()).unwrap();
    std::fs::write(app.join(".python-version"), format!("{}\n", dist.minor())).unwrap();
    std::fs::write(
        app.join("requirements.txt"),
        requirements_txt(&[("speedup==1.0.0", None, vec![mac_sha, linux_sha])]),
    )
    .unwrap();
    std::fs::write(
        app.join("main.py"),
        "import speedup\nprint('addon: 2 + 3 = %d' % speedup.add(2, 3))\n",
    )
    .unwrap();
    let layout = work.path().join("image");
    run(kiln_command()
        .arg("build")
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(&app)
        .args(["--run-image", &debian()])
        .arg("--download-cache")
        .arg(work.path().join("downloads"))
        .args(["--env", "KILN_PYTHON_INVENTORY=python-inventory.toml"])
        .arg("--env")
        .arg(format!("KILN_PYTHON_DIST_URL={}/python-dist", server.base))
        .arg("--env")
        .arg(format!("PIP_INDEX_URL={}", server.index_url()))
        .args(["--network-allow", "127.0.0.1"]))
    .success();
    assert_eq!(server.hits(&Index::file_path(&linux_file)), 1);
    assert_eq!(
        server.hits(&Index::file_path(&mac_file)),
        0,
        "the macOS wheel was fetched"
    );
    let ran = run_image(&layout, "latest", &[], &[]);
    assert!(
        ran.stdout.contains("addon: 2 + 3 = 5"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
}
