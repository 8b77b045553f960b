/*
 * net cni_result: what hearth takes from a CNI result (spec section 5).
 *
 * A 1.0.0 result has "interfaces" (name, mac, sandbox), "ips" (address in
 * CIDR notation, gateway, interface: an index into interfaces), "routes"
 * and "dns". Results of 0.3.0 to 0.4.0 have the same shape with a
 * "version" in each ip ("4" or "6"); that field is read when it is there,
 * so a list that says 0.3.1 or 0.4.0 works too. IPv6 addresses, gateways
 * and name servers are passed over: the guest is given IPv4.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/cni_priv.h"

#define CNI_IFACES_MAX 256 /* interfaces and ips looked at */

static int result_error(struct error *err, const char *fmt, ...) PRINTF(2, 3);
static int result_error(struct error *err, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return error_set(err, -EINVAL, "cni result: %s", what);
}

static bool is_ipv6(const char *s) {
    return strchr(s, ':') != NULL;
}

/* "10.1.0.5/16" into ip and prefix; -1 when it is not IPv4 CIDR. */
static int cidr_parse(const char *s, uint32_t *ip, uint8_t *prefix) {
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= NET_IP_MAX)
        return -1;
    char addr[NET_IP_MAX];
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
    uint64_t p;
    if (net_ip_parse(addr, ip, NULL) < 0 || parse_u64(slash + 1, 32, &p) < 0)
        return -1;
    *prefix = (uint8_t)p;
    return 0;
}

static bool mac_is_valid(const char *s) {
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (i % 3 == 2 ? c != ':' : !hex)
            return false;
    }
    return true;
}

/* Whether interfaces[index] is in the sandbox (has a non-empty "sandbox"). */
static bool in_sandbox(const json_t *ifaces, json_int_t index) {
    if (index < 0)
        return false;
    const char *sb =
        json_string_value(json_object_get(json_array_get(ifaces, (size_t)index), "sandbox"));
    return sb && *sb;
}

/* ips[k], checked; 1 when it is an IPv4 address (in ip, prefix and *ret_iface: -1 none). */
static int ip_read(const json_t *ips, size_t k, const json_t *ifaces, uint32_t *ip, uint8_t *prefix,
                   uint32_t *gw, json_int_t *ret_iface, struct error *err) {
    const json_t *o = json_array_get(ips, k);
    if (!json_is_object(o))
        return result_error(err, "'ips[%zu]' is not an object", k);
    const char *ver = json_string_value(json_object_get(o, "version"));
    const char *addr = json_string_value(json_object_get(o, "address"));
    if (!addr)
        return result_error(err, "'ips[%zu].address' is missing", k);
    if ((ver && strcmp(ver, "6") == 0) || is_ipv6(addr))
        return 0;
    if (cidr_parse(addr, ip, prefix) < 0)
        return result_error(err,
                            "'ips[%zu].address' \"%.64s\" is not an IPv4 address in CIDR "
                            "notation (\"10.1.0.5/16\")",
                            k, addr);
    *gw = 0;
    const json_t *g = json_object_get(o, "gateway");
    if (g && (!json_is_string(g) || net_ip_parse(json_string_value(g), gw, NULL) < 0))
        return result_error(err, "'ips[%zu].gateway' is not an IPv4 address", k);
    *ret_iface = -1;
    const json_t *ifc = json_object_get(o, "interface");
    if (ifc) {
        json_int_t i = json_integer_value(ifc);
        if (!json_is_integer(ifc) || i < 0 || (size_t)i >= json_array_size(ifaces))
            return result_error(err,
                                "'ips[%zu].interface' is not an index into 'interfaces' "
                                "(it has %zu)",
                                k, json_array_size(ifaces));
        *ret_iface = i;
    }
    return 1;
}

