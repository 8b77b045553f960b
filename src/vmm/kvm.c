/*
 * kvm: whether /dev/kvm really runs guests on this host.
 *
 * A /dev/kvm that opens is not enough: on some hosts (nested setups without
 * working hardware virtualisation) the device exists and even runs a few
 * instructions, but a vCPU crawls at about a microsecond per instruction, so
 * a Linux guest seems to hang in its decompressor. The probe creates a VM
 * with 2 MiB of memory and a real-mode vCPU at the reset state whose code
 * does what a kernel's setup code does (lgdt, CR0.PE, a far jump into 32-bit
 * code), then counts down a 10-million-iteration loop (a few milliseconds
 * on working hardware, about 4 s when every instruction is emulated), stores
 * a value and halts; a second run in 64-bit long mode with paging stores
 * another value and halts. Only exits with KVM_EXIT_HLT and both values in
 * memory count as usable. The probe runs in a forked child (exec_run with a
 * function) so that a slow or hung vCPU cannot hang hearth: the parent waits
 * at most KVM_PROBE_TIMEOUT_MS, then kills and reaps the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/vmm.h"

#define KVM_PROBE_TIMEOUT_MS 2000
#define KVM_PROBE_MEM_SIZE 0x200000 /* one 2 MiB page */
#define KVM_PROBE_REASON_MAX 256

#define KVM_PROBE_PML4 0x1000
#define KVM_PROBE_PDPT 0x2000
#define KVM_PROBE_PD 0x3000
#define KVM_PROBE_CODE 0x4000
#define KVM_PROBE_DATA 0x5000
#define KVM_PROBE_MAGIC 0x6865617274683634ull /* "hearth64" */

/*
 * Second stage: identity-maps the first 2 MiB with one large page, switches
 * the vCPU to 64-bit long mode and runs `mov rax, MAGIC; mov [DATA], rax;
 * hlt`. Hosts where nested paging is broken pass the real-mode `hlt` but
 * hang or fault here, as a Linux guest would.
 */
static bool kvm_probe_long_mode(int vcpu, void *mem, struct kvm_run *run, char *why,
                                size_t why_size) {
    uint8_t *m = mem;
    uint64_t *pml4 = (uint64_t *)(m + KVM_PROBE_PML4);
    uint64_t *pdpt = (uint64_t *)(m + KVM_PROBE_PDPT);
    uint64_t *pd = (uint64_t *)(m + KVM_PROBE_PD);
    memset(m + KVM_PROBE_PML4, 0, 3 * 0x1000);
    pml4[0] = KVM_PROBE_PDPT | 0x3; /* present, writable */
    pdpt[0] = KVM_PROBE_PD | 0x3;
    pd[0] = 0x83; /* present, writable, 2 MiB page at 0 */
    static const uint8_t code[] = {
        0x48, 0xb8, 0x34, 0x36, 0x68, 0x74, 0x72, 0x61, 0x65, 0x68, /* mov rax, MAGIC */
        0x48, 0x89, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00,             /* mov [0x5000], rax */
        0xf4,                                                       /* hlt */
    };
    memcpy(m + KVM_PROBE_CODE, code, sizeof(code));
    memset(m + KVM_PROBE_DATA, 0, 8);

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        snprintf(why, why_size, "KVM_GET_SREGS failed: %s", strerror(errno));
        return false;
    }
    sregs.cr3 = KVM_PROBE_PML4;
    sregs.cr4 = 1u << 5;                 /* PAE */
    sregs.cr0 = 0x80000001u | (1u << 4); /* PG, PE, ET */
    sregs.efer = (1u << 8) | (1u << 10); /* LME, LMA */
    struct kvm_segment seg = {
        .base = 0,
        .limit = 0xffffffff,
        .selector = 1 << 3,
        .present = 1,
        .type = 11, /* code: execute, read, accessed */
        .dpl = 0,
        .db = 0,
        .s = 1,
        .l = 1,
        .g = 1,
    };
    sregs.cs = seg;
    seg.type = 3; /* data: read, write, accessed */
    seg.l = 0;
    seg.db = 1;
    seg.selector = 2 << 3;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
        snprintf(why, why_size, "KVM_SET_SREGS (long mode) failed: %s", strerror(errno));
        return false;
    }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = KVM_PROBE_CODE;
    regs.rflags = 0x2;
    regs.rsp = KVM_PROBE_DATA + 0x800;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        snprintf(why, why_size, "KVM_SET_REGS (long mode) failed: %s", strerror(errno));
        return false;
    }
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        snprintf(why, why_size, "KVM_RUN in long mode failed: %s", strerror(errno));
        return false;
    }
    if (run->exit_reason != KVM_EXIT_HLT) {
        snprintf(why, why_size, "KVM_RUN in long mode exited with reason %u, not KVM_EXIT_HLT (%u)",
                 run->exit_reason, (unsigned)KVM_EXIT_HLT);
        return false;
    }
    uint64_t got;
    memcpy(&got, m + KVM_PROBE_DATA, sizeof(got));
    if (got != KVM_PROBE_MAGIC) {
        snprintf(why, why_size, "a long-mode vcpu halted without storing its test value");
        return false;
    }
    return true;
}

