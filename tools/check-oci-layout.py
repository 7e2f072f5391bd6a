#!/usr/bin/env python3
"""check-oci-layout.py -- a strict checker for an OCI image layout (standard library only).

Usage: check-oci-layout.py DIR [TAG]
  TAG  check only the image(s) whose org.opencontainers.image.ref.name is TAG
       (default: every entry of index.json)

Checked, for the index and every descriptor reached from it:
  - oci-layout says imageLayoutVersion 1.0.0; index.json is schemaVersion 2
  - digest syntax, blob present, sha256 of the blob == digest, blob length == size
  - media types: manifests, indexes, configs and layers (tar, tar+gzip, tar+zstd) are known,
    and a manifest's own mediaType field agrees with its descriptor
  - config: os, architecture, rootfs.type == "layers", one diff_id per layer, and each
    diff_id == sha256 of the decompressed layer (skopeo, podman and oci-image-tool skip this)
  - layer tars: readable, no absolute paths, no ".." components (nor in hard links)
  - blobs that nothing in index.json references are reported (a warning, not an error)
Prints one line per finding; exits 1 if there is any ERROR, else 0.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zlib

OCI = "application/vnd.oci.image."
DOCKER = "application/vnd.docker."
MANIFESTS = {OCI + "manifest.v1+json", DOCKER + "distribution.manifest.v2+json"}
INDEXES = {OCI + "index.v1+json", DOCKER + "distribution.manifest.list.v2+json"}
CONFIGS = {OCI + "config.v1+json", DOCKER + "container.image.v1+json"}
# layer media type -> compression
LAYERS = {
    OCI + "layer.v1.tar": None,
    OCI + "layer.v1.tar+gzip": "gzip",
    OCI + "layer.v1.tar+zstd": "zstd",
    OCI + "layer.nondistributable.v1.tar": None,
    OCI + "layer.nondistributable.v1.tar+gzip": "gzip",
    OCI + "layer.nondistributable.v1.tar+zstd": "zstd",
    DOCKER + "image.rootfs.diff.tar.gzip": "gzip",
    DOCKER + "image.rootfs.foreign.diff.tar.gzip": "gzip",
}
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
REF_NAME = "org.opencontainers.image.ref.name"


class HashingReader:
    """a file-like wrapper that hashes what is read through it"""

    def __init__(self, raw):
        self.raw, self.hash, self.count = raw, hashlib.sha256(), 0

    def read(self, n=-1):
        data = self.raw.read(n)
        self.hash.update(data)
        self.count += len(data)
        return data

    def drain(self):
        while self.read(1 << 20):
            pass
        return "sha256:" + self.hash.hexdigest()


class Checker:
    def __init__(self, root):
        self.root = root
        self.errors = 0
        self.warnings = 0
        self.verified = {}  # digest -> True once checked (a blob shared by several images)

    def error(self, where, msg):
        self.errors += 1
        print(f"ERROR: {where}: {msg}")

    def warn(self, where, msg):
        self.warnings += 1
        print(f"WARNING: {where}: {msg}")

    def path(self, digest):
        algo, _, hexpart = digest.partition(":")
        return os.path.join(self.root, "blobs", algo, hexpart)

    def load_json(self, path, where):
        try:
            with open(path, "rb") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            self.error(where, f"cannot read JSON: {e}")
            return None

    # ---- descriptors -------------------------------------------------------------------------
    def descriptor(self, d, where, allowed, kind):
        """check a descriptor against its blob; return the blob path, or None"""
        if not isinstance(d, dict):
            self.error(where, "descriptor is not an object")
            return None
        missing = [k for k in ("mediaType", "digest", "size") if k not in d]
        if missing:
            self.error(where, f"descriptor lacks {', '.join(missing)}")
            return None
        if d["mediaType"] not in allowed:
            self.error(where, f"mediaType {d['mediaType']!r} is not valid for {kind}")
        digest, size = d["digest"], d["size"]
        if not isinstance(digest, str) or not DIGEST.match(digest):
            self.error(where, f"malformed digest {digest!r}")
            return None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            self.error(where, f"size {size!r} is not a non-negative integer")
            return None
        path = self.path(digest)
        if not os.path.isfile(path):
            self.error(where, f"blob {digest} is missing")
            return None
        if digest not in self.verified:
            algo = digest.split(":")[0]
            h = hashlib.new(algo)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            actual = os.path.getsize(path)
            good = True
            if f"{algo}:{h.hexdigest()}" != digest:
                self.error(where, f"blob content hashes to {algo}:{h.hexdigest()}, not {digest}")
                good = False
            if actual != size:
                self.error(where, f"descriptor size {size} but the blob has {actual} bytes")
                good = False
            self.verified[digest] = good
        return path

    # ---- images ---------------------------------------------------------------------------
    def manifest_or_index(self, d, where):
        path = self.descriptor(d, where, MANIFESTS | INDEXES, "a manifest or index")
        if path is None:
            return
        doc = self.load_json(path, where)
        if not isinstance(doc, dict):
            if doc is not None:
                self.error(where, "manifest is not a JSON object")
            return
        own = doc.get("mediaType")
        if own is not None and own != d["mediaType"]:
            self.error(where, f"its mediaType field {own!r} differs from the descriptor's {d['mediaType']!r}")
        if doc.get("schemaVersion") != 2:
            self.error(where, f"schemaVersion is {doc.get('schemaVersion')!r}, not 2")
        if d["mediaType"] in INDEXES or "manifests" in doc:
            for i, sub in enumerate(doc.get("manifests") or []):
                self.manifest_or_index(sub, f"{where} > manifests[{i}]")
            return
        if d["mediaType"].startswith(DOCKER) and own is None:
            self.error(where, "a Docker schema 2 manifest must carry its mediaType")
        self.image(doc, d, where)

    def image(self, manifest, desc, where):
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            self.error(where, "layers is missing or not a list")
            layers = []
        cpath = self.descriptor(manifest.get("config"), f"{where} > config", CONFIGS, "an image config")
        config = self.load_json(cpath, f"{where} > config") if cpath else None
        diff_ids = []
        if isinstance(config, dict):
            diff_ids = self.config(config, desc, len(layers), f"{where} > config")
        elif config is not None:
            self.error(f"{where} > config", "the config is not a JSON object")
        for i, layer in enumerate(layers):
            w = f"{where} > layers[{i}]"
            path = self.descriptor(layer, w, LAYERS, "a layer")
            if path is None or layer["mediaType"] not in LAYERS:
                continue
            diff_id = self.layer(path, LAYERS[layer["mediaType"]], w)
            if diff_id and i < len(diff_ids) and diff_ids[i] != diff_id:
                self.error(w, f"diff_id mismatch: the config says {diff_ids[i]}, the uncompressed layer is {diff_id}")

    def config(self, cfg, desc, n_layers, where):
        for key in ("os", "architecture"):
            if not isinstance(cfg.get(key), str) or not cfg[key]:
                self.error(where, f"{key} is missing or empty")
        platform = desc.get("platform") or {}
        for key in ("os", "architecture"):
            if key in platform and platform[key] != cfg.get(key):
                self.error(where, f"{key} {cfg.get(key)!r} differs from the descriptor's platform {platform[key]!r}")
        rootfs = cfg.get("rootfs")
        if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
            self.error(where, 'rootfs.type must be "layers"')
            return []
        diff_ids = rootfs.get("diff_ids")
        if not isinstance(diff_ids, list):
            self.error(where, "rootfs.diff_ids is not a list")
            return []
        if len(diff_ids) != n_layers:
            self.error(where, f"{len(diff_ids)} diff_ids for {n_layers} layers")
        for i, x in enumerate(diff_ids):
            if not isinstance(x, str) or not DIGEST.match(x):
                self.error(where, f"diff_ids[{i}] is malformed: {x!r}")
        history = cfg.get("history")
        if isinstance(history, list):
            filled = sum(1 for h in history if not (isinstance(h, dict) and h.get("empty_layer")))
            if filled != n_layers:
                self.warn(where, f"history has {filled} non-empty entries for {n_layers} layers")
        return diff_ids

    def layer(self, path, compression, where):
        """decompress and walk the tar; return the diff_id (sha256 of the tar), or None"""
        proc = None
        try:
            with open(path, "rb") as raw:
                if compression == "gzip":
                    stream = gzip.GzipFile(fileobj=raw)
                elif compression == "zstd":
                    if not shutil.which("zstd"):
                        self.warn(where, "zstd is not installed (apt-get install zstd): layer not checked")
                        return None
                    proc = subprocess.Popen(["zstd", "-dcq"], stdin=raw, stdout=subprocess.PIPE)
                    stream = proc.stdout
                else:
                    stream = raw
                reader = HashingReader(stream)
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        self.tar_path(member.name, where)
                        if member.islnk():
                            self.tar_path(member.linkname, f"{where} hard link {member.name!r}")
                digest = reader.drain()
                if proc and proc.wait() != 0:
                    self.error(where, "zstd could not decompress the layer")
                    return None
                return digest
        except (OSError, EOFError, zlib.error, tarfile.TarError) as e:
            self.error(where, f"not a readable {compression or 'plain'} tar: {e}")
            return None

    def tar_path(self, name, where):
        if name.startswith("/"):
            self.error(where, f"absolute path in tar: {name!r}")
        elif ".." in name.split("/"):
            self.error(where, f"path with '..' in tar: {name!r}")

    # ---- the layout ----------------------------------------------------------------------------
    def reachable(self, descs):
        """every blob digest reachable from descs (parsing JSON only, no verification)"""
        seen, todo = set(), list(descs)
        while todo:
            d = todo.pop()
            if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or d["digest"] in seen:
                continue
            seen.add(d["digest"])
            if d.get("mediaType") in MANIFESTS | INDEXES:
                try:
                    with open(self.path(d["digest"]), "rb") as f:
                        doc = json.load(f)
                except (OSError, ValueError):
                    continue
                if isinstance(doc, dict):
                    todo += doc.get("manifests") or []
                    todo += [doc.get("config")] + list(doc.get("layers") or [])
        return seen

    def run(self, tag):
        marker = self.load_json(os.path.join(self.root, "oci-layout"), "oci-layout")
        if marker is not None and (not isinstance(marker, dict) or marker.get("imageLayoutVersion") != "1.0.0"):
            self.error("oci-layout", f'expected {{"imageLayoutVersion":"1.0.0"}}, found {marker!r}')
        index = self.load_json(os.path.join(self.root, "index.json"), "index.json")
        if not isinstance(index, dict):
            if index is not None:
                self.error("index.json", "not a JSON object")
            return
        if index.get("schemaVersion") != 2:
            self.error("index.json", f"schemaVersion is {index.get('schemaVersion')!r}, not 2")
        if index.get("mediaType", OCI + "index.v1+json") != OCI + "index.v1+json":
            self.error("index.json", f"mediaType {index['mediaType']!r}")
        entries = index.get("manifests")
        if not isinstance(entries, list):
            self.error("index.json", "manifests is not a list")
            return
        chosen = 0
        for i, d in enumerate(entries):
            name = ((d.get("annotations") or {}) if isinstance(d, dict) else {}).get(REF_NAME)
            if tag is not None and name != tag:
                continue
            chosen += 1
            self.manifest_or_index(d, f"index.json manifests[{i}]" + (f" ({name})" if name else ""))
        if tag is not None and chosen == 0:
            self.error("index.json", f"no manifest has {REF_NAME}={tag!r}")
        elif tag is not None and chosen > 1:
            self.warn("index.json", f"{chosen} manifests are tagged {tag!r}")
        used = self.reachable(entries)
        blobs = os.path.join(self.root, "blobs")
        for algo in sorted(os.listdir(blobs)) if os.path.isdir(blobs) else []:
            for name in sorted(os.listdir(os.path.join(blobs, algo))):
                if f"{algo}:{name}" not in used:
                    self.warn("blobs", f"{algo}/{name} is not referenced from index.json")


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help") or len(args) > 2:
        print(__doc__.strip())
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    root, tag = args[0], (args[1] if len(args) > 1 else None)
    if not os.path.isdir(root):
        sys.exit(f"check-oci-layout.py: error: {root} is not a directory (give an OCI layout dir)")
    c = Checker(root)
    c.run(tag)
    print(f"{'INVALID' if c.errors else 'OK'}: {root}{':' + tag if tag else ''}: "
          f"{c.errors} error(s), {c.warnings} warning(s), {len(c.verified)} blob(s) verified")
    sys.exit(1 if c.errors else 0)


if __name__ == "__main__":
    main()
