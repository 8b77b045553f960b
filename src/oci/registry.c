/*
 * The registry client (distribution API v2) on libcurl: the /v2/ ping,
 * Bearer and Basic authentication with credentials from a Docker
 * config.json, manifests fetched with the OCI and Docker Accept types and
 * checked against their digest, and blobs streamed in parallel (a curl multi
 * handle, at most max_parallel at once) into the verified cache.
 *
 * Transient failures (connection errors, 429, 5xx) are retried with
 * exponential backoff; a blob resumes with Range from what was received,
 * and starts over if the server ignores the Range. TLS is verified; plain
 * http is used only for loopback registries and those listed as insecure.
 * Redirects are followed; curl does not send our Authorization header to
 * another host.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "oci/pull_priv.h"

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: application/vnd.oci.image.index.v1+json, "                                            \
    "application/vnd.oci.image.manifest.v1+json, "                                                 \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                  \
    "application/vnd.docker.distribution.manifest.v2+json"
#define SMALL_MAX (1u << 20) /* ping, token and error bodies */
#define HEADER_MAX 8192      /* one captured header value */
#define CONNECT_TIMEOUT_S 15L
#define LOW_SPEED_TIME_S 30L /* below 1 byte/s for this long: the server stalled */
#define BACKOFF_MS 250
#define BACKOFF_MAX_MS 8000
#define PROGRESS_STEP (256u << 10)
#define CONFIG_JSON_MAX (1u << 20)

struct reg {
    const struct oci_pull_opts *opts;
    const struct oci_ref *ref;
    const char *host;
    char *base;        /* "https://host" */
    char *what;        /* "'127.0.0.1:5000/a/b:1'" */
    char *auth;        /* "Authorization: ..." once authenticated */
    char *config_path; /* where credentials were looked for */
    char *user, *pass; /* credentials, if any */
    char *top_digest;  /* digest of what the reference names */
    int retries;
};

