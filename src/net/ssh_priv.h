/*
 * net ssh, inside the module: an open connection, shared by the command
 * runner (ssh_client.c) and the file copier (sftp.c).
 */
#ifndef HEARTH_NET_SSH_PRIV_H
#define HEARTH_NET_SSH_PRIV_H

#include <libssh/libssh.h>

#include "net/net.h"

struct net_ssh {
    ssh_session s;
    const struct net_ssh_target *t;
    char host_key[NET_SSH_FINGERPRINT_MAX]; /* the fingerprint the server showed */
};

#endif