#define KVM_PROBE_MAGIC32 0x12345678u

/*
 * First stage, run from the reset state (real mode, cs base 0, ip 0): cli;
 * lgdt; set CR0.PE; a far jump into 32-bit code that stores MAGIC32 at DATA
 * and halts. It is what a kernel's setup code does first.
 */
static void kvm_probe_write_real_mode(void *mem) {
    uint8_t *m = mem;
    static const uint8_t code16[] = {
        0xfa,                               /* cli */
        0x0f, 0x01, 0x16, 0x00, 0x01,       /* lgdt [0x100] */
        0x0f, 0x20, 0xc0,                   /* mov eax, cr0 */
        0x66, 0x83, 0xc8, 0x01,             /* or eax, 1 */
        0x0f, 0x22, 0xc0,                   /* mov cr0, eax */
        0x66, 0xea, 0x00, 0x02, 0x00, 0x00, /* jmp dword 0x08:0x200 */
        0x08, 0x00,
    };
    static const uint8_t gdtr[] = {0x17, 0x00, 0x10, 0x01, 0x00, 0x00}; /* limit 23, base 0x110 */
    static const uint64_t gdt[] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    static const uint8_t code32[] = {
        0xb9, 0x80, 0x96, 0x98, 0x00, /* mov ecx, 10000000 */
        0x49, 0x75, 0xfd,             /* 1: dec ecx; jnz 1b */
        0xc7, 0x05, 0x00, 0x50, 0x00,
        0x00, 0x78, 0x56, 0x34, 0x12, /* mov dword [0x5000], MAGIC32 */
        0xf4,                         /* hlt */
    };
    memcpy(m, code16, sizeof(code16));
    memcpy(m + 0x100, gdtr, sizeof(gdtr));
    memcpy(m + 0x110, gdt, sizeof(gdt));
    memcpy(m + 0x200, code32, sizeof(code32));
    memset(m + KVM_PROBE_DATA, 0, 8);
}

/*
 * Runs the probe in the current process and writes why it failed into why
 * (empty on success). Returns true when the vCPU halted as expected.
 */
