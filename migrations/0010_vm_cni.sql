-- 0010_vm_cni: the CNI attachment of a VM in networkMode cni.
--
-- One row per VM whose start set up (or began to set up) its CNI network; it
-- is written in the start's intent transaction, before anything exists on
-- the machine, and removed once the plugins' DEL ran and the namespace is
-- gone: at the VM's end, or when recovery, doctor or rm undo a start. So a
-- row whose VM does not run is work left to undo, with what DEL needs, as
-- the CNI spec asks: the configuration list as it was read (conf_json, from
-- conf_file), the plugins' directories (cni_path), the network namespace
-- (netns, a bind mount under <root>/run/cni/netns), and the result of ADD
-- (result: the last plugin's JSON, NULL until ADD finished). The container
-- id is the VM's uid and the interface is eth0.

CREATE TABLE vm_cni (
    uid       TEXT PRIMARY KEY NOT NULL REFERENCES vm (uid) ON DELETE CASCADE,
    conf_file TEXT NOT NULL,
    conf_json TEXT NOT NULL CHECK (json_valid(conf_json)),
    network   TEXT NOT NULL,
    cni_path  TEXT NOT NULL,
    netns     TEXT NOT NULL,
    result    TEXT CHECK (result IS NULL OR json_valid(result)),
    created   INTEGER NOT NULL
) STRICT;

-- One row per CNI attachment, with what its result says.
CREATE VIEW cni_attachments AS
SELECT
    c.uid                                           AS vm_id,
    v.name                                          AS vm,
    c.network                                       AS network,
    c.conf_file                                     AS conf_file,
    c.netns                                         AS netns,
    json_extract(c.result, '$.ips[0].address')      AS address,
    json_extract(c.result, '$.ips[0].gateway')      AS gateway,
    (SELECT json_group_array(json_extract(i.value, '$.mac'))
     FROM json_each(c.result, '$.interfaces') i
     WHERE json_extract(i.value, '$.sandbox') IS NOT NULL) AS sandbox_macs,
    json_extract(c.result, '$.dns.nameservers')     AS dns,
    json_extract(c.result, '$.routes')              AS routes,
    c.result                                        AS result,
    strftime('%Y-%m-%dT%H:%M:%SZ', c.created, 'unixepoch') AS created,
    c.created                                       AS created_unix
FROM vm_cni c JOIN vm v ON v.uid = c.uid;
