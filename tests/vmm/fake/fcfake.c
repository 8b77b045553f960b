/*
 * fcfake: a stand-in for Firecracker's API server, for test_vmm. It listens
 * on a Unix socket, serves one HTTP/1.1 request per connection, and judges
 * each request against Firecracker's own OpenAPI spec (loaded at start):
 * the path template and method must exist, the JSON body must match the
 * body parameter's schema ($ref, type, required, enum, minimum/maximum, and
 * no unknown fields, as Firecracker's serde deny_unknown_fields), and the
 * order must be the one Firecracker accepts: logger and metrics before
 * boot-source, InstanceStart only after boot-source, no configuration after
 * InstanceStart. Violations get 400 {"fault_message": ...}; success 204.
 * GET / answers InstanceInfo. SendCtrlAltDel on a running instance ends the
 * process with status 0, as a guest shutdown ends Firecracker.
 *
 * Like Firecracker it has the guest's serial console on stdin/stdout: after
 * InstanceStart it prints a boot banner naming the kernel and the boot args
 * it was given, then echoes what comes on stdin back to stdout (so that a
 * console's input and output can be tested). A line "fcfake-reboot" on the
 * console is its guest running `reboot`: like Firecracker on the guest's
 * CPU reset, it exits with status 0 by itself.
 *
 *   fcfake --api-sock PATH [--spec SPEC.yaml] [--log FILE] [--id ID]
 *          [--refuse PATH-PREFIX]
 *
 * Without --spec the spec's path is taken from $HEARTH_FC_SPEC (a process
 * that runs fcfake as its firecracker passes only --api-sock and --id).
 * --refuse makes every PUT whose path starts with PATH-PREFIX fail with a
 * fault_message, to test how a client reports it. Each request's line and
 * verdict ("PUT /logger 204") go to --log, else stderr.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "util/util.h"

#define HEAD_MAX 8192        /* bytes of request line + headers */
#define BODY_MAX (64u << 10) /* bytes of a request body */
#define SPEC_MAX (4u << 20)  /* bytes of the spec */
#define SCHEMA_DEPTH_MAX 32  /* nesting of schemas and values */

struct fake {
    json_t *spec; /* the spec document */
    FILE *log;
    const char *id;
    const char *refuse;
    bool logger, metrics, boot_source, started;
    bool exit_after; /* answered SendCtrlAltDel: exit once the answer is out */
    char *kernel;    /* boot-source's kernel_image_path (owned) */
    char *boot_args; /* boot-source's boot_args (owned) */
    char tail[64];   /* the console input's last bytes, to see a reboot line */
    size_t tail_len;
};

struct req {
    char method[16];
    char path[512];
    struct strbuf body;
};

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
static int fake_handle(struct fake *f, const struct req *rq, struct strbuf *out,
                       struct error *err) {
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
        fake_record(f, tmpl, body);
    json_decref(body);
out:
    json_decref(vars);
    return r;
}

/*
 * Reads one request from fd: -EPROTO on a malformed one, -EFBIG past the
 * limits, -ENODATA when the peer closed without sending anything.
 */