static int64_t backoff_ms(int attempt) {
    int64_t ms = BACKOFF_MS;
    for (int i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static bool cancelled(const struct oci_pull_opts *opts) {
    return opts->cancel && *opts->cancel;
}

/* Sleeps ms, waking early when the pull is cancelled. */
static void sleep_cancellable(const struct oci_pull_opts *opts, int64_t ms) {
    int64_t end = time_now_ms() + ms;
    while (!cancelled(opts) && time_now_ms() < end)
        sleep_ms(20);
}

bool oci_host_is_loopback(const char *hostport) {
    char host[256];
    const char *end;
    if (hostport[0] == '[') {
        end = strchr(hostport, ']');
        if (!end)
            return false;
        hostport++;
    } else {
        end = strchr(hostport, ':');
        if (!end)
            end = hostport + strlen(hostport);
    }
    size_t len = (size_t)(end - hostport);
    if (len == 0 || len >= sizeof(host))
        return false;
    memcpy(host, hostport, len);
    host[len] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static bool host_is_insecure(const struct oci_pull_opts *opts, const char *host) {
    if (oci_host_is_loopback(host))
        return true;
    for (size_t i = 0; i < opts->n_insecure; i++) {
        const char *e = opts->insecure[i];
        if (!e)
            continue;
        if (strcmp(e, host) == 0)
            return true;
        /* "myhost" allows "myhost:5000" too */
        size_t n = strlen(e);
        if (!strchr(e, ':') && strncmp(host, e, n) == 0 && host[n] == ':')
            return true;
    }
    return false;
}

char *oci_registry_base_url(const struct oci_pull_opts *opts, const char *host) {
    return xasprintf("%s://%s", host_is_insecure(opts, host) ? "http" : "https", host);
}

/* ---- credentials ---------------------------------------------------------- */

static bool key_matches_host(const char *key, const char *host) {
    char k[512];
    if (str_starts_with(key, "https://"))
        key += 8;
    else if (str_starts_with(key, "http://"))
        key += 7;
    snprintf(k, sizeof(k), "%s", key);
    char *slash = strchr(k, '/');
    if (slash)
        *slash = '\0';
    if (strcmp(host, "registry-1.docker.io") == 0)
        return strcmp(k, "index.docker.io") == 0 || strcmp(k, "docker.io") == 0 ||
               strcmp(k, "registry-1.docker.io") == 0;
    return strcmp(k, host) == 0;
}

static int base64_decode(const char *in, char **ret, size_t *ret_len) {
    size_t n = strlen(in);
    if (n == 0 || n % 4 != 0 || n > 16384)
        return -EINVAL;
    unsigned char *out = xmalloc(n / 4 * 3 + 1);
    if (!out)
        return -ENOMEM;
    int m = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (m < 0) {
        free(out);
        return -EINVAL;
    }
    if (in[n - 1] == '=')
        m--;
    if (in[n - 2] == '=')
        m--;
    out[m] = '\0';
    *ret = (char *)out;
    *ret_len = (size_t)m;
    return 0;
}

static char *base64_encode(const char *in) {
    size_t n = strlen(in);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
    return out;
}

static int reg_load_credentials(struct reg *g, struct error *err) {
    const char *dir = g->opts->registry_config_dir;
    _cleanup_free_ char *home_dir = NULL;
    if (!dir)
        dir = getenv("DOCKER_CONFIG");
    if (!dir) {
        const char *home = getenv("HOME");
        if (!home)
            return 0;
        home_dir = xasprintf("%s/.docker", home);
        if (!home_dir)
            return error_oom(err);
        dir = home_dir;
    }
    g->config_path = xasprintf("%s/config.json", dir);
    if (!g->config_path)
        return error_oom(err);
    struct stat st;
    if (stat(g->config_path, &st) < 0)
        return 0; /* no config: anonymous */
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    int r = strbuf_read_file(&sb, g->config_path, CONFIG_JSON_MAX, err);
    if (r < 0)
        return error_prefix(err, "registry credentials");
    json_error_t jerr;
    json_t *j = json_loadb(sb.buf ? sb.buf : "", sb.len, 0, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        return error_set(err, -EINVAL, "registry config '%s' is not valid JSON: %s", g->config_path,
                         jerr.text);
    }
    json_t *auths = json_object_get(j, "auths");
    const char *key;
    json_t *v;
    r = 0;
    json_object_foreach(auths, key, v) {
        if (!key_matches_host(key, g->host))
            continue;
        const char *auth = json_string_value(json_object_get(v, "auth"));
        const char *user = json_string_value(json_object_get(v, "username"));
        const char *pass = json_string_value(json_object_get(v, "password"));
        if (auth && *auth) {
            char *dec = NULL;
            size_t len = 0;
            if (base64_decode(auth, &dec, &len) < 0 || !strchr(dec, ':') || strlen(dec) != len) {
                free(dec);
                r = error_set(err, -EINVAL,
                              "registry config '%s': the auth entry for '%s' is not base64 of "
                              "user:password",
                              g->config_path, key);
                break;
            }
            char *colon = strchr(dec, ':');
            *colon = '\0';
            g->user = xstrdup(dec);
            g->pass = xstrdup(colon + 1);
            explicit_bzero(dec, len);
            free(dec);
        } else if (user && pass) {
            g->user = xstrdup(user);
            g->pass = xstrdup(pass);
        } else {
            continue;
        }
        if (!g->user || !g->pass)
            r = error_oom(err);
        break;
    }
    json_decref(j);
    return r;
}

/* ---- small requests ---------------------------------------------------------- */

struct resp {
    long status;
    struct strbuf body;
    size_t limit;
    bool too_big;
    char *www_auth;
    char *content_type;
    char *docker_digest;
    const struct oci_pull_opts *opts;
};

static void resp_release(struct resp *r) {
    strbuf_release(&r->body);
    free(r->www_auth);
    free(r->content_type);
    free(r->docker_digest);
    memset(r, 0, sizeof(*r));
}

static size_t resp_write(char *data, size_t size, size_t nmemb, void *ud) {
    struct resp *r = ud;
    size_t n = size * nmemb;
    if (r->body.len + n > r->limit) {
        r->too_big = true;
        return 0;
    }
    return strbuf_add(&r->body, data, n) < 0 ? 0 : n;
}

char *oci_header_value(const char *line, size_t len, const char *name) {
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if ((size_t)(end - v) > HEADER_MAX)
        return NULL;
    return xstrndup(v, (size_t)(end - v));
}

static void set_header(char **slot, char *v) {
    if (v) {
        free(*slot);
        *slot = v;
    }
}

static size_t resp_header(char *data, size_t size, size_t nmemb, void *ud) {
    struct resp *r = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect): forget the previous one's headers */
        free(r->www_auth);
        free(r->content_type);
        free(r->docker_digest);
        r->www_auth = r->content_type = r->docker_digest = NULL;
        return n;
    }
    set_header(&r->www_auth, oci_header_value(data, n, "WWW-Authenticate"));
    set_header(&r->content_type, oci_header_value(data, n, "Content-Type"));
    set_header(&r->docker_digest, oci_header_value(data, n, "Docker-Content-Digest"));
    char *cl = oci_header_value(data, n, "Content-Length");
    if (cl) {
        uint64_t v;
        if (parse_u64(cl, UINT64_MAX, &v) == 0 && v > r->limit)
            r->too_big = true; /* refuse before reading it */
        free(cl);
        if (r->too_big)
            return 0;
    }
    return n;
}

static int xferinfo(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    const struct oci_pull_opts *opts = ud;
    (void)dt, (void)dn, (void)ut, (void)un;
    return cancelled(opts) ? 1 : 0;
}

static void easy_common(struct reg *g, CURL *c, const char *url) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hearth/0.1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (g->opts->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, g->opts->ca_file);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)g->opts);
}

