/*
 * References, sources and pulling, against a real registry: Debian's
 * docker-registry started on a loopback port (tests/oci/registry.sh), fed
 * with images this test builds (tests/oci/mkimage.py: busybox-static plus
 * generated files, gzip and zstd layers, whiteouts, a multi-platform index
 * with an attestation entry) and pushed with skopeo; a second one with
 * Basic auth; and tests/oci/faultserver.py, a registry that misbehaves on
 * request. Every failure must name what failed and leave the cache clean:
 * no partial file in <cache>/tmp, no blob in <cache>/sha256 that does not
 * hash to its name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "oci/oci.h"
#include "oci/pull_priv.h"
#include "oci_test.h"

/* The fixture every registry test shares (set up once for the group). */
struct fix {
    char dir[256];     /* temp dir holding everything */
    char scripts[512]; /* tests/oci */
    char layout[512];
    char missing[128]; /* the registry's programs that are not installed, if any */
    int port;          /* plain registry */
    int auth_port;     /* Basic auth registry (user "hearth", password "s3cret") */
    int fault_port;    /* faultserver.py */
    pid_t fault_pid;
    char auth_cfg[512]; /* a dir with a config.json for the auth registry */
    int n_cache;
};

static struct fix F; /* test-only state, set by the group setup */

/* ---- helpers --------------------------------------------------------------- */

static void run_or_fail(const char *const *argv, struct strbuf *out) {
    struct error err;
    struct exec_opts o = {.out = out, .timeout_ms = 120000};
    if (exec_run(argv, &o, &err) < 0)
        fail_msg("%s: %s", argv[0], err.msg);
}

static char *tpath(const char *fmt, ...) PRINTF(1, 2);
static char *tpath(const char *fmt, ...) {
    char rel[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    char *p = xasprintf("%s/%s", F.dir, rel);
    assert_non_null(p);
    return p;
}

static char *new_cache(void) {
    return tpath("cache%d", F.n_cache++);
}

static void write_file(const char *path, const char *content) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

/* Asserts the cache holds nothing partial and only blobs that hash to their names. */
static void assert_cache_clean(const char *cache) {
    _cleanup_free_ char *tmp = xasprintf("%s/tmp", cache);
    _cleanup_free_ char *blobs = xasprintf("%s/sha256", cache);
    DIR *d = opendir(tmp);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                fail_msg("partial file left in the cache: %s/%s", tmp, e->d_name);
        closedir(d);
    }
    d = opendir(blobs);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", blobs, e->d_name);
        struct strbuf sb = STRBUF_INIT;
        struct error err;
        assert_int_equal(strbuf_read_file(&sb, p, 1u << 30, &err), 0);
        _cleanup_free_ char *dg = oci_digest_of(sb.buf ? sb.buf : "", sb.len);
        strbuf_release(&sb);
        if (strcmp(dg + 7, e->d_name) != 0)
            fail_msg("cache blob %s hashes to %s", e->d_name, dg);
    }
    closedir(d);
}

