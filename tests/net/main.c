/*
 * Tests for net. Everything runs in a network namespace this process makes
 * for itself (unshare(CLONE_NEWNET)), never in the host's: the bridges, taps,
 * nftables tables and dnsmasq of these tests vanish with it. The suite runs
 * as root; a namespace that cannot be made is a failure, not a skip.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_test.h"
#include "testrun.h"
#include "util/util.h"

static int lo_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    r = r < 0 ? -errno : 0;
    close(fd);
    return r;
}

int main(void) {
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "net tests: cannot make a network namespace (unshare): %s\n",
                strerror(errno));
        return 1;
    }
    int r = lo_up();
    if (r < 0) {
        fprintf(stderr, "net tests: cannot set lo up: %s\n", strerror(-r));
        return 1;
    }
    int failed = _cmocka_run_group_tests("addr", net_addr_tests, net_addr_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("link", net_link_tests, net_link_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("nft", net_nft_tests, net_nft_tests_n, NULL, NULL);
    failed +=
        _cmocka_run_group_tests("dnsmasq", net_dnsmasq_tests, net_dnsmasq_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("tc", net_tc_tests, net_tc_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("dhcp", net_dhcp_tests, net_dhcp_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("dhcpd", net_dhcpd_tests, net_dhcpd_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("ssh", net_ssh_tests, net_ssh_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("netns", net_netns_tests, net_netns_tests_n, NULL, NULL);
    failed +=
        _cmocka_run_group_tests("cni_conf", net_cni_conf_tests, net_cni_conf_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("cni", net_cni_tests, net_cni_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("sftp", net_sftp_tests, net_sftp_tests_n, NULL, NULL);
    return test_exit_status(failed);
}
