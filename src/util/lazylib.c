/*
 * libcurl, libarchive, libnftables and libssh, loaded on first use.
 *
 * Most hearth processes (ps, start, stop, the per-VM monitor) never pull an
 * image or talk to Firecracker, yet linking libcurl and libarchive made the
 * dynamic loader map some forty libraries they depend on at every process
 * start. Instead, this file defines every libcurl and libarchive function
 * hearth calls, with the names and signatures of <curl/curl.h> and
 * <archive.h>; the first call of any of them dlopen()s the library
 * ("libcurl.so.4", "libarchive.so.13") once, resolves all the functions with
 * dlsym() and every call forwards to the real one. The callers keep the
 * libraries' headers for the types and do not know the difference.
 *
 * Loading happens under pthread_once, so threads (the registry pulls layers
 * in parallel) may race to the first call. libcurl's curl_global_init runs
 * inside that once, before any handle exists, as libcurl asks.
 *
 * A library that cannot be loaded makes the constructors (curl_easy_init,
 * curl_multi_init, archive_read_new) return NULL; lazylib_curl_error and
 * lazylib_archive_error then tell the caller why, naming the library. The
 * other functions are only reached with a handle from a constructor, except
 * the release ones, which accept NULL as the libraries' own do.
 *
 * Linking: the hearth binary does not link libcurl or libarchive, so these
 * definitions are the only ones; they are not exported from the executable
 * (no -rdynamic), so the libraries' internal calls stay inside the
 * libraries. A test executable that also links the real library (to build
 * archives or to talk to the Firecracker fake directly) links fine as well:
 * this object sits in the static libhearth_util.a and is pulled in only if a
 * symbol is still undefined when the linker reaches that archive; a
 * definition in an executable and one in a shared library do not clash, the
 * executable's wins. So either every call goes through this file, and
 * dlopen() finds the library already mapped and dlsym() on its handle
 * returns the library's own functions (never these), or the calls bind to
 * the library directly. Both are correct.
 *
 * The load states below are process-wide caches written once under
 * pthread_once and only read afterwards; libnftables' one shared context
 * (lazylib_nft_ctx_get) is the exception, and says why.
 */
#define CURL_DISABLE_TYPECHECK /* curl_easy_setopt is defined here, not a macro */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "util/util.h"

#define CURL_SONAME "libcurl.so.4"
#define ARCHIVE_SONAME "libarchive.so.13"
#define NFT_SONAME "libnftables.so.1"
#define SSH_SONAME "libssh.so.4"

struct lazylib {
    const char *soname;
    const char *const *names; /* the functions to resolve */
    void **fns;               /* their addresses, same order */
    size_t count;
    bool loaded;   /* every function resolved (and the library initialised) */
    char why[256]; /* why not, when !loaded */
};

/* Maps the library and resolves every function; on failure records why. The
 * handle is never closed: the functions stay in use until the process ends. */
static void lazylib_load(struct lazylib *lib) {
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(lib->why, sizeof(lib->why), "%s", e ? e : lib->soname);
        return;
    }
    for (size_t i = 0; i < lib->count; i++) {
        lib->fns[i] = dlsym(h, lib->names[i]);
        if (!lib->fns[i]) {
            snprintf(lib->why, sizeof(lib->why), "%s: no function %s", lib->soname, lib->names[i]);
            return;
        }
    }
    lib->loaded = true;
}

static int lazylib_error(const struct lazylib *lib, const char *what, struct error *err) {
    if (!lib->loaded)
        return error_set(err, -ELIBACC, "%s is needed for this and cannot be loaded: %s", what,
                         lib->why);
    return error_oom(err);
}

/*
 * libcurl.
 *
 * X(return type, name, (parameters), (arguments), value when not loaded) for
 * every function hearth calls except the void and the variadic ones.
 */
