// The stable set of uniforms every tile effect can read (docs/effects.md lists them).
uniform sampler2D u_frame;     // the guest image (BGRA storage, alpha forced to 1)
uniform vec2 u_frame_size;     // guest image size in pixels
uniform vec2 u_tile_size;      // the image's size on screen, in pixels
uniform vec2 u_resolution;     // window size in pixels
uniform float u_time;          // seconds since the shell started
uniform float u_zoom;          // camera zoom (screen pixels per world unit)
uniform float u_focus;         // 1.0 when this tile has input focus, else 0.0
uniform float u_cpu_load;      // the VM's CPU load, smoothed, 0..1 (per vCPU average)
uniform float u_update_rate;   // screen updates per second received for this tile
uniform int u_state;           // 0 booting, 1 running, 2 paused, 3 stopped, 4 failed
