"""``geos doctor`` lines for libvirt: the Python binding, and whether this machine's libvirtd answers."""

from __future__ import annotations

from geometry_os import api

from .errors import describe
from .params import DEFAULT_URI


def libvirt_checks() -> list[api.CheckResult]:
    try:
        import libvirt
    except ImportError:
        return [api.CheckResult("warn", "libvirt-python", "not installed: pip install libvirt-python (it builds "
                                "from source: apt install libvirt-dev gcc pkg-config python3-dev)")]
    version = libvirt.getVersion()
    results = [api.CheckResult("ok", "libvirt-python", f"libvirt {version // 1000000}.{version // 1000 % 1000}."
                                                       f"{version % 1000}")]
    try:
        conn = libvirt.open(DEFAULT_URI)
    except libvirt.libvirtError as exc:
        results.append(api.CheckResult("warn", f"libvirt {DEFAULT_URI}", describe(exc, DEFAULT_URI)))
        return results
    try:
        count = len(conn.listAllDomains(0))
        results.append(api.CheckResult("ok", f"libvirt {DEFAULT_URI}",
                                       f"{count} domain{'s' if count != 1 else ''} (geos run --libvirt "
                                       f"{DEFAULT_URI} shows them)"))
    finally:
        conn.close()
    return results
