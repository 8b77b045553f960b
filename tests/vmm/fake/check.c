/*
 * fcfake's judge: what Firecracker would say to one request, apart from the
 * socket that carries it (fcfake.c), so that the fuzz target
 * tests/fuzz/fcfake.c can call it with the spec loaded. A request's head
 * (request line and headers) is parsed here; its body is checked against
 * the spec's schema for the path and method, and the order of requests
 * against what Firecracker accepts, in struct fake's state.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <strings.h>

#include "fcfake.h"

#define SPEC_MAX (4u << 20) /* bytes of the spec */
#define SCHEMA_DEPTH_MAX 32 /* nesting of schemas and values */

int fake_init(struct fake *f, const char *spec_path, struct error *err) {
    _cleanup_strbuf_ struct strbuf text = STRBUF_INIT;
    json_t *docs = NULL;
    *f = (struct fake){.id = "anonymous-instance", .tap_fd = -1};
    if (strbuf_read_file(&text, spec_path, SPEC_MAX, err) < 0 ||
        api_yaml_load(text.buf, text.len, spec_path, &docs, err) < 0)
        return -EINVAL;
    f->spec = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    if (!json_is_object(json_object_get(f->spec, "paths")))
        return error_set(err, -EINVAL, "'%s' has no paths", spec_path);
    return 0;
}

void fake_reset(struct fake *f) {
    f->logger = f->metrics = f->boot_source = f->started = f->exit_after = false;
    free(f->kernel);
    free(f->boot_args);
    f->kernel = f->boot_args = NULL;
    if (f->tap_fd >= 0)
        close(f->tap_fd);
    f->tap_fd = -1;
}

void fake_release(struct fake *f) {
    fake_reset(f);
    json_decref(f->spec);
    f->spec = NULL;
}

int fake_parse_head(char *head, struct req *rq, uint64_t *ret_clen, bool *ret_expect) {
    char version[16];
    if (sscanf(head, "%15s %511s %15s", rq->method, rq->path, version) != 3 ||
        !str_starts_with(version, "HTTP/1."))
        return -EPROTO;
    rq->path[strcspn(rq->path, "?")] = '\0';
    uint64_t clen = 0;
    bool expect = false;
    for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            char num[32];
            snprintf(num, sizeof(num), "%.*s", (int)strcspn(line + 15, "\r"), line + 15);
            char *p = num;
            while (*p == ' ')
                p++;
            if (parse_u64(p, FAKE_BODY_MAX, &clen) < 0)
                return -EFBIG;
        } else if (strncasecmp(line, "Expect:", 7) == 0) {
            expect = true;
        }
    }
    *ret_clen = clen;
    *ret_expect = expect;
    return 0;
}

/* ---- schema checks ---------------------------------------------------- */

static const json_t *fake_resolve(const struct fake *f, const json_t *schema) {
    for (int i = 0; i < SCHEMA_DEPTH_MAX && schema; i++) {
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        if (!ref)
            return schema;
        if (!str_starts_with(ref, "#/definitions/"))
            return NULL;
        schema = json_object_get(json_object_get(f->spec, "definitions"),
                                 ref + strlen("#/definitions/"));
    }
    return NULL;
}

static bool fake_type_ok(const char *type, const json_t *v) {
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    return false;
}

