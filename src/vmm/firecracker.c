/*
 * vmm firecracker: the client side of Firecracker's HTTP API. Each request
 * is one libcurl transfer over the API's Unix socket, with a JSON body built
 * by jansson that follows the v1.16.1 OpenAPI definitions (BootSource,
 * Drive, MachineConfiguration, ...). A 4xx/5xx answer carries Firecracker's
 * {"fault_message": ...}, which ends up in the caller's error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/un.h>

#include "vmm/vmm_priv.h"

#define FC_RESPONSE_MAX (64u << 10) /* bytes of an API answer kept */
#define FC_FAULT_MAX 512            /* characters of a fault_message carried */
#define FC_VCPU_MAX 32              /* MachineConfiguration.vcpu_count maximum */
#define FC_MIB (1024u * 1024u)

struct fc_sink {
    struct strbuf *sb;
    bool too_big;
};

static size_t fc_write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
    struct fc_sink *sink = userdata;
    size_t n = size * nmemb;
    if (sink->sb->len + n > FC_RESPONSE_MAX) {
        sink->too_big = true;
        return 0;
    }
    if (strbuf_add(sink->sb, data, n) < 0)
        return 0;
    return n;
}

static void fc_curl_cleanupp(CURL **c) {
    if (*c)
        curl_easy_cleanup(*c);
}
static void fc_slist_freep(struct curl_slist **l) {
    if (*l)
        curl_slist_free_all(*l);
}
static void fc_json_decrefp(json_t **j) {
    if (*j)
        json_decref(*j);
}

static int fc_check_socket(const char *api_socket, struct error *err) {
    if (!api_socket || api_socket[0] == '\0')
        return error_set(err, -EINVAL, "no firecracker api socket given");
    if (strlen(api_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return error_set(err, -ENAMETOOLONG, "firecracker api socket path '%s' is too long",
                         api_socket);
    return 0;
}

/*
 * One request: method on path ("/drives/rootfs"), body (NULL for none).
 * The answer's status goes to *ret_status and its body to resp.
 */
static int fc_request(const char *api_socket, const char *method, const char *path,
                      const json_t *body, int timeout_ms, long *ret_status, struct strbuf *resp,
                      struct error *err) {
    int r = fc_check_socket(api_socket, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *data = NULL;
    if (body) {
        data = json_dumps(body, JSON_COMPACT);
        if (!data)
            return error_oom(err);
    }
    _cleanup_free_ char *url = xasprintf("http://localhost%s", path);
    if (!url)
        return error_oom(err);
    _cleanup_(fc_curl_cleanupp) CURL *c = curl_easy_init();
    if (!c)
        return lazylib_curl_error(err);
    _cleanup_(fc_slist_freep) struct curl_slist *hdrs = NULL;
    const char *const hdr_lines[] = {"Accept: application/json", "Content-Type: application/json",
                                     "Expect:"};
    for (size_t i = 0; i < ARRAY_SIZE(hdr_lines); i++) {
        struct curl_slist *n = curl_slist_append(hdrs, hdr_lines[i]);
        if (!n)
            return error_oom(err);
        hdrs = n;
    }
    struct fc_sink sink = {.sb = resp};
    char curl_err[CURL_ERROR_SIZE] = "";
    long tmo = timeout_ms > 0 ? timeout_ms : 0;
    if (curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, api_socket) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fc_write_cb) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK)
        return error_set(err, -EIO, "cannot set up the request to firecracker");
    if (data && (curl_easy_setopt(c, CURLOPT_POSTFIELDS, data) != CURLE_OK ||
                 curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data)) != CURLE_OK))
        return error_set(err, -EIO, "cannot set up the request to firecracker");
    CURLcode cr = curl_easy_perform(c);
    if (cr != CURLE_OK) {
        int code = cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                   : cr == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                   : sink.too_big                 ? -EFBIG
                                                  : -EIO;
        return error_set(err, code, "%s %s to firecracker at '%s' failed: %s", method, path,
                         api_socket, curl_err[0] ? curl_err : curl_easy_strerror(cr));
    }
    long status = 0;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return error_set(err, -EIO, "%s %s to firecracker: no status", method, path);
    *ret_status = status;
    return 0;
}