static bool curl_transient(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool status_transient(long status) {
    return status == 429 || (status >= 500 && status <= 599);
}

/*
 * GETs url into resp (body at most limit bytes), retrying transient
 * failures. basic_user: send HTTP Basic credentials (token endpoints).
 */
static int reg_fetch(struct reg *g, const char *url, const char *accept, bool basic_user,
                     size_t limit, struct resp *resp, struct error *err) {
    for (int attempt = 0;; attempt++) {
        resp_release(resp);
        resp->limit = limit;
        resp->opts = g->opts;
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL, *t;
        if (!c)
            return lazylib_curl_error(err);
        easy_common(g, c, url);
        if (accept) {
            t = curl_slist_append(h, accept);
            h = t ? t : h;
        }
        if (g->auth && !basic_user) {
            t = curl_slist_append(h, g->auth);
            h = t ? t : h;
        }
        if (basic_user && g->user) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERNAME, g->user);
            curl_easy_setopt(c, CURLOPT_PASSWORD, g->pass);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, resp_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, resp_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        if (cancelled(g->opts))
            return error_set(err, -ECANCELED, "pull of %s cancelled", g->what);
        if (resp->too_big)
            return error_set(err, -EFBIG, "%s: the response from '%s' is larger than %zu bytes",
                             g->what, url, limit);
        bool again = rc != CURLE_OK ? curl_transient(rc) : status_transient(resp->status);
        if (again && attempt < g->retries) {
            log_debug("%s: retrying '%s' (%s)", g->what, url,
                      rc != CURLE_OK ? curl_easy_strerror(rc) : "server busy");
            sleep_cancellable(g->opts, backoff_ms(attempt));
            continue;
        }
        if (rc != CURLE_OK)
            return error_set(err, -EIO, "cannot reach registry %s for %s: %s", g->host, g->what,
                             curl_easy_strerror(rc));
        return 0;
    }
}

/* ---- authentication -------------------------------------------------------- */

/* Reads the next auth-param (key=value or key="value") from *p. */
static bool next_param(const char **p, char *key, size_t ksize, char *val, size_t vsize) {
    const char *s = *p;
    while (*s == ' ' || *s == ',' || *s == '\t')
        s++;
    if (!*s)
        return false;
    size_t k = 0;
    while (*s && *s != '=' && *s != ' ' && *s != ',') {
        if (k + 1 < ksize)
            key[k++] = *s;
        s++;
    }
    key[k] = '\0';
    size_t v = 0;
    if (*s == '=') {
        s++;
        if (*s == '"') {
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                if (v + 1 < vsize)
                    val[v++] = *s;
                s++;
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ',' && *s != ' ') {
                if (v + 1 < vsize)
                    val[v++] = *s;
                s++;
            }
        }
    }
    val[v] = '\0';
    *p = s;
    return true;
}

