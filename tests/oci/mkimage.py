#!/usr/bin/env python3
"""mkimage.py: builds OCI image layouts for hearth's tests (tests/oci/README.md).

  mkimage.py rootfs DIR
      fills DIR with a tiny busybox root: bin/busybox (Debian's busybox-static),
      bin/sh -> busybox, etc/hostname, etc/os-release.

  mkimage.py rootfs DIR --applets
      the same, plus a symlink to busybox for every applet it lists
      (`busybox --list-full`: bin/ls, sbin/poweroff, usr/bin/...), and the
      directories a booting system mounts on (dev, proc, sys, run, tmp, root).

  mkimage.py image LAYOUT TAG [--layer COMP:DIR|COMP:FILE]... [--platform OS/ARCH]...
                              [--attestation] [--created TEXT]
      adds an image made of the given layers (COMP is tar, gzip or zstd; DIR's
      content becomes the layer, so whiteouts are files named .wh.NAME and an
      opaque directory holds .wh..wh..opq) to the OCI layout LAYOUT (created if
      missing), named TAG (org.opencontainers.image.ref.name). A tar file in
      place of DIR is the layer as it is (entries no directory tree can hold:
      "../x", a file below a symlink, hard links to any path).
      One --platform (default linux/amd64): TAG names an image manifest.
      Several: TAG names an index with one manifest per platform (same layers,
      configs differing by architecture); --attestation adds a BuildKit-style
      attestation manifest (platform unknown/unknown).
      Prints the digest TAG points to.

Push the result with:
  skopeo copy --all --dest-tls-verify=false oci:LAYOUT:TAG docker://127.0.0.1:PORT/NAME:TAG
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "tar": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def die(msg):
    sys.stderr.write("mkimage: %s\n" % msg)
    sys.exit(2)


def put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def tar_dir(src):
    buf = io.BytesIO()

    def norm(ti):
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = 1700000000
        return ti

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(src)):
            t.add(os.path.join(src, name), arcname=name, recursive=True, filter=norm)
    return buf.getvalue()


def compress(comp, data):
    if comp == "tar":
        return data
    if comp == "gzip":
        return gzip.compress(data, mtime=0)
    if comp == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    die("unknown compression %r (tar, gzip, zstd)" % comp)


def descriptor(mt, digest, size, **extra):
    d = {"mediaType": mt, "digest": digest, "size": size}
    d.update(extra)
    return d


def make_manifest(layout, layers, os_, arch, created):
    config = {
        "created": created,
        "architecture": arch,
        "os": os_,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
        "history": [{"created": created, "created_by": "mkimage.py"} for _ in layers],
    }
    cdata = json.dumps(config, sort_keys=True).encode()
    cdigest = put_blob(layout, cdata)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": descriptor(MT_CONFIG, cdigest, len(cdata)),
        "layers": [descriptor(l["mt"], l["digest"], l["size"]) for l in layers],
    }
    mdata = json.dumps(manifest, sort_keys=True).encode()
    return descriptor(MT_MANIFEST, put_blob(layout, mdata), len(mdata))


def make_attestation(layout, target_digest, created):
    stmt = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                       "predicateType": "https://spdx.dev/Document"}).encode()
    sdigest = put_blob(layout, stmt)
    cdata = json.dumps({"architecture": "unknown", "os": "unknown", "created": created,
                        "rootfs": {"type": "layers", "diff_ids": [sdigest]}}).encode()
    cdigest = put_blob(layout, cdata)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": descriptor(MT_CONFIG, cdigest, len(cdata)),
        "layers": [descriptor("application/vnd.in-toto+json", sdigest, len(stmt),
                              annotations={"in-toto.io/predicate-type":
                                           "https://spdx.dev/Document"})],
    }
    mdata = json.dumps(manifest, sort_keys=True).encode()
    return descriptor(MT_MANIFEST, put_blob(layout, mdata), len(mdata),
                      platform={"os": "unknown", "architecture": "unknown"},
                      annotations={"vnd.docker.reference.type": "attestation-manifest",
                                   "vnd.docker.reference.digest": target_digest})


def add_applets(root):
    out = subprocess.run([os.path.join(root, "bin", "busybox"), "--list-full"], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    for rel in out.split():
        if rel.startswith("/") or ".." in rel.split("/") or rel == "bin/busybox":
            continue
        link = os.path.join(root, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(os.path.join(root, "bin", "busybox"),
                                       os.path.dirname(link)), link)
    for d in ("dev", "proc", "sys", "run", "tmp", "root"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)


def cmd_rootfs(args):
    applets = "--applets" in args
    args = [a for a in args if a != "--applets"]
    if len(args) != 1:
        die("usage: mkimage.py rootfs DIR [--applets]")
    root = args[0]
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
    if not os.path.lexists(os.path.join(root, "bin", "sh")):
        os.symlink("busybox", os.path.join(root, "bin", "sh"))
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("hearth-test\n")
    with open(os.path.join(root, "etc", "os-release"), "w") as f:
        f.write("NAME=hearth-test\nID=hearth-test\n")
    if applets:
        add_applets(root)


def cmd_image(args):
    if len(args) < 2:
        die("usage: mkimage.py image LAYOUT TAG [--layer COMP:DIR]... [--platform OS/ARCH]...")
    layout, tag = args[0], args[1]
    layer_specs, platforms, attestation, created = [], [], False, "2024-01-01T00:00:00Z"
    i = 2
    while i < len(args):
        a = args[i]
        if a in ("--layer", "--platform", "--created") and i + 1 >= len(args):
            die("%s needs a value" % a)
        if a == "--layer":
            layer_specs.append(args[i + 1])
            i += 2
        elif a == "--platform":
            platforms.append(args[i + 1])
            i += 2
        elif a == "--created":
            created = args[i + 1]
            i += 2
        elif a == "--attestation":
            attestation = True
            i += 1
        else:
            die("unknown option %r" % a)
    if not platforms:
        platforms = ["linux/amd64"]
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

    layers = []
    for spec in layer_specs:
        comp, _, d = spec.partition(":")
        if d and os.path.isfile(d):
            with open(d, "rb") as f:
                raw = f.read()
        elif d and os.path.isdir(d):
            raw = tar_dir(d)
        else:
            die("layer %r: want COMP:DIR with an existing DIR or COMP:FILE with a tar FILE" % spec)
        blob = compress(comp, raw)
        layers.append({"mt": MT_LAYER[comp], "digest": put_blob(layout, blob), "size": len(blob),
                       "diff_id": "sha256:" + hashlib.sha256(raw).hexdigest()})

    descs = []
    for p in platforms:
        os_, _, arch = p.partition("/")
        d = make_manifest(layout, layers, os_, arch, created)
        d["platform"] = {"os": os_, "architecture": arch}
        descs.append(d)
    if len(descs) == 1 and not attestation:
        top = descs[0]
        del top["platform"]
    else:
        entries = list(descs)
        if attestation:
            entries.append(make_attestation(layout, descs[0]["digest"], created))
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}
        idata = json.dumps(index, sort_keys=True).encode()
        top = descriptor(MT_INDEX, put_blob(layout, idata), len(idata))

    ipath = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}
    if os.path.exists(ipath):
        with open(ipath) as f:
            index = json.load(f)
    ref = "org.opencontainers.image.ref.name"
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(ref) != tag]
    top = dict(top)
    top["annotations"] = {ref: tag}
    index["manifests"].append(top)
    with open(ipath, "w") as f:
        json.dump(index, f, sort_keys=True)
    print(top["digest"])


def main():
    if len(sys.argv) < 2:
        die("usage: mkimage.py rootfs DIR | image LAYOUT TAG ...")
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "rootfs":
        cmd_rootfs(args)
    elif cmd == "image":
        cmd_image(args)
    else:
        die("unknown command %r" % cmd)


if __name__ == "__main__":
    main()
