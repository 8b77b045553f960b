/*
 * net nl: the rtnetlink requests of the net module (link.c asks for a
 * link's kind and master, tc.c makes qdiscs and filters), without a
 * library: a request is built in a fixed buffer, sent, and its answers are
 * read until the kernel's ack, error or end of dump. Internal to src/net.
 */
#ifndef HEARTH_NET_NL_H
#define HEARTH_NET_NL_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define NL_MSG_MAX 1024 /* a request: the largest net makes is a filter of some 200 bytes */
#define NL_WHY_MAX 160  /* the kernel's extended ack message ("Exclusivity flag on, ...") */

/* A request being built: a header, the family's struct, then attributes. */
struct nl_msg {
    union {
        struct nlmsghdr nh;
        char buf[NL_MSG_MAX];
    };
};

/* type (RTM_*) with flags; NLM_F_REQUEST is added. */
void nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags);
/* Appends len bytes (the family's struct: ifinfomsg, tcmsg) and returns where they went. */
void *nl_msg_put(struct nl_msg *m, const void *data, size_t len);
void nl_attr_put(struct nl_msg *m, uint16_t type, const void *data, size_t len);
void nl_attr_put_str(struct nl_msg *m, uint16_t type, const char *s);
/* A nested attribute: what is put between begin and end goes inside it. */
struct rtattr *nl_nest_begin(struct nl_msg *m, uint16_t type);
void nl_nest_end(struct nl_msg *m, struct rtattr *nest);

/* The first attribute of type among the len bytes at rta; NULL when there is none. */
const struct rtattr *nl_attr_find(const struct rtattr *rta, size_t len, uint16_t type);

/* A NETLINK_ROUTE socket and the sequence number of its next request. */
struct nl_sock {
    int fd;
    uint32_t seq;
};

/* Opens s (extended acks asked for). 0 or -errno (err says so). */
int nl_open(struct nl_sock *s, struct error *err) WUR;
void nl_close(struct nl_sock *s);

/*
 * Sends m and reads its answers: each message that is not an ack goes to fn
 * (NULL: none expected), whose negative return ends the exchange with that
 * value. An NLM_F_DUMP request ends at NLMSG_DONE, any other at the kernel's
 * ack (NLM_F_ACK is added). Returns 0, the kernel's -errno (its extended ack
 * message in why when it gave one, else ""), or -errno of send/recv. Sets no
 * error: the caller names what it asked for.
 */
int nl_talk(struct nl_sock *s, struct nl_msg *m, int (*fn)(const struct nlmsghdr *nh, void *ud),
            void *ud, char why[NL_WHY_MAX]) WUR;

#endif
