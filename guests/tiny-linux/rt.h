/*
 * rt.h - a minimal x86-64 Linux runtime for the tiny guest's static tools
 * (kmsmode, evread): program entry, raw system calls, a few string helpers
 * and line-buffered output. A static glibc would add ~700 KB to each tool,
 * and every byte of the initramfs is read through the emulated BIOS at boot.
 *
 * Build: gcc -static -O2 -nostdlib -ffreestanding -fno-stack-protector \
 *            -fno-builtin -o TOOL TOOL.c -lgcc
 * Only kernel uapi headers (linux-libc-dev) are used.
 */
#ifndef GEOS_TINY_RT_H
#define GEOS_TINY_RT_H

#if !defined(__x86_64__)
#error "rt.h supports x86-64 only"
#endif

#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>
#include <asm-generic/errno.h>
#include <linux/ioctl.h>

#define RT_O_RDONLY 00
#define RT_O_RDWR 02
#define RT_O_NONBLOCK 04000
#define RT_O_DIRECTORY 0200000
#define RT_O_CLOEXEC 02000000
#define RT_PROT_READ 1
#define RT_PROT_WRITE 2
#define RT_MAP_SHARED 1
#define RT_CLOCK_MONOTONIC 1

struct rt_timespec {
	long tv_sec;
	long tv_nsec;
};

struct rt_pollfd {
	int fd;
	short events;
	short revents;
};
#define RT_POLLIN 0x001
#define RT_POLLERR 0x008
#define RT_POLLHUP 0x010
#define RT_POLLNVAL 0x020

struct rt_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static inline long rt_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define rt_sys3(n, a, b, c) rt_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* All return -errno on failure. */
static inline long rt_read(int fd, void *buf, size_t n) { return rt_sys3(__NR_read, fd, buf, n); }
static inline long rt_write(int fd, const void *buf, size_t n) { return rt_sys3(__NR_write, fd, buf, n); }
static inline int rt_open(const char *path, int flags) { return (int)rt_sys3(__NR_open, path, flags, 0); }
static inline int rt_close(int fd) { return (int)rt_sys3(__NR_close, fd, 0, 0); }
static inline int rt_poll(struct rt_pollfd *fds, unsigned n, int ms) { return (int)rt_sys3(__NR_poll, fds, n, ms); }
static inline int rt_getdents64(int fd, void *buf, size_t n) { return (int)rt_sys3(__NR_getdents64, fd, buf, n); }
static inline int rt_munmap(void *p, size_t n) { return (int)rt_sys3(__NR_munmap, p, n, 0); }

static inline void *rt_mmap(void *addr, size_t len, int prot, int flags, int fd, uint64_t off)
{
	return (void *)rt_syscall6(__NR_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
}

static inline int rt_mmap_failed(void *p) { return (unsigned long)p > -4096UL; }

/* ioctl, retried on EINTR/EAGAIN; returns 0 or -errno. */
static inline int rt_ioctl(int fd, unsigned long req, void *arg)
{
	long r;

	do
		r = rt_sys3(__NR_ioctl, fd, req, arg);
	while (r == -EINTR || r == -EAGAIN);
	return (int)r;
}

static inline __attribute__((noreturn)) void rt_exit(int code)
{
	for (;;)
		rt_sys3(__NR_exit_group, code, 0, 0);
}

/* Milliseconds of CLOCK_MONOTONIC. */
static inline int64_t rt_now_ms(void)
{
	struct rt_timespec ts = { 0, 0 };

	rt_sys3(__NR_clock_gettime, RT_CLOCK_MONOTONIC, &ts, 0);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void rt_sleep_ms(int64_t ms)
{
	struct rt_timespec ts = { (long)(ms / 1000), (long)(ms % 1000) * 1000000 };

	if (ms > 0)
		rt_sys3(__NR_nanosleep, &ts, 0, 0);
}

/* The compiler may call these for struct copies and initialisers (and must
 * not turn their loops back into calls to themselves). */
#define RT_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
RT_NO_LIBCALLS void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

RT_NO_LIBCALLS void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

static inline size_t rt_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static inline int rt_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

static inline int rt_startswith(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

/*
 * Parses a non-negative decimal number with an optional fraction, scaled by
 * `scale` (1 for an integer, 1000 for seconds in ms). -1 if malformed.
 */
static inline int64_t rt_parse_num(const char *s, int64_t scale)
{
	int64_t whole = 0, frac = 0, div = 1;

	if (!*s)
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		whole = whole * 10 + (*s - '0');
		if (whole > 1000000000)
			return -1;
	}
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			if (div < 1000000)
				frac = frac * 10 + (*s - '0'), div *= 10;
	if (*s)
		return -1;
	return whole * scale + frac * scale / div;
}

/* Output: append to a line buffer, flushed by rt_flush(fd). */
static char rt_buf[512];
static size_t rt_len;

static inline void rt_puts(const char *s)
{
	while (*s && rt_len < sizeof(rt_buf))
		rt_buf[rt_len++] = *s++;
}

static inline void rt_putnum(int64_t v)
{
	char tmp[24];
	int i = 0;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do
		tmp[i++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		tmp[i++] = '-';
	while (i > 0 && rt_len < sizeof(rt_buf))
		rt_buf[rt_len++] = tmp[--i];
}

static inline void rt_flush(int fd)
{
	size_t off = 0;

	while (off < rt_len) {
		long r = rt_write(fd, rt_buf + off, rt_len - off);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	rt_len = 0;
}

static inline const char *rt_errname(int err)
{
	switch (err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENOTTY: return "ENOTTY";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "error";
	}
}

/* Signals: a plain handler, no flags but the restorer the kernel needs. */
struct rt_kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
#define RT_SA_RESTORER 0x04000000
void rt_sigreturn_trampoline(void);
__asm__(".text\n"
	".global rt_sigreturn_trampoline\n"
	"rt_sigreturn_trampoline:\n"
	"	mov $15, %eax\n" /* __NR_rt_sigreturn */
	"	syscall\n");

static inline int rt_signal(int sig, void (*handler)(int))
{
	struct rt_kernel_sigaction sa = { handler, RT_SA_RESTORER, rt_sigreturn_trampoline, 0 };

	return (int)rt_syscall6(__NR_rt_sigaction, sig, (long)&sa, 0, sizeof(sa.mask), 0, 0);
}

int main(int argc, char **argv);

__attribute__((used)) static void rt_start_c(long *sp)
{
	rt_exit(main((int)sp[0], (char **)(sp + 1)));
}

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call rt_start_c\n"
	"	hlt\n");

#endif