void oci_challenge_parse(const char *challenge, struct oci_challenge *ret) {
    char key[64], val[sizeof(ret->realm)];
    *ret = (struct oci_challenge){OCI_AUTH_UNKNOWN, "", ""};
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        ret->scheme = OCI_AUTH_BASIC;
        return;
    }
    if (strncasecmp(challenge, "Bearer ", 7) != 0)
        return;
    ret->scheme = OCI_AUTH_BEARER;
    const char *p = challenge + 7;
    while (next_param(&p, key, sizeof(key), val, sizeof(val))) {
        if (strcasecmp(key, "realm") == 0)
            snprintf(ret->realm, sizeof(ret->realm), "%s", val);
        else if (strcasecmp(key, "service") == 0)
            snprintf(ret->service, sizeof(ret->service), "%.511s", val);
    }
}

static int reg_need_login(struct reg *g, struct error *err) {
    return error_set(err, -EACCES,
                     "registry %s requires authentication for %s: log in with docker login or "
                     "pass --registry-config-dir (looked in '%s')",
                     g->host, g->what, g->config_path ? g->config_path : "~/.docker/config.json");
}

/* The registry refused the credentials hearth sent. */
static int reg_refused(struct reg *g, struct error *err) {
    return error_set(err, -EACCES,
                     "registry %s refused the credentials from '%s' for %s: check them or "
                     "log in again with docker login",
                     g->host, g->config_path ? g->config_path : "", g->what);
}

/* A request that was denied with what hearth sent: no credentials (log in) or refused ones. */
static int reg_denied(struct reg *g, struct error *err) {
    return g->user ? reg_refused(g, err) : reg_need_login(g, err);
}

static int reg_bearer(struct reg *g, const struct oci_challenge *ch, struct error *err) {
    const char *realm = ch->realm, *service = ch->service;
    if (!str_starts_with(realm, "https://") && !str_starts_with(realm, "http://"))
        return error_set(err, -EPROTO, "registry %s sent a Bearer challenge without a usable realm",
                         g->host);
    CURL *c = curl_easy_init();
    if (!c)
        return lazylib_curl_error(err);
    _cleanup_free_ char *scope = xasprintf("repository:%s:pull", g->ref->path);
    char *esc_service = curl_easy_escape(c, service, 0);
    char *esc_scope = scope ? curl_easy_escape(c, scope, 0) : NULL;
    _cleanup_free_ char *url =
        esc_service && esc_scope
            ? xasprintf("%s%s%s%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
                        *service ? "service=" : "", *service ? esc_service : "", esc_scope)
            : NULL;
    curl_free(esc_service);
    curl_free(esc_scope);
    curl_easy_cleanup(c);
    if (!url)
        return error_oom(err);
    struct resp resp = {0};
    int r = reg_fetch(g, url, NULL, true, SMALL_MAX, &resp, err);
    if (r < 0) {
        resp_release(&resp);
        return r;
    }
    if (resp.status == 401 || resp.status == 403) {
        resp_release(&resp);
        return reg_denied(g, err);
    }
    if (resp.status != 200) {
        r = error_set(err, -EPROTO, "token service of registry %s answered HTTP %ld for %s",
                      g->host, resp.status, g->what);
        resp_release(&resp);
        return r;
    }
    json_error_t jerr;
    json_t *j = json_loadb(resp.body.buf ? resp.body.buf : "", resp.body.len, 0, &jerr);
    resp_release(&resp);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok || strlen(tok) > 64 * 1024) {
        json_decref(j);
        return error_set(err, -EPROTO, "token service of registry %s sent no token", g->host);
    }
    free(g->auth);
    g->auth = xasprintf("Authorization: Bearer %s", tok);
    json_decref(j);
    return g->auth ? 0 : error_oom(err);
}

