-- 0008_network: the bridged networks that VMs' leases are taken from.
--
-- A network is a Linux bridge of that name with an IPv4 subnet; the bridge
-- holds the subnet's first address (the guests' gateway and DNS), and every
-- other address is a VM's lease (ip_lease, 0002). The row is written by the
-- first start of a bridged VM (the subnet picked from those no route or
-- interface here uses) or by `hearth network create`. The bridge, its taps,
-- its dnsmasq and the nftables elements are what the machine has; the engine
-- rebuilds them from these rows (a reboot loses them) and doctor compares.

CREATE TABLE network (
    name    TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 15),
    subnet  TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
) STRICT;

CREATE VIEW networks AS
SELECT
    n.name                                          AS name,
    n.subnet                                        AS subnet,
    (SELECT count(*) FROM ip_lease l WHERE l.network = n.name) AS leases,
    strftime('%Y-%m-%dT%H:%M:%SZ', n.created, 'unixepoch') AS created,
    n.created                                       AS created_unix
FROM network n;
