/*
 * net cni_exec: a network configuration list run through its plugins, as
 * the CNI spec (1.0.0, sections 2 and 3) tells a runtime to.
 *
 * Each plugin is the file named by its "type" in the first directory of
 * CNI_PATH that has it. It runs in this process's network namespace with
 * this process's environment, the CNI_* variables of the call replacing any
 * there (CNI_ARGS empty), and gets on stdin its execution configuration:
 * its object from the list without "capabilities", with the list's "name"
 * and "cniVersion", "prevResult" (ADD: the previous plugin's result; CHECK
 * and DEL: the result of the ADD) and "runtimeConfig" with those of the
 * capabilities it declares that hearth provides (only portMappings). It has
 * a.timeout_ms to finish, else it is killed.
 *
 * A plugin that exits 0 gave its result on stdout (ADD). One that does not
 * gave an error object (code, msg, details) there; the error hearth returns
 * shows it as given, with the plugin, the list's file and the tail of the
 * plugin's stderr. What lists of older versions may not have is left out:
 * prevResult on DEL before 0.4.0, and CHECK, which came with 0.4.0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/cni_priv.h"

#define CNI_TIMEOUT_MS 60000 /* one plugin's time when the caller gives none */
#define CNI_ERR_TRY_AGAIN 11 /* the spec's error code "try again later" */
#define CNI_ERR_UNKNOWN 3    /* "container unknown": nothing to clean up */
#define CNI_STDERR_KEEP 600  /* bytes of a plugin's stderr shown in an error */

extern char **environ;

enum cni_cmd { CNI_ADD, CNI_CHECK, CNI_DEL };
static const char *const cmd_names[] = {"ADD", "CHECK", "DEL"};

/* One operation on a list: what every plugin run of it shares. */
struct cni_op {
    const struct net_cni_conf *c;
    const struct net_cni_args *a;
    json_t *list; /* c->json, parsed */
    const char *version;
    enum cni_cmd cmd;
};

static void cni_op_release(struct cni_op *op) {
    json_decref(op->list);
    op->list = NULL;
}

static const char *conf_file(const struct net_cni_conf *c) {
    return c->file && *c->file ? c->file : "(kept configuration)";
}

static int op_init(struct cni_op *op, const struct net_cni_conf *c, const struct net_cni_args *a,
                   enum cni_cmd cmd, struct error *err) {
    *op = (struct cni_op){.c = c, .a = a, .cmd = cmd};
    if (!c || !c->json || !a)
        return error_set(err, -EINVAL, "no cni configuration to run");
    const char *file = conf_file(c);
    json_error_t je;
    op->list = json_loads(c->json, JSON_REJECT_DUPLICATES, &je);
    if (!op->list)
        return error_set(err, -EINVAL, "cni configuration '%s': not valid JSON: %s", file, je.text);
    int r = net_cni_list_check(file, op->list, err);
    if (r < 0) {
        cni_op_release(op);
        return r;
    }
    const char *v = json_string_value(json_object_get(op->list, "cniVersion"));
    op->version = v ? v : "";

    if (!net_cni_name_is_valid(a->container_id))
        r = error_set(err, -EINVAL,
                      "'%s' is not a cni container id (letters, digits, '_', '.' and '-')",
                      a->container_id ? a->container_id : "");
    else if (!a->ifname || !*a->ifname || strlen(a->ifname) >= IFNAMSIZ || strchr(a->ifname, '/'))
        r = error_set(err, -EINVAL, "'%s' is not an interface name for cni",
                      a->ifname ? a->ifname : "");
    else if (!a->path || !*a->path)
        r = error_set(err, -EINVAL, "no directory to find cni plugins in (CNI_PATH)");
    else if (cmd != CNI_DEL && (!a->netns || !*a->netns))
        r = error_set(err, -EINVAL, "no network namespace for cni %s", cmd_names[cmd]);
    else if (a->n_maps > 0 && !a->maps)
        r = error_set(err, -EINVAL, "no port maps where %zu were said", a->n_maps);
    else if (a->timeout_ms < 0)
        r = error_set(err, -EINVAL, "a cni plugin's timeout cannot be negative");
    if (r < 0)
        cni_op_release(op);
    return r;
}