static int fake_read_request(int fd, struct req *rq) {
    char head[HEAD_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len >= HEAD_MAX)
            return -EFBIG;
        ssize_t n = read(fd, head + len, HEAD_MAX - len);
        if (n == 0 && len == 0)
            return -ENODATA; /* connected and closed: a probe, not a request */
        if (n <= 0)
            return -EPROTO;
        len += (size_t)n;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    *end = '\0';
    char *rest = end + 4;
    size_t rest_len = len - (size_t)(rest - head);
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
            if (parse_u64(p, BODY_MAX, &clen) < 0)
                return -EFBIG;
        } else if (strncasecmp(line, "Expect:", 7) == 0) {
            expect = true;
        }
    }
    if (expect && clen > rest_len) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (write(fd, cont, sizeof(cont) - 1) < 0)
            return -EPROTO;
    }
    if (rest_len > clen)
        rest_len = (size_t)clen;
    if (strbuf_add(&rq->body, rest, rest_len) < 0)
        return -ENOMEM;
    while (rq->body.len < clen) {
        char buf[4096];
        size_t want = (size_t)clen - rq->body.len;
        ssize_t n = read(fd, buf, want < sizeof(buf) ? want : sizeof(buf));
        if (n <= 0)
            return -EPROTO;
        if (strbuf_add(&rq->body, buf, (size_t)n) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int fake_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -EIO;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static void fake_serve(struct fake *f, int fd) {
    struct req rq = {.body = STRBUF_INIT};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf resp = STRBUF_INIT;
    struct error err;
    error_init(&err);
    int status;
    int r = fake_read_request(fd, &rq);
    if (r == -ENODATA) {
        strbuf_release(&rq.body);
        return;
    }
    if (r < 0) {
        status = 400;
        (void)error_set(&err, r, "malformed request");
        snprintf(rq.method, sizeof(rq.method), "?");
        snprintf(rq.path, sizeof(rq.path), "?");
    } else if (fake_handle(f, &rq, &out, &err) < 0) {
        status = 400;
    } else {
        status = out.len > 0 ? 200 : 204;
    }
    if (status == 400) {
        json_t *e = json_pack("{s:s}", "fault_message", err.msg);
        char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        strbuf_reset(&out);
        if (s && strbuf_adds(&out, s) < 0)
            status = 500;
        free(s);
    }
    fprintf(f->log, "%s %s %d%s%s\n", rq.method, rq.path, status, status == 400 ? " " : "",
            status == 400 ? err.msg : "");
    fflush(f->log);
    const char *reason = status == 200 ? "OK" : status == 204 ? "No Content" : "Bad Request";
    if (status == 204)
        r = strbuf_addf(&resp, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    else
        r = strbuf_addf(&resp,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        status, reason, out.len, out.buf ? out.buf : "");
    if (r == 0 && fake_write_all(fd, resp.buf, resp.len) < 0)
        fprintf(f->log, "write failed\n");
    strbuf_release(&rq.body);
}

/* The serial console's boot banner, once the instance started. */
static void fake_banner(const struct fake *f) {
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    if (strbuf_addf(&sb,
                    "fcfake: booting '%s'\nfcfake: command line: %s\nfcfake: instance %s is "
                    "running\n",
                    f->kernel ? f->kernel : "", f->boot_args ? f->boot_args : "", f->id) < 0)
        return;
    if (fake_write_all(1, sb.buf, sb.len) < 0)
        fprintf(f->log, "console write failed\n");
}

#define FAKE_REBOOT "fcfake-reboot\n"

/* Echoes what stdin has to stdout; false at its end. A reboot line sets exit_after. */
static bool fake_echo(struct fake *f) {
    char buf[4096];
    ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    if (fake_write_all(1, buf, (size_t)n) < 0)
        fprintf(f->log, "console write failed\n");
    /* The line may come split over reads: the end of the last read goes before this one. */
    char joined[sizeof(f->tail) + sizeof(buf)];
    size_t have = f->tail_len;
    memcpy(joined, f->tail, have);
    memcpy(joined + have, buf, (size_t)n);
    size_t len = have + (size_t)n;
    bool reboot = memmem(joined, len, FAKE_REBOOT, strlen(FAKE_REBOOT)) != NULL;
    size_t keep = len < sizeof(f->tail) ? len : sizeof(f->tail);
    memcpy(f->tail, joined + len - keep, keep);
    f->tail_len = keep;
    if (reboot) {
        fprintf(f->log, "guest reboot\n");
        f->exit_after = true;
    }
    return true;
}

static int fake_listen(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int main(int argc, char **argv) {
    const char *sock = NULL, *spec_path = NULL, *log_path = NULL;
    struct fake f = {.id = "anonymous-instance"};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--api-sock") == 0)
            sock = argv[i + 1];
        else if (strcmp(argv[i], "--spec") == 0)
            spec_path = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            log_path = argv[i + 1];
        else if (strcmp(argv[i], "--id") == 0)
            f.id = argv[i + 1];
        else if (strcmp(argv[i], "--refuse") == 0)
            f.refuse = argv[i + 1];
        else
            break;
    }
    if (!spec_path)
        spec_path = getenv("HEARTH_FC_SPEC");
    if (!sock || !spec_path || argc % 2 != 1) {
        fprintf(stderr, "usage: fcfake --api-sock PATH [--spec SPEC.yaml] [--log FILE] [--id ID] "
                        "[--refuse PATH-PREFIX]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct error err;
    error_init(&err);
    _cleanup_strbuf_ struct strbuf text = STRBUF_INIT;
    json_t *docs = NULL;
    if (strbuf_read_file(&text, spec_path, SPEC_MAX, &err) < 0 ||
        api_yaml_load(text.buf, text.len, spec_path, &docs, &err) < 0) {
        fprintf(stderr, "fcfake: %s\n", err.msg);
        return 1;
    }
    f.spec = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    if (!json_is_object(json_object_get(f.spec, "paths"))) {
        fprintf(stderr, "fcfake: '%s' has no paths\n", spec_path);
        return 1;
    }
    f.log = log_path ? fopen(log_path, "ae") : stderr;
    if (!f.log) {
        fprintf(stderr, "fcfake: cannot open '%s': %s\n", log_path, strerror(errno));
        return 1;
    }
    int lfd = fake_listen(sock);
    if (lfd < 0) {
        fprintf(stderr, "fcfake: cannot listen on '%s': %s\n", sock, strerror(-lfd));
        return 1;
    }
    bool console = true; /* stdin still open */
    for (;;) {
        struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {f.started && console ? 0 : -1, POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "fcfake: poll: %s\n", strerror(errno));
            return 1;
        }
        if (pfd[1].revents)
            console = fake_echo(&f);
        if (f.exit_after)
            break;
        if (!pfd[0].revents)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "fcfake: accept: %s\n", strerror(errno));
            return 1;
        }
        struct timeval tv = {.tv_sec = 5};
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        bool was_started = f.started;
        fake_serve(&f, fd);
        close(fd);
        if (f.started && !was_started)
            fake_banner(&f);
        if (f.exit_after)
            break;
    }
    /* The guest "shut down": Firecracker exits and leaves its socket behind. */
    close(lfd);
    json_decref(f.spec);
    free(f.kernel);
    free(f.boot_args);
    if (f.log != stderr)
        fclose(f.log);
    return 0;
}
