/*
 * net sftp, inside the module: the SFTP version 3 protocol
 * (draft-ietf-secsh-filexfer-02) as sftp_wire.c encodes and decodes it,
 * the client's requests (sftp.c) that the copier (sftp_copy.c) is made of,
 * and a client over two descriptors for the tests, which run OpenSSH's own
 * sftp-server as a child instead of a guest.
 *
 * A packet is uint32 length, byte type, and for every type but INIT and
 * VERSION a uint32 request id, then the fields of the type; integers are
 * big-endian, a string is a uint32 length and its bytes.
 */
#ifndef HEARTH_NET_SFTP_PRIV_H
#define HEARTH_NET_SFTP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

/* Packet types. */
enum {
    SFTP_INIT = 1,
    SFTP_VERSION = 2,
    SFTP_OPEN = 3,
    SFTP_CLOSE = 4,
    SFTP_READ = 5,
    SFTP_WRITE = 6,
    SFTP_LSTAT = 7,
    SFTP_FSTAT = 8,
    SFTP_SETSTAT = 9,
    SFTP_FSETSTAT = 10,
    SFTP_OPENDIR = 11,
    SFTP_READDIR = 12,
    SFTP_REMOVE = 13,
    SFTP_MKDIR = 14,
    SFTP_RMDIR = 15,
    SFTP_REALPATH = 16,
    SFTP_STAT = 17,
    SFTP_RENAME = 18,
    SFTP_READLINK = 19,
    SFTP_SYMLINK = 20,
    SFTP_STATUS = 101,
    SFTP_HANDLE = 102,
    SFTP_DATA = 103,
    SFTP_NAME = 104,
    SFTP_ATTRS = 105,
    SFTP_EXTENDED = 200,
    SFTP_EXTENDED_REPLY = 201,
};

/* STATUS codes. */
enum {
    SFTP_OK = 0,
    SFTP_EOF = 1,
    SFTP_NO_SUCH_FILE = 2,
    SFTP_PERMISSION_DENIED = 3,
    SFTP_FAILURE = 4,
    SFTP_BAD_MESSAGE = 5,
    SFTP_NO_CONNECTION = 6,
    SFTP_CONNECTION_LOST = 7,
    SFTP_OP_UNSUPPORTED = 8,
};

/* OPEN's pflags. */
#define SFTP_FXF_READ 0x01u
#define SFTP_FXF_WRITE 0x02u
#define SFTP_FXF_CREAT 0x08u
#define SFTP_FXF_TRUNC 0x10u
#define SFTP_FXF_EXCL 0x20u

/* Which fields of struct sftp_attrs are there. */
#define SFTP_ATTR_SIZE 0x01u
#define SFTP_ATTR_UIDGID 0x02u
#define SFTP_ATTR_PERMISSIONS 0x04u
#define SFTP_ATTR_ACMODTIME 0x08u
#define SFTP_ATTR_EXTENDED 0x80000000u

struct sftp_attrs {
    uint32_t flags; /* SFTP_ATTR_* */
    uint64_t size;
    uint32_t uid, gid;
    uint32_t perm; /* the mode: type bits (S_IFMT) and permissions, as OpenSSH sends it */
    uint32_t atime, mtime;
};

#define SFTP_PACKET_MAX (256u * 1024 + 1024) /* a packet's length field, past it: refused */
#define SFTP_CHUNK 32768u                    /* bytes of one READ or WRITE */
#define SFTP_HANDLE_MAX 256                  /* the draft's limit on a handle's length */
#define SFTP_PATH_MAX 4096                   /* a path sent or received, without its NUL */
#define SFTP_NAME_MAX 255                    /* one name in a directory listing */
#define SFTP_EXT_MAX 64                      /* extensions in VERSION, extended attributes */

/* ---- encoding (sftp_wire.c) ---------------------------------------------- */

/*
 * A packet being built in a buffer of fixed size; what does not fit sets
 * overflow and is dropped, so the caller checks once at the end.
 */
struct sftp_out {
    unsigned char *p;
    size_t len, cap;
    bool overflow;
};

