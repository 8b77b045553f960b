/* The test groups of test_net; main.c runs them inside a network namespace of its own. */
#ifndef HEARTH_TESTS_NET_TEST_H
#define HEARTH_TESTS_NET_TEST_H

#include <stddef.h>

#include "testrun.h"

/* addr_test.c: subnets, addresses, MACs and tap names as text. */
extern const struct CMUnitTest net_addr_tests[];
extern const size_t net_addr_tests_n;
/* link_test.c: the bridge, taps, subnet_in_use and subnet_pick. */
extern const struct CMUnitTest net_link_tests[];
extern const size_t net_link_tests_n;

/* nft_test.c: table inet hearth and its port maps, net_port_listening. */
extern const struct CMUnitTest net_nft_tests[];
extern const size_t net_nft_tests_n;
/* dnsmasq_test.c: dnsmasq started once, its host files, a DHCP exchange. */
extern const struct CMUnitTest net_dnsmasq_tests[];
extern const size_t net_dnsmasq_tests_n;
/* tc_test.c: two links joined by redirects, a ping and a tap's frames through them. */
extern const struct CMUnitTest net_tc_tests[];
extern const size_t net_tc_tests_n;
/* ssh_test.c: fingerprints, the remote command line, a connection without a server. */
extern const struct CMUnitTest net_ssh_tests[];
extern const size_t net_ssh_tests_n;

/* guest_ns.c: argv run to success (else the test fails with its error). */
void net_test_run(const char *const *argv);
/*
 * A guest on the far end of link: busybox sh -c script in a network
 * namespace of its own, into which link is moved from this one (the script
 * runs once it is there; it goes with the namespace when the shell ends).
 * Its stdout and stderr in out; its exit status returned (-1: a signal).
 */
int net_test_ns_sh(const char *link, const char *script, char *out, size_t size);

#endif
