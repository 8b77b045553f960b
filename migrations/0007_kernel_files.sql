-- 0007_kernel_files: the files each kernel has, so that they can be checked.
--
-- A kernel's files live in <root>/kernel/<uid>/: vmlinux (the ELF, what
-- Firecracker boots), vmlinuz (the bzImage, when it came as one), initrd and
-- modules.tar, each only when the kernel has it. The import records which
-- ones it wrote and their sizes in the transaction that records the kernel,
-- so `hearth doctor` finds a kernel one of whose files is missing or has
-- another size, and an import of its name brings them back. Kernels recorded
-- before this migration, and kernels applied from a document, have no rows
-- here (then a kernel file, vmlinux or vmlinuz, is all that can be checked).

CREATE TABLE kernel_file (
    uid  TEXT NOT NULL REFERENCES kernel (uid) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (name IN ('vmlinux', 'vmlinuz', 'initrd', 'modules.tar')),
    size INTEGER NOT NULL CHECK (size >= 0),
    PRIMARY KEY (uid, name)
) STRICT, WITHOUT ROWID;

-- kernels gains the list of its files at the end (views only ever grow at the end).
DROP VIEW kernels;
CREATE VIEW kernels AS
SELECT
    k.uid                                           AS id,
    k.name                                          AS name,
    k.claim_ref                                     AS ref,
    k.claim_type                                    AS type,
    k.version                                       AS version,
    k.source_id                                     AS source_id,
    k.source_size                                   AS size_bytes,
    strftime('%Y-%m-%dT%H:%M:%SZ', k.created, 'unixepoch') AS created,
    k.created                                       AS created_unix,
    (SELECT group_concat(digest, ',') FROM
        (SELECT digest FROM kernel_repo_digests d WHERE d.uid = k.uid ORDER BY d.ord)) AS repo_digests,
    (SELECT count(*) FROM vm v
      WHERE v.kernel_internal_uid = k.uid OR v.kernel_ref = k.name OR v.kernel_ref = k.claim_ref) AS vm_count,
    (SELECT json_group_object(key, value) FROM
        (SELECT key, value FROM kernel_meta m WHERE m.uid = k.uid AND m.map = 'labels'
         ORDER BY m.ord))                           AS labels,
    (SELECT group_concat(name, ',') FROM
        (SELECT name FROM kernel_file f WHERE f.uid = k.uid ORDER BY f.name)) AS files
FROM kernel k;
