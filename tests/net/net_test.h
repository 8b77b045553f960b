/* The test groups of test_net; main.c runs them inside a network namespace of its own. */
#ifndef HEARTH_TESTS_NET_TEST_H
#define HEARTH_TESTS_NET_TEST_H

#include <stddef.h>
#include <stdint.h>
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
/* tc_test.c: two links joined by redirects, a ping and a tap's frames through them. */
extern const struct CMUnitTest net_tc_tests[];
extern const size_t net_tc_tests_n;
/* dhcp_test.c: DHCP frames read and answered, malformed ones refused (no socket). */
extern const struct CMUnitTest net_dhcp_tests[];
extern const size_t net_dhcp_tests_n;
/* dhcpd_test.c: the server on a veth, against busybox udhcpc and crafted frames. */
extern const struct CMUnitTest net_dhcpd_tests[];
extern const size_t net_dhcpd_tests_n;
/* ssh_test.c: fingerprints, the remote command line, a connection without a server. */
extern const struct CMUnitTest net_ssh_tests[];
extern const size_t net_ssh_tests_n;
/* sftp_test.c: SFTP packets, the copy's rules, a playacted server, and OpenSSH's sftp-server. */
extern const struct CMUnitTest net_sftp_tests[];
extern const size_t net_sftp_tests_n;

/* guest_ns.c: argv run to success (else the test fails with its error). */
void net_test_run(const char *const *argv);
/*
 * A guest on the far end of link: busybox sh -c script in a network
 * namespace of its own, into which link is moved from this one (the script
 * runs once it is there; it goes with the namespace when the shell ends).
 * Its stdout and stderr in out; its exit status returned (-1: a signal).
 */
int net_test_ns_sh(const char *link, const char *script, char *out, size_t size);

/*
 * dhcp_test.c: a client's DHCP frame from mac into buf (DHCP_FRAME_MAX):
 * broadcast, from ciaddr (0.0.0.0 when 0) port 68 to 255.255.255.255 port
 * 67, option 53 of type, then opts (opts_len bytes of whole options), then
 * the end option. Its length.
 */
size_t net_test_dhcp_frame(uint8_t *buf, const uint8_t mac[6], uint32_t xid, uint8_t type,
                           uint32_t ciaddr, uint16_t flags, const uint8_t *opts, size_t opts_len);

#endif
