#!/bin/sh
# Benchmark 4 on the device machine (a GPU, no network): unpack the GL loader
# packages and Python wheels carried in .gl/ and .whl/ (see docs/performance.md),
# then run benchmarks.render: the main table, and the large walls (16 to 256 tiles)
# against a reference geometry-os (.whl/ref/, e.g. the commit before a change) in the
# same run.  Writes $OUT/gpu-render.json, gpu-walls.json, gpu-still.json and gpu.log; merge
# them into benchmarks/results/gpu-render.json and docs/performance.md shows them.
#
# Made beforehand on this machine (.gl and .whl are listed in .git/info/exclude):
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   mkdir -p .gl/extra /tmp/amd64/partial && apt-get $o update
#   (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#   (cd .gl/extra && apt-get $o download libfreetype6 libfontconfig1 fontconfig-config \
#       fonts-dejavu-core libpng16-16 libbrotli1)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl pyglet==2.1.19 attrs==26.1.0 pluggy==1.7.0 PyYAML==6.0.4 dbus-fast==5.2.0 qemu.qmp==0.0.6 \
#       pyte==0.8.2 wcwidth ruamel.yaml==0.18.17 ruamel.yaml.clib pillow miniaudio cffi pycparser
#   python3.12 -m pip wheel --no-deps -w .whl/geos .      # this checkout, as it is now; built by the
#       device's Python version (3.12): the wheel carries a C extension (plugins/qemu/_guarded_map.c)
#   git worktree add --detach /tmp/geos-ref REV      # the reference, e.g. REV = the commit before a change
#   python3.12 -m pip wheel --no-deps -w .whl/ref /tmp/geos-ref
# and run there as: sh benchmarks/gpu.sh (carrying .gl and .whl); `sh benchmarks/gpu.sh walls`
# runs only the comparison against .whl/ref.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
# pyglet's text needs FreeType and fontconfig: unpacked aside (not into /), with a
# fontconfig file that points at the carried DejaVu fonts.
X=/tmp/gl-extra
for f in .gl/extra/*.deb; do dpkg -x "$f" "$X"; done
export LD_LIBRARY_PATH=$X/usr/lib/x86_64-linux-gnu
printf '<?xml version="1.0"?>\n<fontconfig><dir>%s/usr/share/fonts</dir><cachedir>/tmp/fc-cache</cachedir></fontconfig>\n' "$X" >"$X/fonts.conf"
export FONTCONFIG_FILE=$X/fonts.conf
pip="python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade"
# geometry-os as a wheel (not the tree's engine/ folder): its built-in plugins are entry points
$pip --target /tmp/site .whl/*.whl .whl/geos/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
vendor=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$vendor" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$vendor
nvidia-smi -L
nvidia-smi --query-gpu=driver_version --format=csv,noheader
{
  if [ "${1:-}" != walls ]; then
    python3 -m benchmarks.render --sizes 1280x720,1920x1080,3840x2160 --effects off,crt,crt+bio --wall "" \
      --json "$OUT/gpu-render.json"
  fi
  if [ -d .whl/ref ]; then
    $pip --target /tmp/ref .whl/ref/*.whl || exit 1
    python3 -m benchmarks.render --sizes 1920x1080 --tiles 1,16,64,256 --effects off,crt --wall "" \
      --against /tmp/ref --json "$OUT/gpu-walls.json"
    # the same walls with guests that redraw twice a second: the drawing, not the uploads
    python3 -m benchmarks.render --sizes 1920x1080 --tiles 1,16,64,256 --effects off,crt --wall "" --rate 2 \
      --against /tmp/ref --json "$OUT/gpu-still.json"
  fi
} 2>&1 | tee "$OUT/gpu.log"
