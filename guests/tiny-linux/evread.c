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
 * 2 = EV_REL, 3 = EV_ABS). Output is flushed line by line. Devices that
 * appear later (a USB tablet still being enumerated) are picked up too.
 * Runs for SECONDS (0 or none: until killed).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVS 64

static struct pollfd fds[MAX_DEVS];
static char names[MAX_DEVS][32];
static int ndevs;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int is_open(const char *name)
{
	for (int i = 0; i < ndevs; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

static void scan(void)
{
	DIR *d = opendir("/dev/input");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL && ndevs < MAX_DEVS) {
		char path[64], name[128] = "";
		struct input_absinfo ax, ay;

		if (strncmp(e->d_name, "event", 5) != 0 || strlen(e->d_name) >= sizeof(names[0]))
			continue;
		if (is_open(e->d_name))
			continue;
		snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		ioctl(fd, EVIOCGNAME(sizeof(name) - 1), name);
		printf("EVREAD open %s name=\"%s\"", path, name);
		if (ioctl(fd, EVIOCGABS(ABS_X), &ax) == 0 && ioctl(fd, EVIOCGABS(ABS_Y), &ay) == 0 &&
		    (ax.maximum || ay.maximum))
			printf(" abs_x=%d..%d abs_y=%d..%d", ax.minimum, ax.maximum, ay.minimum,
			       ay.maximum);
		printf("\n");
		fds[ndevs].fd = fd;
		fds[ndevs].events = POLLIN;
		strcpy(names[ndevs], e->d_name);
		ndevs++;
	}
	closedir(d);
}

static void drop(int i)
{
	close(fds[i].fd);
	ndevs--;
	if (i != ndevs) {
		fds[i] = fds[ndevs];
		memcpy(names[i], names[ndevs], sizeof(names[i]));
	}
}

int main(int argc, char **argv)
{
	double seconds = 0;

	if (argc > 2 || (argc == 2 && (seconds = strtod(argv[1], NULL)) < 0)) {
		fprintf(stderr, "usage: evread [SECONDS]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	double end = seconds > 0 ? now() + seconds : 0;
	double next_scan = 0;

	for (;;) {
		double t = now();
		if (end && t >= end)
			break;
		if (t >= next_scan) {
			scan();
			next_scan = t + 0.5;
		}
		double wait = next_scan - t;
		if (end && end - t < wait)
			wait = end - t;
		int r = poll(fds, (nfds_t)ndevs, (int)(wait * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return 1;
		for (int i = 0; r > 0 && i < ndevs; i++) {
			if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				drop(i--);
				continue;
			}
			if (!(fds[i].revents & POLLIN))
				continue;
			struct input_event ev[64];
			ssize_t n;
			while ((n = read(fds[i].fd, ev, sizeof(ev))) > 0) {
				for (size_t k = 0; k < (size_t)n / sizeof(ev[0]); k++) {
					if (ev[k].type != EV_KEY && ev[k].type != EV_REL &&
					    ev[k].type != EV_ABS)
						continue;
					printf("EV type=%u code=%u value=%d\n", ev[k].type,
					       ev[k].code, ev[k].value);
				}
			}
			if (n < 0 && errno == ENODEV)
				drop(i--);
		}
	}
	return 0;
}
