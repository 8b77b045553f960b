#!/usr/bin/env bash
# seeds.sh: writes the seed inputs of tests/fuzz that are made by programs
# rather than by hand (README.md lists them all); run it again after a
# format changes, and commit what changed.
#
#   oci_manifest/  an OCI layout's index.json, an index of two platforms
#                  with a BuildKit attestation, their image manifests
#                  (tests/oci/mkimage.py), and the Docker schema 2 manifest
#                  and manifest list skopeo converts them to
#   fcfake/        the requests hearth's Firecracker driver sends
#                  (src/vmm/firecracker.c), as curl writes them
#   api_stream/    the api_docs seeds, behind a first byte that cuts reads
#                  to 0 (no limit), 1 and 7 bytes
#   thin_meta/     dm-thin metadata written by thin_restore from XML (3 and
#                  300 devices: a btree with internal nodes), and one whose
#                  superblock holds a metadata snapshot
#   dhcp/          a guest's DHCP frames, as busybox udhcpc and RFC 2131's
#                  states send them, from the MAC the fuzz target serves
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d /var/tmp/hearth-seeds.XXXXXX) # thin_restore opens with O_DIRECT: not tmpfs
trap 'rm -rf "$TMP"' EXIT

# ---- oci_manifest -----------------------------------------------------------
out=$HERE/oci_manifest
mkdir -p "$out" "$TMP/l"
echo hello >"$TMP/l/hello"
mkimage() { python3 "$SRC/tests/oci/mkimage.py" image "$@" --created 2024-01-01T00:00:00Z; }
blob() { cp "$1/blobs/sha256/${2#sha256:}" "$out/$3"; }
one=$(mkimage "$TMP/lay" 1 --layer gzip:"$TMP/l")
multi=$(mkimage "$TMP/lay" multi --layer gzip:"$TMP/l" --layer tar:"$TMP/l" \
    --platform linux/amd64 --platform linux/arm64 --attestation)
cp "$TMP/lay/index.json" "$out/oci-layout-index.json"
blob "$TMP/lay" "$one" oci-manifest.json
blob "$TMP/lay" "$multi" oci-index-attestation.json
python3 - "$TMP/lay" "$multi" "$out" <<'PY'
import json, sys
lay, digest, out = sys.argv[1:]
index = json.load(open("%s/blobs/sha256/%s" % (lay, digest.split(":")[1])))
for m in index["manifests"]:
    p = m.get("platform", {})
    name = "oci-manifest-%s-%s.json" % (p.get("os"), p.get("architecture"))
    data = open("%s/blobs/sha256/%s" % (lay, m["digest"].split(":")[1]), "rb").read()
    open("%s/%s" % (out, name), "wb").write(data)
PY
two=$(mkimage "$TMP/lay2" multi --layer gzip:"$TMP/l" --platform linux/amd64 --platform linux/arm64)
skopeo copy -q --all --format v2s2 "oci:$TMP/lay2:multi" "dir:$TMP/list"
cp "$TMP/list/manifest.json" "$out/docker-manifest-list.json"
skopeo copy -q --format v2s2 "oci:$TMP/lay:1" "dir:$TMP/d1"
cp "$TMP/d1/manifest.json" "$out/docker-manifest-v2.json"
: "$two"

# ---- fcfake -----------------------------------------------------------------
python3 - "$HERE/fcfake" <<'PY'
import json, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def req(method, path, body=None):
    head = "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n" % (method, path)
    if body is None:
        return (head + "\r\n").encode()
    data = json.dumps(body, separators=(",", ":"))
    head += "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data)
    return (head + data).encode()

logger = req("PUT", "/logger", {"log_path": "/r/run/vm/1/fc.log", "level": "Info",
                                "show_level": True, "show_log_origin": False})
metrics = req("PUT", "/metrics", {"metrics_path": "/r/run/vm/1/metrics"})
boot = req("PUT", "/boot-source", {"kernel_image_path": "/r/kernel/vmlinux",
                                   "boot_args": "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp",
                                   "initrd_path": "/r/kernel/initrd"})
drive = req("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "/r/pool/vm-1",
                                      "is_root_device": True, "is_read_only": False})
machine = req("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 512, "smt": False})
net = req("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "hearth-tap0",
                                              "guest_mac": "02:42:ac:11:00:02"})
