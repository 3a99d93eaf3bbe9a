/*
 * kmsmode - set a display mode through the kernel's DRM/KMS API and show a
 * test pattern in it (Geometry OS tiny guest).
 *
 *   kmsmode WIDTH HEIGHT [SECONDS] [--churn]
 *
 * Opens /dev/dri/card0, takes the first connected connector and a CRTC its
 * encoder can drive, creates a WIDTHxHEIGHT 32 bpp dumb buffer, draws a
 * pattern into it and sets the mode (from the connector's list when it has
 * that size, else a generated one). Prints "KMSMODE WxH ok" when the mode is
 * set, then holds it for SECONDS (0 or none: until killed; fractions are
 * allowed). With --churn the buffer is redrawn continuously with a moving
 * pattern (at most ~30 frames/s) and "KMSMODE churn frames=N ms=T" is printed
 * at the end. On exit (or SIGINT/SIGTERM/SIGHUP) the kernel console takes the
 * display back; a VT switch back and forth makes it redraw its text.
 *
 * Only raw DRM ioctls are used, no libdrm and no libc (see rt.h). The uapi
 * structures are declared here when <drm/drm_mode.h> is not installed (Debian
 * ships it in libdrm-dev, not linux-libc-dev); they are the kernel's stable ABI.
 */
#include "rt.h"

#if defined(__has_include) && __has_include(<drm/drm.h>) && __has_include(<drm/drm_mode.h>)
#include <drm/drm.h>
#include <drm/drm_mode.h>
#else
#include <linux/types.h>

#define DRM_DISPLAY_MODE_LEN 32
#define DRM_MODE_TYPE_USERDEF (1 << 5)
#define DRM_MODE_FLAG_PHSYNC (1 << 0)
#define DRM_MODE_FLAG_NVSYNC (1 << 3)

struct drm_mode_modeinfo {
	__u32 clock;
	__u16 hdisplay, hsync_start, hsync_end, htotal, hskew;
	__u16 vdisplay, vsync_start, vsync_end, vtotal, vscan;
	__u32 vrefresh;
	__u32 flags;
	__u32 type;
	char name[DRM_DISPLAY_MODE_LEN];
};

struct drm_mode_card_res {
	__u64 fb_id_ptr;
	__u64 crtc_id_ptr;
	__u64 connector_id_ptr;
	__u64 encoder_id_ptr;
	__u32 count_fbs;
	__u32 count_crtcs;
	__u32 count_connectors;
	__u32 count_encoders;
	__u32 min_width;
	__u32 max_width;
	__u32 min_height;
	__u32 max_height;
};

struct drm_mode_crtc {
	__u64 set_connectors_ptr;
	__u32 count_connectors;
	__u32 crtc_id;
	__u32 fb_id;
	__u32 x;
	__u32 y;
	__u32 gamma_size;
	__u32 mode_valid;
	struct drm_mode_modeinfo mode;
};

struct drm_mode_get_encoder {
	__u32 encoder_id;
	__u32 encoder_type;
	__u32 crtc_id;
	__u32 possible_crtcs;
	__u32 possible_clones;
};

struct drm_mode_get_connector {
	__u64 encoders_ptr;
	__u64 modes_ptr;
	__u64 props_ptr;
	__u64 prop_values_ptr;
	__u32 count_modes;
	__u32 count_props;
	__u32 count_encoders;
	__u32 encoder_id;
	__u32 connector_id;
	__u32 connector_type;
	__u32 connector_type_id;
	__u32 connection;
	__u32 mm_width;
	__u32 mm_height;
	__u32 subpixel;
	__u32 pad;
};

struct drm_mode_fb_cmd {
	__u32 fb_id;
	__u32 width;
	__u32 height;
	__u32 pitch;
	__u32 bpp;
	__u32 depth;
	__u32 handle;
};

struct drm_clip_rect {
	unsigned short x1, y1, x2, y2;
};

struct drm_mode_fb_dirty_cmd {
	__u32 fb_id;
	__u32 flags;
	__u32 color;
	__u32 num_clips;
	__u64 clips_ptr;
};

struct drm_mode_create_dumb {
	__u32 height;
	__u32 width;
	__u32 bpp;
	__u32 flags;
	__u32 handle;
	__u32 pitch;
	__u64 size;
};

struct drm_mode_map_dumb {
	__u32 handle;
	__u32 pad;
	__u64 offset;
};

struct drm_mode_destroy_dumb {
	__u32 handle;
};

