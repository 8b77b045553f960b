/* The test groups of test_net; main.c runs them inside a network namespace of its own. */
#ifndef HEARTH_TESTS_NET_TEST_H
#define HEARTH_TESTS_NET_TEST_H

#include <stddef.h>
#include <sys/types.h>

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
/* netns_test.c: network namespaces kept on a file, entered and left, deleted. */
extern const struct CMUnitTest net_netns_tests[];
extern const size_t net_netns_tests_n;
/* cni_conf_test.c: CNI configurations found, checked and written; results read. */
extern const struct CMUnitTest net_cni_conf_tests[];
extern const size_t net_cni_conf_tests_n;
/* cni_test.c: Debian's CNI plugins run through ADD, CHECK and DEL. */
extern const struct CMUnitTest net_cni_tests[];
extern const size_t net_cni_tests_n;

/* path written with text, mode as given (cni_conf_test.c). */
void net_test_file_write(const char *path, const char *text, mode_t mode);
/* ssh_test.c: fingerprints, the remote command line, a connection without a server. */
extern const struct CMUnitTest net_ssh_tests[];
extern const size_t net_ssh_tests_n;

#endif