/* The plugin's file: type in the first directory of path that has it as a regular file. */
static int plugin_find(const struct cni_op *op, const char *type, char **ret, struct error *err) {
    const char *p = op->a->path;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            char *file = xasprintf("%.*s/%s", (int)len, p, type);
            if (!file)
                return error_oom(err);
            struct stat st;
            if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
                *ret = file;
                return 0;
            }
            free(file);
        }
        p += len + (end ? 1 : 0);
    }
    return error_set(err, -ENOENT,
                     "cni plugin '%s' of '%s' is in no directory of the plugin path '%s': install "
                     "it there, or name the directory that has it",
                     type, conf_file(op->c), op->a->path);
}

static json_t *portmaps_json(const struct net_cni_args *a) {
    json_t *v = json_array();
    for (size_t i = 0; v && i < a->n_maps; i++) {
        const struct net_portmap *m = &a->maps[i];
        json_t *o = json_pack("{s:i, s:i, s:s}", "hostPort", (int)m->host_port, "containerPort",
                              (int)m->vm_port, "protocol", m->udp ? "udp" : "tcp");
        char ip[NET_IP_MAX];
        net_ip_format(m->bind, ip);
        if (o && m->bind && json_object_set_new(o, "hostIP", json_string(ip)) < 0)
            json_decref(steal_ptr(&o));
        if (!o || json_array_append_new(v, o) < 0)
            json_decref(steal_ptr(&v));
    }
    return v;
}

/* The plugin's execution configuration (spec section 3); NULL for out-of-memory. */
static json_t *plugin_config(const struct cni_op *op, const json_t *plugin, const json_t *prev) {
    json_auto_t *conf = json_deep_copy(plugin);
    if (!conf)
        return NULL;
    json_auto_t *rc = json_object();
    if (!rc)
        return NULL;
    const json_t *caps = json_object_get(plugin, "capabilities");
    if (json_is_true(json_object_get(caps, "portMappings")) && op->a->n_maps > 0 &&
        json_object_set_new(rc, "portMappings", portmaps_json(op->a)) < 0)
        return NULL;
    (void)json_object_del(conf, "capabilities");
    if (json_object_set(conf, "name", json_object_get(op->list, "name")) < 0 ||
        (*op->version && json_object_set_new(conf, "cniVersion", json_string(op->version)) < 0) ||
        (json_object_size(rc) > 0 && json_object_set(conf, "runtimeConfig", rc) < 0) ||
        (prev && json_object_set(conf, "prevResult", (json_t *)prev) < 0))
        return NULL;
    return steal_ptr(&conf);
}

static void strv_free(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void strv_freep(char ***v) {
    strv_free(*v);
}

/* Whether the environment entry e ("NAME=value") sets one of the vars ("NAME="). */
static bool env_is_one_of(const char *e, char *const *vars, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(vars[i], '=');
        if (strncmp(e, vars[i], (size_t)(eq - vars[i]) + 1) == 0)
            return true;
    }
    return false;
}

/* This process's environment, the call's CNI_* variables in place of any there. */
static char **plugin_env(const struct cni_op *op) {
    const struct net_cni_args *a = op->a;
    char *add[] = {xasprintf("CNI_COMMAND=%s", cmd_names[op->cmd]),
                   xasprintf("CNI_CONTAINERID=%s", a->container_id),
                   xasprintf("CNI_NETNS=%s", a->netns ? a->netns : ""),
                   xasprintf("CNI_IFNAME=%s", a->ifname),
                   xstrdup("CNI_ARGS="),
                   xasprintf("CNI_PATH=%s", a->path)};
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **v = xcalloc(n + ARRAY_SIZE(add) + 1, sizeof(char *));
    bool oom = !v;
    for (size_t i = 0; i < ARRAY_SIZE(add); i++)
        oom = oom || !add[i];
    if (oom) {
        for (size_t i = 0; i < ARRAY_SIZE(add); i++)
            free(add[i]);
        free(v);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(add); i++)
        v[k++] = add[i];
    for (size_t i = 0; i < n; i++)
        if (!env_is_one_of(environ[i], add, ARRAY_SIZE(add)) && !(v[k++] = xstrdup(environ[i]))) {
            strv_free(v);
            return NULL;
        }
    return v;
}

