"""An asyncio RFB (VNC) client that turns a VNC server's framebuffer into Geometry OS frames.

:class:`RfbClient` (client.py) is the whole of it from outside; docs/vnc.md is the guide.
Inside: protocol.py (wire constants, limits, :class:`RfbError`), handshake.py (versions,
security, ServerInit), des.py (VNC authentication), zrle.py and tight.py (the compressing
decoders), cursor.py (the Cursor pseudo-encoding).
"""

from .client import RfbClient
from .handshake import ServerInit
from .protocol import Encoding, RfbError

__all__ = ["Encoding", "RfbClient", "RfbError", "ServerInit"]