/* Answers a 401's WWW-Authenticate challenge; on success g->auth is set. */
static int reg_authenticate(struct reg *g, const char *challenge, struct error *err) {
    if (!challenge)
        return error_set(err, -EPROTO, "registry %s answered 401 without a challenge for %s",
                         g->host, g->what);
    struct oci_challenge ch;
    oci_challenge_parse(challenge, &ch);
    if (ch.scheme == OCI_AUTH_BEARER)
        return reg_bearer(g, &ch, err);
    if (ch.scheme == OCI_AUTH_BASIC) {
        if (!g->user)
            return reg_need_login(g, err);
        _cleanup_free_ char *up = xasprintf("%s:%s", g->user, g->pass);
        _cleanup_free_ char *b64 = up ? base64_encode(up) : NULL;
        if (!b64)
            return error_oom(err);
        free(g->auth);
        g->auth = xasprintf("Authorization: Basic %s", b64);
        return g->auth ? 0 : error_oom(err);
    }
    return error_set(err, -ENOTSUP, "registry %s asks for unsupported authentication '%.32s'",
                     g->host, challenge);
}

/* GET with the current auth; a 401 is answered once and the request repeated. */
static int reg_fetch_authed(struct reg *g, const char *url, const char *accept, size_t limit,
                            struct resp *resp, struct error *err) {
    int r = reg_fetch(g, url, accept, false, limit, resp, err);
    if (r < 0 || resp->status != 401)
        return r;
    if (g->auth)
        return reg_denied(g, err);
    _cleanup_free_ char *challenge = steal_ptr(&resp->www_auth);
    r = reg_authenticate(g, challenge, err);
    if (r < 0)
        return r;
    r = reg_fetch(g, url, accept, false, limit, resp, err);
    if (r == 0 && resp->status == 401)
        return reg_refused(g, err);
    return r;
}

static int reg_ping(struct reg *g, struct error *err) {
    _cleanup_free_ char *url = xasprintf("%s/v2/", g->base);
    struct resp resp = {0};
    if (!url)
        return error_oom(err);
    int r = reg_fetch_authed(g, url, NULL, SMALL_MAX, &resp, err);
    if (r == 0 && resp.status != 200)
        r = error_set(err, -EPROTO, "registry %s answered HTTP %ld to the /v2/ ping for %s",
                      g->host, resp.status, g->what);
    resp_release(&resp);
    return r;
}

/* ---- manifests ------------------------------------------------------------- */

static int reg_manifest_get(void *ud, const char *ref, uint64_t size, struct strbuf *body,
                            char **ret_content_type, char **ret_digest, struct error *err) {
    struct reg *g = ud;
    struct resp resp = {0};
    bool by_digest = str_starts_with(ref, "sha256:");
    _cleanup_free_ char *got = NULL;
    (void)size;
    _cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", g->base, g->ref->path, ref);
    if (!url)
        return error_oom(err);
    int r = reg_fetch_authed(g, url, ACCEPT_MANIFESTS, OCI_MANIFEST_MAX, &resp, err);
    if (r == -EFBIG)
        r = error_set(err, -EFBIG, "manifest '%s' of %s is larger than the limit of %u bytes", ref,
                      g->what, OCI_MANIFEST_MAX);
    if (r < 0)
        goto out;
    if (resp.status == 404) {
        r = error_set(err, -ENOENT, "manifest '%s' of %s not found on registry %s", ref, g->what,
                      g->host);
        goto out;
    }
    if (resp.status == 403) {
        r = error_set(err, -EACCES, "registry %s denies access to %s", g->host, g->what);
        goto out;
    }
    if (resp.status != 200) {
        r = error_set(err, -EPROTO, "registry %s answered HTTP %ld for manifest '%s' of %s",
                      g->host, resp.status, ref, g->what);
        goto out;
    }
    got = oci_digest_of(resp.body.buf ? resp.body.buf : "", resp.body.len);
    if (!got) {
        r = error_oom(err);
        goto out;
    }
    if (by_digest && strcmp(got, ref) != 0) {
        r = error_set(err, -EBADMSG,
                      "manifest '%s' of %s failed verification: its content hashes to '%s'", ref,
                      g->what, got);
        goto out;
    }
    if (resp.docker_digest && str_starts_with(resp.docker_digest, "sha256:") &&
        strcmp(resp.docker_digest, got) != 0) {
        r = error_set(err, -EBADMSG,
                      "manifest '%s' of %s failed verification: the registry says its digest is "
                      "'%s' but its content hashes to '%s'",
                      ref, g->what, resp.docker_digest, got);
        goto out;
    }
    if (!g->top_digest) {
        g->top_digest = xstrdup(got);
        if (!g->top_digest) {
            r = error_oom(err);
            goto out;
        }
    }
    /* Content-Type may carry parameters ("; charset=utf-8"). */
    if (resp.content_type) {
        char *semi = strchr(resp.content_type, ';');
        if (semi)
            *semi = '\0';
    }
    *body = resp.body;
    memset(&resp.body, 0, sizeof(resp.body));
    *ret_content_type = steal_ptr(&resp.content_type);
    *ret_digest = steal_ptr(&got);
out:
    resp_release(&resp);
    return r;
}