/* The stdin of a plugin: text in a file of memory, read from its start. */
static int stdin_make(const char *text, const char *type, struct error *err) {
    int fd = memfd_create("cni-config", MFD_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cni plugin '%s': cannot make its input: %s", type,
                         strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return error_set(err, -e, "cni plugin '%s': cannot write its input: %s", type,
                             strerror(e));
        }
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return error_set(err, -e, "cni plugin '%s': cannot rewind its input: %s", type,
                         strerror(e));
    }
    return fd;
}

/* stderr's last lines (up to CNI_STDERR_KEEP bytes) on one line, for a message; "" when none. */
static const char *tail_of(struct strbuf *sb) {
    if (!sb->buf)
        return "";
    while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == ' '))
        sb->buf[--sb->len] = '\0';
    size_t start = 0;
    if (sb->len > CNI_STDERR_KEEP) {
        start = sb->len - CNI_STDERR_KEEP;
        const char *nl = memchr(sb->buf + start, '\n', sb->len - start);
        if (nl)
            start = (size_t)(nl - sb->buf) + 1;
    }
    for (size_t i = start; i < sb->len; i++)
        if (sb->buf[i] == '\n' || sb->buf[i] == '\r' || sb->buf[i] == '\t')
            sb->buf[i] = ' ';
    return sb->buf + start;
}

/* Whether the result has an IPv6 address. */
static bool result_has_ipv6(const json_t *res) {
    size_t i;
    const json_t *ip;
    json_array_foreach(json_object_get(res, "ips"), i, ip) {
        const char *a = json_string_value(json_object_get(ip, "address"));
        if (a && strchr(a, ':'))
            return true;
    }
    return false;
}

/*
 * portmap of containernetworking-plugins before 1.2.0 (Debian 12 has 1.1.1)
 * checks its IPv6 rules on CHECK also for a container without an IPv6
 * address, which has none, and fails once its IPv4 rules passed (fixed
 * upstream by "Only check ipv6 when an IPv6 is configured"). That failure,
 * for a result without IPv6, is the check the fixed plugin passes.
 */
static bool portmap_ipv6_check_bug(const struct cni_op *op, const char *type, const char *msg,
                                   const json_t *prev) {
    return op->cmd == CNI_CHECK && strcmp(type, "portmap") == 0 && msg &&
           str_starts_with(msg, "could not check ipv6 dnat:") && !result_has_ipv6(prev);
}

/*
 * The plugin failed and printed an error object: the error that shows it.
 * Returns its code (-EAGAIN for "try again later", else -EIO); 1 (no
 * error) for DEL's "container unknown", which leaves nothing to clean up,
 * and for portmap_ipv6_check_bug; 0 when out holds no error object.
 */
static int plugin_error(const struct cni_op *op, const char *type, const json_t *prev,
                        const struct strbuf *out, struct strbuf *errs, struct error *err) {
    json_auto_t *j = out->len ? json_loadb(out->buf, out->len, 0, NULL) : NULL;
    const json_t *code = json_object_get(j, "code");
    if (!json_is_integer(code))
        return 0;
    json_int_t c = json_integer_value(code);
    const char *msg = json_string_value(json_object_get(j, "msg"));
    if ((op->cmd == CNI_DEL && c == CNI_ERR_UNKNOWN) || portmap_ipv6_check_bug(op, type, msg, prev))
        return 1;
    const char *details = json_string_value(json_object_get(j, "details"));
    const char *said = tail_of(errs);
    return error_set(err, c == CNI_ERR_TRY_AGAIN ? -EAGAIN : -EIO,
                     "cni plugin '%s' of '%s' failed %s: code %lld: %s%s%s%s%s", type,
                     conf_file(op->c), cmd_names[op->cmd], (long long)c,
                     msg && *msg ? msg : "(no message)", details && *details ? ": " : "",
                     details ? details : "", *said ? "; its stderr: " : "", said);
}

