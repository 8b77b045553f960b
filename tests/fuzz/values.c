/*
 * Fuzz target: the value grammars of src/api/values.c that users type and
 * documents carry: sizes ("4.5GB") and port mappings ("127.0.0.1:80:8080/udp").
 * A size that parses formats to a string that parses back to the same
 * number of bytes; a port mapping that parses has ports in 1..65535.
 */
#include <errno.h>

#include "api/api.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    uint64_t bytes = 0, again = 0;
    int r = api_size_parse(s, &bytes);
    fuzz_check(r == 0 || r == -EINVAL || r == -ERANGE, "api_size_parse returned %d", r);
    if (r == 0) {
        char buf[32], human[48];
        api_size_format(bytes, buf, sizeof(buf));
        api_size_format_human(bytes, human, sizeof(human));
        r = api_size_parse(buf, &again);
        fuzz_check(r == 0 && again == bytes,
                   "'%s' is %llu bytes, formats as '%s', reads back %d %llu", s,
                   (unsigned long long)bytes, buf, r, (unsigned long long)again);
    }
    struct api_port port = {0};
    struct error err;
    error_init(&err);
    r = api_port_parse(s, &port, &err);
    fuzz_check(r == 0 || (r == -EINVAL && err.msg[0]), "api_port_parse returned %d", r);
    if (r == 0) {
        char buf[128];
        fuzz_check(port.host_port >= 1 && port.host_port <= 65535 && port.vm_port >= 1 &&
                       port.vm_port <= 65535,
                   "'%s' gave ports %llu, %llu", s, (unsigned long long)port.host_port,
                   (unsigned long long)port.vm_port);
        api_port_format(&port, buf, sizeof(buf));
        api_port_release(&port);
    }
    free(s);
    return 0;
}
