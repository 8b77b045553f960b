-- 0006_vm_runtime: what runs for a VM, so that `ps` can check it.
--
-- One row per VM that was ever started; it goes with its VM. The monitor
-- (the per-VM process that owns the VMM) and the VMM are identified by pid
-- plus process start time (clock ticks since boot, /proc/PID/stat field 22),
-- so that a reused pid is never mistaken for them. exit_status is the VMM's
-- exit code, or 128 + the signal that ended it; exit_reason says it in words
-- ("exited with status 0", "killed by signal 9", "the monitor died").
-- vm_state lets engine_open find the VMs that may run (Running, Starting,
-- Stopping, Removing) without reading the others.

CREATE TABLE vm_runtime (
    uid           TEXT PRIMARY KEY NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    vmm           TEXT NOT NULL CHECK (vmm IN ('firecracker', 'qemu')),
    accel         TEXT CHECK (accel IS NULL OR accel IN ('kvm', 'tcg')),
    device_id     INTEGER CHECK (device_id IS NULL OR device_id BETWEEN 0 AND 16777215),
    monitor_pid   INTEGER CHECK (monitor_pid IS NULL OR monitor_pid > 0),
    monitor_start INTEGER CHECK (monitor_start IS NULL OR monitor_start >= 0),
    vmm_pid       INTEGER CHECK (vmm_pid IS NULL OR vmm_pid > 0),
    vmm_start     INTEGER CHECK (vmm_start IS NULL OR vmm_start >= 0),
    started       INTEGER,            -- unix seconds the VMM was started
    stopped       INTEGER,            -- unix seconds it was seen to end, NULL while running
    exit_status   INTEGER,
    exit_reason   TEXT
) STRICT;

CREATE INDEX vm_state ON vm (state);

-- vms gains the runtime at the end (views only ever grow at the end).
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
    r.exit_reason                                   AS exit_reason
FROM vm v LEFT JOIN vm_runtime r ON r.uid = v.uid;