static size_t count_blobs(const char *cache) {
    _cleanup_free_ char *blobs = xasprintf("%s/sha256", cache);
    DIR *d = opendir(blobs);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void assert_blob_ok(const char *cache, const char *digest, uint64_t size) {
    _cleanup_free_ char *p = oci_blob_path(cache, digest);
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    assert_non_null(p);
    if (strbuf_read_file(&sb, p, 1u << 30, &err) < 0)
        fail_msg("blob %s not in the cache: %s", digest, err.msg);
    _cleanup_free_ char *dg = oci_digest_of(sb.buf ? sb.buf : "", sb.len);
    if (size)
        assert_int_equal(sb.len, size);
    strbuf_release(&sb);
    assert_string_equal(dg, digest);
}

struct events {
    int cached, done, downloading, retrying, layers_done;
    volatile sig_atomic_t *cancel_on_download;
};

static void on_progress(void *ud, const struct oci_progress *p) {
    struct events *ev = ud;
    assert_non_null(p->digest);
    switch (p->state) {
    case OCI_PROGRESS_CACHED:
        ev->cached++;
        break;
    case OCI_PROGRESS_DONE:
        ev->done++;
        ev->layers_done += p->is_layer;
        break;
    case OCI_PROGRESS_DOWNLOADING:
        ev->downloading++;
        if (ev->cancel_on_download)
            *ev->cancel_on_download = 1;
        break;
    case OCI_PROGRESS_RETRYING:
        ev->retrying++;
        break;
    default:
        break;
    }
}

static struct oci_pull_opts opts_for(const char *cache, struct events *ev) {
    struct oci_pull_opts o = {.cache_dir = cache, .registry_config_dir = F.dir, .retries = 2};
    if (ev) {
        o.progress = on_progress;
        o.progress_ud = ev;
    }
    return o;
}

static int pull_str(const char *src, const struct oci_pull_opts *o, struct oci_image *img,
                    struct error *err) {
    struct oci_source s;
    error_init(err);
    int r = oci_source_parse(src, &s, err);
    if (r < 0)
        return r;
    r = oci_pull(&s, o, img, err);
    oci_source_release(&s);
    return r;
}

/* The registries were not started: a missing fixture fails the tests that need them. */
#define NEED_REGISTRY()                                                                            \
    do {                                                                                           \
        if (F.missing[0])                                                                          \
            fail_msg("not installed:%s (scripts/install-deps installs them)", F.missing);          \
    } while (0)

/* ---- references -------------------------------------------------------------- */

static void test_ref_parse_table(void **state) {
    (void)state;
    static const struct {
        const char *in, *domain, *path, *tag, *digest, *familiar;
    } good[] = {
        {"busybox", "docker.io", "library/busybox", "latest", NULL, "busybox:latest"},
        {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, "busybox:1.36"},
        {"docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
         "busybox:latest"},
        {"index.docker.io/foo/bar:x", "docker.io", "foo/bar", "x", NULL, "foo/bar:x"},
        {"weaveworks/ignite-ubuntu", "docker.io", "weaveworks/ignite-ubuntu", "latest", NULL,
         "weaveworks/ignite-ubuntu:latest"},
        {"localhost/a", "localhost", "a", "latest", NULL, "localhost/a:latest"},
        {"localhost:5000/a/b:1", "localhost:5000", "a/b", "1", NULL, "localhost:5000/a/b:1"},
        {"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", NULL, "127.0.0.1:5000/x:latest"},
        {"quay.io/a_b/c-d.e__f:v_1.0-rc", "quay.io", "a_b/c-d.e__f", "v_1.0-rc", NULL,
         "quay.io/a_b/c-d.e__f:v_1.0-rc"},
        {"ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "ghcr.io", "o/r", NULL,
         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL},
        {"r:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io",
         "library/r", "t",
         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL},
        {"[::1]:5000/a", "[::1]:5000", "a", "latest", NULL, NULL},
        {"a---b", "docker.io", "library/a---b", "latest", NULL, "a---b:latest"},
        /* a first component that reads as a registry keeps docker.io (a fuzz find) */
        {"docker.io/my.org/app:1", "docker.io", "my.org/app", "1", NULL, "docker.io/my.org/app:1"},
        {"docker.io/localhost/app", "docker.io", "localhost/app", "latest", NULL,
         "docker.io/localhost/app:latest"},
        {"docker.io/library/my.app", "docker.io", "library/my.app", "latest", NULL,
         "my.app:latest"},
    };
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"", "empty"},
        {"Busybox", "lowercase"},
        {"docker.io/Library/busybox", "lowercase"},
        {"busybox:", "tag"},
        {"busybox:-x", "tag"},
        {"busybox:a/b", "bad registry host"},
        {"a//b", "repository path"},
        {"a/", "repository path"},
        {"-a", "repository path"},
        {"a_", "repository path"},
        {"a..b", "repository path"},
        {"a___b", "repository path"},
        {"busybox@sha256:abc", "64 hex"},
        {"busybox@md5:0123456789abcdef0123456789abcdef", "sha256"},
        {"busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         "lowercase"},
        {"exa mple.com/a", "bad registry host"},
        {"example.com:port/a", "bad registry host"},
        {"-bad.com/a", "bad registry host"},
        {"a b", "repository path"},
        {"@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "no repository"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct oci_ref r;
        struct error err;
        error_init(&err);
        if (oci_ref_parse(good[i].in, &r, &err) < 0)
            fail_msg("'%s' refused: %s", good[i].in, err.msg);
        assert_string_equal(r.domain, good[i].domain);
        assert_string_equal(r.path, good[i].path);
        if (good[i].tag)
            assert_string_equal(r.tag, good[i].tag);
        else
            assert_null(r.tag);
        if (good[i].digest)
            assert_string_equal(r.digest, good[i].digest);
        else
            assert_null(r.digest);
        if (good[i].familiar) {
            _cleanup_free_ char *f = oci_ref_familiar(&r);
            assert_string_equal(f, good[i].familiar);
            /* ... which names the same image */
            struct oci_ref rf;
            assert_int_equal(oci_ref_parse(f, &rf, &err), 0);
            assert_string_equal(rf.domain, r.domain);
            assert_string_equal(rf.path, r.path);
            oci_ref_release(&rf);
        }
        /* the full string parses back to the same reference */
        _cleanup_free_ char *s = oci_ref_string(&r);
        struct oci_ref r2;
        assert_int_equal(oci_ref_parse(s, &r2, &err), 0);
        assert_string_equal(r2.domain, r.domain);
        assert_string_equal(r2.path, r.path);
        oci_ref_release(&r2);
        oci_ref_release(&r);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct oci_ref r = {0};
        struct error err;
        error_init(&err);
        if (oci_ref_parse(bad[i].in, &r, &err) == 0)
            fail_msg("'%s' accepted (domain %s path %s)", bad[i].in, r.domain, r.path);
        assert_int_equal(err.code, -EINVAL);
        if (!strstr(err.msg, bad[i].why))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].in, err.msg, bad[i].why);
        if (*bad[i].in && !strstr(err.msg, bad[i].in) && strlen(bad[i].in) < 60)
            fail_msg("'%s': message '%s' does not name the input", bad[i].in, err.msg);
    }

    struct oci_ref r;
    struct error err;
    assert_int_equal(oci_ref_parse("busybox", &r, &err), 0);
    assert_string_equal(oci_ref_registry_host(&r), "registry-1.docker.io");
    _cleanup_free_ char *s = oci_ref_string(&r);
    assert_string_equal(s, "docker.io/library/busybox:latest");
    oci_ref_release(&r);
    assert_int_equal(oci_ref_parse("localhost:5000/a", &r, &err), 0);
    assert_string_equal(oci_ref_registry_host(&r), "localhost:5000");
    oci_ref_release(&r);

    assert_true(oci_host_is_loopback("127.0.0.1:5000"));
    assert_true(oci_host_is_loopback("127.9.8.7"));
    assert_true(oci_host_is_loopback("localhost:1"));
    assert_true(oci_host_is_loopback("[::1]:5000"));
    assert_false(oci_host_is_loopback("128.0.0.1"));
    assert_false(oci_host_is_loopback("example.com"));
    assert_false(oci_host_is_loopback("127.0.0.1.example.com"));
}

