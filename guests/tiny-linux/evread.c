/*
 * evread - print input events from every /dev/input/event* (Geometry OS
 * tiny guest).
 *
 *   evread [SECONDS]
 *
 * For each device opened it prints one line
 *   EVREAD open /dev/input/eventN name="..." [abs_x=MIN..MAX abs_y=MIN..MAX]
 * and for each EV_KEY, EV_REL or EV_ABS event one line
 *   EV type=T code=C value=V
 * with the numbers of <linux/input-event-codes.h> (type 1 = EV_KEY,
 * 2 = EV_REL, 3 = EV_ABS; code 0/1 = X/Y). Every line is written at once.
 * Devices that appear later (a USB tablet still being enumerated) are picked
 * up within half a second. Runs for SECONDS (0 or none: until killed).
 * No libc: see rt.h.
 */
#include "rt.h"

#include <linux/input.h>

#define MAX_DEVS 64

static struct rt_pollfd fds[MAX_DEVS];
static char names[MAX_DEVS][32];
static int ndevs;

static int is_open(const char *name)
{
	for (int i = 0; i < ndevs; i++)
		if (rt_strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

static void open_dev(const char *name)
{
	char path[48] = "/dev/input/", devname[128];
	struct input_absinfo ax, ay;
	size_t n = rt_strlen(path), k = rt_strlen(name);

	if (k >= sizeof(names[0]) || n + k >= sizeof(path) || ndevs >= MAX_DEVS)
		return;
	memcpy(path + n, name, k + 1);
	int fd = rt_open(path, RT_O_RDONLY | RT_O_NONBLOCK | RT_O_CLOEXEC);
	if (fd < 0)
		return;
	memset(devname, 0, sizeof(devname));
	rt_ioctl(fd, EVIOCGNAME(sizeof(devname) - 1), devname);
	rt_puts("EVREAD open ");
	rt_puts(path);
	rt_puts(" name=\"");
	rt_puts(devname);
	rt_puts("\"");
	if (rt_ioctl(fd, EVIOCGABS(ABS_X), &ax) == 0 && rt_ioctl(fd, EVIOCGABS(ABS_Y), &ay) == 0 &&
	    (ax.maximum || ay.maximum)) {
		rt_puts(" abs_x=");
		rt_putnum(ax.minimum);
		rt_puts("..");
		rt_putnum(ax.maximum);
		rt_puts(" abs_y=");
		rt_putnum(ay.minimum);
		rt_puts("..");
		rt_putnum(ay.maximum);
	}
	rt_puts("\n");
	rt_flush(1);
	fds[ndevs].fd = fd;
	fds[ndevs].events = RT_POLLIN;
	memcpy(names[ndevs], name, k + 1);
	ndevs++;
}

static void scan(void)
{
	static char buf[4096];
	int dir = rt_open("/dev/input", RT_O_RDONLY | RT_O_DIRECTORY | RT_O_CLOEXEC);
	int n;

	if (dir < 0)
		return;
	while ((n = rt_getdents64(dir, buf, sizeof(buf))) > 0) {
		for (int off = 0; off < n;) {
			struct rt_dirent64 *d = (struct rt_dirent64 *)(buf + off);
			if (rt_startswith(d->d_name, "event") && !is_open(d->d_name))
				open_dev(d->d_name);
			off += d->d_reclen;
		}
	}
	rt_close(dir);
}

static void drop(int i)
{
	rt_close(fds[i].fd);
	ndevs--;
	if (i != ndevs) {
		fds[i] = fds[ndevs];
		memcpy(names[i], names[ndevs], sizeof(names[i]));
	}
}

int main(int argc, char **argv)
{
	int64_t seconds_ms = 0;

	if (argc > 2 || (argc == 2 && (seconds_ms = rt_parse_num(argv[1], 1000)) < 0)) {
		rt_puts("usage: evread [SECONDS]\n");
		rt_flush(2);
		return 2;
	}
	int64_t end = seconds_ms > 0 ? rt_now_ms() + seconds_ms : 0;
	int64_t next_scan = 0;

	for (;;) {
		int64_t t = rt_now_ms();
		if (end && t >= end)
			break;
		if (t >= next_scan) {
			scan();
			next_scan = t + 500;
		}
		int64_t wait = next_scan - t;
		if (end && end - t < wait)
			wait = end - t;
		int r = rt_poll(fds, (unsigned)ndevs, (int)wait + 1);
		if (r < 0 && r != -EINTR)
			return 1;
		for (int i = 0; r > 0 && i < ndevs; i++) {
			if (fds[i].revents & (RT_POLLERR | RT_POLLHUP | RT_POLLNVAL)) {
				drop(i--);
				continue;
			}
			if (!(fds[i].revents & RT_POLLIN))
				continue;
			struct input_event ev[64];
			long n;
			while ((n = rt_read(fds[i].fd, ev, sizeof(ev))) > 0) {
				for (long k = 0; k < n / (long)sizeof(ev[0]); k++) {
					if (ev[k].type != EV_KEY && ev[k].type != EV_REL &&
					    ev[k].type != EV_ABS)
						continue;
					rt_puts("EV type=");
					rt_putnum(ev[k].type);
					rt_puts(" code=");
					rt_putnum(ev[k].code);
					rt_puts(" value=");
					rt_putnum(ev[k].value);
					rt_puts("\n");
					rt_flush(1);
				}
			}
			if (n == -ENODEV)
				drop(i--);
		}
	}
	return 0;
}