#define DRM_IOCTL_BASE 'd'
#define DRM_IO(nr) _IO(DRM_IOCTL_BASE, nr)
#define DRM_IOWR(nr, type) _IOWR(DRM_IOCTL_BASE, nr, type)
#define DRM_IOCTL_SET_MASTER DRM_IO(0x1e)
#define DRM_IOCTL_MODE_GETRESOURCES DRM_IOWR(0xA0, struct drm_mode_card_res)
#define DRM_IOCTL_MODE_SETCRTC DRM_IOWR(0xA2, struct drm_mode_crtc)
#define DRM_IOCTL_MODE_GETENCODER DRM_IOWR(0xA6, struct drm_mode_get_encoder)
#define DRM_IOCTL_MODE_GETCONNECTOR DRM_IOWR(0xA7, struct drm_mode_get_connector)
#define DRM_IOCTL_MODE_ADDFB DRM_IOWR(0xAE, struct drm_mode_fb_cmd)
#define DRM_IOCTL_MODE_RMFB DRM_IOWR(0xAF, unsigned int)
#define DRM_IOCTL_MODE_DIRTYFB DRM_IOWR(0xB1, struct drm_mode_fb_dirty_cmd)
#define DRM_IOCTL_MODE_CREATE_DUMB DRM_IOWR(0xB2, struct drm_mode_create_dumb)
#define DRM_IOCTL_MODE_MAP_DUMB DRM_IOWR(0xB3, struct drm_mode_map_dumb)
#define DRM_IOCTL_MODE_DESTROY_DUMB DRM_IOWR(0xB4, struct drm_mode_destroy_dumb)
#endif

#define DRM_MODE_CONNECTED 1

#include <linux/vt.h>
#include <asm-generic/signal.h>

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * After a DRM client lets go, fbcon restores its mode but not the text on
 * screen (black until the next output). Switching to another VT and back
 * redraws the console.
 */
static void redraw_console(void)
{
	struct vt_stat st;
	int tty = rt_open("/dev/tty0", RT_O_RDWR | RT_O_CLOEXEC);

	if (tty < 0)
		return;
	if (rt_ioctl(tty, VT_GETSTATE, &st) == 0 && st.v_active > 0) {
		unsigned other = st.v_active == 1 ? 2 : 1;
		if (rt_ioctl(tty, VT_ACTIVATE, (void *)(uintptr_t)other) == 0) {
			rt_ioctl(tty, VT_WAITACTIVE, (void *)(uintptr_t)other);
			rt_ioctl(tty, VT_ACTIVATE, (void *)(uintptr_t)st.v_active);
			rt_ioctl(tty, VT_WAITACTIVE, (void *)(uintptr_t)st.v_active);
		}
	}
	rt_close(tty);
}

static int W, H;

static __attribute__((noreturn)) void die(const char *what, int err)
{
	rt_puts("KMSMODE ");
	rt_putnum(W);
	rt_puts("x");
	rt_putnum(H);
	rt_puts(" failed: ");
	rt_puts(what);
	if (err) {
		rt_puts(": ");
		rt_puts(rt_errname(err));
	}
	rt_puts("\n");
	rt_flush(2);
	rt_exit(1);
}

/* A mode with CVT reduced-blanking style timings at about 60 Hz. */
static void make_mode(struct drm_mode_modeinfo *m, int w, int h)
{
	memset(m, 0, sizeof(*m));
	m->hdisplay = w;
	m->hsync_start = w + 48;
	m->hsync_end = w + 48 + 32;
	m->htotal = w + 160;
	m->vdisplay = h;
	m->vsync_start = h + 3;
	m->vsync_end = h + 3 + 6;
	m->vtotal = h + 3 + 6 + 25;
	m->vrefresh = 60;
	m->clock = (uint32_t)((uint64_t)m->htotal * m->vtotal * 60 / 1000);
	m->flags = DRM_MODE_FLAG_PHSYNC | DRM_MODE_FLAG_NVSYNC;
	m->type = DRM_MODE_TYPE_USERDEF;
	/* name = "WxH" */
	rt_len = 0;
	rt_putnum(w);
	rt_puts("x");
	rt_putnum(h);
	for (size_t i = 0; i < rt_len && i < sizeof(m->name) - 1; i++)
		m->name[i] = rt_buf[i];
	rt_len = 0;
}

/*
 * The pattern: eight colour bars over the top half, a grey ramp and red,
 * green and blue ramps below, a white frame, and a white square; `frame`
 * scrolls the bars and ramps and moves the square. Rows are built once per
 * frame and copied, which keeps --churn cheap under emulation.
 */
#define MAX_W 8192
static uint32_t lines[5][MAX_W];