/*
 * Runs plugin i of the list with prev as prevResult (NULL: none). ADD: its
 * result in *ret_result (the caller's).
 */
static int plugin_run(const struct cni_op *op, size_t i, const json_t *prev, json_t **ret_result,
                      struct error *err) {
    const json_t *plugin = json_array_get(json_object_get(op->list, "plugins"), i);
    const char *type = json_string_value(json_object_get(plugin, "type"));
    _cleanup_free_ char *file = NULL;
    int r = plugin_find(op, type, &file, err);
    if (r < 0)
        return r;
    json_auto_t *conf = plugin_config(op, plugin, prev);
    _cleanup_free_ char *text = conf ? json_dumps(conf, JSON_COMPACT) : NULL;
    _cleanup_(strv_freep) char **envp = plugin_env(op);
    if (!text || !envp)
        return error_oom(err);
    _cleanup_close_ int in = stdin_make(text, type, err);
    if (in < 0)
        return in;

    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT, errs = STRBUF_INIT;
    const char *argv[] = {file, NULL};
    struct exec_opts o = {
        .envp = (const char *const *)envp,
        .stdin_fd = in,
        .out = &out,
        .err_out = &errs,
        .timeout_ms = op->a->timeout_ms ? op->a->timeout_ms : CNI_TIMEOUT_MS,
    };
    int64_t t0 = time_now_ms();
    r = exec_run(argv, &o, err);
    log_debug("cni: %s %s of '%s' for '%s': exit %s, %lld ms", cmd_names[op->cmd], type,
              conf_file(op->c), op->a->container_id, r == 0 ? "0" : "not 0",
              (long long)(time_now_ms() - t0));
    if (r == -EIO) {
        int e = plugin_error(op, type, prev, &out, &errs, err);
        if (e > 0)
            return 0;
        if (e < 0)
            return e;
        const char *said = tail_of(&errs);
        return error_set(err, -EIO, "cni plugin '%s' of '%s' failed %s without an error object%s%s",
                         type, conf_file(op->c), cmd_names[op->cmd],
                         *said ? "; its stderr: " : " and said nothing on stderr", said);
    }
    if (r < 0) {
        error_prefix(err, "cni plugin '%s' of '%s' failed %s", type, conf_file(op->c),
                     cmd_names[op->cmd]);
        return r;
    }
    if (op->cmd != CNI_ADD)
        return 0;
    json_error_t je;
    json_t *res = out.len ? json_loadb(out.buf, out.len, 0, &je) : NULL;
    if (!json_is_object(res)) {
        json_decref(res);
        return error_set(err, -EBADMSG, "cni plugin '%s' of '%s' gave no result for ADD%s%s", type,
                         conf_file(op->c), out.len ? ": not a JSON object: " : "",
                         out.len ? je.text : "");
    }
    *ret_result = res;
    return 0;
}

/* DEL through plugins last down to 0, with prev; every one runs. The first failure. */
static int del_from(const struct cni_op *op, size_t last, const json_t *prev, struct error *err) {
    int first = 0;
    for (size_t i = last + 1; i-- > 0;) {
        struct error e;
        error_init(&e);
        int r = plugin_run(op, i, prev, NULL, &e);
        if (r < 0 && first == 0) {
            first = r;
            if (err)
                *err = e;
        } else if (r < 0) {
            log_warn("%s", e.msg);
        }
    }
    return first;
}

