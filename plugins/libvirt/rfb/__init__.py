"""An asyncio RFB (VNC) client that turns a VNC server's framebuffer into Geometry OS frames."""
