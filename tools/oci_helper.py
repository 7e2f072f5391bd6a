#!/usr/bin/env python3
"""oci_helper.py -- small OCI chores for the shell scripts in tools/ (standard library only).

Usage: oci_helper.py COMMAND ARGS...
  write-image LAYOUT TAG LAYER.tar.gz DIFF_ID CONFIG_JSON CREATED_BY
        add a one-layer image to LAYOUT (created if needed) and point TAG at it; compact JSON,
        fixed key order, "created" from SOURCE_DATE_EPOCH (default 0): reproducible bytes
  digest LAYOUT TAG          print the manifest digest of TAG
  only-tag LAYOUT            print the tag of a layout that holds exactly one
  runtime-config BUNDLE [--layout DIR --tag TAG] [--entrypoint PATH] [--user U[:G]]
        [--env K=V]... [-- ARGS...]
        rewrite BUNDLE/config.json (from `umoci unpack` or `runc spec`) to run the image's
        Entrypoint+Cmd the way `docker run` does; see run-image.sh
  chroot-argv BUNDLE CHROOT  print, NUL-separated, an `env -i ... CHROOT --userspec ...`
        command line that runs BUNDLE's process in BUNDLE/rootfs
  docker-archive FILE        check a docker-archive tarball: manifest.json, config digest,
        and sha256 of each (uncompressed) layer against the config's diff_ids
"""
import argparse
import datetime
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile

REF_NAME = "org.opencontainers.image.ref.name"
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
# dpkg architecture -> (OCI architecture, variant)
ARCHES = {"amd64": ("amd64", None), "arm64": ("arm64", "v8"), "armhf": ("arm", "v7"),
          "armel": ("arm", "v5"), "i386": ("386", None), "ppc64el": ("ppc64le", None),
          "s390x": ("s390x", None), "riscv64": ("riscv64", None)}


def fail(msg):
    sys.exit(f"{os.path.basename(sys.argv[0])}: error: {msg}")


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# ---- layouts ---------------------------------------------------------------------------------

def blob_path(layout, digest):
    algo, _, hexpart = digest.partition(":")
    return os.path.join(layout, "blobs", algo, hexpart)


def read_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def put_blob(layout, data):
    """store bytes as a blob, return its descriptor fields (digest, size)"""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout, digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return digest, len(data)


def index_entries(layout):
    try:
        return read_json(os.path.join(layout, "index.json")).get("manifests") or []
    except (OSError, ValueError) as e:
        fail(f"{layout}/index.json: {e}")


def find_manifest(layout, tag):
    """the image manifest TAG names (descending into an image index for this machine's arch)"""
    hits = [d for d in index_entries(layout) if (d.get("annotations") or {}).get(REF_NAME) == tag]
    if not hits:
        fail(f"{layout} has no image tagged {tag!r}")
    desc = hits[-1]
    arch = machine_arch()[0]
    while desc.get("mediaType") in INDEX_TYPES:
        subs = read_json(blob_path(layout, desc["digest"])).get("manifests") or []
        pick = [d for d in subs if (d.get("platform") or {}).get("architecture") == arch] or subs
        if not pick:
            fail(f"{tag}: the image index is empty")
        desc = pick[0]
    return desc


def image_config(layout, tag):
    manifest = read_json(blob_path(layout, find_manifest(layout, tag)["digest"]))
    return read_json(blob_path(layout, manifest["config"]["digest"]))


def machine_arch():
    try:
        deb = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        deb = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return ARCHES.get(deb, (deb, None))