start = req("PUT", "/actions", {"action_type": "InstanceStart"})
cad = req("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
info = req("GET", "/")
seeds = {
    "boot-sequence": logger + metrics + boot + drive + machine + net + start + info + cad,
    "boot-minimal": boot + drive + machine + start,
    "start-without-boot-source": start,
    "logger-after-boot-source": boot + logger,
    "instance-info": info,
    "wrong-drive-id": req("PUT", "/drives/rootfs", {"drive_id": "other", "path_on_host": "/x",
                                                    "is_root_device": True,
                                                    "is_read_only": False}),
    "unknown-field": req("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                                    "turbo": True}),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
PY

# ---- api_stream ---------------------------------------------------------------
mkdir -p "$HERE/api_stream"
for f in "$HERE"/api_docs/*; do
    b=$(basename "$f")
    for n in 0 1 7; do
        { printf "\\$(printf %03o "$n")"; cat "$f"; } >"$HERE/api_stream/$n-$b"
    done
done

# ---- thin_meta ------------------------------------------------------------------
out=$HERE/thin_meta
mkdir -p "$out"
xml() { # xml N: a pool with device 1 (one mapping) and N more devices
    echo '<superblock uuid="" time="1" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="1600">'
    echo '<device dev_id="1" mapped_blocks="1" transaction="0" creation_time="0" snap_time="0"><range_mapping origin_begin="0" data_begin="0" length="1" time="0"/></device>'
    for ((i = 0; i < $1; i++)); do
        echo "<device dev_id=\"$((5 + 7 * i))\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\"></device>"
    done
    echo '</superblock>'
}
restore() { # restore N SIZE NAME
    xml "$1" >"$TMP/m.xml"
    rm -f "$TMP/m.meta"
    truncate -s "$2" "$TMP/m.meta"
    thin_restore -q -i "$TMP/m.xml" -o "$TMP/m.meta"
    cp "$TMP/m.meta" "$out/$3"
}
restore 3 64K devices-3
restore 300 128K devices-300
# A held metadata snapshot: the superblock copied to the last block (its
# blocknr set), held_root pointing at it. The fuzz target seals checksums.
python3 - "$out/devices-3" "$out/devices-3-held" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
last = len(data) // 4096 - 1
sb = bytearray(data[:4096])
struct.pack_into("<Q", sb, 8, last)
data[last * 4096:(last + 1) * 4096] = sb
struct.pack_into("<Q", data, 56, last)
open(sys.argv[2], "wb").write(data)
PY
# ---- dhcp -----------------------------------------------------------------------
python3 - "$HERE/dhcp" <<'PY'
import os, struct, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
MAC = bytes.fromhex("020a1b2c3d4e")

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def ip(a):
    return bytes(int(x) for x in a.split("."))

def frame(xid, typ, opts=b"", ciaddr="0.0.0.0", flags=0, mac=MAC):
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s4s", 1, 1, 6, 0, xid, 0, flags, ip(ciaddr),
                        bytes(4), bytes(4), bytes(4), mac, b"", b"", bytes([99, 130, 83, 99]))
    bootp += bytes([53, 1, typ]) + opts + bytes([255])
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, ip(ciaddr),
                      ip("255.255.255.255"))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return b"\xff" * 6 + mac + b"\x08\x00" + hdr + udp

params = bytes([55, 7, 1, 3, 6, 12, 15, 28, 42])
cid = bytes([61, 7, 1]) + MAC
seeds = {
    "discover": frame(1, 1, params + cid + bytes([12, 5]) + b"guest"),
    "discover-broadcast": frame(2, 1, params, flags=0x8000),
    "request-selecting": frame(3, 3, params + bytes([50, 4]) + ip("10.98.0.66") +
                               bytes([54, 4]) + ip("10.98.0.1")),
    "request-init-reboot-wrong": frame(4, 3, bytes([50, 4]) + ip("10.98.0.99")),
    "request-renewing": frame(5, 3, params, ciaddr="10.98.0.66"),
    "inform": frame(6, 8, params, ciaddr="10.98.0.66"),
    "release": frame(7, 7, bytes([54, 4]) + ip("10.98.0.1"), ciaddr="10.98.0.66"),
    "discover-other-mac": frame(8, 1, params, mac=bytes.fromhex("020a1b2c3d4f")),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
PY
echo "seeds written under $HERE"