/* Starts a packet at out->len: its length (filled by sftp_end), type and, unless INIT, id. */
void sftp_begin(struct sftp_out *o, uint8_t type, uint32_t id);
/* Fills the length of the packet begun at start; false on overflow or past SFTP_PACKET_MAX. */
bool sftp_end(struct sftp_out *o, size_t start);
void sftp_put_u8(struct sftp_out *o, uint8_t v);
void sftp_put_u32(struct sftp_out *o, uint32_t v);
void sftp_put_u64(struct sftp_out *o, uint64_t v);
void sftp_put_str(struct sftp_out *o, const void *s, size_t n);
void sftp_put_cstr(struct sftp_out *o, const char *s);
/* The fields a->flags names, in the draft's order (no extended pairs). */
void sftp_put_attrs(struct sftp_out *o, const struct sftp_attrs *a);

/* ---- decoding ---------------------------------------------------------- */

/* The rest of a packet being read; a read past its end sets bad and gives zeros. */
struct sftp_in {
    const unsigned char *p;
    size_t len;
    bool bad;
};

uint8_t sftp_get_u8(struct sftp_in *in);
uint32_t sftp_get_u32(struct sftp_in *in);
uint64_t sftp_get_u64(struct sftp_in *in);
/* A string: *ret points into the packet (not NUL-terminated), *ret_n its length. */
void sftp_get_str(struct sftp_in *in, const unsigned char **ret, size_t *ret_n);
/* Attributes; extended pairs (at most SFTP_EXT_MAX) are skipped. */
void sftp_get_attrs(struct sftp_in *in, struct sftp_attrs *ret);

/* A received packet: its type, its id (0 for VERSION) and the fields after them. */
struct sftp_msg {
    uint8_t type;
    uint32_t id;
    struct sftp_in body;
};
/*
 * Splits the packet at p (n bytes, its length field included) into m; m's
 * body points into p. 0, 1 when more bytes are needed (*ret_need then says
 * how many in all, when the length is known), or -EBADMSG for a length
 * that is too small or past SFTP_PACKET_MAX.
 */
int sftp_msg_parse(const unsigned char *p, size_t n, struct sftp_msg *m, size_t *ret_need);

/*
 * A STATUS code as an errno (NO_SUCH_FILE: ENOENT, PERMISSION_DENIED:
 * EACCES, FAILURE: EIO, BAD_MESSAGE: EBADMSG, OP_UNSUPPORTED: ENOTSUP, the
 * connection ones: ENOTCONN and ECONNRESET, EOF: ENODATA, others: EPROTO),
 * and as the words an error message gives for it: strerror's, except
 * FAILURE, which the server says nothing more of ("failed", with its
 * message when it is not the bare "Failure").
 */
int sftp_status_errno(uint32_t code);
void sftp_status_text(uint32_t code, const char *server_msg, char *buf, size_t size);

/* ---- the client (sftp.c) --------------------------------------------------- */

/* An open file or directory of the server; what names it in messages. */
struct sftp_handle {
    unsigned char h[SFTP_HANDLE_MAX];
    size_t len;
    const char *shown; /* the path errors name (the final one for a temporary file) */
};

/* One entry of a directory listing (sftp_list), "." and ".." left out. */
struct sftp_entry {
    char *name;
    struct sftp_attrs a; /* as lstat gives them (OpenSSH's READDIR) */
};
void sftp_entries_free(struct sftp_entry *v, size_t n);

/*
 * A client over two descriptors: requests are written to to_server and
 * replies read from from_server (the tests: pipes to sftp-server); what
 * names the server in messages. INIT and VERSION are exchanged here. The
 * client owns neither descriptor.
 */
int sftp_open_fds(int to_server, int from_server, const char *what, net_sftp **ret,
                  struct error *err) WUR;

/* The server's name in messages ("vm 'dev'"). */
const char *sftp_what(const net_sftp *s);
/* Whether the cancel flag (net_sftp_set_cancel) is set. */
bool sftp_is_cancelled(net_sftp *s);
/* Whether the server has OpenSSH's posix-rename and lsetstat extensions. */
bool sftp_has_posix_rename(const net_sftp *s);
bool sftp_has_lsetstat(const net_sftp *s);

/*
 * The requests. Each error names the server and the path ("vm 'dev':
 * /tmp/x: No such file or directory") with the STATUS code as an errno; a
 * connection that broke sets net_sftp_broken. follow: STAT, else LSTAT.
 */