static void draw(uint32_t *px, int w, int h, int pitch, unsigned frame)
{
	static const uint32_t bars[8] = {
		0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
		0xff00ff, 0xff0000, 0x0000ff, 0x000000,
	};
	int stride = pitch / 4;
	int sq = h / 8 > 8 ? h / 8 : 8;
	int sx = (int)((frame * 7u) % (unsigned)(w > sq ? w - sq : 1));
	int sy = (int)((frame * 3u) % (unsigned)(h > sq ? h - sq : 1));
	int bottom = h - h * 3 / 4;

	for (int x = 0; x < w; x++) {
		int xs = (int)((x + frame * 4u) % (unsigned)w);
		uint32_t v = (uint32_t)(xs * 255 / (w > 1 ? w - 1 : 1));
		lines[0][x] = bars[xs * 8 / w];
		lines[1][x] = v << 16 | v << 8 | v;
		lines[2][x] = v << 16;
		lines[3][x] = v << 8;
		lines[4][x] = v;
	}
	for (int y = 0; y < h; y++) {
		uint32_t *row = px + (size_t)y * stride;
		const uint32_t *src;
		int x;

		if (y < h / 2)
			src = lines[0];
		else if (y < h * 3 / 4)
			src = lines[1];
		else
			src = lines[2 + (y - h * 3 / 4) * 3 / (bottom > 0 ? bottom : 1)];
		if (y == 0 || y == h - 1) {
			for (x = 0; x < w; x++)
				row[x] = 0xffffff;
			continue;
		}
		/* 64-bit copies: the byte-wise memcpy of rt.h is slow here. */
		for (x = 0; x + 1 < w; x += 2)
			*(uint64_t *)(row + x) = *(const uint64_t *)(src + x);
		for (; x < w; x++)
			row[x] = src[x];
		row[0] = row[w - 1] = 0xffffff;
		if (y >= sy && y < sy + sq)
			for (x = sx; x < sx + sq && x < w; x++)
				row[x] = 0xffffff;
	}
}

static __attribute__((noreturn)) void usage(void)
{
	rt_puts("usage: kmsmode WIDTH HEIGHT [SECONDS] [--churn]\n");
	rt_flush(2);
	rt_exit(2);
}

