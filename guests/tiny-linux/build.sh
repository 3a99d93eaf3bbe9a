#!/bin/bash
# Build the Geometry OS tiny guest: a BIOS-bootable x86-64 Linux ISO made only
# from Debian packages (Debian's kernel and modules, busybox-static, GRUB).
#
#   guests/tiny-linux/build.sh [OUTPUT.iso]
#
# Default output: ${XDG_CACHE_HOME:-$HOME/.cache}/geometry-os/images/tiny-linux.iso
# Does nothing when OUTPUT is newer than this directory's files and the kernel.
# Needs no network and no sudo. Environment: TINY_KVER picks the kernel
# version (default: the newest /boot/vmlinuz-* with modules installed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/geometry-os/images/tiny-linux.iso}

die() {
	echo "tiny-linux/build.sh: $*" >&2
	exit 1
}

# Kernel command line. Besides the required ones: panic=-1 reboots at once on
# a panic (QEMU -no-reboot then exits), nokaslr spares the decompressor's
# search (and its messages on small RAM), tsc=reliable skips the clocksource
# watchdog, 8250.nr_uarts=1 probes one UART only.
cmdline="console=tty0 console=ttyS0,115200 mitigations=off cryptomgr.notests quiet"
cmdline+=" loglevel=3 panic=-1 nokaslr tsc=reliable no_timer_check 8250.nr_uarts=1"
cmdline+=" random.trust_cpu=on"

# Modules shipped in the initramfs (with their dependencies). /init loads the
# input ones and qemu_fw_cfg, and the sound ones when there is an HDA card; the
# DRM ones are loaded on demand (modprobe bochs). snd_pcm_oss gives /dev/dsp,
# which the tone tool plays through.
modules=(
	qemu_fw_cfg evdev usbhid hid_generic xhci_pci ehci_pci uhci_hcd ohci_pci
	bochs virtio_pci virtio_gpu virtio_input
	snd_hda_intel snd_hda_codec_generic snd_pcm_oss
)

# Kernel version: from TINY_KVER or the newest installed kernel with modules.
kver=${TINY_KVER:-}
if [ -z "$kver" ]; then
	for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's,^/boot/vmlinuz-,,' | sort -V -r); do
		if [ -d "/lib/modules/$k/kernel" ]; then
			kver=$k
			break
		fi
	done
fi
[ -n "$kver" ] || die "no /boot/vmlinuz-* with matching /lib/modules: apt-get install linux-image-amd64"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel missing or unreadable: apt-get install linux-image-$kver"
[ -d "/lib/modules/$kver/kernel" ] || die "/lib/modules/$kver missing: apt-get install linux-image-$kver"

# Up to date? (newer than every input: this directory's files and the kernel)
if [ -s "$out" ] && [ -z "$(find "$here" "$kernel" -newer "$out" -print -quit 2>/dev/null)" ]; then
	exit 0
fi

need() { # need COMMAND APT-PACKAGE
	command -v "$1" >/dev/null 2>&1 || die "$1 not found: apt-get install $2"
}
need busybox busybox-static
need grub-mkrescue grub-common
need xorriso xorriso
need cpio cpio
need gzip gzip
need depmod kmod
need modprobe kmod
need gcc gcc
[ -f /usr/lib/grub/i386-pc/cdboot.img ] || die "GRUB BIOS files missing: apt-get install grub-pc-bin"
busybox=$(command -v busybox)
if LC_ALL=C ldd "$busybox" 2>/dev/null | grep -q '=>'; then
	die "$busybox is dynamically linked: apt-get install busybox-static"
fi
[ -f /usr/include/linux/input.h ] || die "kernel headers missing: apt-get install linux-libc-dev"
[ -f /usr/include/x86_64-linux-gnu/sys/ioctl.h ] || die "C headers missing: apt-get install libc6-dev"

work=$(mktemp -d "${TMPDIR:-/tmp}/tiny-linux.XXXXXX")
tmp_out=
cleanup() {
	rm -rf "$work"
	[ -z "$tmp_out" ] || rm -f "$tmp_out"
}
trap cleanup EXIT

root=$work/root
iso=$work/iso
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,lib/modules} "$iso/boot/grub"

# Busybox and its applet links.
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin/busybox "$root/linuxrc"
ln -s ../bin/busybox "$root/sbin/modprobe" # the kernel's request_module() path

# Our static tools, without libc (rt.h): a static glibc would add ~700 KB each.
for tool in kmsmode evread tone; do
	gcc -static -O2 -s -Wall -nostdlib -ffreestanding -fno-stack-protector -fno-builtin \
		-o "$root/bin/$tool" "$here/$tool.c" -lgcc ||
		die "compiling $tool.c failed"
done

# Init, inittab, profile.
cp -R "$here/rootfs/." "$root/"
chmod 0755 "$root/init"
chmod 0700 "$root/root"

# Kernel modules with their dependencies, and a depmod'ed tree for modprobe.
moddir=/lib/modules/$kver
for m in "${modules[@]}"; do
	deps=$(modprobe -S "$kver" --show-depends "$m" 2>&1) ||
		die "module $m not found for $kver: $deps"
	while read -r word path _; do
		[ "$word" = insmod ] || continue
		rel=${path#"$moddir"/}
		mkdir -p "$root/$moddir/$(dirname "$rel")"
		cp "$path" "$root/$moddir/$rel"
	done <<<"$deps"
done
for f in modules.builtin modules.builtin.modinfo; do
	[ ! -f "$moddir/$f" ] || cp "$moddir/$f" "$root/$moddir/"
done
(cd "$root/$moddir" && find kernel -name '*.ko' | LC_ALL=C sort) >"$root/$moddir/modules.order"
depmod -b "$root" "$kver" || die "depmod failed"
# busybox modprobe reads only the text files
rm -f "$root/$moddir"/modules.*.bin "$root/$moddir"/modules.{symbols,builtin.modinfo}

# The initramfs (gzip: under TCG it unpacks faster than xz).
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 | gzip -9 -n) >"$iso/boot/initrd.gz"
cp "$kernel" "$iso/boot/vmlinuz"

cat >"$iso/boot/grub/grub.cfg" <<EOF
set timeout=0
set timeout_style=hidden
menuentry "Geometry OS tiny guest" {
	linux /boot/vmlinuz $cmdline
	initrd /boot/initrd.gz
}
EOF

# BIOS-only ISO with only the GRUB modules the menu entry needs.
mkdir -p "$(dirname "$out")"
tmp_out=$(mktemp "$(dirname "$out")/.tiny-linux.iso.XXXXXX")
grub-mkrescue -o "$tmp_out" -d /usr/lib/grub/i386-pc \
	--install-modules="linux normal iso9660 biosdisk" \
	--fonts= --locales= --themes= "$iso" >"$work/grub-mkrescue.log" 2>&1 ||
	die "grub-mkrescue failed: $(tail -n 3 "$work/grub-mkrescue.log" | tr '\n' ' ')"
chmod 0644 "$tmp_out"
mv -f "$tmp_out" "$out"
tmp_out=
echo "$out"