/* Checks v against schema; where names the value ("body.drive_id"). */
static int fake_validate(const struct fake *f, const json_t *schema_in, const json_t *v,
                         const char *where, int depth, struct error *err) {
    if (depth > SCHEMA_DEPTH_MAX)
        return error_set(err, -EINVAL, "%s: nested too deeply", where);
    const json_t *schema = fake_resolve(f, schema_in);
    if (!schema)
        return error_set(err, -EINVAL, "%s: schema reference cannot be resolved", where);
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (type && !fake_type_ok(type, v))
        return error_set(err, -EINVAL, "%s: invalid type: expected %s", where, type);
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        bool found = false;
        size_t i;
        const json_t *e;
        json_array_foreach(en, i, e) found = found || json_equal(e, v);
        if (!found)
            return error_set(err, -EINVAL, "%s: unknown variant", where);
    }
    if (json_is_integer(v)) {
        const json_t *mn = json_object_get(schema, "minimum");
        const json_t *mx = json_object_get(schema, "maximum");
        if (json_is_number(mn) && (double)json_integer_value(v) < json_number_value(mn))
            return error_set(err, -EINVAL, "%s: %lld is below the minimum", where,
                             (long long)json_integer_value(v));
        if (json_is_number(mx) && (double)json_integer_value(v) > json_number_value(mx))
            return error_set(err, -EINVAL, "%s: %lld is above the maximum", where,
                             (long long)json_integer_value(v));
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(schema, "properties");
        const json_t *req = json_object_get(schema, "required");
        size_t i;
        const json_t *r;
        json_array_foreach(req, i, r) {
            const char *name = json_string_value(r);
            if (name && !json_object_get(v, name))
                return error_set(err, -EINVAL, "%s: missing field `%s`", where, name);
        }
        bool open = json_is_true(json_object_get(schema, "additionalProperties"));
        const char *k;
        const json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            const json_t *ps = json_object_get(props, k);
            if (!ps) {
                if (open)
                    continue;
                return error_set(err, -EINVAL, "%s: unknown field `%s`", where, k);
            }
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", where, k);
            int rc = fake_validate(f, ps, val, sub, depth + 1, err);
            if (rc < 0)
                return rc;
        }
    }
    if (json_is_array(v)) {
        const json_t *items = json_object_get(schema, "items");
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (!items)
                break;
            char sub[256];
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            int rc = fake_validate(f, items, e, sub, depth + 1, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/*
 * Finds the spec's path template matching path ("/drives/{drive_id}" for
 * "/drives/rootfs"); the template's {name} segments and their values go to
 * vars (an object).
 */
static const char *fake_match_path(const struct fake *f, const char *path, json_t *vars,
                                   const json_t **ret_item) {
    const char *tmpl;
    const json_t *item;
    json_object_foreach(json_object_get(f->spec, "paths"), tmpl, item) {
        const char *t = tmpl, *p = path;
        json_object_clear(vars);
        bool ok = true;
        while (ok && *t && *p) {
            if (*t != '/' || *p != '/') {
                ok = false;
                break;
            }
            t++, p++;
            size_t tn = strcspn(t, "/"), pn = strcspn(p, "/");
            if (tn > 2 && t[0] == '{' && t[tn - 1] == '}') {
                if (pn == 0) {
                    ok = false;
                    break;
                }
                char name[64], value[256];
                snprintf(name, sizeof(name), "%.*s", (int)(tn - 2), t + 1);
                snprintf(value, sizeof(value), "%.*s", (int)pn, p);
                json_object_set_new(vars, name, json_string(value));
            } else if (tn != pn || strncmp(t, p, tn) != 0) {
                ok = false;
            }
            t += tn, p += pn;
        }
        if (ok && *t == '\0' && *p == '\0') {
            *ret_item = item;
            return tmpl;
        }
    }
    return NULL;
}

/* ---- the order Firecracker accepts ------------------------------------ */

static int fake_check_order(struct fake *f, const char *tmpl, const json_t *body,
                            struct error *err) {
    bool action = strcmp(tmpl, "/actions") == 0;
    if (!action) {
        if (f->started)
            return error_set(err, -EINVAL,
                             "The requested operation is not supported after "
                             "starting the microVM.");
        if ((strcmp(tmpl, "/logger") == 0 || strcmp(tmpl, "/metrics") == 0) && f->boot_source)
            return error_set(err, -EINVAL, "%s must be configured before the boot source", tmpl);
        return 0;
    }
    const char *type = json_string_value(json_object_get(body, "action_type"));
    if (!type)
        return error_set(err, -EINVAL, "missing field `action_type`");
    if (strcmp(type, "InstanceStart") == 0) {
        if (f->started)
            return error_set(err, -EINVAL, "The microVM is already running.");
        if (!f->boot_source)
            return error_set(err, -EINVAL, "Cannot start microvm without kernel configuration.");
    } else if (strcmp(type, "SendCtrlAltDel") == 0) {
        if (!f->started)
            return error_set(err, -EINVAL, "The microVM is not running.");
    } else if (strcmp(type, "FlushMetrics") == 0) {
        if (!f->metrics)
            return error_set(err, -EINVAL, "The metrics system is not initialized.");
    }
    return 0;
}

/*
 * What Firecracker does with a network interface beyond the spec: the id in
 * the path must be the body's, and it opens host_dev_name as a tap
 * (TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and holds it while it
 * runs. So does the fake: a link that is no tap, or a tap another process
 * holds, is refused with the error Firecracker gives.
 */
static int fake_check_iface(struct fake *f, const char *tmpl, const json_t *vars,
                            const json_t *body, struct error *err) {
    if (strcmp(tmpl, "/network-interfaces/{iface_id}") != 0)
        return 0;
    const char *id = json_string_value(json_object_get(vars, "iface_id"));
    const char *bid = json_string_value(json_object_get(body, "iface_id"));
    if (!id || !bid || strcmp(id, bid) != 0)
        return error_set(err, -EINVAL, "The id from the path does not match the id from the body!");
    const char *dev = json_string_value(json_object_get(body, "host_dev_name"));
    if (f->no_taps)
        return 0;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev ? dev : "");
    if (fd < 0 || !dev || strlen(dev) >= IFNAMSIZ || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return error_set(err, -EINVAL,
                         "Could not create the network device: Open tap device failed: Error "
                         "while creating ifreq structure: %s (os error %d). Invalid TUN/TAP "
                         "Backend provided by %s.",
                         strerror(e), e, dev ? dev : "");
    }
    if (f->tap_fd >= 0)
        close(f->tap_fd);
    f->tap_fd = fd;
    return 0;
}

static void fake_record(struct fake *f, const char *tmpl, const json_t *body) {
    if (strcmp(tmpl, "/logger") == 0)
        f->logger = true;
    else if (strcmp(tmpl, "/metrics") == 0)
        f->metrics = true;
    else if (strcmp(tmpl, "/boot-source") == 0) {
        f->boot_source = true;
        free(f->kernel);
        free(f->boot_args);
        f->kernel = xstrdup(json_string_value(json_object_get(body, "kernel_image_path")));
        f->boot_args = xstrdup(json_string_value(json_object_get(body, "boot_args")));
    } else if (strcmp(tmpl, "/actions") == 0) {
        const char *type = json_string_value(json_object_get(body, "action_type"));
        if (type && strcmp(type, "InstanceStart") == 0)
            f->started = true;
        else if (type && strcmp(type, "SendCtrlAltDel") == 0)
            f->exit_after = true;
    }
}

/* ---- requests --------------------------------------------------------- */

/* Judges one request: the status, and the answer's body into out (may stay empty). */
int fake_handle(struct fake *f, const struct req *rq, struct strbuf *out, struct error *err) {
    json_t *vars = json_object();
    if (!vars)
        return error_set(err, -ENOMEM, "out of memory");
    const json_t *item = NULL;
    const char *tmpl = fake_match_path(f, rq->path, vars, &item);
    char method[16];
    size_t i;
    for (i = 0; rq->method[i] && i + 1 < sizeof(method); i++)
        method[i] = (char)(rq->method[i] >= 'A' && rq->method[i] <= 'Z' ? rq->method[i] + 32
                                                                        : rq->method[i]);
    method[i] = '\0';
    const json_t *op = tmpl ? json_object_get(item, method) : NULL;
    int r = 0;
    if (!op) {
        r = error_set(err, -EINVAL, "Invalid request method and/or path: %s %s.", rq->method,
                      rq->path);
        goto out;
    }
    if (strcmp(method, "get") == 0) {
        if (strcmp(tmpl, "/") != 0) {
            r = error_set(err, -EINVAL, "fcfake: GET %s is not implemented", tmpl);
            goto out;
        }
        json_t *info = json_pack("{s:s, s:s, s:s, s:s}", "id", f->id, "state",
                                 f->started ? "Running" : "Not started", "vmm_version", "1.16.1",
                                 "app_name", "Firecracker");
        char *s = info ? json_dumps(info, JSON_COMPACT) : NULL;
        json_decref(info);
        if (!s || strbuf_adds(out, s) < 0)
            r = error_set(err, -ENOMEM, "out of memory");
        free(s);
        goto out;
    }
    const json_t *schema = NULL;
    const json_t *param;
    json_array_foreach(json_object_get(op, "parameters"), i, param) {
        const char *in = json_string_value(json_object_get(param, "in"));
        if (in && strcmp(in, "body") == 0)
            schema = json_object_get(param, "schema");
    }
    json_t *body = NULL;
    if (rq->body.len > 0) {
        json_error_t je;
        body = json_loadb(rq->body.buf, rq->body.len, 0, &je);
        if (!body) {
            r = error_set(err, -EINVAL, "invalid json: %s", je.text);
            goto out;
        }
    }
    if (schema && !body) {
        r = error_set(err, -EINVAL, "Empty request body.");
    } else if (schema) {
        r = fake_validate(f, schema, body, "body", 0, err);
        const char *k;
        const json_t *v;
        /* A {name} in the path must agree with the same field in the body. */
        json_object_foreach(vars, k, v) {
            const json_t *b = json_object_get(body, k);
            if (r == 0 && b && !json_equal(b, v))
                r = error_set(err, -EINVAL,
                              "The id from the path does not match the id from "
                              "the body!");
        }
    }
    if (r == 0 && f->refuse && str_starts_with(rq->path, f->refuse))
        r = error_set(err, -EINVAL, "fcfake refuses %s as told", rq->path);
    if (r == 0)
        r = fake_check_order(f, tmpl, body, err);
    if (r == 0)
        r = fake_check_iface(f, tmpl, vars, body, err);
    if (r == 0)
        fake_record(f, tmpl, body);
    json_decref(body);
out:
    json_decref(vars);
    return r;
}