static int dns_read(const json_t *dns, struct net_cni_result *res, struct error *err) {
    if (!dns)
        return 0;
    if (!json_is_object(dns))
        return result_error(err, "'dns' is not an object");
    const json_t *ns = json_object_get(dns, "nameservers");
    if (ns && !json_is_array(ns))
        return result_error(err, "'dns.nameservers' is not a list");
    size_t n = 0, i;
    const json_t *v;
    json_array_foreach(ns, i, v) {
        const char *s = json_string_value(v);
        uint32_t ip;
        if (!s)
            return result_error(err, "'dns.nameservers[%zu]' is not a string", i);
        if (is_ipv6(s))
            continue;
        if (net_ip_parse(s, &ip, NULL) < 0)
            return result_error(err, "'dns.nameservers[%zu]' \"%.64s\" is not an IP address", i, s);
        if (n < ARRAY_SIZE(res->dns) - 1)
            res->dns[n++] = ip;
    }
    const json_t *d = json_object_get(dns, "domain");
    if (d && (!json_is_string(d) || json_string_length(d) >= sizeof(res->domain) ||
              str_has_control(json_string_value(d))))
        return result_error(err, "'dns.domain' is not a domain name of at most %zu characters",
                            sizeof(res->domain) - 1);
    if (d)
        snprintf(res->domain, sizeof(res->domain), "%s", json_string_value(d));
    return 0;
}

int net_cni_result_parse(const char *json, struct net_cni_result *ret, struct error *err) {
    json_error_t je;
    json_auto_t *root = json ? json_loads(json, 0, &je) : NULL;
    if (!root)
        return result_error(err, "not valid JSON: %s", json ? je.text : "none");
    if (!json_is_object(root))
        return result_error(err, "not a JSON object");
    const json_t *ifaces = json_object_get(root, "interfaces");
    if (ifaces && !json_is_array(ifaces))
        return result_error(err, "'interfaces' is not a list");
    size_t i;
    const json_t *v;
    json_array_foreach(ifaces, i, v) {
        if (i >= CNI_IFACES_MAX)
            break;
        if (!json_is_object(v))
            return result_error(err, "'interfaces[%zu]' is not an object", i);
        const json_t *mac = json_object_get(v, "mac");
        if (mac && (!json_is_string(mac) ||
                    (json_string_length(mac) && !mac_is_valid(json_string_value(mac)))))
            return result_error(err, "'interfaces[%zu].mac' is not a MAC address", i);
    }
    const json_t *ips = json_object_get(root, "ips");
    if (ips && !json_is_array(ips))
        return result_error(err, "'ips' is not a list");

    /* The first IPv4 address of an interface in the sandbox, else the first at all. */
    struct net_cni_result res = {0};
    bool found = false, found_sandbox = false;
    json_int_t iface = -1;
    for (i = 0; i < json_array_size(ips) && i < CNI_IFACES_MAX && !found_sandbox; i++) {
        uint32_t ip = 0, gw = 0;
        uint8_t prefix = 0;
        json_int_t k = -1;
        int r = ip_read(ips, i, ifaces, &ip, &prefix, &gw, &k, err);
        if (r < 0)
            return r;
        if (r == 0 || (found && !in_sandbox(ifaces, k)))
            continue;
        res.ip = ip;
        res.prefix = prefix;
        res.gateway = gw;
        iface = k;
        found = true;
        found_sandbox = in_sandbox(ifaces, k);
    }
    if (!found)
        return result_error(err, "no IPv4 address in 'ips'");

    /* The MAC of the address's interface in the sandbox, else of the first one there. */
    if (!in_sandbox(ifaces, iface))
        for (iface = 0; (size_t)iface < json_array_size(ifaces); iface++)
            if (in_sandbox(ifaces, iface))
                break;
    const char *mac =
        json_string_value(json_object_get(json_array_get(ifaces, (size_t)iface), "mac"));
    if (mac && mac_is_valid(mac)) {
        for (int k = 0; k < 17; k++)
            res.mac[k] = (char)(mac[k] >= 'A' && mac[k] <= 'F' ? mac[k] - 'A' + 'a' : mac[k]);
        res.mac[17] = '\0';
    }
    int r = dns_read(json_object_get(root, "dns"), &res, err);
    if (r < 0)
        return r;
    *ret = res;
    return 0;
}