static bool kvm_probe_run(char *why, size_t why_size) {
    int kvm = -1, vm = -1, vcpu = -1;
    void *mem = MAP_FAILED;
    struct kvm_run *run = MAP_FAILED;
    size_t run_size = 0;
    bool ok = false;

    why[0] = '\0';
    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        snprintf(why, why_size, "cannot open '/dev/kvm': %s", strerror(errno));
        goto out;
    }
    int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(why, why_size, "'/dev/kvm' has API version %d, not %d", version, KVM_API_VERSION);
        goto out;
    }
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) {
        snprintf(why, why_size, "KVM_CREATE_VM failed: %s", strerror(errno));
        goto out;
    }
    mem = mmap(NULL, KVM_PROBE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(why, why_size, "cannot map guest memory: %s", strerror(errno));
        goto out;
    }
    memset(mem, 0xf4, KVM_PROBE_MEM_SIZE); /* hlt wherever the vcpu strays */
    kvm_probe_write_real_mode(mem);
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = KVM_PROBE_MEM_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        snprintf(why, why_size, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
        goto out;
    }
    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) {
        snprintf(why, why_size, "KVM_CREATE_VCPU failed: %s", strerror(errno));
        goto out;
    }
    int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size < (int)sizeof(struct kvm_run)) {
        snprintf(why, why_size, "KVM_GET_VCPU_MMAP_SIZE gave %d: %s", mmap_size,
                 mmap_size < 0 ? strerror(errno) : "too small");
        goto out;
    }
    run_size = (size_t)mmap_size;
    run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) {
        snprintf(why, why_size, "cannot map the vcpu's kvm_run: %s", strerror(errno));
        goto out;
    }
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        snprintf(why, why_size, "KVM_GET_SREGS failed: %s", strerror(errno));
        goto out;
    }
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
        snprintf(why, why_size, "KVM_SET_SREGS failed: %s", strerror(errno));
        goto out;
    }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = 0;
    regs.rflags = 0x2; /* bit 1 is reserved and always set */
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        snprintf(why, why_size, "KVM_SET_REGS failed: %s", strerror(errno));
        goto out;
    }
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        snprintf(why, why_size, "KVM_RUN failed: %s", strerror(errno));
        goto out;
    }
    if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
        snprintf(why, why_size, "KVM_RUN could not enter the guest (hardware reason 0x%llx)",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        goto out;
    }
    if (run->exit_reason != KVM_EXIT_HLT) {
        snprintf(why, why_size, "KVM_RUN exited with reason %u, not KVM_EXIT_HLT (%u)",
                 run->exit_reason, (unsigned)KVM_EXIT_HLT);
        goto out;
    }
    uint32_t got;
    memcpy(&got, (uint8_t *)mem + KVM_PROBE_DATA, sizeof(got));
    if (got != KVM_PROBE_MAGIC32) {
        snprintf(why, why_size,
                 "a real-mode vcpu halted before reaching protected mode (it stored 0x%x)", got);
        goto out;
    }
    /* Now in 64-bit mode with paging, as every Linux guest runs. */
    if (!kvm_probe_long_mode(vcpu, mem, run, why, why_size))
        goto out;
    ok = true;
out:
    if (run != MAP_FAILED)
        munmap(run, run_size);
    if (mem != MAP_FAILED)
        munmap(mem, KVM_PROBE_MEM_SIZE);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    if (kvm >= 0)
        close(kvm);
    return ok;
}

static void kvm_set_why(char *why, size_t why_size, const char *msg) {
    if (why && why_size > 0)
        snprintf(why, why_size, "%s", msg);
}

/* The probe's child: one byte '1' or '0' on stdout, then the reason. */
static int kvm_probe_child(void *arg) {
    (void)arg;
    char msg[KVM_PROBE_REASON_MAX + 1];
    bool ok = kvm_probe_run(msg + 1, sizeof(msg) - 1);
    msg[0] = ok ? '1' : '0';
    size_t len = 1 + strlen(msg + 1);
    ssize_t n = write(1, msg, len);
    return n == (ssize_t)len ? 0 : 1;
}

bool vmm_kvm_usable(char *why, size_t why_size) {
    char reason[KVM_PROBE_REASON_MAX];
    static const char *const argv[] = {"kvm probe", NULL};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct exec_opts opts = {
        .fn = kvm_probe_child, .out = &out, .timeout_ms = KVM_PROBE_TIMEOUT_MS};
    struct error err;
    error_init(&err);
    int r = exec_run(argv, &opts, &err);
    if (r == -ETIMEDOUT) {
        snprintf(reason, sizeof(reason),
                 "'/dev/kvm' is there but a test vcpu did not finish a 10-million-step loop "
                 "within %d ms (no working hardware virtualisation?)",
                 KVM_PROBE_TIMEOUT_MS);
        kvm_set_why(why, why_size, reason);
        return false;
    }
    if (out.len == 0) {
        kvm_set_why(why, why_size, r < 0 ? err.msg : "the kvm probe exited without an answer");
        return false;
    }
    if (out.buf[0] == '1') {
        kvm_set_why(why, why_size, "");
        return true;
    }
    kvm_set_why(why, why_size, out.buf[1] ? out.buf + 1 : "the kvm probe failed without a reason");
    return false;
}
