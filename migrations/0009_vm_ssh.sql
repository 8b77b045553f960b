-- 0009_vm_ssh: what hearth knows to reach a VM over SSH.
--
-- One row per VM with spec.ssh whose disk was built; it goes with its VM.
-- host_key_fingerprint is the SHA256 fingerprint of the ed25519 host key
-- hearth generated and wrote into the VM's disk at create, as OpenSSH prints
-- it ("SHA256:" and 43 characters of unpadded base64): every connection
-- checks the server's key against it, so nothing is trusted on first use.
-- host_port is the host port (on 127.0.0.1) that leads to the guest's port 22
-- in user-mode networking, picked at each start; NULL for other modes and
-- before the first start.

CREATE TABLE vm_ssh (
    uid                  TEXT PRIMARY KEY NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    host_key_fingerprint TEXT NOT NULL
        CHECK (length(host_key_fingerprint) = 50 AND substr(host_key_fingerprint, 1, 7) = 'SHA256:'),
    host_port            INTEGER CHECK (host_port IS NULL OR host_port BETWEEN 1 AND 65535)
) STRICT;

-- vms gains the fingerprint and the port at the end (views only ever grow at the end).
DROP VIEW vms;
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
         ORDER BY m.ord))                           AS annotations,
    r.vmm                                           AS vmm,
    r.monitor_pid                                   AS monitor_pid,
    r.vmm_pid                                       AS vmm_pid,
    strftime('%Y-%m-%dT%H:%M:%SZ', r.started, 'unixepoch') AS started,
    r.started                                       AS started_unix,
    strftime('%Y-%m-%dT%H:%M:%SZ', r.stopped, 'unixepoch') AS stopped,
    r.stopped                                       AS stopped_unix,
    r.exit_status                                   AS exit_status,
    r.exit_reason                                   AS exit_reason,
    s.host_key_fingerprint                          AS ssh_host_key,
    s.host_port                                     AS ssh_host_port
FROM vm v LEFT JOIN vm_runtime r ON r.uid = v.uid LEFT JOIN vm_ssh s ON s.uid = v.uid;
