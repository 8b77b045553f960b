-- 0001_objects: the API objects VM, Image and Kernel.
--
-- One STRICT table per kind with a column for every scalar field of the
-- v1alpha1 object (src/api/api.h), and child tables for every list, keyed by
-- the owner's uid with an ordinal that keeps the list's order. Child rows go
-- with their owner (ON DELETE CASCADE). An unset string is NULL, an unset
-- creation time is NULL. Sizes are bytes, times are unix seconds.
--
-- These tables are hearth's internals and may change in later migrations;
-- reports use the views of 0003 (docs/sql.md).

CREATE TABLE image (
    uid         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    created     INTEGER,               -- metadata.created, NULL = unset
    claim_type  TEXT,                  -- spec.ociClaim.type ("Docker")
    claim_ref   TEXT,                  -- spec.ociClaim.ref
    source_id   TEXT,                  -- status.ociSource.id
    source_size INTEGER NOT NULL DEFAULT 0 -- status.ociSource.size
) STRICT;

CREATE TABLE kernel (
    uid         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    created     INTEGER,
    version     TEXT,                  -- spec.version
    claim_type  TEXT,
    claim_ref   TEXT,
    source_id   TEXT,
    source_size INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE vm (
    uid                 TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL UNIQUE,
    created             INTEGER,
    -- spec.image.ociClaim (has_image_claim = 0: null)
    has_image_claim     INTEGER NOT NULL DEFAULT 0 CHECK (has_image_claim IN (0, 1)),
    image_type          TEXT,
    image_ref           TEXT,
    -- spec.kernel.ociClaim and spec.kernel.cmdLine
    has_kernel_claim    INTEGER NOT NULL DEFAULT 0 CHECK (has_kernel_claim IN (0, 1)),
    kernel_type         TEXT,
    kernel_ref          TEXT,
    cmdline             TEXT,
    cpus                INTEGER NOT NULL CHECK (cpus > 0),
    memory              INTEGER NOT NULL CHECK (memory >= 0),
    disk_size           INTEGER NOT NULL CHECK (disk_size >= 0),
    network_mode        TEXT,
    -- spec.ssh (has_ssh = 0: absent) and spec.ssh.publicKey
    has_ssh             INTEGER NOT NULL DEFAULT 0 CHECK (has_ssh IN (0, 1)),
    ssh_public_key      TEXT,
    -- status
    state               TEXT CHECK (state IS NULL OR state IN
                            ('Created', 'Running', 'Stopped',
                             'Creating', 'Starting', 'Stopping', 'Removing')),
    image_id            TEXT,          -- status.image.id
    image_size          INTEGER NOT NULL DEFAULT 0,
    image_internal_uid  TEXT,          -- status.image.internalUID
    kernel_id           TEXT,          -- status.kernel.id
    kernel_size         INTEGER NOT NULL DEFAULT 0,
    kernel_internal_uid TEXT           -- status.kernel.internalUID
) STRICT;

CREATE INDEX vm_created ON vm (created, name);
CREATE INDEX vm_image_internal_uid ON vm (image_internal_uid);
CREATE INDEX vm_kernel_internal_uid ON vm (kernel_internal_uid);
CREATE INDEX vm_image_ref ON vm (image_ref);
CREATE INDEX vm_kernel_ref ON vm (kernel_ref);
CREATE INDEX image_created ON image (created, name);
CREATE INDEX kernel_created ON kernel (created, name);

-- metadata.labels and metadata.annotations (map: 'labels' or 'annotations').
CREATE TABLE vm_meta (
    uid   TEXT NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    map   TEXT NOT NULL CHECK (map IN ('labels', 'annotations')),
    ord   INTEGER NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (uid, map, ord),
    UNIQUE (uid, map, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE image_meta (
    uid   TEXT NOT NULL REFERENCES image (uid) ON DELETE CASCADE,
    map   TEXT NOT NULL CHECK (map IN ('labels', 'annotations')),
    ord   INTEGER NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (uid, map, ord),
    UNIQUE (uid, map, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE kernel_meta (
    uid   TEXT NOT NULL REFERENCES kernel (uid) ON DELETE CASCADE,
    map   TEXT NOT NULL CHECK (map IN ('labels', 'annotations')),
    ord   INTEGER NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (uid, map, ord),
    UNIQUE (uid, map, key)
) STRICT, WITHOUT ROWID;

-- status.ociSource.repoDigests (source: 'source') of images and kernels, and
-- status.image.repoDigests / status.kernel.repoDigests of VMs.
CREATE TABLE image_repo_digests (
    uid    TEXT NOT NULL REFERENCES image (uid) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source = 'source'),
    ord    INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (uid, source, ord)
) STRICT, WITHOUT ROWID;

CREATE TABLE kernel_repo_digests (
    uid    TEXT NOT NULL REFERENCES kernel (uid) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source = 'source'),
    ord    INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (uid, source, ord)
) STRICT, WITHOUT ROWID;

CREATE TABLE vm_repo_digests (
    uid    TEXT NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source IN ('image', 'kernel')),
    ord    INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (uid, source, ord)
) STRICT, WITHOUT ROWID;

-- spec.network.ports
CREATE TABLE vm_ports (
    uid          TEXT NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    ord          INTEGER NOT NULL,
    host_port    INTEGER NOT NULL CHECK (host_port BETWEEN 0 AND 65535),
    vm_port      INTEGER NOT NULL CHECK (vm_port BETWEEN 0 AND 65535),
    protocol     TEXT,                 -- NULL = tcp
    bind_address TEXT,                 -- NULL = all addresses
    PRIMARY KEY (uid, ord)
) STRICT, WITHOUT ROWID;

-- spec.copyFiles
CREATE TABLE vm_copy_files (
    uid       TEXT NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    ord       INTEGER NOT NULL,
    host_path TEXT,
    vm_path   TEXT,
    PRIMARY KEY (uid, ord)
) STRICT, WITHOUT ROWID;

-- status.ipAddresses
CREATE TABLE vm_ip_addresses (
    uid TEXT NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    ip  TEXT NOT NULL,
    PRIMARY KEY (uid, ord)
) STRICT, WITHOUT ROWID;