/* ---- blobs ------------------------------------------------------------------- */

struct xfer {
    struct reg *g;
    const char *digest;
    uint64_t size;
    bool is_layer;
    enum { X_PENDING, X_ACTIVE, X_DONE } state;
    struct blob_writer w;
    bool open;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url;
    int attempt;
    int64_t not_before;
    uint64_t range_from;
    bool status_checked;
    long status;
    uint64_t reported;
    struct strbuf errbody;
    int rc;
    struct error err;
};

static size_t xfer_write(char *data, size_t size, size_t nmemb, void *ud) {
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->status_checked) {
        x->status_checked = true;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status == 200 && x->range_from > 0) {
            /* the server ignored Range: start over */
            x->rc = blob_writer_restart(&x->w, &x->err);
            if (x->rc < 0)
                return 0;
        } else if (x->status == 206 && x->range_from != x->w.n) {
            x->rc = error_set(&x->err, -EPROTO, "unexpected partial content");
            return 0;
        }
    }
    if (x->status != 200 && x->status != 206) {
        if (x->errbody.len < 4096 && strbuf_add(&x->errbody, data, n < 4096 ? n : 4096) < 0)
            return 0;
        return n;
    }
    x->rc = blob_writer_write(&x->w, data, n, &x->err);
    if (x->rc < 0)
        return 0;
    if (x->w.n - x->reported >= PROGRESS_STEP) {
        x->reported = x->w.n;
        oci_progress_emit(x->g->opts, x->digest, x->is_layer, OCI_PROGRESS_DOWNLOADING, x->w.n,
                          x->size);
    }
    return n;
}

static int xfer_start(struct xfer *x, CURLM *multi, struct error *err) {
    struct reg *g = x->g;
    if (!x->open) {
        int r = blob_writer_open(&x->w, g->opts->cache_dir, x->digest, true, x->size, err);
        if (r < 0)
            return error_prefix(err, "%s", g->what);
        x->open = true;
    }
    if (!x->easy) {
        x->easy = curl_easy_init();
        x->url = xasprintf("%s/v2/%s/blobs/%s", g->base, g->ref->path, x->digest);
        if (!x->easy)
            return lazylib_curl_error(err);
        if (!x->url)
            return error_oom(err);
        if (g->auth) {
            x->hdrs = curl_slist_append(NULL, g->auth);
            if (!x->hdrs)
                return error_oom(err);
        }
        easy_common(g, x->easy, x->url);
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
        curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, xfer_write);
        curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    }
    char range[48];
    x->range_from = x->w.n;
    if (x->range_from > 0) {
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->range_from);
        curl_easy_setopt(x->easy, CURLOPT_RANGE, range);
    } else {
        curl_easy_setopt(x->easy, CURLOPT_RANGE, NULL);
    }
    x->status_checked = false;
    x->status = 0;
    strbuf_reset(&x->errbody);
    if (curl_multi_add_handle(multi, x->easy) != CURLM_OK)
        return error_set(err, -ENOMEM, "cannot start a transfer");
    x->state = X_ACTIVE;
    oci_progress_emit(g->opts, x->digest, x->is_layer, OCI_PROGRESS_DOWNLOADING, x->w.n, x->size);
    return 0;
}