/* Turns a non-2xx answer into an error carrying its fault_message. */
static int fc_refused(const char *method, const char *path, long status, const struct strbuf *resp,
                      struct error *err) {
    int code = status >= 400 && status < 500 ? -EINVAL : -EIO;
    _cleanup_(fc_json_decrefp) json_t *j = NULL;
    if (resp->len > 0)
        j = json_loadb(resp->buf, resp->len, 0, NULL);
    const char *fault = json_string_value(json_object_get(j, "fault_message"));
    if (fault)
        return error_set(err, code, "firecracker refused %s %s: %.*s", method, path, FC_FAULT_MAX,
                         fault);
    return error_set(err, code, "firecracker refused %s %s: http status %ld", method, path, status);
}

/* PUT path with body (a new reference that this function consumes). */
static int fc_put(const char *api_socket, const char *path, json_t *body, int timeout_ms,
                  struct error *err) {
    _cleanup_(fc_json_decrefp) json_t *b = body;
    if (!b)
        return error_oom(err);
    _cleanup_strbuf_ struct strbuf resp = STRBUF_INIT;
    long status = 0;
    int r = fc_request(api_socket, "PUT", path, b, timeout_ms, &status, &resp, err);
    if (r < 0)
        return r;
    if (status < 200 || status > 299)
        return fc_refused("PUT", path, status, &resp, err);
    return 0;
}

/* Firecracker's only network is a tap (network-interfaces' host_dev_name). */
static int fc_check_net(const struct vmm_config *cfg, struct error *err) {
    enum vmm_net net = vmm_config_net(cfg);
    if (net == VMM_NET_PASST || net == VMM_NET_SLIRP)
        return error_set(err, -ENOTSUP,
                         "firecracker needs a tap: the %s network runs in qemu only; use --vmm "
                         "qemu or the bridge network",
                         vmm_net_name(net));
    if (net == VMM_NET_TAP && !cfg->tap)
        return error_set(err, -EINVAL, "the tap network needs a tap device name");
    if (net != VMM_NET_NONE && net != VMM_NET_TAP)
        return error_set(err, -EINVAL, "unknown network mode %d", (int)cfg->net);
    return 0;
}

static int fc_check_config(const struct vmm_config *cfg, struct error *err) {
    if (!cfg->kernel || !cfg->disk || !cfg->cmdline)
        return error_set(err, -EINVAL,
                         "a firecracker vm needs a kernel, a command line and a "
                         "disk");
    if (cfg->cpus < 1 || cfg->cpus > FC_VCPU_MAX)
        return error_set(err, -EINVAL, "firecracker runs 1 to %d vcpus, not %llu", FC_VCPU_MAX,
                         (unsigned long long)cfg->cpus);
    if (cfg->memory < FC_MIB || cfg->memory % FC_MIB != 0 ||
        cfg->memory / FC_MIB > (uint64_t)INT32_MAX)
        return error_set(err, -EINVAL,
                         "firecracker memory must be a whole number of MiB, not "
                         "%llu bytes",
                         (unsigned long long)cfg->memory);
    if (cfg->tap && !cfg->mac)
        return error_set(err, -EINVAL, "tap '%s' given without a mac address", cfg->tap);
    return fc_check_net(cfg, err);
}

