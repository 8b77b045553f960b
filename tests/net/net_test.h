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
/* ssh_test.c: fingerprints, the remote command line, a connection without a server. */
extern const struct CMUnitTest net_ssh_tests[];
extern const size_t net_ssh_tests_n;
/* sftp_test.c: SFTP packets, the copy's rules, a playacted server, and OpenSSH's sftp-server. */
extern const struct CMUnitTest net_sftp_tests[];
extern const size_t net_sftp_tests_n;

#endif
