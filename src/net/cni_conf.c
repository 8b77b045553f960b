/*
 * net cni_conf: network configuration lists, found, checked and written.
 *
 * The list a runtime uses is the first file of its configuration directory
 * in lexical (byte) order of the names whose extension is .conflist, .conf
 * or .json, directories left out, as the runtimes built on libcni pick it
 * (go-cni, which Ignite and containerd use: libcni's ConfFiles, sorted). A
 * .conflist is a list; a .conf or .json holds one plugin's configuration
 * and becomes a list of one, with that configuration's "name" and
 * "cniVersion" (libcni's ConfListFromConf). Only that first file is read: a
 * bad one is an error naming it and the field, not a reason to take the next.
 *
 * The checks are libcni's (a name, plugins, each with a type) and the
 * spec's rules for their values, so that what hearth accepts is what the
 * plugins will be able to run; every other field is the plugins' to judge.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/cni_priv.h"

#define CNI_DEFAULT_FILE "10-hearth.conflist"
#define CNI_DEFAULT_NETWORK "hearth-cni"
#define CNI_DEFAULT_BRIDGE "hearth-cni0"

bool net_cni_name_is_valid(const char *s) {
    if (!s || !*s || strlen(s) > CNI_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (!alnum && (p == s || (*p != '_' && *p != '.' && *p != '-')))
            return false;
    }
    return true;
}

/* Parses "1", "1.0" or "1.0.0" into v[3]; -1 for anything else. */
static int version_parse(const char *s, unsigned v[3]) {
    v[0] = v[1] = v[2] = 0;
    if (!*s) {
        v[1] = 1; /* no cniVersion: 0.1.0 */
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned n = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (n > 100000)
                return -1;
            n = n * 10 + (unsigned)(*s - '0');
        }
        v[i] = n;
        if (!*s)
            return 0;
        if (*s != '.' || i == 2)
            return -1;
        s++;
    }
    return -1;
}

bool net_cni_version_at_least(const char *version, unsigned a, unsigned b, unsigned c) {
    unsigned v[3];
    if (version_parse(version ? version : "", v) < 0)
        return false;
    if (v[0] != a)
        return v[0] > a;
    if (v[1] != b)
        return v[1] > b;
    return v[2] >= c;
}

static int field_error(const char *file, struct error *err, const char *fmt, ...) PRINTF(3, 4);
static int field_error(const char *file, struct error *err, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return error_set(err, -EINVAL, "cni configuration '%s': %s", file, what);
}

/* A plugin's "type" is the name of a file in a directory of CNI_PATH. */
static bool type_is_valid(const char *s) {
    return *s && strlen(s) <= CNI_NAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0 && !str_has_control(s);
}

/* One plugin's configuration; at is where it is ("plugins[1]." in a list, "" alone). */
static int plugin_check(const char *file, const char *at, const json_t *p, struct error *err) {
    if (!json_is_object(p))
        return field_error(file, err, "'%.*s' is not an object", (int)strlen(at) - 1, at);
    const json_t *type = json_object_get(p, "type");
    if (!type)
        return field_error(file, err, "'%stype' is missing", at);
    if (!json_is_string(type) || !type_is_valid(json_string_value(type)))
        return field_error(file, err,
                           "'%stype' is not the file name of a plugin (a string without '/')", at);
    const json_t *caps = json_object_get(p, "capabilities");
    if (caps && !json_is_object(caps))
        return field_error(file, err, "'%scapabilities' is not an object", at);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)caps, key, v) {
        if (!json_is_boolean(v))
            return field_error(file, err, "'%scapabilities.%s' is not true or false", at, key);
    }
    return 0;
}

/* "name" and "cniVersion", of a list or of one plugin's configuration. */
static int header_check(const char *file, const json_t *o, struct error *err) {
    const json_t *name = json_object_get(o, "name");
    if (!name)
        return field_error(file, err, "'name' is missing");
    if (!net_cni_name_is_valid(json_string_value(name)))
        return field_error(file, err,
                           "'name' is not a network name (letters, digits, '_', '.' and '-', "
                           "starting with a letter or digit)");
    const json_t *ver = json_object_get(o, "cniVersion");
    unsigned v[3];
    if (ver && (!json_is_string(ver) || version_parse(json_string_value(ver), v) < 0))
        return field_error(file, err, "'cniVersion' is not a version such as \"1.0.0\"");
    return 0;
}