int vmm_fc_configure_and_start(const struct vmm_config *cfg, int timeout_ms, struct error *err) {
    int r = fc_check_config(cfg, err);
    if (r < 0)
        return r;
    r = fc_check_socket(cfg->api_socket, err);
    if (r < 0)
        return r;
    const char *sock = cfg->api_socket;
    if (cfg->log_path) {
        r = fc_put(sock, "/logger",
                   json_pack("{s:s, s:s, s:b, s:b}", "log_path", cfg->log_path, "level", "Info",
                             "show_level", 1, "show_log_origin", 0),
                   timeout_ms, err);
        if (r < 0)
            return r;
    }
    if (cfg->metrics_path) {
        r = fc_put(sock, "/metrics", json_pack("{s:s}", "metrics_path", cfg->metrics_path),
                   timeout_ms, err);
        if (r < 0)
            return r;
    }
    json_t *boot =
        json_pack("{s:s, s:s}", "kernel_image_path", cfg->kernel, "boot_args", cfg->cmdline);
    if (boot && cfg->initrd &&
        json_object_set_new(boot, "initrd_path", json_string(cfg->initrd)) < 0) {
        json_decref(boot);
        boot = NULL;
    }
    r = fc_put(sock, "/boot-source", boot, timeout_ms, err);
    if (r < 0)
        return r;
    r = fc_put(sock, "/drives/rootfs",
               json_pack("{s:s, s:s, s:b, s:b}", "drive_id", "rootfs", "path_on_host", cfg->disk,
                         "is_root_device", 1, "is_read_only", cfg->disk_read_only),
               timeout_ms, err);
    if (r < 0)
        return r;
    r = fc_put(sock, "/machine-config",
               json_pack("{s:I, s:I, s:b}", "vcpu_count", (json_int_t)cfg->cpus, "mem_size_mib",
                         (json_int_t)(cfg->memory / FC_MIB), "smt", 0),
               timeout_ms, err);
    if (r < 0)
        return r;
    if (vmm_config_net(cfg) == VMM_NET_TAP) {
        r = fc_put(sock, "/network-interfaces/eth0",
                   json_pack("{s:s, s:s, s:s}", "iface_id", "eth0", "host_dev_name", cfg->tap,
                             "guest_mac", cfg->mac),
                   timeout_ms, err);
        if (r < 0)
            return r;
    }
    return fc_put(sock, "/actions", json_pack("{s:s}", "action_type", "InstanceStart"), timeout_ms,
                  err);
}

int vmm_fc_send_ctrl_alt_del(const char *api_socket, int timeout_ms, struct error *err) {
    return fc_put(api_socket, "/actions", json_pack("{s:s}", "action_type", "SendCtrlAltDel"),
                  timeout_ms, err);
}

int vmm_fc_state(const char *api_socket, int timeout_ms, char **ret, struct error *err) {
    _cleanup_strbuf_ struct strbuf resp = STRBUF_INIT;
    long status = 0;
    int r = fc_request(api_socket, "GET", "/", NULL, timeout_ms, &status, &resp, err);
    if (r < 0)
        return r;
    if (status != 200)
        return fc_refused("GET", "/", status, &resp, err);
    _cleanup_(fc_json_decrefp) json_t *j = NULL;
    if (resp.len > 0)
        j = json_loadb(resp.buf, resp.len, 0, NULL);
    const char *state = json_string_value(json_object_get(j, "state"));
    if (!state)
        return error_set(err, -EPROTO, "firecracker's instance info at '%s' has no state",
                         api_socket);
    char *s = xstrdup(state);
    if (!s)
        return error_oom(err);
    *ret = s;
    return 0;
}

int vmm_fc_argv(const char *binary, const struct vmm_config *cfg, char ***ret, struct error *err) {
    if (!binary || !cfg->vm_id)
        return error_set(err, -EINVAL, "firecracker argv needs a binary and a vm id");
    if (!id_is_valid(cfg->vm_id))
        return error_set(err, -EINVAL, "invalid vm id '%s'", cfg->vm_id);
    int r = fc_check_socket(cfg->api_socket, err);
    if (r < 0 || (r = fc_check_net(cfg, err)) < 0)
        return r;
    const char *const src[] = {binary, "--api-sock", cfg->api_socket, "--id", cfg->vm_id};
    char **argv = xcalloc(ARRAY_SIZE(src) + 1, sizeof(*argv));
    if (!argv)
        return error_oom(err);
    for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
        argv[i] = xstrdup(src[i]);
        if (!argv[i]) {
            vmm_argv_free(argv);
            return error_oom(err);
        }
    }
    *ret = argv;
    return 0;
}
