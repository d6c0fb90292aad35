/* Fixed entropy for the componentize-py process (build.py preloads it).
 *
 * componentize-py runs CPython once at build time and snapshots its memory,
 * so the string hash secret CPython draws from the host's randomness at
 * start-up is baked into the component. With a fresh secret per build, two
 * builds of the same code iterate a set of strings in different orders and
 * a journal written by one fails to replay on the other. componentize-py
 * passes no PYTHONHASHSEED to the guest, so the randomness itself is fixed:
 * every way the process asks the kernel for random bytes (getrandom(2)
 * through syscall(), getrandom(), getentropy()) gets the same bytes. Only
 * the build tool sees this; the runtime gives workflows journaled
 * randomness through the host.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>

static void fill(void *buf, size_t len) {
    unsigned char *p = buf;
    unsigned long long x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    (void)flags;
    fill(buf, len);
    return (ssize_t)len;
}

int getentropy(void *buf, size_t len) {
    fill(buf, len);
    return 0;
}

long syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_getrandom) {
        fill((void *)a, (size_t)b);
        return b;
    }
    static long (*real)(long, ...);
    if (!real) {
        real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    }
    return real(n, a, b, c, d, e, f);
}