/* A finished transfer: done, retried later, or a fatal error. */
/* The blob has arrived whole: commits it (its digest checked) and marks the transfer done. */
static int xfer_commit(struct xfer *x, struct error *err) {
    struct reg *g = x->g;
    x->open = false;
    int r = blob_writer_commit(&x->w, NULL, err);
    if (r < 0)
        return error_prefix(err, "%s from registry %s", g->what, g->host);
    x->state = X_DONE;
    oci_progress_emit(g->opts, x->digest, x->is_layer, OCI_PROGRESS_DONE, x->size, x->size);
    return 0;
}

static int xfer_finish(struct xfer *x, CURLM *multi, CURLcode rc, struct error *err) {
    struct reg *g = x->g;
    curl_multi_remove_handle(multi, x->easy);
    x->state = X_PENDING;
    if (x->rc < 0) {
        error_set(err, x->rc, "%s: %s", g->what, x->err.msg);
        return x->rc;
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK || cancelled(g->opts))
        return error_set(err, -ECANCELED, "pull of %s cancelled", g->what);
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    bool transient = rc != CURLE_OK ? curl_transient(rc) : status_transient(status);
    if (rc == CURLE_OK && (status == 200 || status == 206)) {
        oci_progress_emit(g->opts, x->digest, x->is_layer, OCI_PROGRESS_VERIFYING, x->w.n, x->size);
        return xfer_commit(x, err);
    }
    /* everything arrived before the connection failed: no Range for nothing */
    if (transient && x->w.size_known && x->w.n == x->size)
        return xfer_commit(x, err);
    if (transient && x->attempt < g->retries) {
        x->not_before = time_now_ms() + backoff_ms(x->attempt);
        x->attempt++;
        log_debug("blob '%s' of %s: retrying after %s (have %llu bytes)", x->digest, g->what,
                  rc != CURLE_OK ? curl_easy_strerror(rc) : "a busy server",
                  (unsigned long long)x->w.n);
        oci_progress_emit(g->opts, x->digest, x->is_layer, OCI_PROGRESS_RETRYING, x->w.n, x->size);
        return 0;
    }
    if (rc != CURLE_OK)
        return error_set(err, -EIO,
                         "blob '%s' of %s: download from registry %s failed after %d attempts "
                         "(%s, got %llu of %llu bytes); the partial data was dropped",
                         x->digest, g->what, g->host, x->attempt + 1, curl_easy_strerror(rc),
                         (unsigned long long)x->w.n, (unsigned long long)x->size);
    if (status == 404)
        return error_set(err, -ENOENT, "blob '%s' of %s not found on registry %s", x->digest,
                         g->what, g->host);
    if (status == 401 || status == 403)
        return error_set(err, -EACCES, "registry %s denies access to blob '%s' of %s", g->host,
                         x->digest, g->what);
    return error_set(err, -EPROTO, "registry %s answered HTTP %ld for blob '%s' of %s%s", g->host,
                     status, x->digest, g->what, transient ? " (gave up retrying)" : "");
}