static void test_source_parse(void **state) {
    (void)state;
    struct oci_source s;
    struct error err;
    assert_int_equal(oci_source_parse("oci-layout:/x/y:v1", &s, &err), 0);
    assert_int_equal(s.kind, OCI_SOURCE_LAYOUT);
    assert_string_equal(s.path, "/x/y");
    assert_string_equal(s.tag, "v1");
    oci_source_release(&s);
    assert_int_equal(oci_source_parse("oci-layout:/x/y", &s, &err), 0);
    assert_null(s.tag);
    oci_source_release(&s);
    assert_int_equal(oci_source_parse("docker-archive:/a/b.tar", &s, &err), 0);
    assert_int_equal(s.kind, OCI_SOURCE_ARCHIVE);
    assert_string_equal(s.path, "/a/b.tar");
    assert_null(s.tag);
    oci_source_release(&s);
    /* docker-archive:FILE:REF and :@N, as skopeo writes them: the first ':' separates */
    assert_int_equal(oci_source_parse("docker-archive:/a/b.tar:localhost:5000/x/y:1", &s, &err), 0);
    assert_string_equal(s.path, "/a/b.tar");
    assert_string_equal(s.tag, "localhost:5000/x/y:1");
    oci_source_release(&s);
    assert_int_equal(oci_source_parse("docker-archive:b.tar:@12", &s, &err), 0);
    assert_string_equal(s.path, "b.tar");
    assert_string_equal(s.tag, "@12");
    oci_source_release(&s);
    static const char *const bad_archive[] = {
        "docker-archive:/a/b.tar:",   "docker-archive::busybox", "docker-archive:/a/b.tar:@",
        "docker-archive:/a/b.tar:@x", "docker-archive:b:@-1",    "docker-archive:b:@1234567",
        "docker-archive:b:Not A Ref",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_archive); i++) {
        if (oci_source_parse(bad_archive[i], &s, &err) != -EINVAL)
            fail_msg("'%s' was accepted", bad_archive[i]);
        assert_non_null(strstr(err.msg, bad_archive[i]));
    }
    assert_int_equal(oci_source_parse("alpine:3", &s, &err), 0);
    assert_int_equal(s.kind, OCI_SOURCE_REGISTRY);
    assert_string_equal(s.ref.path, "library/alpine");
    oci_source_release(&s);
    assert_int_equal(oci_source_parse("oci-layout:", &s, &err), -EINVAL);
    assert_int_equal(oci_source_parse("oci-layout:/x:", &s, &err), -EINVAL);
    assert_int_equal(oci_source_parse("docker-archive:", &s, &err), -EINVAL);
    assert_int_equal(oci_source_parse("NOPE", &s, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "NOPE"));

    _cleanup_free_ char *p = oci_blob_path(
        "/c", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_string_equal(
        p, "/c/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_null(oci_blob_path("/c", "sha256:../../etc/passwd"));
}

/* A manifest of an unknown media type is refused naming it (the name was
 * once read after the document holding it was freed: a fuzz find). */
static void test_manifest_load(void **state) {
    (void)state;
    static const char body[] = "{\"schemaVersion\": 2, \"mediaType\": \"application/x-not-oci\"}";
    json_t *j = NULL;
    enum oci_manifest_kind kind;
    struct error err;
    error_init(&err);
    assert_int_equal(oci_manifest_load(body, strlen(body), NULL, "'x'", &j, &kind, &err), -EBADMSG);
    assert_string_equal(err.msg, "manifest of 'x' has unknown media type 'application/x-not-oci'");
    assert_null(j);
    /* the Content-Type stands in for a missing mediaType */
    static const char index[] = "{\"schemaVersion\": 2, \"manifests\": []}";
    assert_int_equal(
        oci_manifest_load(index, strlen(index), "application/x-other", "'x'", &j, &kind, &err), 0);
    assert_int_equal(kind, OCI_KIND_INDEX);
    json_decref(j);
}

/* WWW-Authenticate as registries send it (the fuzz target www_auth tries the rest). */
static void test_challenge_parse(void **state) {
    (void)state;
    static const char line[] = "www-authenticate: Bearer realm=\"https://auth.docker.io/token\","
                               "service=\"registry.docker.io\",scope=\"repository:a/b:pull\"\r\n";
    _cleanup_free_ char *v = oci_header_value(line, strlen(line), "WWW-Authenticate");
    assert_non_null(v);
    struct oci_challenge ch;
    oci_challenge_parse(v, &ch);
    assert_int_equal(ch.scheme, OCI_AUTH_BEARER);
    assert_string_equal(ch.realm, "https://auth.docker.io/token");
    assert_string_equal(ch.service, "registry.docker.io");
    assert_null(oci_header_value(line, strlen(line), "Content-Type"));
    /* unquoted values, escapes, other params, spaces */
    oci_challenge_parse("Bearer service=s,  realm=\"https://r/t?a=\\\"b\\\"\" , error=x", &ch);
    assert_string_equal(ch.realm, "https://r/t?a=\"b\"");
    assert_string_equal(ch.service, "s");
    oci_challenge_parse("Basic realm=\"Registry Realm\"", &ch);
    assert_int_equal(ch.scheme, OCI_AUTH_BASIC);
    assert_string_equal(ch.realm, "");
    oci_challenge_parse("Negotiate abc", &ch);
    assert_int_equal(ch.scheme, OCI_AUTH_UNKNOWN);
    oci_challenge_parse("Bearer", &ch);
    assert_int_equal(ch.scheme, OCI_AUTH_UNKNOWN);
}

/* ---- pulling from the real registry -------------------------------------------- */

static void test_pull_multilayer(void **state) {
    (void)state;
    NEED_REGISTRY();
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *ref = xasprintf("127.0.0.1:%d/test/a:v1", F.port);
    struct events ev = {0};
    struct oci_pull_opts o = opts_for(cache, &ev);
    struct oci_image img = {0};
    struct error err;
    if (pull_str(ref, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(img.n_layers, 2);
    assert_string_equal(img.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_string_equal(img.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_int_equal(img.size, img.layers[0].size + img.layers[1].size);
    assert_true(img.layers[0].size > 100000); /* busybox */
    for (size_t i = 0; i < img.n_layers; i++)
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
    assert_blob_ok(cache, img.config_digest, 0);
    assert_blob_ok(cache, img.manifest_digest, 0);
    assert_string_equal(img.os, "linux");
    assert_string_equal(img.arch, "amd64");
    _cleanup_free_ char *rd = xasprintf("127.0.0.1:%d/test/a@%s", F.port, img.manifest_digest);
    assert_string_equal(img.repo_digest, rd);
    assert_int_equal(count_blobs(cache), 4); /* manifest, config, 2 layers */
    assert_int_equal(ev.layers_done, 2);
    assert_int_equal(ev.cached, 0);
    assert_cache_clean(cache);

    /* the same pull again fetches nothing */
    struct oci_image img2 = {0};
    struct events ev2 = {0};
    o.progress_ud = &ev2;
    if (pull_str(ref, &o, &img2, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ev2.cached, 3);
    assert_int_equal(ev2.done, 0);
    assert_string_equal(img2.config_digest, img.config_digest);
    oci_image_release(&img2);
    oci_image_release(&img);
}

static void test_pull_shared_layers(void **state) {
    (void)state;
    NEED_REGISTRY();
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *r1 = xasprintf("127.0.0.1:%d/test/a:v1", F.port);
    _cleanup_free_ char *r2 = xasprintf("127.0.0.1:%d/test/a:v2", F.port);
    struct events ev = {0};
    struct oci_pull_opts o = opts_for(cache, &ev);
    o.max_parallel = 2;
    struct oci_image a = {0}, b = {0};
    struct error err;
    if (pull_str(r1, &o, &a, &err) < 0)
        fail_msg("%s", err.msg);
    struct events ev2 = {0};
    o.progress_ud = &ev2;
    if (pull_str(r2, &o, &b, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(b.n_layers, 3);
    assert_string_equal(a.layers[0].digest, b.layers[0].digest);
    assert_string_equal(a.layers[1].digest, b.layers[1].digest);
    assert_int_equal(ev2.cached, 2);      /* the shared layers */
    assert_int_equal(ev2.layers_done, 1); /* only the new one downloaded */
    assert_int_equal(ev2.done, 2);        /* + its config */
    for (size_t i = 0; i < b.n_layers; i++)
        assert_blob_ok(cache, b.layers[i].digest, b.layers[i].size);
    assert_cache_clean(cache);
    oci_image_release(&a);
    oci_image_release(&b);
}

static void test_pull_by_digest(void **state) {
    (void)state;
    NEED_REGISTRY();
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *r1 = xasprintf("127.0.0.1:%d/test/a:v1", F.port);
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct oci_image a = {0}, b = {0};
    struct error err;
    if (pull_str(r1, &o, &a, &err) < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *r2 = xasprintf("127.0.0.1:%d/test/a@%s", F.port, a.manifest_digest);
    _cleanup_free_ char *cache2 = new_cache();
    o.cache_dir = cache2;
    if (pull_str(r2, &o, &b, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(a.manifest_digest, b.manifest_digest);
    assert_string_equal(a.config_digest, b.config_digest);
    assert_int_equal(b.n_layers, 2);
    oci_image_release(&b);

    /* a digest the registry does not have */
    _cleanup_free_ char *r3 = xasprintf("127.0.0.1:%d/test/a@sha256:%064d", F.port, 0);
    assert_int_equal(pull_str(r3, &o, &b, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "not found"));
    assert_non_null(strstr(err.msg, "test/a"));
    /* a tag that does not exist */
    _cleanup_free_ char *r4 = xasprintf("127.0.0.1:%d/test/a:nope", F.port);
    assert_int_equal(pull_str(r4, &o, &b, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_cache_clean(cache2);
    oci_image_release(&a);
}

static void test_pull_multiplatform(void **state) {
    (void)state;
    NEED_REGISTRY();
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *ref = xasprintf("127.0.0.1:%d/test/m:1", F.port);
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct oci_image img = {0};
    struct error err;
    if (pull_str(ref, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(img.arch, "amd64");
    assert_string_equal(img.os, "linux");
    /* repo_digest names the index, manifest_digest the platform's manifest */
    assert_null(strstr(img.repo_digest, img.manifest_digest));
    oci_image_release(&img);

    o.arch = "arm64";
    if (pull_str(ref, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(img.arch, "arm64");
    oci_image_release(&img);

    /* nothing for s390x; and the attestation entry is never taken as an image */
    o.arch = "s390x";
    assert_int_equal(pull_str(ref, &o, &img, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "linux/s390x"));
    assert_non_null(strstr(err.msg, "linux/amd64, linux/arm64"));
    o.os = "unknown";
    o.arch = "unknown";
    assert_int_equal(pull_str(ref, &o, &img, &err), -ENOENT);
    assert_cache_clean(cache);
}

static void test_pull_auth(void **state) {
    (void)state;
    NEED_REGISTRY();
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *ref = xasprintf("127.0.0.1:%d/test/a:v1", F.auth_port);
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct oci_image img = {0};
    struct error err;

    /* no credentials: a clear error */
    _cleanup_free_ char *empty = tpath("nocreds");
    mkdir(empty, 0700);
    o.registry_config_dir = empty;
    assert_int_equal(pull_str(ref, &o, &img, &err), -EACCES);
    _cleanup_free_ char *want =
        xasprintf("registry 127.0.0.1:%d requires authentication", F.auth_port);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "docker login"));

    /* wrong password */
    _cleanup_free_ char *wrong = tpath("wrongcreds");
    mkdir(wrong, 0700);
    _cleanup_free_ char *wcfg = xasprintf("%s/config.json", wrong);
    _cleanup_free_ char *wjson =
        xasprintf("{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"aGVhcnRoOndyb25n\"}}}", F.auth_port);
    write_file(wcfg, wjson); /* hearth:wrong */
    o.registry_config_dir = wrong;
    assert_int_equal(pull_str(ref, &o, &img, &err), -EACCES);
    assert_non_null(strstr(err.msg, "refused the credentials"));

    /* the right ones */
    o.registry_config_dir = F.auth_cfg;
    if (pull_str(ref, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(img.n_layers, 2);
    for (size_t i = 0; i < img.n_layers; i++)
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
    oci_image_release(&img);

    /* $DOCKER_CONFIG is used when no directory is given */
    _cleanup_free_ char *cache2 = new_cache();
    o.cache_dir = cache2;
    o.registry_config_dir = NULL;
    setenv("DOCKER_CONFIG", F.auth_cfg, 1);
    int r = pull_str(ref, &o, &img, &err);
    unsetenv("DOCKER_CONFIG");
    if (r < 0)
        fail_msg("%s", err.msg);
    oci_image_release(&img);
    assert_cache_clean(cache);
}

/* ---- local sources ---------------------------------------------------------------- */

static void test_layout_source(void **state) {
    (void)state;
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *src = xasprintf("oci-layout:%s:v1", F.layout);
    struct events ev = {0};
    struct oci_pull_opts o = opts_for(cache, &ev);
    struct oci_image img = {0};
    struct error err;
    if (pull_str(src, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(img.n_layers, 2);
    assert_null(img.repo_digest);
    for (size_t i = 0; i < img.n_layers; i++)
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
    assert_blob_ok(cache, img.config_digest, 0);
    assert_int_equal(ev.layers_done, 2);
    oci_image_release(&img);

    /* v2 shares two layers: only the third is copied */
    _cleanup_free_ char *src2 = xasprintf("oci-layout:%s:v2", F.layout);
    struct events ev2 = {0};
    o.progress_ud = &ev2;
    if (pull_str(src2, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ev2.cached, 2);
    assert_int_equal(ev2.layers_done, 1);
    oci_image_release(&img);

    /* the multi-platform index inside a layout */
    _cleanup_free_ char *src3 = xasprintf("oci-layout:%s:multi", F.layout);
    if (pull_str(src3, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(img.arch, "amd64");
    oci_image_release(&img);

    /* no such tag; no tag with several images */
    _cleanup_free_ char *src4 = xasprintf("oci-layout:%s:nope", F.layout);
    assert_int_equal(pull_str(src4, &o, &img, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_non_null(strstr(err.msg, "'v1'"));
    _cleanup_free_ char *src5 = xasprintf("oci-layout:%s", F.layout);
    assert_int_equal(pull_str(src5, &o, &img, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "oci-layout:DIR:TAG"));
    assert_int_equal(pull_str("oci-layout:/nonexistent/x", &o, &img, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/x"));
    assert_cache_clean(cache);
}

static void test_layout_corrupt_blob(void **state) {
    (void)state;
    /* a copy of the layout with a layer blob altered in place */
    _cleanup_free_ char *bad = tpath("badlayout");
    const char *cp[] = {"cp", "-a", F.layout, bad, NULL};
    run_or_fail(cp, NULL);
    _cleanup_free_ char *cache = new_cache();
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct oci_image img = {0};
    struct error err;
    _cleanup_free_ char *src = xasprintf("oci-layout:%s:v1", bad);
    if (pull_str(src, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *victim = xasprintf("%s/blobs/sha256/%s", bad, img.layers[1].digest + 7);
    _cleanup_free_ char *digest = xstrdup(img.layers[1].digest);
    oci_image_release(&img);
    int fd = open(victim, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 10), 1);
    close(fd);
    _cleanup_free_ char *cache2 = new_cache();
    o.cache_dir = cache2;
    assert_int_equal(pull_str(src, &o, &img, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, digest));
    assert_non_null(strstr(err.msg, "failed verification"));
    assert_false(oci_cache_has(cache2, digest, 0));
    assert_cache_clean(cache2);
}

static void test_docker_archive(void **state) {
    (void)state;
    test_need_program("skopeo", "skopeo");
    _cleanup_free_ char *tar = tpath("a.tar");
    _cleanup_free_ char *from = xasprintf("oci:%s:gz", F.layout);
    _cleanup_free_ char *to = xasprintf("docker-archive:%s:test/gz:1", tar);
    const char *argv[] = {"skopeo", "copy", "-q", from, to, NULL};
    run_or_fail(argv, NULL);

    _cleanup_free_ char *cache = new_cache();
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct oci_image img = {0};
    struct error err;
    _cleanup_free_ char *src = xasprintf("docker-archive:%s", tar);
    if (pull_str(src, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(img.n_layers, 2);
    assert_string_equal(img.os, "linux");
    assert_string_equal(img.arch, "amd64");
    for (size_t i = 0; i < img.n_layers; i++)
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
    assert_blob_ok(cache, img.config_digest, 0);
    assert_blob_ok(cache, img.manifest_digest, 0);

    /* the layers are the same as the layout's, by their uncompressed content: the config's
       diff_ids (checked by the puller for uncompressed members) match the layout image's */
    struct oci_image ref = {0};
    _cleanup_free_ char *lsrc = xasprintf("oci-layout:%s:gz", F.layout);
    if (pull_str(lsrc, &o, &ref, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ref.n_layers, img.n_layers);
    _cleanup_free_ char *cfgp = oci_blob_path(cache, ref.config_digest);
    json_t *cfg = json_load_file(cfgp, 0, NULL);
    json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    assert_int_equal(json_array_size(diff_ids), img.n_layers);
    for (size_t i = 0; i < img.n_layers; i++) {
        /* docker-archive layers are the uncompressed tars: digest == diff_id */
        assert_string_equal(img.layers[i].media_type, "application/vnd.oci.image.layer.v1.tar");
        assert_string_equal(img.layers[i].digest, json_string_value(json_array_get(diff_ids, i)));
    }
    json_decref(cfg);
    oci_image_release(&ref);
    oci_image_release(&img);

    assert_int_equal(pull_str("docker-archive:/nonexistent.tar", &o, &img, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent.tar"));
    /* a tar that is not docker save output */
    _cleanup_free_ char *junk = tpath("junk.tar");
    _cleanup_free_ char *l1 = tpath("l1");
    const char *mk[] = {"tar", "-cf", junk, "-C", l1, ".", NULL};
    run_or_fail(mk, NULL);
    _cleanup_free_ char *jsrc = xasprintf("docker-archive:%s", junk);
    assert_int_equal(pull_str(jsrc, &o, &img, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "manifest.json"));
    assert_cache_clean(cache);
}

/* The entry of a docker-archive's manifest.json (skopeo writes one). */
static json_t *archive_entry(const char *tar) {
    struct strbuf out = STRBUF_INIT;
    const char *argv[] = {"tar", "-xOf", tar, "manifest.json", NULL};
    run_or_fail(argv, &out);
    json_t *m = json_loadb(out.buf, out.len, 0, NULL);
    strbuf_release(&out);
    assert_true(json_is_array(m) && json_array_size(m) == 1);
    json_t *e = json_incref(json_array_get(m, 0));
    json_decref(m);
    return e;
}

static void pull_archive_ok(const char *src, const char *cache, struct oci_image *img) {
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct error err;
    if (pull_str(src, &o, img, &err) < 0)
        fail_msg("%s: %s", src, err.msg);
}

/* `docker save a b`: several images in one archive, one picked by REF or @N. */
static void test_docker_archive_multi(void **state) {
    (void)state;
    /* two archives from skopeo (the first with two tags), merged as docker save would */
    _cleanup_free_ char *a = tpath("ma.tar");
    _cleanup_free_ char *b = tpath("mb.tar");
    /* (gzip layers: skopeo cannot put zstd ones into a docker-archive) */
    _cleanup_free_ char *v1 = xasprintf("oci:%s:gz", F.layout);
    _cleanup_free_ char *v2 = xasprintf("oci:%s:multi", F.layout);
    _cleanup_free_ char *da = xasprintf("docker-archive:%s:test/a:1", a);
    _cleanup_free_ char *db = xasprintf("docker-archive:%s:test/b:2", b);
    const char *ca[] = {"skopeo", "copy", "-q", "--additional-tag", "test/a:latest", v1, da, NULL};
    const char *cb[] = {"skopeo", "copy", "-q", v2, db, NULL};
    run_or_fail(ca, NULL);
    run_or_fail(cb, NULL);
    _cleanup_free_ char *dir = tpath("multi");
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *xa[] = {"tar", "-xf", a, "-C", dir, NULL};
    const char *xb[] = {"tar", "-xf", b, "-C", dir, NULL};
    run_or_fail(xa, NULL);
    run_or_fail(xb, NULL);
    json_t *ea = archive_entry(a), *eb = archive_entry(b);
    /* Docker writes familiar tags ("test/b:2"), skopeo full ones ("docker.io/test/a:1"). */
    json_object_set_new(eb, "RepoTags", json_pack("[s]", "test/b:2"));
    json_t *untagged = json_deep_copy(ea);
    json_object_set_new(untagged, "RepoTags", json_null());
    json_t *man = json_pack("[o, o, o]", ea, eb, untagged);
    assert_non_null(man);
    _cleanup_free_ char *mpath = tpath("multi/manifest.json");
    assert_int_equal(chmod(mpath, 0644), 0);
    assert_int_equal(json_dump_file(man, mpath, JSON_COMPACT), 0);
    json_decref(man);
    _cleanup_free_ char *multi = tpath("multi.tar");
    const char *mk[] = {"tar", "-cf", multi, "-C", dir, ".", NULL};
    run_or_fail(mk, NULL);

    /* what each image is on its own */
    _cleanup_free_ char *cache = new_cache();
    struct oci_image ia = {0}, ib = {0}, img = {0};
    _cleanup_free_ char *sa = xasprintf("docker-archive:%s", a);
    _cleanup_free_ char *sb = xasprintf("docker-archive:%s", b);
    pull_archive_ok(sa, cache, &ia);
    pull_archive_ok(sb, cache, &ib);
    assert_string_not_equal(ia.config_digest, ib.config_digest);

    /* no REF: an error that lists what there is to pick */
    struct oci_pull_opts o = opts_for(cache, NULL);
    struct error err;
    _cleanup_free_ char *s0 = xasprintf("docker-archive:%s", multi);
    assert_int_equal(pull_str(s0, &o, &img, &err), -EINVAL);
    static const char *const listed[] = {"multi.tar' holds 3 images",
                                         "@0 docker.io/test/a:1 docker.io/test/a:latest",
                                         "@1 test/b:2",
                                         "@2 (untagged)",
                                         "docker-archive:FILE:REF",
                                         "docker-archive:FILE:@N"};
    for (size_t i = 0; i < ARRAY_SIZE(listed); i++)
        if (!strstr(err.msg, listed[i]))
            fail_msg("'%s' not in: %s", listed[i], err.msg);

    /* by REF, normalised on both sides; by @N */
    static const struct {
        const char *pick;
        int which; /* 0: a, 1: b */
    } picks[] = {
        {"test/b:2", 1},
        {"docker.io/test/b:2", 1},
        {"index.docker.io/test/b:2", 1},
        {"test/a", 0},
        {"test/a:1", 0},
        {"@1", 1},
        {"@0", 0},
        {"@2", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(picks); i++) {
        _cleanup_free_ char *src = xasprintf("docker-archive:%s:%s", multi, picks[i].pick);
        pull_archive_ok(src, cache, &img);
        const struct oci_image *want = picks[i].which ? &ib : &ia;
        if (strcmp(img.config_digest, want->config_digest) != 0)
            fail_msg("'%s' picked %s, not %s", picks[i].pick, img.config_digest,
                     want->config_digest);
        assert_int_equal(img.n_layers, want->n_layers);
        for (size_t j = 0; j < img.n_layers; j++)
            assert_string_equal(img.layers[j].digest, want->layers[j].digest);
        oci_image_release(&img);
    }

    /* a REF or index that is not there: the file and what it holds */
    static const char *const missing[] = {"test/c:1", "test/b", "@3"};
    for (size_t i = 0; i < ARRAY_SIZE(missing); i++) {
        _cleanup_free_ char *src = xasprintf("docker-archive:%s:%s", multi, missing[i]);
        assert_int_equal(pull_str(src, &o, &img, &err), -ENOENT);
        _cleanup_free_ char *named =
            xasprintf("docker-archive '%s' has no image '%s'", multi, missing[i]);
        if (!strstr(err.msg, named) || !strstr(err.msg, "@1 test/b:2"))
            fail_msg("unexpected message: %s", err.msg);
    }
    _cleanup_free_ char *dg = xasprintf("docker-archive:%s:test/b@%s", multi, ib.config_digest);
    assert_int_equal(pull_str(dg, &o, &img, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "digest"));
    /* a REF on a one-image archive must match too */
    _cleanup_free_ char *sb2 = xasprintf("docker-archive:%s:test/b:2", b);
    pull_archive_ok(sb2, cache, &img);
    oci_image_release(&img);
    _cleanup_free_ char *sb3 = xasprintf("docker-archive:%s:test/a:1", b);
    assert_int_equal(pull_str(sb3, &o, &img, &err), -ENOENT);
    oci_image_release(&ia);
    oci_image_release(&ib);
    assert_cache_clean(cache);
}

/* ---- a hostile or broken registry -------------------------------------------------- */

static int fault_pull(const char *mode, const char *tag_or_digest, const char *cache,
                      struct events *ev, struct oci_image *img, struct error *err) {
    _cleanup_free_ char *ref =
        xasprintf("127.0.0.1:%d/%s/img%s%s", F.fault_port, mode,
                  str_starts_with(tag_or_digest, "sha256:") ? "@" : ":", tag_or_digest);
    struct oci_pull_opts o = opts_for(cache, ev);
    return pull_str(ref, &o, img, err);
}

static int fault_requests(const char *path) {
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/stats", F.fault_port);
    struct strbuf out = STRBUF_INIT;
    const char *argv[] = {"curl", "-sf", url, NULL};
    run_or_fail(argv, &out);
    json_t *j = json_loadb(out.buf, out.len, 0, NULL);
    strbuf_release(&out);
    assert_non_null(j);
    int n = (int)json_integer_value(json_object_get(j, path));
    json_decref(j);
    return n;
}

static void expect_fault(const char *mode, const char *tag, int code, const char *what) {
    _cleanup_free_ char *cache = new_cache();
    struct oci_image img = {0};
    struct error err;
    int r = fault_pull(mode, tag, cache, NULL, &img, &err);
    if (r != code)
        fail_msg("mode %s: got %d (%s), want %d", mode, r, err.msg, code);
    if (!strstr(err.msg, what))
        fail_msg("mode %s: message '%s' lacks '%s'", mode, err.msg, what);
    if (!strstr(err.msg, mode))
        fail_msg("mode %s: message '%s' does not name the image", mode, err.msg);
    assert_cache_clean(cache);
}

static void test_fault_manifest(void **state) {
    (void)state;
    expect_fault("baddigest", "v1", -EBADMSG, "the registry says its digest is");
    /* by digest: the content does not hash to what was asked for */
    struct oci_image img = {0};
    struct error err;
    _cleanup_free_ char *cache = new_cache();
    struct oci_pull_opts o = opts_for(cache, NULL);
    _cleanup_free_ char *src = xasprintf("oci-layout:%s:v1", F.layout);
    if (pull_str(src, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *digest = xstrdup(img.manifest_digest);
    oci_image_release(&img);
    _cleanup_free_ char *cache2 = new_cache();
    assert_int_equal(fault_pull("baddigest", digest, cache2, NULL, &img, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "failed verification"));
    assert_non_null(strstr(err.msg, digest));
    assert_int_equal(count_blobs(cache2), 0);
    assert_cache_clean(cache2);
    /* the same digest from a behaving server works */
    assert_int_equal(fault_pull("ok", digest, cache2, NULL, &img, &err), 0);
    oci_image_release(&img);

    /* oversized manifests fail without reading them whole */
    time_t t0 = time(NULL);
    expect_fault("bigmanifest", "v1", -EFBIG, "larger than");
    expect_fault("bigchunked", "v1", -EFBIG, "larger than");
    assert_true(time(NULL) - t0 < 10);
}

static void test_fault_blobs(void **state) {
    (void)state;
    expect_fault("notfound", "v1", -ENOENT, "not found on registry");
    expect_fault("truncated", "v1", -EBADMSG, "truncated");
    expect_fault("badblob", "v1", -EBADMSG, "failed verification");
    expect_fault("dropalways", "v1", -EIO, "failed after 3 attempts");
}

static void test_fault_resume(void **state) {
    (void)state;
    /* a connection dropped mid-blob once: resumed with Range */
    _cleanup_free_ char *cache = new_cache();
    struct events ev = {0};
    struct oci_image img = {0};
    struct error err;
    if (fault_pull("droponce", "v1", cache, &ev, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ev.retrying, 2); /* once per layer */
    for (size_t i = 0; i < img.n_layers; i++) {
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
        _cleanup_free_ char *path = xasprintf("/v2/droponce/img/blobs/%s", img.layers[i].digest);
        assert_int_equal(fault_requests(path), 2);
    }
    assert_cache_clean(cache);
    oci_image_release(&img);

    /* the server ignores Range on the retry: start over */
    _cleanup_free_ char *cache2 = new_cache();
    struct events ev2 = {0};
    if (fault_pull("norange", "v1", cache2, &ev2, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ev2.retrying, 2);
    for (size_t i = 0; i < img.n_layers; i++)
        assert_blob_ok(cache2, img.layers[i].digest, img.layers[i].size);
    assert_cache_clean(cache2);
    oci_image_release(&img);
}

static void test_fault_redirect(void **state) {
    (void)state;
    /* Basic auth on the registry; blobs redirected to another host ("localhost"), which
       refuses any request carrying our Authorization header */
    _cleanup_free_ char *cache = new_cache();
    _cleanup_free_ char *dir = tpath("faultcreds");
    mkdir(dir, 0700);
    _cleanup_free_ char *cfg = xasprintf("%s/config.json", dir);
    _cleanup_free_ char *json =
        xasprintf("{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"dTpw\"}}}", F.fault_port);
    write_file(cfg, json); /* u:p */
    _cleanup_free_ char *ref = xasprintf("127.0.0.1:%d/redirect/img:v1", F.fault_port);
    struct oci_pull_opts o = opts_for(cache, NULL);
    o.registry_config_dir = dir;
    struct oci_image img = {0};
    struct error err;
    error_init(&err);
    if (pull_str(ref, &o, &img, &err) < 0)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < img.n_layers; i++) {
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
        _cleanup_free_ char *path = xasprintf("/direct/%s", img.layers[i].digest);
        assert_true(fault_requests(path) >= 1);
    }
    assert_cache_clean(cache);
    oci_image_release(&img);
}

static void test_fault_bearer(void **state) {
    (void)state;
    /* an anonymous Bearer token from the challenge's realm, with service and scope */
    _cleanup_free_ char *cache = new_cache();
    struct oci_image img = {0};
    struct error err;
    if (fault_pull("bearer", "v1", cache, NULL, &img, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(img.n_layers, 2);
    for (size_t i = 0; i < img.n_layers; i++)
        assert_blob_ok(cache, img.layers[i].digest, img.layers[i].size);
    assert_true(fault_requests("/token?service=fault&scope=repository%3Abearer%2Fimg%3Apull") >= 1);
    assert_cache_clean(cache);
    oci_image_release(&img);
}

static void test_cancel(void **state) {
    (void)state;
    _cleanup_free_ char *cache = new_cache();
    volatile sig_atomic_t cancel = 0;
    struct events ev = {.cancel_on_download = &cancel};
    _cleanup_free_ char *ref = xasprintf("127.0.0.1:%d/ok/img:v1", F.fault_port);
    struct oci_pull_opts o = opts_for(cache, &ev);
    o.cancel = &cancel;
    struct oci_image img = {0};
    struct error err;
    assert_int_equal(pull_str(ref, &o, &img, &err), -ECANCELED);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_cache_clean(cache);
    /* nothing but the manifest (stored before the blobs) is in the cache */
    assert_true(count_blobs(cache) <= 1);
}

static void test_scheme(void **state) {
    (void)state;
    const char *const insecure[] = {"reg.lan", "other.lan:5000"};
    struct oci_pull_opts o = {.insecure = insecure, .n_insecure = 2};
    static const struct {
        const char *host, *base;
    } cases[] = {
        {"127.0.0.1:5000", "http://127.0.0.1:5000"},
        {"localhost", "http://localhost"},
        {"[::1]:80", "http://[::1]:80"},
        {"registry-1.docker.io", "https://registry-1.docker.io"},
        {"reg.lan", "http://reg.lan"},
        {"reg.lan:5000", "http://reg.lan:5000"},
        {"reg.lan.evil.com", "https://reg.lan.evil.com"},
        {"other.lan:5000", "http://other.lan:5000"},
        {"other.lan", "https://other.lan"},
        {"127.0.0.1.nip.io", "https://127.0.0.1.nip.io"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *b = oci_registry_base_url(&o, cases[i].host);
        assert_string_equal(b, cases[i].base);
    }
}

/* ---- fixture ---------------------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    snprintf(F.dir, sizeof(F.dir), "/tmp/hearth-oci-test-XXXXXX");
    if (!mkdtemp(F.dir))
        return -1;
    /* this file's directory holds the helpers */
    snprintf(F.scripts, sizeof(F.scripts), "%s", __FILE__);
    char *slash = strrchr(F.scripts, '/');
    if (slash)
        *slash = '\0';
    snprintf(F.layout, sizeof(F.layout), "%s/layout", F.dir);
    _cleanup_free_ char *mk = xasprintf("%s/mkimage.py", F.scripts);
    _cleanup_free_ char *l1 = tpath("l1");
    _cleanup_free_ char *l2 = tpath("l2");
    _cleanup_free_ char *l3 = tpath("l3");
    const char *rootfs[] = {"python3", mk, "rootfs", l1, NULL};
    run_or_fail(rootfs, NULL);
    /* layer 2: new files, a whiteout and an opaque directory */
    _cleanup_free_ char *d = tpath("l2/etc/app");
    assert_int_equal(mkdir(l2, 0755), 0);
    _cleanup_free_ char *etc = tpath("l2/etc");
    assert_int_equal(mkdir(etc, 0755), 0);
    assert_int_equal(mkdir(d, 0755), 0);
    _cleanup_free_ char *f1 = tpath("l2/etc/app/config");
    write_file(f1, "answer=42\n");
    _cleanup_free_ char *wh = tpath("l2/etc/.wh.hostname");
    write_file(wh, "");
    _cleanup_free_ char *opq = tpath("l2/etc/app/.wh..wh..opq");
    write_file(opq, "");
    /* layer 3: something new for v2 */
    assert_int_equal(mkdir(l3, 0755), 0);
    _cleanup_free_ char *f3 = tpath("l3/v2-only");
    write_file(f3, "only in v2\n");

    _cleanup_free_ char *g1 = xasprintf("gzip:%s", l1);
    _cleanup_free_ char *z2 = xasprintf("zstd:%s", l2);
    _cleanup_free_ char *g2 = xasprintf("gzip:%s", l2);
    _cleanup_free_ char *g3 = xasprintf("gzip:%s", l3);
    const char *v1[] = {"python3", mk, "image", F.layout, "v1", "--layer", g1, "--layer", z2, NULL};
    const char *v2[] = {"python3", mk,        "image", F.layout,  "v2", "--layer",
                        g1,        "--layer", z2,      "--layer", g3,   NULL};
    const char *gz[] = {"python3", mk, "image", F.layout, "gz", "--layer", g1, "--layer", g2, NULL};
    const char *multi[] = {
        "python3", mk,           "image",       F.layout,     "multi",       "--layer",
        g1,        "--platform", "linux/amd64", "--platform", "linux/arm64", "--attestation",
        NULL};
    run_or_fail(v1, NULL);
    run_or_fail(v2, NULL);
    run_or_fail(gz, NULL);
    run_or_fail(multi, NULL);

    /* the fault server needs only python3 */
    _cleanup_free_ char *fs = xasprintf("%s/faultserver.py", F.scripts);
    _cleanup_free_ char *portfile = tpath("fault.port");
    F.fault_pid = fork();
    if (F.fault_pid == 0) {
        int null = open("/dev/null", O_RDWR);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execlp("python3", "python3", fs, F.layout, portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && F.fault_port == 0; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &F.fault_port) != 1)
                F.fault_port = 0;
            fclose(f);
        }
        if (!F.fault_port)
            usleep(50000);
    }
    assert_true(F.fault_port > 0);

    static const char *const needed[] = {"docker-registry", "skopeo", "htpasswd"};
    for (size_t i = 0; i < ARRAY_SIZE(needed); i++)
        if (!test_have_program(needed[i])) {
            size_t len = strlen(F.missing);
            snprintf(F.missing + len, sizeof(F.missing) - len, " %s", needed[i]);
        }
    if (F.missing[0]) {
        print_message("not installed:%s: the tests against a registry fail\n", F.missing);
        return 0;
    }
    _cleanup_free_ char *rs = xasprintf("%s/registry.sh", F.scripts);
    _cleanup_free_ char *reg = tpath("reg");
    _cleanup_free_ char *areg = tpath("areg");
    struct strbuf out = STRBUF_INIT;
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("REGISTRY_WATCH_PID", pid, 1); /* the registries stop when this process dies */
    const char *start[] = {"bash", rs, "start", reg, NULL};
    run_or_fail(start, &out);
    {
        uint64_t v = 0;
        while (out.len && (out.buf[out.len - 1] == '\n'))
            out.buf[--out.len] = '\0';
        assert_int_equal(parse_u64(out.buf, 65535, &v), 0);
        F.port = (int)v;
    }
    strbuf_reset(&out);
    const char *astart[] = {"bash", rs, "start", areg, "hearth:s3cret", NULL};
    run_or_fail(astart, &out);
    {
        uint64_t v = 0;
        while (out.len && (out.buf[out.len - 1] == '\n'))
            out.buf[--out.len] = '\0';
        assert_int_equal(parse_u64(out.buf, 65535, &v), 0);
        F.auth_port = (int)v;
    }
    strbuf_release(&out);
    const char *p1[] = {"bash", rs, "push", reg, F.layout, "v1", "test/a:v1", NULL};
    const char *p2[] = {"bash", rs, "push", reg, F.layout, "v2", "test/a:v2", NULL};
    const char *p3[] = {"bash", rs, "push", reg, F.layout, "multi", "test/m:1", NULL};
    run_or_fail(p1, NULL);
    run_or_fail(p2, NULL);
    run_or_fail(p3, NULL);
    setenv("REGISTRY_CREDS", "hearth:s3cret", 1);
    const char *p4[] = {"bash", rs, "push", areg, F.layout, "v1", "test/a:v1", NULL};
    run_or_fail(p4, NULL);
    unsetenv("REGISTRY_CREDS");

    snprintf(F.auth_cfg, sizeof(F.auth_cfg), "%s/creds", F.dir);
    assert_int_equal(mkdir(F.auth_cfg, 0700), 0);
    _cleanup_free_ char *cfg = xasprintf("%s/config.json", F.auth_cfg);
    /* base64("hearth:s3cret") */
    _cleanup_free_ char *json =
        xasprintf("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"eDp5\"},"
                  "\"http://127.0.0.1:%d\":{\"auth\":\"aGVhcnRoOnMzY3JldA==\"}}}",
                  F.auth_port);
    write_file(cfg, json);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (F.fault_pid > 0) {
        kill(F.fault_pid, SIGTERM);
        waitpid(F.fault_pid, NULL, 0);
    }
    _cleanup_free_ char *rs = xasprintf("%s/registry.sh", F.scripts);
    _cleanup_free_ char *reg = tpath("reg");
    _cleanup_free_ char *areg = tpath("areg");
    struct error err;
    const char *s1[] = {"bash", rs, "stop", reg, NULL};
    const char *s2[] = {"bash", rs, "stop", areg, NULL};
    (void)!exec_run(s1, NULL, &err);
    (void)!exec_run(s2, NULL, &err);
    if (!getenv("HEARTH_TEST_KEEP")) {
        const char *rm[] = {"rm", "-rf", F.dir, NULL};
        (void)!exec_run(rm, NULL, &err);
    }
    return 0;
}

int registry_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_parse_table),
        cmocka_unit_test(test_source_parse),
        cmocka_unit_test(test_manifest_load),
        cmocka_unit_test(test_challenge_parse),
        cmocka_unit_test(test_pull_multilayer),
        cmocka_unit_test(test_pull_shared_layers),
        cmocka_unit_test(test_pull_by_digest),
        cmocka_unit_test(test_pull_multiplatform),
        cmocka_unit_test(test_pull_auth),
        cmocka_unit_test(test_layout_source),
        cmocka_unit_test(test_layout_corrupt_blob),
        cmocka_unit_test(test_docker_archive),
        cmocka_unit_test(test_docker_archive_multi),
        cmocka_unit_test(test_fault_manifest),
        cmocka_unit_test(test_fault_blobs),
        cmocka_unit_test(test_fault_resume),
        cmocka_unit_test(test_fault_redirect),
        cmocka_unit_test(test_fault_bearer),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_scheme),
    };
    return cmocka_run_group_tests_name("oci_registry", tests, group_setup, group_teardown);
}