int sftp_stat(net_sftp *s, const char *path, bool follow, struct sftp_attrs *ret,
              struct error *err) WUR;
int sftp_mkdir(net_sftp *s, const char *path, uint32_t perm, struct error *err) WUR;
/* SETSTAT; nofollow: lsetstat@openssh.com (-ENOTSUP without it). */
int sftp_setstat(net_sftp *s, const char *path, const struct sftp_attrs *a, bool nofollow,
                 struct error *err) WUR;
/* from replaces to: posix-rename@openssh.com, else RENAME (which keeps an existing to). */
int sftp_rename(net_sftp *s, const char *from, const char *to, const char *shown,
                struct error *err) WUR;
int sftp_remove(net_sftp *s, const char *path, struct error *err) WUR;
int sftp_rmdir(net_sftp *s, const char *path, struct error *err) WUR;
/* The target of the symlink path (at most SFTP_PATH_MAX bytes). Caller frees. */
int sftp_readlink(net_sftp *s, const char *path, char **ret, struct error *err) WUR;
/* A symlink at path to target (OpenSSH's order of the two: target first). */
int sftp_symlink(net_sftp *s, const char *target, const char *path, const char *shown,
                 struct error *err) WUR;
/* Every entry of the directory path, up to max of them (-EFBIG past). Caller frees. */
int sftp_list(net_sftp *s, const char *path, size_t max, struct sftp_entry **ret, size_t *ret_n,
              struct error *err) WUR;

/* OPEN with pflags and, for a new file, attrs; h->shown is set to shown (or path). */
int sftp_open(net_sftp *s, const char *path, uint32_t pflags, const struct sftp_attrs *attrs,
              const char *shown, struct sftp_handle *h, struct error *err) WUR;
int sftp_fsetstat(net_sftp *s, const struct sftp_handle *h, const struct sftp_attrs *a,
                  struct error *err) WUR;
int sftp_close_handle(net_sftp *s, const struct sftp_handle *h, struct error *err) WUR;

/* How far a transfer is: called as the server acknowledges data. */
typedef void (*sftp_progress_fn)(void *ud, uint64_t done);

/*
 * Writes what fd has from where it is to its end into the open file h,
 * from offset 0, with up to SFTP_INFLIGHT WRITEs of SFTP_CHUNK bytes in
 * flight. At a cancel (net_sftp_set_cancel) or a failed WRITE, sends no
 * more and collects the answers due (-ECANCELED, or the WRITE's error). A
 * read error names host_shown.
 */
int sftp_upload(net_sftp *s, const struct sftp_handle *h, int fd, const char *host_shown,
                sftp_progress_fn progress, void *ud, struct error *err) WUR;
/*
 * Reads the open file h to its end into fd (pwrite at each offset), with
 * up to SFTP_INFLIGHT READs in flight up to size_hint (the size the file
 * had) and one at a time past it; fd is truncated to what was read, which
 * *ret_size says. A write error names host_shown. Cancel as sftp_upload.
 */
int sftp_download(net_sftp *s, const struct sftp_handle *h, int fd, uint64_t size_hint,
                  const char *host_shown, sftp_progress_fn progress, void *ud, uint64_t *ret_size,
                  struct error *err) WUR;

#define SFTP_INFLIGHT 64 /* READs or WRITEs sent and not yet answered, as OpenSSH's sftp */

/* ---- the copier (sftp_copy.c) ------------------------------------------------ */

/* What a copy's destination is. */
enum sftp_dst { SFTP_DST_MISSING, SFTP_DST_DIR, SFTP_DST_OTHER };

/*
 * Where a copy of src (a directory when src_dir) goes, given the
 * destination dst and what it is: the rules of net_sftp_copy. *ret is the
 * path (caller frees); -ENOENT for a missing dst that ends in '/', -ENOTDIR
 * for a dst that is no directory but ends in '/' or would take a
 * directory, each naming dst after side ("host", "vm 'dev'").
 */
int sftp_cp_target(const char *side, const char *src, bool src_dir, const char *dst,
                   enum sftp_dst state, char **ret, struct error *err) WUR;
/*
 * The temporary name a file is written under beside name:
 * ".hearth-" and 8 random hex digits, '-', and name cut to fit NAME_MAX.
 */
int sftp_cp_tmp_name(const char *name, char *buf, size_t size) WUR;

#endif
