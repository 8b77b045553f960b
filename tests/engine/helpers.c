/* Helpers shared by the engine tests. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine_test.h"
#include "engine/engine_priv.h"

#include "net/net.h"
#include "oci/oci.h"
#include "store/store_priv.h"
#include "util/util.h"

void engine_test_reopen(const char *root, engine **eng) {
    engine_free(*eng);
    *eng = NULL;
    struct error err;
    error_init(&err);
    if (engine_open(root, eng, &err) < 0)
        fail_msg("engine_open: %s", err.msg);
}

void engine_test_crash_child(const char *root, engine **eng, const char *point,
                             void (*fn)(engine *e, void *ud), void *ud) {
    engine_free(*eng);
    *eng = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("HEARTH_FAULT", point, 1);
        struct error err;
        error_init(&err);
        if (engine_open(root, eng, &err) < 0)
            _exit(2);
        fn(*eng, ud);
        _exit(3); /* the fault point was not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != FAULT_EXIT_STATUS)
        fail_msg("%s: the child ended with status %#x, not at the fault point", point, status);
    engine_test_reopen(root, eng); /* recovery */
}

bool engine_test_dm(void) {
    const char *v = getenv("HEARTH_TEST_DM");
    return v && strcmp(v, "1") == 0;
}

void engine_test_pool_init(engine *eng, const char *root, uint64_t file_size, uint64_t dm_size,
                           uint64_t dm_metadata_size) {
    char data[PATH_MAX], meta[PATH_MAX];
    snprintf(data, sizeof(data), "%s/pool/data", root);
    snprintf(meta, sizeof(meta), "%s/pool/metadata", root);
    struct engine_pool_init_opts o = {.driver = "file", .data_size = file_size, .data_path = data};
    if (dm_size && engine_test_dm())
        o = (struct engine_pool_init_opts){.driver = "dm-thin",
                                           .data_size = dm_size,
                                           .metadata_size = dm_metadata_size,
                                           .data_path = data,
                                           .metadata_path = meta};
    struct error err;
    error_init(&err);
    if (engine_pool_init(eng, &o, NULL, 0, &err) < 0)
        fail_msg("pool init: %s", err.msg);
}

/* Whether pid has ended: gone, or a zombie (this machine's init may not reap orphans). */
static bool proc_ended(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

/*
 * The dnsmasq of a network that a test's VM started outlives the VM (as it
 * does for hearth's users): it goes with the test's directory, which its
 * argv names, before the next test builds a bridge of the same name.
 */
static void dnsmasq_kill_under(const char *dir) {
    DIR *dh = opendir("/proc");
    struct dirent *de;
    int killed[64];
    size_t n_killed = 0;
    while (dh && (de = readdir(dh))) {
        int pid = (int)strtol(de->d_name, NULL, 10);
        char cmd[4096];
        size_t argc = 0;
        if (pid <= 1 || proc_cmdline(pid, cmd, sizeof(cmd), &argc) < 0 || argc < 2)
            continue;
        const char *base = strrchr(cmd, '/');
        if (strcmp(base ? base + 1 : cmd, "dnsmasq") != 0)
            continue;
        for (const char *a = cmd + strlen(cmd) + 1; --argc > 0; a += strlen(a) + 1)
            if (strstr(a, dir)) {
                if (kill(pid, SIGKILL) == 0 && n_killed < ARRAY_SIZE(killed))
                    killed[n_killed++] = pid;
                break;
            }
    }
    if (dh)
        closedir(dh);
    int64_t end = time_now_ms() + 5000;
    for (size_t i = 0; i < n_killed; i++)
        while (!proc_ended(killed[i]) && time_now_ms() < end)
            sleep_ms(5);
}

/* The taps left in the test's network namespace: named, then deleted. */
static void taps_delete(void) {
    char **taps = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (net_tap_list(&taps, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        print_message("  leftover tap %s\n", taps[i]);
        if (net_tap_delete(taps[i], &err) < 0)
            print_message("  %s\n", err.msg);
    }
    net_names_free(taps, n);
}

void engine_test_rmtree(const char *dir) {
    dnsmasq_kill_under(dir);
    if (geteuid() == 0)
        taps_delete();
    struct error err;
    if (fs_tree_remove(dir, &err) < 0)
        print_error("cleaning up: %s\n", err.msg);
}

/* Stores data as a blob of the layout at dir; its "sha256:..." digest into digest. */
static void blob_put(const char *dir, const void *data, size_t len, char digest[72]) {
    unsigned char h[32];
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL), 1);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(digest, 72, "sha256:%s", hex);
    char path[512];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void text_put(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

void engine_test_layout_write(const char *dir, const char *tag, const void *layer, size_t len,
                              char ret_config_digest[72]) {
    char path[512];
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/blobs", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
    mkdir(path, 0755);
    char layer_digest[72], cfg_digest[72], man_digest[72];
    blob_put(dir, layer, len, layer_digest);
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
             layer_digest);
    blob_put(dir, cfg, strlen(cfg), cfg_digest);
    char man[1024];
    snprintf(man, sizeof(man),
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
             "\"digest\":\"%s\",\"size\":%zu}]}",
             cfg_digest, strlen(cfg), layer_digest, len);
    blob_put(dir, man, strlen(man), man_digest);
    char index[1024];
    snprintf(index, sizeof(index),
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
             "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
             "\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
             man_digest, strlen(man), tag);
    snprintf(path, sizeof(path), "%s/index.json", dir);
    text_put(path, index);
    snprintf(path, sizeof(path), "%s/oci-layout", dir);
    text_put(path, "{\"imageLayoutVersion\":\"1.0.0\"}");
    if (ret_config_digest)
        memcpy(ret_config_digest, cfg_digest, 72);
}

static la_ssize_t sb_write(struct archive *a, void *ud, const void *buf, size_t len) {
    (void)a;
    return strbuf_add(ud, buf, len) < 0 ? -1 : (la_ssize_t)len;
}

void engine_test_tree_layout(const char *dir, const char *tag, const struct engine_test_entry *ents,
                             size_t n) {
    struct strbuf tar = STRBUF_INIT;
    struct archive *a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, &tar, NULL, sb_write, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, ents[i].name);
        archive_entry_set_mtime(en, 1700000000, 0);
        if (ents[i].content) {
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_perm(en, 0644);
            archive_entry_set_size(en, (la_int64_t)strlen(ents[i].content));
        } else if (ents[i].link) {
            archive_entry_set_filetype(en, AE_IFLNK);
            archive_entry_set_perm(en, 0777);
            archive_entry_set_symlink(en, ents[i].link);
        } else {
            archive_entry_set_filetype(en, AE_IFDIR);
            archive_entry_set_perm(en, 0755);
        }
        assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
        if (ents[i].content)
            assert_int_equal(archive_write_data(a, ents[i].content, strlen(ents[i].content)),
                             (la_ssize_t)strlen(ents[i].content));
        archive_entry_free(en);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);

    engine_test_layout_write(dir, tag, tar.buf, tar.len, NULL);
    strbuf_release(&tar);
}

