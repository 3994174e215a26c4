#!/usr/bin/python3
"""An RTSP camera for the tests: GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-good) streaming a test pattern as RTP/JPEG at /line.
Arguments: PORT (0 for a free one) [USER PASSWORD] for Basic auth.
Prints "port <n>" once it listens; runs until killed."""
import sys

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port = sys.argv[1]
user, password = (sys.argv[2], sys.argv[3]) if len(sys.argv) == 4 else (None, None)

server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch('( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 ! jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26 )')
factory.set_shared(True)
if user is not None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string('media.factory.role', user)
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(Gst.Structure.new_from_string(f'{user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true'))
    factory.set_permissions(permissions)
server.get_mount_points().add_factory('/line', factory)
server.attach(None)
print(f'port {server.get_bound_port()}', flush=True)
GLib.MainLoop().run()
