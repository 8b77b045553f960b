-- 0002_pool_journal_leases: the storage pool and its devices, the operations
-- journal of the consistency protocol, and IP leases.

-- The pool: a singleton row (id = 1) with the seed's Pool spec and the
-- driver that backs it ('dm-thin' or 'file', NULL until chosen).
CREATE TABLE pool (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    metadata_size   INTEGER NOT NULL CHECK (metadata_size >= 0),
    data_size       INTEGER NOT NULL CHECK (data_size >= 0),
    allocation_size INTEGER NOT NULL CHECK (allocation_size >= 0),
    metadata_path   TEXT,
    data_path       TEXT,
    driver          TEXT
) STRICT;

-- One row per pool device; id is the 24-bit thin id and the index in the
-- Pool's devices[]. parent NULL means the pool itself. The parent check is
-- deferred so a whole device table can be rewritten in one transaction.
CREATE TABLE pool_device (
    id            INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 16777215),
    type          TEXT NOT NULL CHECK (type IN ('Image', 'Resize', 'Kernel', 'VM')),
    parent        INTEGER REFERENCES pool_device (id) DEFERRABLE INITIALLY DEFERRED,
    size          INTEGER NOT NULL CHECK (size >= 0),
    state         TEXT NOT NULL DEFAULT 'active'
                  CHECK (state IN ('planned', 'active', 'removing')),
    owner_kind    TEXT CHECK (owner_kind IS NULL OR owner_kind IN ('VM', 'Image', 'Kernel')),
    owner_uid     TEXT,
    metadata_path TEXT,
    created       INTEGER
) STRICT;

CREATE INDEX pool_device_parent ON pool_device (parent);
CREATE INDEX pool_device_owner ON pool_device (owner_kind, owner_uid);

-- The operations journal: one row per operation (design.md's protocol).
-- finished is NULL while the operation is in flight; owner_start is the
-- owner's start time in clock ticks since boot (/proc/PID/stat field 22),
-- so a reused pid is not mistaken for the owner.
CREATE TABLE journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    op          TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('VM', 'Image', 'Kernel', 'Pool')),
    object_uid  TEXT,
    step        TEXT NOT NULL,
    owner_pid   INTEGER NOT NULL CHECK (owner_pid > 0),
    owner_start INTEGER NOT NULL CHECK (owner_start >= 0),
    started     INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    finished    INTEGER,
    error       TEXT
) STRICT;

CREATE INDEX journal_open ON journal (id) WHERE finished IS NULL;

-- IP leases handed to VMs; a lease goes with its VM.
CREATE TABLE ip_lease (
    ip      TEXT PRIMARY KEY NOT NULL,
    network TEXT NOT NULL,
    mac     TEXT,
    vm_uid  TEXT REFERENCES vm (uid) ON DELETE CASCADE,
    state   TEXT NOT NULL DEFAULT 'reserved'
            CHECK (state IN ('reserved', 'active', 'released')),
    created INTEGER NOT NULL,
    expires INTEGER
) STRICT;

CREATE INDEX ip_lease_vm ON ip_lease (vm_uid);
