-- 0005_vm_layers: the shared layers of the VM disk chain.
--
-- Image -> Resize -> Kernel -> VM (design.md). A Resize device is shared by
-- every VM of one image and disk size, a Kernel device by every VM of one
-- image, disk size and kernel. pool_device.layer_key names what a shared
-- layer was built from, unique under its parent, so that two VMs created at
-- once build one layer, never two:
--   Resize: 'resize:<size in bytes>'    (parent: the image's device)
--   Kernel: 'kernel:<kernel uid>'       (parent: a Resize device)
-- Image and VM devices have no key.

ALTER TABLE pool_device ADD COLUMN layer_key TEXT
    CHECK (layer_key IS NULL OR length(layer_key) BETWEEN 1 AND 128);

CREATE UNIQUE INDEX pool_device_layer ON pool_device (parent, layer_key)
    WHERE layer_key IS NOT NULL;

-- pool_devices gains the key at the end (views only ever grow at the end).
DROP VIEW pool_devices;
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
    d.created                                       AS created_unix,
    d.layer_key                                     AS layer_key
FROM pool_device d;