static void xfer_release(struct xfer *x, CURLM *multi) {
    if (x->easy) {
        if (x->state == X_ACTIVE)
            curl_multi_remove_handle(multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    free(x->url);
    strbuf_release(&x->errbody);
    if (x->open)
        blob_writer_abort(&x->w);
}

static int reg_fetch_blobs(struct reg *g, struct xfer *xs, size_t n, struct error *err) {
    int maxp = g->opts->max_parallel > 0 ? g->opts->max_parallel : 3;
    CURLM *multi = curl_multi_init();
    int r = 0;
    if (!multi)
        return lazylib_curl_error(err);
    for (;;) {
        if (cancelled(g->opts)) {
            r = error_set(err, -ECANCELED, "pull of %s cancelled", g->what);
            break;
        }
        int active = 0, left = 0;
        int64_t now = time_now_ms(), wait = 200;
        for (size_t i = 0; i < n; i++) {
            if (xs[i].state == X_ACTIVE)
                active++;
            if (xs[i].state != X_DONE)
                left++;
        }
        if (left == 0)
            break;
        for (size_t i = 0; i < n && active < maxp; i++) {
            if (xs[i].state != X_PENDING)
                continue;
            if (xs[i].not_before > now) {
                if (xs[i].not_before - now < wait)
                    wait = xs[i].not_before - now;
                continue;
            }
            r = xfer_start(&xs[i], multi, err);
            if (r < 0)
                goto out;
            active++;
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int q;
        while ((m = curl_multi_info_read(multi, &q))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            CURLcode rc = m->data.result;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            r = xfer_finish(x, multi, rc, err);
            if (r < 0)
                goto out;
        }
        if (running > 0 || active > 0)
            curl_multi_poll(multi, NULL, 0, (int)(wait > 0 ? wait : 1), NULL);
        else
            sleep_cancellable(g->opts, wait > 0 ? wait : 1);
    }
out:
    for (size_t i = 0; i < n; i++)
        xfer_release(&xs[i], multi);
    curl_multi_cleanup(multi);
    return r;
}

/* ---- the pull ------------------------------------------------------------- */

static void reg_release(struct reg *g) {
    free(g->base);
    free(g->what);
    free(g->auth);
    free(g->config_path);
    if (g->pass)
        explicit_bzero(g->pass, strlen(g->pass));
    free(g->user);
    free(g->pass);
    free(g->top_digest);
}

static int reg_pull(struct reg *g, const struct oci_ref *ref, const struct oci_pull_opts *opts,
                    struct oci_image *ret, struct error *err) {
    int r = reg_load_credentials(g, err);
    if (r < 0)
        return r;
    r = reg_ping(g, err);
    if (r < 0)
        return r;
    const char *first = ref->digest ? ref->digest : ref->tag;
    uint64_t config_size = 0;
    r = oci_resolve(reg_manifest_get, g, first, 0, opts, g->what, ret, &config_size, err);
    if (r < 0)
        return r;
    ret->repo_digest = xasprintf("%s/%s@%s", ref->domain, ref->path, g->top_digest);
    if (!ret->repo_digest)
        return error_oom(err);

    /* the config and the distinct layers not yet cached */
    _cleanup_free_ struct xfer *xs = xcalloc(ret->n_layers + 1, sizeof(*xs));
    if (!xs)
        return error_oom(err);
    size_t n = 0;
    for (size_t i = 0; i <= ret->n_layers; i++) {
        const char *digest = i == 0 ? ret->config_digest : ret->layers[i - 1].digest;
        uint64_t size = i == 0 ? config_size : ret->layers[i - 1].size;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= strcmp(xs[k].digest, digest) == 0;
        if (dup)
            continue;
        if (oci_cache_has(opts->cache_dir, digest, size)) {
            oci_progress_emit(opts, digest, i > 0, OCI_PROGRESS_CACHED, size, size);
            continue;
        }
        oci_progress_emit(opts, digest, i > 0, OCI_PROGRESS_WAITING, 0, size);
        xs[n] = (struct xfer){.g = g, .digest = digest, .size = size, .is_layer = i > 0};
        xs[n].w.fd = -1;
        n++;
    }
    return reg_fetch_blobs(g, xs, n, err);
}

int oci_registry_pull(const struct oci_ref *ref, const struct oci_pull_opts *opts,
                      struct oci_image *ret, struct error *err) {
    struct reg g = {.opts = opts, .ref = ref, .host = oci_ref_registry_host(ref)};
    g.retries = opts->retries > 0 ? opts->retries : 4;
    _cleanup_free_ char *familiar = oci_ref_familiar(ref);
    g.what = familiar ? xasprintf("'%s'", familiar) : NULL;
    g.base = oci_registry_base_url(opts, g.host);
    if (!g.what || !g.base) {
        reg_release(&g);
        return error_oom(err);
    }
    int r = reg_pull(&g, ref, opts, ret, err);
    reg_release(&g);
    return r;
}