#define CURL_FUNCS(X)                                                                              \
    X(CURL *, curl_easy_init, (void), (), NULL)                                                    \
    X(CURLcode, curl_easy_perform, (CURL * c), (c), CURLE_FAILED_INIT)                             \
    X(char *, curl_easy_escape, (CURL * c, const char *s, int n), (c, s, n), NULL)                 \
    X(const char *, curl_easy_strerror, (CURLcode code), (code), "libcurl not loaded")             \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s),      \
      NULL)                                                                                        \
    X(CURLM *, curl_multi_init, (void), (), NULL)                                                  \
    X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * c), (m, c), CURLM_BAD_HANDLE)           \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * c), (m, c), CURLM_BAD_HANDLE)        \
    X(CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running), CURLM_BAD_HANDLE)    \
    X(CURLMcode, curl_multi_poll,                                                                  \
      (CURLM * m, struct curl_waitfd * fds, unsigned int nfds, int timeout_ms, int *ret),          \
      (m, fds, nfds, timeout_ms, ret), CURLM_BAD_HANDLE)                                           \
    X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *queued), (m, queued), NULL)                \
    X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m), CURLM_BAD_HANDLE)

#define CURL_VOID_FUNCS(X)                                                                         \
    X(curl_easy_cleanup, (CURL * c), (c))                                                          \
    X(curl_free, (void *p), (p))                                                                   \
    X(curl_slist_free_all, (struct curl_slist * l), (l))

#define CURL_VARIADIC_FUNCS(X)                                                                     \
    X(curl_easy_setopt, CURLcode (*)(CURL *, CURLoption, ...))                                     \
    X(curl_easy_getinfo, CURLcode (*)(CURL *, CURLINFO, ...))                                      \
    X(curl_global_init, CURLcode (*)(long))

#define INDEX(ret, name, ...) CURL_I_##name,
#define VINDEX(name, ...) CURL_I_##name,
enum { CURL_FUNCS(INDEX) CURL_VOID_FUNCS(VINDEX) CURL_VARIADIC_FUNCS(VINDEX) CURL_I_COUNT };
#undef INDEX
#undef VINDEX

#define NAME(ret, name, ...) #name,
#define VNAME(name, ...) #name,
static const char *const curl_names[] = {CURL_FUNCS(NAME) CURL_VOID_FUNCS(VNAME)
                                             CURL_VARIADIC_FUNCS(VNAME)};
#undef NAME
#undef VNAME

static void *curl_fns[CURL_I_COUNT];
static struct lazylib curl_lib = {CURL_SONAME, curl_names, curl_fns, CURL_I_COUNT, false, ""};
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_load(void) {
    lazylib_load(&curl_lib);
    if (!curl_lib.loaded)
        return;
    CURLcode rc = ((CURLcode(*)(long))curl_fns[CURL_I_curl_global_init])(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        const char *(*str)(CURLcode) =
            (const char *(*)(CURLcode))curl_fns[CURL_I_curl_easy_strerror];
        snprintf(curl_lib.why, sizeof(curl_lib.why), "%s: curl_global_init: %s", CURL_SONAME,
                 str(rc));
        curl_lib.loaded = false;
    }
}

static bool curl_ready(void) {
    pthread_once(&curl_once, curl_load);
    return curl_lib.loaded;
}

int lazylib_curl_error(struct error *err) {
    (void)curl_ready();
    return lazylib_error(&curl_lib, "libcurl", err);
}

