"""libvirt tiles: the VMs people already run under libvirt, on this machine and on other hosts."""