int net_cni_list_check(const char *file, const json_t *list, struct error *err) {
    if (!json_is_object(list))
        return field_error(file, err, "not a JSON object");
    int r = header_check(file, list, err);
    if (r < 0)
        return r;
    const json_t *dc = json_object_get(list, "disableCheck");
    if (dc && !json_is_boolean(dc))
        return field_error(file, err, "'disableCheck' is not true or false");
    const json_t *plugins = json_object_get(list, "plugins");
    if (!plugins)
        return field_error(file, err, "'plugins' is missing");
    if (!json_is_array(plugins))
        return field_error(file, err, "'plugins' is not a list");
    size_t n = json_array_size(plugins);
    if (n == 0)
        return field_error(file, err, "'plugins' is empty");
    if (n > CNI_PLUGINS_MAX)
        return field_error(file, err, "'plugins' has %zu plugins, more than %d", n,
                           CNI_PLUGINS_MAX);
    for (size_t i = 0; i < n; i++) {
        char at[32];
        snprintf(at, sizeof(at), "plugins[%zu].", i);
        r = plugin_check(file, at, json_array_get(plugins, i), err);
        if (r < 0)
            return r;
    }
    return 0;
}

void net_cni_conf_release(struct net_cni_conf *c) {
    if (!c)
        return;
    free(c->file);
    free(c->name);
    free(c->cni_version);
    free(c->json);
    *c = (struct net_cni_conf){0};
}

static int load(const char *file, const char *text, size_t len, json_t **ret, struct error *err) {
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return field_error(file, err, "not valid JSON: line %d, column %d: %s", je.line, je.column,
                           je.text);
    *ret = j;
    return 0;
}

/* Fills ret from a checked list; json is its text to keep. */
static int conf_fill(const char *file, const json_t *list, const char *json,
                     struct net_cni_conf *ret, struct error *err) {
    const char *ver = json_string_value(json_object_get(list, "cniVersion"));
    struct net_cni_conf c = {
        .file = xstrdup(file),
        .name = xstrdup(json_string_value(json_object_get(list, "name"))),
        .cni_version = xstrdup(ver ? ver : ""),
        .json = xstrdup(json),
    };
    if (!c.file || !c.name || !c.cni_version || !c.json) {
        net_cni_conf_release(&c);
        return error_oom(err);
    }
    *ret = c;
    return 0;
}

int net_cni_conf_parse(const char *file, const char *json, struct net_cni_conf *ret,
                       struct error *err) {
    if (!file)
        file = "";
    if (!json)
        return field_error(file, err, "no configuration");
    _cleanup_(json_decrefp) json_t *list = NULL;
    int r = load(file, json, strlen(json), &list, err);
    if (r < 0)
        return r;
    r = net_cni_list_check(file, list, err);
    if (r < 0)
        return r;
    return conf_fill(file, list, json, ret, err);
}

/* One plugin's configuration (a .conf or .json file), made a list of one. */
static int conf_single(const char *file, const char *text, size_t len, struct net_cni_conf *ret,
                       struct error *err) {
    _cleanup_(json_decrefp) json_t *one = NULL;
    int r = load(file, text, len, &one, err);
    if (r < 0)
        return r;
    if (!json_is_object(one))
        return field_error(file, err, "not a JSON object");
    if (!json_object_get(one, "type"))
        return field_error(file, err,
                           "'type' is missing (a .conf or .json file holds one plugin's "
                           "configuration; a list of plugins belongs in a .conflist file)");
    r = header_check(file, one, err);
    if (r < 0)
        return r;
    r = plugin_check(file, "", one, err);
    if (r < 0)
        return r;
    _cleanup_(json_decrefp) json_t *list = json_object();
    _cleanup_(json_decrefp) json_t *plugins = json_array();
    if (!list || !plugins || json_array_append(plugins, one) < 0)
        return error_oom(err);
    const char *fields[] = {"name", "cniVersion"};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        json_t *v = json_object_get(one, fields[i]);
        if (v && json_object_set(list, fields[i], v) < 0)
            return error_oom(err);
    }
    if (json_object_set(list, "plugins", plugins) < 0)
        return error_oom(err);
    _cleanup_free_ char *text_list = json_dumps(list, JSON_COMPACT);
    if (!text_list)
        return error_oom(err);
    return conf_fill(file, list, text_list, ret, err);
}

static bool has_ext(const char *name, const char *ext) {
    const char *dot = strrchr(name, '.');
    return dot && strcmp(dot, ext) == 0;
}