#define FORWARD(ret, name, params, args, fallback)                                                 \
    ret name params {                                                                              \
        if (!curl_ready())                                                                         \
            return fallback;                                                                       \
        return ((ret(*) params)curl_fns[CURL_I_##name])args;                                       \
    }
#define FORWARD_VOID(name, params, args)                                                           \
    void name params {                                                                             \
        if (curl_ready())                                                                          \
            ((void(*) params)curl_fns[CURL_I_##name]) args;                                        \
    }
CURL_FUNCS(FORWARD)
CURL_VOID_FUNCS(FORWARD_VOID)

/*
 * curl_easy_setopt's third argument has the type its option number says, as
 * libcurl itself reads it: below CURLOPTTYPE_OBJECTPOINT a long, then data
 * pointers (objects, strings, lists, callback data), then function pointers,
 * then curl_off_t, then struct curl_blob *. It is read as that type and
 * passed on as that type.
 */
CURLcode curl_easy_setopt(CURL *c, CURLoption option, ...) {
    if (!curl_ready())
        return CURLE_FAILED_INIT;
    CURLcode (*real)(CURL *, CURLoption, ...) =
        (CURLcode(*)(CURL *, CURLoption, ...))curl_fns[CURL_I_curl_easy_setopt];
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        rc = real(c, option, v);
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        void *v = va_arg(ap, void *);
        rc = real(c, option, v);
    } else if (option < CURLOPTTYPE_OFF_T) {
        void (*v)(void) = va_arg(ap, void (*)(void));
        rc = real(c, option, v);
    } else if (option < CURLOPTTYPE_BLOB) {
        curl_off_t v = va_arg(ap, curl_off_t);
        rc = real(c, option, v);
    } else {
        struct curl_blob *v = va_arg(ap, struct curl_blob *);
        rc = real(c, option, v);
    }
    va_end(ap);
    return rc;
}

/* Every curl_easy_getinfo result is written through a pointer. */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...) {
    if (!curl_ready())
        return CURLE_FAILED_INIT;
    CURLcode (*real)(CURL *, CURLINFO, ...) =
        (CURLcode(*)(CURL *, CURLINFO, ...))curl_fns[CURL_I_curl_easy_getinfo];
    va_list ap;
    va_start(ap, info);
    void *out = va_arg(ap, void *);
    va_end(ap);
    return real(c, info, out);
}

#undef FORWARD
#undef FORWARD_VOID

/*
 * libarchive: X(return type, name, (parameters), (arguments), value when not
 * loaded) for every function hearth calls.
 */
#define ARCHIVE_FUNCS(X)                                                                           \
    X(struct archive *, archive_read_new, (void), (), NULL)                                        \
    X(int, archive_read_free, (struct archive * a), (a), ARCHIVE_OK)                               \
    X(int, archive_read_support_filter_all, (struct archive * a), (a), ARCHIVE_FATAL)              \
    X(int, archive_read_support_filter_bzip2, (struct archive * a), (a), ARCHIVE_FATAL)            \
    X(int, archive_read_support_filter_gzip, (struct archive * a), (a), ARCHIVE_FATAL)             \
    X(int, archive_read_support_filter_none, (struct archive * a), (a), ARCHIVE_FATAL)             \
    X(int, archive_read_support_filter_xz, (struct archive * a), (a), ARCHIVE_FATAL)               \
    X(int, archive_read_support_filter_zstd, (struct archive * a), (a), ARCHIVE_FATAL)             \
    X(int, archive_read_support_format_empty, (struct archive * a), (a), ARCHIVE_FATAL)            \
    X(int, archive_read_support_format_gnutar, (struct archive * a), (a), ARCHIVE_FATAL)           \
    X(int, archive_read_support_format_raw, (struct archive * a), (a), ARCHIVE_FATAL)              \
    X(int, archive_read_support_format_tar, (struct archive * a), (a), ARCHIVE_FATAL)              \
    X(int, archive_read_open_filename, (struct archive * a, const char *path, size_t block),       \
      (a, path, block), ARCHIVE_FATAL)                                                             \
    X(int, archive_read_open_memory, (struct archive * a, const void *buf, size_t n), (a, buf, n), \
      ARCHIVE_FATAL)                                                                               \
    X(int, archive_read_next_header, (struct archive * a, struct archive_entry * *e), (a, e),      \
      ARCHIVE_FATAL)                                                                               \
    X(la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t n), (a, buf, n),       \
      ARCHIVE_FATAL)                                                                               \
    X(int, archive_read_data_block,                                                                \
      (struct archive * a, const void **buf, size_t *n, la_int64_t *off), (a, buf, n, off),        \
      ARCHIVE_FATAL)                                                                               \
    X(int, archive_filter_code, (struct archive * a, int i), (a, i), ARCHIVE_FILTER_NONE)          \
    X(int, archive_errno, (struct archive * a), (a), ELIBACC)                                      \
    X(const char *, archive_error_string, (struct archive * a), (a), "libarchive not loaded")      \
    X(time_t, archive_entry_atime, (struct archive_entry * e), (e), 0)                             \
    X(int, archive_entry_atime_is_set, (struct archive_entry * e), (e), 0)                         \
    X(long, archive_entry_atime_nsec, (struct archive_entry * e), (e), 0)                          \
    X(time_t, archive_entry_mtime, (struct archive_entry * e), (e), 0)                             \
    X(int, archive_entry_mtime_is_set, (struct archive_entry * e), (e), 0)                         \
    X(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e), 0)                          \
    X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e), 0)                     \
    X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e), 0)                         \
    X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e), 0)                           \
    X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e), 0)                           \
    X(dev_t, archive_entry_rdev, (struct archive_entry * e), (e), 0)                               \
    X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e), 0)                          \
    X(int, archive_entry_size_is_set, (struct archive_entry * e), (e), 0)                          \
    X(const char *, archive_entry_pathname, (struct archive_entry * e), (e), NULL)                 \
    X(const char *, archive_entry_hardlink, (struct archive_entry * e), (e), NULL)                 \
    X(const char *, archive_entry_symlink, (struct archive_entry * e), (e), NULL)                  \
    X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e), 0)                          \
    X(int, archive_entry_xattr_next,                                                               \
      (struct archive_entry * e, const char **name, const void **value, size_t *n),                \
      (e, name, value, n), ARCHIVE_WARN)