def cmd_write_image(a):
    layout, tag = a.layout, a.tag
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "wb") as f:
        f.write(compact({"imageLayoutVersion": "1.0.0"}))
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 0)
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    arch, variant = machine_arch()
    with open(a.layer, "rb") as f:
        layer = f.read()
    layer_digest, layer_size = put_blob(layout, layer)
    config = {"created": created, "architecture": arch}
    if variant and arch == "arm":
        config["variant"] = variant
    config.update({"os": "linux", "config": json.loads(a.config),
                   "rootfs": {"type": "layers", "diff_ids": [a.diff_id]},
                   "history": [{"created": created, "created_by": a.created_by}]})
    config_digest, config_size = put_blob(layout, compact(config))
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPES[0],
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": layer_digest, "size": layer_size}]}
    m_digest, m_size = put_blob(layout, compact(manifest))
    others = [d for d in (index_entries(layout) if os.path.exists(os.path.join(layout, "index.json")) else [])
              if (d.get("annotations") or {}).get(REF_NAME) != tag]
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0],
             "manifests": others + [{"mediaType": MANIFEST_TYPES[0], "digest": m_digest, "size": m_size,
                                     "annotations": {REF_NAME: tag}}]}
    tmp = os.path.join(layout, f"index.json.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(compact(index))
    os.replace(tmp, os.path.join(layout, "index.json"))
    print(m_digest)


def cmd_digest(a):
    print(find_manifest(a.layout, a.tag)["digest"])


def cmd_only_tag(a):
    tags = sorted({(d.get("annotations") or {}).get(REF_NAME) or "" for d in index_entries(a.layout)})
    if len(tags) != 1 or not tags[0]:
        fail(f"{a.layout} holds tags {tags}; name one as {a.layout}:TAG")
    print(tags[0])


# ---- runtime bundles ---------------------------------------------------------------------------

def passwd_lookup(rootfs, fname, key):
    """the line of ROOTFS/etc/FNAME whose name or numeric id is KEY, split on ':'"""
    try:
        with open(os.path.join(rootfs, "etc", fname), encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 3 and key in (parts[0], parts[2]):
                    return parts
    except OSError:
        pass
    return None


def resolve_user(rootfs, spec):
    """'user[:group]' (names or numbers) -> (uid, gid), as docker resolves --user"""
    user, _, group = spec.partition(":")
    pw = passwd_lookup(rootfs, "passwd", user)
    if user.isdigit():
        uid = int(user)
    elif pw:
        uid = int(pw[2])
    else:
        fail(f"user {user!r} is not in the image's /etc/passwd; give a numeric UID")
    if not group:
        return uid, int(pw[3]) if pw and len(pw) > 3 and pw[3].isdigit() else 0
    if group.isdigit():
        return uid, int(group)
    gr = passwd_lookup(rootfs, "group", group)
    if not gr:
        fail(f"group {group!r} is not in the image's /etc/group; give a numeric GID")
    return uid, int(gr[2])


def set_env(env, item):
    key, eq, _ = item.partition("=")
    if not eq:  # `-e NAME` passes this shell's value, as docker does
        if key not in os.environ:
            return env
        item = f"{key}={os.environ[key]}"
    return [e for e in env if e.partition("=")[0] != key] + [item]


def cmd_runtime_config(a):
    path = os.path.join(a.bundle, "config.json")
    spec = read_json(path)
    rootfs = os.path.join(a.bundle, (spec.get("root") or {}).get("path") or "rootfs")
    proc = spec.setdefault("process", {})
    image = (image_config(a.layout, a.tag).get("config") or {}) if a.layout else {}
    args = a.args
    # docker semantics: ARGS replace Cmd; --entrypoint replaces Entrypoint and drops Cmd
    if a.entrypoint is None:
        entry = image.get("Entrypoint") or []
    else:  # an empty --entrypoint clears it
        entry = [a.entrypoint] if a.entrypoint else []
    cmd = args or ([] if a.entrypoint is not None else (image.get("Cmd") or []))
    if not entry + cmd:
        fail("the image has no Entrypoint or Cmd; give a command after IMAGE")
    proc["args"] = entry + cmd
    proc["terminal"] = False
    proc.pop("consoleSize", None)
    if a.user:
        uid, gid = resolve_user(rootfs, a.user)
        proc["user"] = {"uid": uid, "gid": gid}
    # The image's Env (umoci would add TERM=xterm, which docker sets only with -t).
    env = list(image.get("Env") or []) if a.layout else list(proc.get("env") or [])
    for item in a.env:
        env = set_env(env, item)
    if not any(e.startswith("HOME=") for e in env):  # docker sets HOME from /etc/passwd
        pw = passwd_lookup(rootfs, "passwd", str((proc.get("user") or {}).get("uid", 0)))
        env.append("HOME=" + (pw[5] if pw and len(pw) > 5 and pw[5] else "/"))
    proc["env"] = env
    # docker's default capabilities; a non-root process starts with none in effect, as in podman
    caps = ["CAP_" + c for c in ("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                 "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                                 "SYS_CHROOT")]
    live = caps if (proc.get("user") or {}).get("uid", 0) == 0 else []
    proc["capabilities"] = {"bounding": caps, "effective": live, "permitted": live,
                            "inheritable": [], "ambient": []}
    proc["cwd"] = proc.get("cwd") or "/"
    # This host's hard nofile limit is 20000 and CAP_SYS_RESOURCE is missing: stay below both.
    proc["rlimits"] = [{"type": t, "hard": 1024, "soft": 1024} for t in ("RLIMIT_NOFILE", "RLIMIT_NPROC")]
    linux = spec.setdefault("linux", {})
    spaces = [n for n in linux.get("namespaces") or [] if n.get("type") != "user"]
    for kind in ("pid", "network", "ipc", "uts", "mount"):
        if not any(n.get("type") == kind for n in spaces):
            spaces.append({"type": kind})
    linux["namespaces"] = spaces
    for key in ("uidMappings", "gidMappings"):  # a rootful container: no user namespace
        linux.pop(key, None)
    with open(path + ".new", "w") as f:
        json.dump(spec, f, indent=1)
    os.replace(path + ".new", path)


def cmd_chroot_argv(a):
    spec = read_json(os.path.join(a.bundle, "config.json"))
    proc = spec["process"]
    rootfs = os.path.join(a.bundle, (spec.get("root") or {}).get("path") or "rootfs")
    user = proc.get("user") or {}
    argv = ["env", "-i"] + [e for e in proc.get("env") or [] if "=" in e] + [a.chroot]
    argv.append(f"--userspec={user.get('uid', 0)}:{user.get('gid', 0)}")
    groups = user.get("additionalGids") or []
    if groups:
        argv.append("--groups=" + ",".join(str(g) for g in groups))
    argv.append(rootfs)
    cwd = proc.get("cwd") or "/"
    if cwd != "/":  # chroot always starts in /: let the image's shell change directory
        argv += ["/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd]
    sys.stdout.write("".join(x + "\0" for x in argv + proc["args"]))


# ---- docker-archive --------------------------------------------------------------------------------

def sha256_stream(f):
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def cmd_docker_archive(a):
    problems = []
    with tarfile.open(a.file) as t:
        members = {os.path.normpath(m.name): m for m in t.getmembers()}

        def member(name):
            m = members.get(os.path.normpath(name or "-"))
            return t.extractfile(m) if m is not None and m.isfile() else None

        mf = member("manifest.json")
        if mf is None:
            fail(f"{a.file}: no manifest.json (not a docker-archive)")
        entries = json.load(mf)
        if not isinstance(entries, list) or not entries:
            fail(f"{a.file}: manifest.json is not a non-empty list")
        for i, e in enumerate(entries):
            where = f"manifest.json[{i}]"
            cf = member(e.get("Config"))
            if cf is None:
                problems.append(f"{where}: config {e.get('Config')!r} is missing")
                continue
            data = cf.read()
            want = os.path.basename(e["Config"]).removesuffix(".json")
            if len(want) == 64 and hashlib.sha256(data).hexdigest() != want:
                problems.append(f"{where}: config {e['Config']} does not hash to its name")
            diff_ids = (json.loads(data).get("rootfs") or {}).get("diff_ids") or []
            layers = e.get("Layers") or []
            if len(diff_ids) != len(layers):
                problems.append(f"{where}: {len(layers)} layers but {len(diff_ids)} diff_ids")
            for j, (name, diff_id) in enumerate(zip(layers, diff_ids)):
                lf = member(name)
                if lf is None:
                    problems.append(f"{where}: layer {name} is missing")
                    continue
                head = lf.read(2)
                lf.seek(0)
                got = sha256_stream(gzip.GzipFile(fileobj=lf) if head == b"\x1f\x8b" else lf)
                if got != diff_id:
                    problems.append(f"{where}: layer {j} ({name}) is {got}, its diff_id says {diff_id}")
            print(f"{where}: RepoTags {e.get('RepoTags')}, {len(layers)} layer(s)")
    for p in problems:
        print("ERROR:", p)
    sys.exit(1 if problems else 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("write-image")
    for n in ("layout", "tag", "layer", "diff_id", "config", "created_by"):
        s.add_argument(n)
    s.set_defaults(run=cmd_write_image)
    s = sub.add_parser("digest")
    s.add_argument("layout")
    s.add_argument("tag")
    s.set_defaults(run=cmd_digest)
    s = sub.add_parser("only-tag")
    s.add_argument("layout")
    s.set_defaults(run=cmd_only_tag)
    s = sub.add_parser("runtime-config")
    s.add_argument("bundle")
    s.add_argument("--layout")
    s.add_argument("--tag")
    s.add_argument("--entrypoint")
    s.add_argument("--user")
    s.add_argument("--env", action="append", default=[])
    s.set_defaults(run=cmd_runtime_config)
    s = sub.add_parser("chroot-argv")
    s.add_argument("bundle")
    s.add_argument("chroot")
    s.set_defaults(run=cmd_chroot_argv)
    s = sub.add_parser("docker-archive")
    s.add_argument("file")
    s.set_defaults(run=cmd_docker_archive)
    argv, extra = sys.argv[1:], []
    if "--" in argv:  # everything after "--" is the container's command line
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    a = p.parse_args(argv)
    a.args = extra
    a.run(a)


if __name__ == "__main__":
    main()