bool engine_test_kernel_import(engine *eng, const char *dir, const char *name,
                               char ret_uid[ID_LEN + 1], char *ret_version, size_t version_size) {
    DIR *d = opendir("/boot");
    if (!d)
        return false;
    struct dirent *de;
    char vmlinuz[300] = "";
    while ((de = readdir(d)))
        if (str_starts_with(de->d_name, "vmlinuz-")) {
            snprintf(vmlinuz, sizeof(vmlinuz), "/boot/%s", de->d_name);
            snprintf(ret_version, version_size, "%s", de->d_name + strlen("vmlinuz-"));
        }
    closedir(d);
    if (!vmlinuz[0])
        return false;
    char mods[600], path[700];
    snprintf(mods, sizeof(mods), "%s/mods", dir);
    mkdir(mods, 0755);
    snprintf(mods, sizeof(mods), "%s/mods/%s", dir, ret_version);
    assert_true(mkdir(mods, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/modules.dep", mods);
    text_put(path, "kernel/fake.ko:\n");
    snprintf(path, sizeof(path), "%s/kernel", mods);
    assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/kernel/fake.ko", mods);
    text_put(path, "fake module\n");
    struct engine_kernel_local files = {.vmlinux = vmlinuz, .modules = mods};
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import_files(eng, name, &files, NULL, &res, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    memcpy(ret_uid, res.uid, ID_LEN + 1);
    return true;
}

size_t engine_test_doctor_count(engine *eng) {
    struct engine_doctor_report rep = {0};
    struct error err;
    error_init(&err);
    if (engine_doctor(eng, false, &rep, &err) < 0)
        fail_msg("doctor: %s", err.msg);
    for (size_t i = 0; i < rep.n; i++)
        print_message("  doctor: %s %s: %s\n", rep.items[i].kind, rep.items[i].object,
                      rep.items[i].message);
    size_t n = rep.n;
    engine_doctor_report_release(&rep);
    return n;
}

size_t engine_test_open_ops(engine *eng) {
    struct store_op *ops = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    assert_int_equal(store_op_list_open(eng->store, &ops, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        print_message("  open operation: %s %s at '%s'\n", ops[i].op,
                      ops[i].object_uid ? ops[i].object_uid : "-", ops[i].step);
    store_ops_free(ops, n);
    return n;
}

size_t engine_test_entries(const char *root, const char *sub) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, sub);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            print_message("  in %s: %s\n", sub, de->d_name);
            n++;
        }
    closedir(d);
    return n;
}

void engine_test_tmpfs_mount(const char *dir, const char *size) {
    if (geteuid() != 0)
        test_skip("mounting a small tmpfs to fill needs root");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        fail_msg("mkdir '%s': %s", dir, strerror(errno));
    char opt[64];
    snprintf(opt, sizeof(opt), "size=%s", size);
    const char *argv[] = {"mount", "-t", "tmpfs", "-o", opt, "tmpfs", dir, NULL};
    struct error err;
    error_init(&err);
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("%s", err.msg);
}

void engine_test_umount(const char *dir) {
    const char *argv[] = {"umount", dir, NULL};
    struct error err;
    error_init(&err);
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("%s", err.msg);
}

void engine_test_fill(const char *path, uint64_t leave) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    static char buf[1 << 20];
    memset(buf, 0x5a, sizeof(buf));
    for (;;) {
        struct statvfs sv;
        assert_int_equal(fstatvfs(fd, &sv), 0);
        uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (avail <= leave)
            break;
        uint64_t n = avail - leave < sizeof(buf) ? avail - leave : sizeof(buf);
        ssize_t w = write(fd, buf, (size_t)n);
        if (w <= 0)
            break;
    }
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

pid_t engine_test_op_owner_dead(engine *eng, int64_t id) {
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE journal SET owner_pid = %d WHERE id = %lld", (int)child,
             (long long)id);
    assert_int_equal(sqlite3_exec(eng->store->db, sql, NULL, NULL, NULL), SQLITE_OK);
    return child;
}

size_t engine_test_count(engine *e, enum api_kind kind) {
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (engine_list(e, kind, &objs, &n, &err) < 0)
        fail_msg("list: %s", err.msg);
    api_objects_free(objs, n);
    return n;
}
