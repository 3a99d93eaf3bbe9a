/*
 * tone - play a sine tone on the sound card (Geometry OS tiny guest).
 *
 *   tone FREQ SECONDS [RATE]
 *
 * Plays a FREQ Hz sine (1..20000, half of full scale, the same on both
 * channels) for SECONDS (fractions allowed) at RATE samples per second
 * (default 48000), 16-bit stereo, through the kernel's OSS emulation
 * (/dev/dsp from snd-pcm-oss: three ioctls, no alsa-lib), after turning the
 * card's master and PCM volume up through /dev/mixer (ALSA starts a card muted;
 * a mixer that is missing is only warned about). Prints
 * "TONE FREQ Hz RATE ok" once the card took the format and the first block
 * is written, and "TONE done" at the end. Tests use it to check that sound
 * reaches the host (its frequency, where on the map it is heard from).
 *
 * No libc (see rt.h): the sine comes from a rotating phasor whose step is a
 * Taylor series, renormalised every block so it never drifts.
 */
#include "rt.h"
#include <linux/soundcard.h>

#define BLOCK 480 /* frames per write: 10 ms at 48 kHz */
#define PI 3.14159265358979323846

/* sin and cos of x in [0, pi] by their Taylor series (error < 1e-12 there). */
static void sincos_taylor(double x, double *s, double *c)
{
	double term_s = x, term_c = 1.0, sum_s = 0.0, sum_c = 0.0;

	for (int k = 1; k < 30; k++) {
		sum_s += term_s;
		sum_c += term_c;
		term_s *= -x * x / ((2.0 * k) * (2.0 * k + 1.0));
		term_c *= -x * x / ((2.0 * k - 1.0) * (2.0 * k));
	}
	*s = sum_s;
	*c = sum_c;
}

/* 1 / sqrt(v) for v near 1 (the phasor's length): two Newton steps. */
static double inv_norm(double v)
{
	double r = 1.5 - 0.5 * v;

	return r * (1.5 - 0.5 * v * r * r);
}

static int fail(const char *what, int err)
{
	rt_puts("tone: ");
	rt_puts(what);
	rt_puts(": ");
	rt_puts(rt_errname(-err));
	rt_puts("\n");
	rt_flush(2);
	return 1;
}

/* Master and PCM volume to 100 % on both channels (unmutes them too). */
static void unmute(void)
{
	unsigned long controls[] = { SOUND_MIXER_WRITE_VOLUME, SOUND_MIXER_WRITE_PCM };
	int fd = rt_open("/dev/mixer", RT_O_RDWR);

	if (fd < 0) {
		rt_puts("tone: warning: /dev/mixer: ");
		rt_puts(rt_errname(-fd));
		rt_puts(" (the card may stay muted)\n");
		rt_flush(2);
		return;
	}
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
		int level = 100 | 100 << 8;

		rt_ioctl(fd, controls[i], &level); /* a card without this control keeps going */
	}
	rt_close(fd);
}

int main(int argc, char **argv)
{
	int64_t freq, ms, rate = 48000;
	int fd, arg, r;
	int16_t buf[BLOCK * 2];

	if (argc < 3 || argc > 4) {
		rt_puts("usage: tone FREQ SECONDS [RATE]\n");
		rt_flush(2);
		return 2;
	}
	freq = rt_parse_num(argv[1], 1);
	ms = rt_parse_num(argv[2], 1000);
	if (argc == 4)
		rate = rt_parse_num(argv[3], 1);
	if (freq < 1 || freq > 20000 || ms < 0 || rate < 8000 || rate > 192000 || 2 * freq >= rate) {
		rt_puts("tone: FREQ 1..20000 below RATE/2, RATE 8000..192000\n");
		rt_flush(2);
		return 2;
	}
	unmute();
	fd = rt_open("/dev/dsp", 1); /* O_WRONLY */
	if (fd < 0)
		return fail("/dev/dsp", fd);
	arg = AFMT_S16_LE;
	if ((r = rt_ioctl(fd, SNDCTL_DSP_SETFMT, &arg)) < 0 || arg != AFMT_S16_LE)
		return fail("16-bit format", r < 0 ? r : -EINVAL);
	arg = 2;
	if ((r = rt_ioctl(fd, SNDCTL_DSP_CHANNELS, &arg)) < 0 || arg != 2)
		return fail("stereo", r < 0 ? r : -EINVAL);
	arg = (int)rate;
	if ((r = rt_ioctl(fd, SNDCTL_DSP_SPEED, &arg)) < 0)
		return fail("rate", r);
	rate = arg; /* what the card runs at: the tone keeps its frequency */

	double step_s, step_c, ps = 0.0, pc = 1.0;
	int64_t frames = rate * ms / 1000, done = 0;
	int told = 0;

	sincos_taylor(2.0 * PI * (double)freq / (double)rate, &step_s, &step_c);
	while (done < frames) {
		int n = frames - done < BLOCK ? (int)(frames - done) : BLOCK;

		for (int i = 0; i < n; i++) {
			int16_t v = (int16_t)(ps * 16383.0);
			double ns = ps * step_c + pc * step_s;

			pc = pc * step_c - ps * step_s;
			ps = ns;
			buf[2 * i] = buf[2 * i + 1] = v;
		}
		double k = inv_norm(ps * ps + pc * pc);
		ps *= k;
		pc *= k;
		for (size_t off = 0; off < (size_t)n * 4;) {
			long w = rt_write(fd, (char *)buf + off, (size_t)n * 4 - off);
			if (w == -EINTR || w == -EAGAIN)
				continue;
			if (w <= 0)
				return fail("write", w < 0 ? (int)w : -EIO);
			off += (size_t)w;
		}
		done += n;
		if (!told) {
			told = 1;
			rt_puts("TONE ");
			rt_putnum(freq);
			rt_puts(" Hz ");
			rt_putnum(rate);
			rt_puts(" ok\n");
			rt_flush(1);
		}
	}
	rt_close(fd);
	rt_puts("TONE done\n");
	rt_flush(1);
	return 0;
}
