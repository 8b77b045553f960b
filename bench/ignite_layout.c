/*
 * The peer of `hearth ps -a` in bench/ps.sh: Ignite's layout, one
 * `vm/<uid>/metadata.json` file per VM, each read and decoded with jansson,
 * the work Ignite's `ps` did before it could print a row.
 *
 *   ignite_layout split LIST.json DIR   writes DIR/vm/<uid>/metadata.json for
 *                                       every item of a `kind: List` document
 *   ignite_layout read DIR              reads and decodes them all, printing
 *                                       one line per VM (name, state)
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int split(const char *list_path, const char *dir) {
    json_error_t jerr;
    json_t *list = json_load_file(list_path, 0, &jerr);
    if (!list) {
        fprintf(stderr, "%s:%d:%d: %s\n", list_path, jerr.line, jerr.column, jerr.text);
        return 1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/vm", dir);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        return 1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item) {
        const char *uid =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "uid"));
        if (!uid)
            continue;
        snprintf(path, sizeof(path), "%s/vm/%s", dir, uid);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            perror(path);
            return 1;
        }
        snprintf(path, sizeof(path), "%s/vm/%s/metadata.json", dir, uid);
        if (json_dump_file(item, path, JSON_INDENT(2)) < 0) {
            fprintf(stderr, "cannot write %s\n", path);
            return 1;
        }
    }
    json_decref(list);
    return 0;
}

static int read_all(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/vm", dir);
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/vm/%s/metadata.json", dir, de->d_name);
        json_error_t jerr;
        json_t *vm = json_load_file(path, 0, &jerr);
        if (!vm) {
            fprintf(stderr, "%s: %s\n", path, jerr.text);
            closedir(d);
            return 1;
        }
        const char *name =
            json_string_value(json_object_get(json_object_get(vm, "metadata"), "name"));
        const char *state =
            json_string_value(json_object_get(json_object_get(vm, "status"), "state"));
        printf("%s\t%s\n", name ? name : "", state ? state : "");
        json_decref(vm);
    }
    closedir(d);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "split") == 0)
        return split(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return read_all(argv[2]);
    fprintf(stderr, "usage: ignite_layout split LIST.json DIR | read DIR\n");
    return 2;
}