int net_cni_add(const struct net_cni_conf *c, const struct net_cni_args *a, char **ret_result,
                struct error *err) {
    struct cni_op op;
    int r = op_init(&op, c, a, CNI_ADD, err);
    if (r < 0)
        return r;
    size_t n = json_array_size(json_object_get(op.list, "plugins"));
    /* Every plugin is there before the first runs: a missing one leaves nothing to undo. */
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(json_object_get(op.list, "plugins"), i);
        _cleanup_free_ char *file = NULL;
        r = plugin_find(&op, json_string_value(json_object_get(p, "type")), &file, err);
        if (r < 0) {
            cni_op_release(&op);
            return r;
        }
    }
    json_t *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *res = NULL;
        r = plugin_run(&op, i, prev, &res, err);
        if (r < 0) {
            /* Nothing stays of a failed ADD: DEL through this plugin and those before it. */
            struct cni_op del = op;
            del.cmd = CNI_DEL;
            struct error e;
            error_init(&e);
            const json_t *dprev = net_cni_version_at_least(op.version, 0, 4, 0) ? prev : NULL;
            if (del_from(&del, i, dprev, &e) < 0 && err) {
                size_t len = strlen(err->msg);
                snprintf(err->msg + len, sizeof(err->msg) - len, "; undoing it failed too: %s",
                         e.msg);
            }
            json_decref(prev);
            cni_op_release(&op);
            return r;
        }
        json_decref(prev);
        prev = res;
    }
    char *text = json_dumps(prev, JSON_COMPACT);
    json_decref(prev);
    cni_op_release(&op);
    if (!text)
        return error_oom(err);
    *ret_result = text;
    return 0;
}

/* result (an ADD's) parsed for CHECK and DEL; NULL result gives NULL. */
static int result_load(const struct cni_op *op, const char *result, json_t **ret,
                       struct error *err) {
    *ret = NULL;
    if (!result)
        return 0;
    json_error_t je;
    json_t *j = json_loads(result, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return error_set(err, -EINVAL, "the cni result kept for '%s' is not a JSON object: %s",
                         op->a->container_id, j ? "" : je.text);
    }
    *ret = j;
    return 0;
}

int net_cni_check(const struct net_cni_conf *c, const struct net_cni_args *a, const char *result,
                  struct error *err) {
    struct cni_op op;
    int r = op_init(&op, c, a, CNI_CHECK, err);
    if (r < 0)
        return r;
    /* The spec has CHECK from 0.4.0 on, and a list may turn it off. */
    if (!net_cni_version_at_least(op.version, 0, 4, 0) ||
        json_is_true(json_object_get(op.list, "disableCheck"))) {
        cni_op_release(&op);
        return 0;
    }
    json_t *prev = NULL;
    r = result ? result_load(&op, result, &prev, err)
               : error_set(err, -EINVAL, "cni CHECK of '%s' needs the result of its ADD",
                           a->container_id);
    size_t n = json_array_size(json_object_get(op.list, "plugins"));
    for (size_t i = 0; r == 0 && i < n; i++)
        r = plugin_run(&op, i, prev, NULL, err);
    json_decref(prev);
    cni_op_release(&op);
    return r;
}

int net_cni_del(const struct net_cni_conf *c, const struct net_cni_args *a, const char *result,
                struct error *err) {
    struct cni_op op;
    int r = op_init(&op, c, a, CNI_DEL, err);
    if (r < 0)
        return r;
    json_t *prev = NULL;
    /* prevResult on DEL came with 0.4.0. A kept result that is no result: DEL without one. */
    struct error lerr;
    error_init(&lerr);
    int lr =
        net_cni_version_at_least(op.version, 0, 4, 0) ? result_load(&op, result, &prev, &lerr) : 0;
    size_t n = json_array_size(json_object_get(op.list, "plugins"));
    r = del_from(&op, n - 1, prev, err);
    json_decref(prev);
    cni_op_release(&op);
    if (lr < 0 && r < 0 && err)
        log_warn("%s", err->msg);
    if (lr < 0 && err)
        *err = lerr;
    return lr < 0 ? lr : r;
}