int net_cni_conf_find(const char *dir, struct net_cni_conf *ret, struct error *err) {
    if (!dir || !path_is_host_clean(dir))
        return error_set(err, -EINVAL, "'%s' is not a clean absolute path for cni configurations",
                         dir ? dir : "");
    DIR *dh = opendir(dir);
    if (!dh) {
        if (errno == ENOENT)
            return error_set(err, -ENOENT,
                             "no cni configuration in '%s': the directory does not exist", dir);
        return error_set(err, -errno, "cannot read cni configuration directory '%s': %s", dir,
                         strerror(errno));
    }
    char first[256] = "";
    struct dirent *de;
    while ((de = readdir(dh))) {
        const char *n = de->d_name;
        if (!has_ext(n, ".conflist") && !has_ext(n, ".conf") && !has_ext(n, ".json"))
            continue;
        struct stat st;
        if (de->d_type == DT_DIR ||
            (de->d_type == DT_UNKNOWN && fstatat(dirfd(dh), n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
             S_ISDIR(st.st_mode)))
            continue;
        if (!first[0] || strcmp(n, first) < 0)
            snprintf(first, sizeof(first), "%s", n);
    }
    closedir(dh);
    if (!first[0])
        return error_set(err, -ENOENT,
                         "no cni configuration in '%s' (a *.conflist, *.conf or *.json file)", dir);
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, first);
    if (!path)
        return error_oom(err);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    int r = strbuf_read_file(&sb, path, CNI_CONF_MAX, err);
    if (r < 0)
        return r;
    const char *text = sb.buf ? sb.buf : "";
    if (has_ext(first, ".conflist")) {
        _cleanup_(json_decrefp) json_t *list = NULL;
        r = load(path, text, sb.len, &list, err);
        if (r < 0)
            return r;
        r = net_cni_list_check(path, list, err);
        if (r < 0)
            return r;
        return conf_fill(path, list, text, ret, err);
    }
    return conf_single(path, text, sb.len, ret, err);
}

/* path written whole or not at all: a temporary file beside it, then renamed over it. */
static int file_replace(const char *path, const char *text, mode_t mode, struct error *err) {
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    if (!tmp)
        return error_oom(err);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return error_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
    size_t len = strlen(text);
    int e = 0;
    if (fchmod(fd, mode) < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
        e = errno ? errno : EIO;
    if (close(fd) < 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) < 0)
        e = errno;
    if (e != 0) {
        unlink(tmp);
        return error_set(err, -e, "cannot write '%s': %s", path, strerror(e));
    }
    return 0;
}

int net_cni_conf_default(const char *dir, const struct net_subnet *s, const char *data_dir,
                         char **ret_file, struct error *err) {
    if (!dir || !path_is_host_clean(dir))
        return error_set(err, -EINVAL, "'%s' is not a clean absolute path for cni configurations",
                         dir ? dir : "");
    if (!data_dir || !path_is_host_clean(data_dir))
        return error_set(err, -EINVAL, "'%s' is not a clean absolute path for host-local's store",
                         data_dir ? data_dir : "");
    char subnet[NET_SUBNET_MAX];
    net_subnet_format(s, subnet);
    _cleanup_(json_decrefp) json_t *list = json_pack(
        "{s:s, s:s, s:[{s:s, s:s, s:b, s:b, s:{s:s, s:[[{s:s}]], s:[{s:s}], s:s}},"
        " {s:s, s:{s:b}, s:b}, {s:s}]}",
        "cniVersion", "1.0.0", "name", CNI_DEFAULT_NETWORK, "plugins", "type", "bridge", "bridge",
        CNI_DEFAULT_BRIDGE, "isGateway", 1, "ipMasq", 1, "ipam", "type", "host-local", "ranges",
        "subnet", subnet, "routes", "dst", "0.0.0.0/0", "dataDir", data_dir, "type", "portmap",
        "capabilities", "portMappings", 1, "snat", 1, "type", "firewall");
    if (!list)
        return error_oom(err);
    _cleanup_free_ char *text = json_dumps(list, JSON_INDENT(2));
    _cleanup_free_ char *withnl = text ? xasprintf("%s\n", text) : NULL;
    _cleanup_free_ char *path = xasprintf("%s/" CNI_DEFAULT_FILE, dir);
    if (!withnl || !path)
        return error_oom(err);
    int r = fs_mkdir_parents(dir, 0755, err);
    if (r < 0)
        return r;
    r = file_replace(path, withnl, 0644, err);
    if (r < 0)
        return r;
    if (ret_file)
        *ret_file = steal_ptr(&path);
    return 0;
}
