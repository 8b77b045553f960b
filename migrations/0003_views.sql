-- 0003_views: the reporting interface of `hearth sql` (docs/sql.md).
--
-- The views keep their names and columns across releases; the tables under
-- them may change. A later migration that changes a table recreates the views
-- on top of it with the same columns; new columns are only ever added at the
-- end. Times come twice: ISO 8601 UTC text and unix seconds (*_unix).

-- One row per VM.
CREATE VIEW vms AS
SELECT
    v.uid                                           AS id,
    v.name                                          AS name,
    v.image_ref                                     AS image,
    v.kernel_ref                                    AS kernel,
    v.cpus                                          AS cpus,
    v.memory                                        AS memory_bytes,
    v.disk_size                                     AS disk_size_bytes,
    v.state                                         AS state,
    strftime('%Y-%m-%dT%H:%M:%SZ', v.created, 'unixepoch') AS created,
    v.created                                       AS created_unix,
    (SELECT group_concat(ip, ',') FROM
        (SELECT ip FROM vm_ip_addresses a WHERE a.uid = v.uid ORDER BY a.ord)) AS ips,
    (SELECT group_concat(p, ',') FROM
        (SELECT coalesce(bind_address, '0.0.0.0') || ':' || host_port || '->' || vm_port
                || '/' || coalesce(protocol, 'tcp') AS p
         FROM vm_ports q WHERE q.uid = v.uid ORDER BY q.ord))  AS ports,
    v.network_mode                                  AS network_mode,
    v.cmdline                                       AS cmdline,
    v.has_ssh                                       AS ssh,
    v.image_internal_uid                            AS image_id,
    v.kernel_internal_uid                           AS kernel_id,
    (SELECT json_group_object(key, value) FROM
        (SELECT key, value FROM vm_meta m WHERE m.uid = v.uid AND m.map = 'labels'
         ORDER BY m.ord))                           AS labels,
    (SELECT json_group_object(key, value) FROM
        (SELECT key, value FROM vm_meta m WHERE m.uid = v.uid AND m.map = 'annotations'
         ORDER BY m.ord))                           AS annotations
FROM vm v;

-- One row per image.
CREATE VIEW images AS
SELECT
    i.uid                                           AS id,
    i.name                                          AS name,
    i.claim_ref                                     AS ref,
    i.claim_type                                    AS type,
    i.source_id                                     AS source_id,
    i.source_size                                   AS size_bytes,
    strftime('%Y-%m-%dT%H:%M:%SZ', i.created, 'unixepoch') AS created,
    i.created                                       AS created_unix,
    (SELECT group_concat(digest, ',') FROM
        (SELECT digest FROM image_repo_digests d WHERE d.uid = i.uid ORDER BY d.ord)) AS repo_digests,
    (SELECT count(*) FROM vm v
      WHERE v.image_internal_uid = i.uid OR v.image_ref = i.name OR v.image_ref = i.claim_ref) AS vm_count,
    (SELECT json_group_object(key, value) FROM
        (SELECT key, value FROM image_meta m WHERE m.uid = i.uid AND m.map = 'labels'
         ORDER BY m.ord))                           AS labels
FROM image i;

-- One row per kernel.
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
         ORDER BY m.ord))                           AS labels
FROM kernel k;

-- One row per storage-pool device.
CREATE VIEW pool_devices AS
SELECT
    d.id                                            AS id,
    d.type                                          AS type,
    d.parent                                        AS parent,
    d.size                                          AS size_bytes,
    d.state                                         AS state,
    d.owner_kind                                    AS owner_kind,
    d.owner_uid                                     AS owner_id,
    CASE d.owner_kind
        WHEN 'VM' THEN (SELECT name FROM vm WHERE uid = d.owner_uid)
        WHEN 'Image' THEN (SELECT name FROM image WHERE uid = d.owner_uid)
        WHEN 'Kernel' THEN (SELECT name FROM kernel WHERE uid = d.owner_uid)
    END                                             AS owner_name,
    d.metadata_path                                 AS metadata_path,
    strftime('%Y-%m-%dT%H:%M:%SZ', d.created, 'unixepoch') AS created,
    d.created                                       AS created_unix
FROM pool_device d;

-- One row per journaled operation.
CREATE VIEW operations AS
SELECT
    j.id                                            AS id,
    j.op                                            AS op,
    j.kind                                          AS kind,
    j.object_uid                                    AS object_id,
    j.step                                          AS step,
    CASE WHEN j.finished IS NULL THEN 'running'
         WHEN j.error IS NULL THEN 'done'
         ELSE 'failed' END                          AS status,
    j.owner_pid                                     AS owner_pid,
    j.owner_start                                   AS owner_start,
    strftime('%Y-%m-%dT%H:%M:%SZ', j.started, 'unixepoch')  AS started,
    strftime('%Y-%m-%dT%H:%M:%SZ', j.updated, 'unixepoch')  AS updated,
    strftime('%Y-%m-%dT%H:%M:%SZ', j.finished, 'unixepoch') AS finished,
    j.started                                       AS started_unix,
    j.updated                                       AS updated_unix,
    j.finished                                      AS finished_unix,
    j.error                                         AS error
FROM journal j;

-- One row per IP lease.
CREATE VIEW ip_leases AS
SELECT
    l.ip                                            AS ip,
    l.network                                       AS network,
    l.mac                                           AS mac,
    l.vm_uid                                        AS vm_id,
    (SELECT name FROM vm WHERE uid = l.vm_uid)      AS vm_name,
    l.state                                         AS state,
    strftime('%Y-%m-%dT%H:%M:%SZ', l.created, 'unixepoch') AS created,
    strftime('%Y-%m-%dT%H:%M:%SZ', l.expires, 'unixepoch') AS expires,
    l.created                                       AS created_unix,
    l.expires                                       AS expires_unix
FROM ip_lease l;