#define INDEX(ret, name, ...) ARCHIVE_I_##name,
enum { ARCHIVE_FUNCS(INDEX) ARCHIVE_I_COUNT };
#undef INDEX

#define NAME(ret, name, ...) #name,
static const char *const archive_names[] = {ARCHIVE_FUNCS(NAME)};
#undef NAME

static void *archive_fns[ARCHIVE_I_COUNT];
static struct lazylib archive_lib = {ARCHIVE_SONAME,  archive_names, archive_fns,
                                     ARCHIVE_I_COUNT, false,         ""};
static pthread_once_t archive_once = PTHREAD_ONCE_INIT;

static void archive_load(void) {
    lazylib_load(&archive_lib);
}

static bool archive_ready(void) {
    pthread_once(&archive_once, archive_load);
    return archive_lib.loaded;
}

int lazylib_archive_error(struct error *err) {
    (void)archive_ready();
    return lazylib_error(&archive_lib, "libarchive", err);
}

#define FORWARD(ret, name, params, args, fallback)                                                 \
    ret name params {                                                                              \
        if (!archive_ready())                                                                      \
            return fallback;                                                                       \
        return ((ret(*) params)archive_fns[ARCHIVE_I_##name])args;                                 \
    }
ARCHIVE_FUNCS(FORWARD)
#undef FORWARD

/*
 * libnftables (net's table inet hearth): only the commands that change or
 * compare the network load it. X(return type, name, (parameters),
 * (arguments), value when not loaded).
 */
#define NFT_FUNCS(X)                                                                               \
    X(struct nft_ctx *, nft_ctx_new, (uint32_t flags), (flags), NULL)                              \
    X(int, nft_ctx_buffer_output, (struct nft_ctx * c), (c), -1)                                   \
    X(int, nft_ctx_buffer_error, (struct nft_ctx * c), (c), -1)                                    \
    X(const char *, nft_ctx_get_output_buffer, (struct nft_ctx * c), (c), "")                      \
    X(const char *, nft_ctx_get_error_buffer, (struct nft_ctx * c), (c), "libnftables not loaded") \
    X(int, nft_run_cmd_from_buffer, (struct nft_ctx * c, const char *buf), (c, buf), -1)

#define NFT_VOID_FUNCS(X)                                                                          \
    X(nft_ctx_free, (struct nft_ctx * c), (c))                                                     \
    X(nft_ctx_output_set_flags, (struct nft_ctx * c, unsigned int flags), (c, flags))

#define INDEX(ret, name, ...) NFT_I_##name,
#define VINDEX(name, ...) NFT_I_##name,
enum { NFT_FUNCS(INDEX) NFT_VOID_FUNCS(VINDEX) NFT_I_COUNT };
#undef INDEX
#undef VINDEX

#define NAME(ret, name, ...) #name,
#define VNAME(name, ...) #name,
static const char *const nft_names[] = {NFT_FUNCS(NAME) NFT_VOID_FUNCS(VNAME)};
#undef NAME
#undef VNAME

static void *nft_fns[NFT_I_COUNT];
static struct lazylib nft_lib = {NFT_SONAME, nft_names, nft_fns, NFT_I_COUNT, false, ""};
static pthread_once_t nft_once = PTHREAD_ONCE_INIT;

static void nft_load(void) {
    lazylib_load(&nft_lib);
}

static bool nft_ready(void) {
    pthread_once(&nft_once, nft_load);
    return nft_lib.loaded;
}

int lazylib_nft_error(struct error *err) {
    (void)nft_ready();
    return lazylib_error(&nft_lib, "libnftables", err);
}

#define FORWARD(ret, name, params, args, fallback)                                                 \
    ret name params {                                                                              \
        if (!nft_ready())                                                                          \
            return fallback;                                                                       \
        return ((ret(*) params)nft_fns[NFT_I_##name])args;                                         \
    }
#define FORWARD_VOID(name, params, args)                                                           \
    void name params {                                                                             \
        if (nft_ready())                                                                           \
            ((void(*) params)nft_fns[NFT_I_##name]) args;                                          \
    }
NFT_FUNCS(FORWARD)
NFT_VOID_FUNCS(FORWARD_VOID)
#undef FORWARD
#undef FORWARD_VOID

/*
 * One libnftables context (and so one netlink socket) per process, used
 * under a lock. Closing a netlink socket after it deleted set elements
 * waits in the kernel for the deferred release of those elements (an RCU
 * grace period, about 15 ms here), so a context per call made every port
 * map deletion that slow (bench/net.sh); kept open, a deletion costs a
 * fraction of a millisecond. A child process of the one that made it (the
 * socket's owner is the pid) makes its own.
 */
static pthread_mutex_t nft_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nft_ctx *nft_shared;
static pid_t nft_shared_pid;

struct nft_ctx *lazylib_nft_ctx_get(struct error *err) {
    pthread_mutex_lock(&nft_shared_lock);
    if (nft_shared && nft_shared_pid != getpid()) {
        nft_ctx_free(nft_shared);
        nft_shared = NULL;
    }
    if (!nft_shared) {
        struct nft_ctx *c = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!c || nft_ctx_buffer_output(c) < 0 || nft_ctx_buffer_error(c) < 0) {
            pthread_mutex_unlock(&nft_shared_lock);
            if (c)
                nft_ctx_free(c);
            return c ? (error_oom(err), NULL) : (lazylib_nft_error(err), NULL);
        }
        nft_shared = c;
        nft_shared_pid = getpid();
    }
    /* Reading the buffers empties them: each command starts with nothing in either. */
    (void)nft_ctx_get_output_buffer(nft_shared);
    (void)nft_ctx_get_error_buffer(nft_shared);
    nft_ctx_output_set_flags(nft_shared, 0);
    return nft_shared;
}

void lazylib_nft_ctx_put(struct nft_ctx *c) {
    if (c)
        pthread_mutex_unlock(&nft_shared_lock);
}

/*
 * libssh (net's SSH client: exec, ssh, and the SFTP channel of cp):
 * X(return type, name, (parameters), (arguments), value when not loaded).
 * Every call but ssh_new and ssh_event_new needs a handle one of them made.
 */
#define SSH_FUNCS(X)                                                                               \
    X(ssh_session, ssh_new, (void), (), NULL)                                                      \
    X(int, ssh_options_set, (ssh_session s, enum ssh_options_e type, const void *value),           \
      (s, type, value), SSH_ERROR)                                                                 \
    X(int, ssh_connect, (ssh_session s), (s), SSH_ERROR)                                           \
    X(const char *, ssh_get_error, (void *s), (s), "libssh not loaded")                            \
    X(int, ssh_get_server_publickey, (ssh_session s, ssh_key * key), (s, key), SSH_ERROR)          \
    X(int, ssh_pki_export_pubkey_base64, (const ssh_key key, char **b64), (key, b64), SSH_ERROR)   \
    X(enum ssh_keytypes_e, ssh_key_type, (const ssh_key key), (key), SSH_KEYTYPE_UNKNOWN)          \
    X(const char *, ssh_key_type_to_char, (enum ssh_keytypes_e type), (type), NULL)                \
    X(int, ssh_pki_import_privkey_file,                                                            \
      (const char *file, const char *pass, ssh_auth_callback fn, void *ud, ssh_key *key),          \
      (file, pass, fn, ud, key), SSH_ERROR)                                                        \
    X(int, ssh_userauth_publickey, (ssh_session s, const char *user, const ssh_key key),           \
      (s, user, key), SSH_AUTH_ERROR)                                                              \
    X(ssh_channel, ssh_channel_new, (ssh_session s), (s), NULL)                                    \
    X(int, ssh_channel_open_session, (ssh_channel c), (c), SSH_ERROR)                              \
    X(int, ssh_channel_request_pty_size, (ssh_channel c, const char *term, int cols, int rows),    \
      (c, term, cols, rows), SSH_ERROR)                                                            \
    X(int, ssh_set_channel_callbacks, (ssh_channel c, ssh_channel_callbacks cb), (c, cb),          \
      SSH_ERROR)                                                                                   \
    X(int, ssh_channel_request_exec, (ssh_channel c, const char *cmd), (c, cmd), SSH_ERROR)        \
    X(int, ssh_channel_request_shell, (ssh_channel c), (c), SSH_ERROR)                             \
    X(int, ssh_channel_request_subsystem, (ssh_channel c, const char *name), (c, name), SSH_ERROR) \
    X(int, ssh_channel_change_pty_size, (ssh_channel c, int cols, int rows), (c, cols, rows),      \
      SSH_ERROR)                                                                                   \
    X(int, ssh_channel_write, (ssh_channel c, const void *data, uint32_t len), (c, data, len),     \
      SSH_ERROR)                                                                                   \
    X(int, ssh_channel_read_timeout,                                                               \
      (ssh_channel c, void *dest, uint32_t count, int is_stderr, int timeout_ms),                  \
      (c, dest, count, is_stderr, timeout_ms), SSH_ERROR)                                          \
    X(int, ssh_channel_send_eof, (ssh_channel c), (c), SSH_ERROR)                                  \
    X(int, ssh_channel_is_closed, (ssh_channel c), (c), 1)                                         \
    X(int, ssh_channel_is_eof, (ssh_channel c), (c), 1)                                            \
    X(int, ssh_channel_close, (ssh_channel c), (c), SSH_ERROR)                                     \
    X(ssh_event, ssh_event_new, (void), (), NULL)                                                  \
    X(int, ssh_event_add_session, (ssh_event e, ssh_session s), (e, s), SSH_ERROR)                 \
    X(int, ssh_event_remove_session, (ssh_event e, ssh_session s), (e, s), SSH_ERROR)              \
    X(int, ssh_event_add_fd,                                                                       \
      (ssh_event e, socket_t fd, short ev, ssh_event_callback cb, void *ud), (e, fd, ev, cb, ud),  \
      SSH_ERROR)                                                                                   \
    X(int, ssh_event_remove_fd, (ssh_event e, socket_t fd), (e, fd), SSH_ERROR)                    \
    X(int, ssh_event_dopoll, (ssh_event e, int timeout), (e, timeout), SSH_ERROR)

#define SSH_VOID_FUNCS(X)                                                                          \
    X(ssh_free, (ssh_session s), (s))                                                              \
    X(ssh_disconnect, (ssh_session s), (s))                                                        \
    X(ssh_key_free, (ssh_key key), (key))                                                          \
    X(ssh_string_free_char, (char *s), (s))                                                        \
    X(ssh_channel_free, (ssh_channel c), (c))                                                      \
    X(ssh_event_free, (ssh_event e), (e))

#define INDEX(ret, name, ...) SSH_I_##name,
#define VINDEX(name, ...) SSH_I_##name,
enum { SSH_FUNCS(INDEX) SSH_VOID_FUNCS(VINDEX) SSH_I_COUNT };
#undef INDEX
#undef VINDEX

#define NAME(ret, name, ...) #name,
#define VNAME(name, ...) #name,
static const char *const ssh_names[] = {SSH_FUNCS(NAME) SSH_VOID_FUNCS(VNAME)};
#undef NAME
#undef VNAME

static void *ssh_fns[SSH_I_COUNT];
static struct lazylib ssh_lib = {SSH_SONAME, ssh_names, ssh_fns, SSH_I_COUNT, false, ""};
static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;

static void ssh_load(void) {
    lazylib_load(&ssh_lib);
}

static bool ssh_ready(void) {
    pthread_once(&ssh_once, ssh_load);
    return ssh_lib.loaded;
}

int lazylib_ssh_error(struct error *err) {
    (void)ssh_ready();
    return lazylib_error(&ssh_lib, "libssh", err);
}

#define FORWARD(ret, name, params, args, fallback)                                                 \
    ret name params {                                                                              \
        if (!ssh_ready())                                                                          \
            return fallback;                                                                       \
        return ((ret(*) params)ssh_fns[SSH_I_##name])args;                                         \
    }
#define FORWARD_VOID(name, params, args)                                                           \
    void name params {                                                                             \
        if (ssh_ready())                                                                           \
            ((void(*) params)ssh_fns[SSH_I_##name]) args;                                          \
    }
SSH_FUNCS(FORWARD)
SSH_VOID_FUNCS(FORWARD_VOID)
#undef FORWARD
#undef FORWARD_VOID