int main(int argc, char **argv)
{
	int churn = 0, npos = 0, r;
	int64_t hold_ms = 0;
	const char *card = "/dev/dri/card0";

	for (int i = 1; i < argc; i++) {
		if (rt_strcmp(argv[i], "--churn") == 0) {
			churn = 1;
		} else if (argv[i][0] == '-') {
			usage();
		} else {
			int64_t v = rt_parse_num(argv[i], npos == 2 ? 1000 : 1);
			if (v < 0)
				usage();
			if (npos == 0)
				W = (int)v;
			else if (npos == 1)
				H = (int)v;
			else if (npos == 2)
				hold_ms = v;
			else
				usage();
			npos++;
		}
	}
	if (npos < 2 || W <= 0 || H <= 0 || W > MAX_W || H > MAX_W)
		usage();
	int w = W, h = H;

	int fd = rt_open(card, RT_O_RDWR | RT_O_CLOEXEC);
	if (fd < 0)
		die(card, -fd);
	rt_ioctl(fd, DRM_IOCTL_SET_MASTER, 0); /* usually master already */

	struct drm_mode_card_res res;
	uint32_t crtcs[16], conns[16], encs[16];
	memset(&res, 0, sizeof(res));
	if ((r = rt_ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res)))
		die("GETRESOURCES", -r);
	if (res.count_crtcs > 16 || res.count_connectors > 16 || res.count_encoders > 16)
		die("too many KMS objects", 0);
	res.count_fbs = 0;
	res.fb_id_ptr = 0;
	res.crtc_id_ptr = (uintptr_t)crtcs;
	res.connector_id_ptr = (uintptr_t)conns;
	res.encoder_id_ptr = (uintptr_t)encs;
	if ((r = rt_ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res)))
		die("GETRESOURCES", -r);

	/* The first connected connector, a CRTC for it, and its mode list. */
	static struct drm_mode_modeinfo modes[256];
	struct drm_mode_modeinfo mode;
	uint32_t conn_id = 0, crtc_id = 0;
	int have_mode = 0;
	for (uint32_t i = 0; i < res.count_connectors && !conn_id; i++) {
		struct drm_mode_get_connector conn;
		uint32_t conn_encs[16];

		memset(&conn, 0, sizeof(conn));
		conn.connector_id = conns[i];
		if (rt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn))
			continue;
		if (conn.connection != DRM_MODE_CONNECTED || conn.count_encoders == 0)
			continue;
		/* Asking with a short array is fine: the kernel fills what fits. */
		uint32_t nmodes = conn.count_modes < 256 ? conn.count_modes : 256;
		conn.count_modes = nmodes;
		conn.modes_ptr = (uintptr_t)modes;
		conn.count_encoders = conn.count_encoders < 16 ? conn.count_encoders : 16;
		conn.encoders_ptr = (uintptr_t)conn_encs;
		conn.count_props = 0;
		conn.props_ptr = conn.prop_values_ptr = 0;
		if (rt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn))
			continue;
		if (conn.count_modes > nmodes)
			conn.count_modes = nmodes;
		if (conn.count_encoders > 16)
			conn.count_encoders = 16;
		for (uint32_t e = 0; e < conn.count_encoders && !crtc_id; e++) {
			struct drm_mode_get_encoder enc;

			memset(&enc, 0, sizeof(enc));
			enc.encoder_id = conn_encs[e];
			if (rt_ioctl(fd, DRM_IOCTL_MODE_GETENCODER, &enc))
				continue;
			if (enc.crtc_id) {
				crtc_id = enc.crtc_id;
				break;
			}
			for (uint32_t c = 0; c < res.count_crtcs; c++) {
				if (enc.possible_crtcs & (1u << c)) {
					crtc_id = crtcs[c];
					break;
				}
			}
		}
		if (!crtc_id)
			continue;
		conn_id = conns[i];
		for (uint32_t m = 0; m < conn.count_modes; m++) {
			if (modes[m].hdisplay == w && modes[m].vdisplay == h) {
				mode = modes[m];
				have_mode = 1;
				break;
			}
		}
	}
	if (!conn_id)
		die("no connected connector with a CRTC", 0);
	if (!have_mode)
		make_mode(&mode, w, h);

	struct drm_mode_create_dumb creq;
	memset(&creq, 0, sizeof(creq));
	creq.width = w;
	creq.height = h;
	creq.bpp = 32;
	if ((r = rt_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &creq)))
		die("CREATE_DUMB", -r);

	struct drm_mode_fb_cmd fb;
	memset(&fb, 0, sizeof(fb));
	fb.width = w;
	fb.height = h;
	fb.pitch = creq.pitch;
	fb.bpp = 32;
	fb.depth = 24;
	fb.handle = creq.handle;
	if ((r = rt_ioctl(fd, DRM_IOCTL_MODE_ADDFB, &fb)))
		die("ADDFB", -r);

	struct drm_mode_map_dumb mreq;
	memset(&mreq, 0, sizeof(mreq));
	mreq.handle = creq.handle;
	if ((r = rt_ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &mreq)))
		die("MAP_DUMB", -r);
	uint32_t *px = rt_mmap(0, creq.size, RT_PROT_READ | RT_PROT_WRITE, RT_MAP_SHARED, fd,
			       mreq.offset);
	if (rt_mmap_failed(px))
		die("mmap", -(int)(long)px);

	unsigned frame = 0;
	struct drm_clip_rect clip = { 0, 0, (unsigned short)w, (unsigned short)h };
	struct drm_mode_fb_dirty_cmd dirty;
	memset(&dirty, 0, sizeof(dirty));
	dirty.fb_id = fb.fb_id;
	dirty.num_clips = 1;
	dirty.clips_ptr = (uintptr_t)&clip;

	draw(px, w, h, (int)creq.pitch, frame);

	struct drm_mode_crtc crtc;
	memset(&crtc, 0, sizeof(crtc));
	crtc.crtc_id = crtc_id;
	crtc.fb_id = fb.fb_id;
	crtc.set_connectors_ptr = (uintptr_t)&conn_id;
	crtc.count_connectors = 1;
	crtc.mode = mode;
	crtc.mode_valid = 1;
	if ((r = rt_ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &crtc)))
		die("SETCRTC", -r);
	/* Drivers that copy to the host on demand (virtio-gpu) need this;
	 * drivers that scan the buffer out directly may refuse it. */
	rt_ioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty);
	rt_puts("KMSMODE ");
	rt_putnum(w);
	rt_puts("x");
	rt_putnum(h);
	rt_puts(" ok\n");
	rt_flush(1);

	rt_signal(SIGINT, on_signal);
	rt_signal(SIGTERM, on_signal);
	rt_signal(SIGHUP, on_signal);
	int64_t start = rt_now_ms();
	int64_t end = hold_ms > 0 ? start + hold_ms : 0;
	while (!stop) {
		int64_t t = rt_now_ms();
		if (end && t >= end)
			break;
		if (churn) {
			draw(px, w, h, (int)creq.pitch, ++frame);
			rt_ioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty);
			/* At most ~30 frames a second. */
			rt_sleep_ms(33 - (rt_now_ms() - t));
		} else {
			int64_t left = end ? end - t : 1000;
			rt_sleep_ms(left < 1000 ? left : 1000);
		}
	}

	if (churn) {
		rt_puts("KMSMODE churn frames=");
		rt_putnum(frame);
		rt_puts(" ms=");
		rt_putnum(rt_now_ms() - start);
		rt_puts("\n");
		rt_flush(1);
	}
	rt_munmap(px, creq.size);
	rt_ioctl(fd, DRM_IOCTL_MODE_RMFB, &fb.fb_id);
	struct drm_mode_destroy_dumb dreq = { .handle = creq.handle };
	rt_ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dreq);
	rt_close(fd); /* the last close gives the display back to fbcon */
	redraw_console();
	return 0;
}
