#!/usr/bin/python3
"""A tiny org.freedesktop.Notifications server for the end-to-end test.

It owns the name on the session bus (started by `dbus-run-session`), answers like a desktop's
notification daemon, and appends every notification to a JSON-lines file so the test can check
that the app notified the person. Needs Debian's python3-dbus and python3-gi (system Python).

Usage: notify_server.py OUT.jsonl
"""
import json
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Server(dbus.service.Object):
    def __init__(self, bus, out):
        super().__init__(bus, PATH)
        self.out = out
        self.next_id = 1

    @dbus.service.method(NAME, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app_name, replaces_id, icon, summary, body, actions, hints, timeout):
        nid = int(replaces_id) or self.next_id
        self.next_id += 1
        record = {"id": nid, "app": str(app_name), "summary": str(summary), "body": str(body)}
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        print(f"notification: {record}", flush=True)
        return dbus.UInt32(nid)

    @dbus.service.method(NAME, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["body", "actions"]

    @dbus.service.method(NAME, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("moshibar-e2e", "moshibar", "1.0", "1.2")

    @dbus.service.method(NAME, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        self.NotificationClosed(nid, 3)

    @dbus.service.signal(NAME, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass


def main():
    out = sys.argv[1]
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName(NAME, bus, do_not_queue=True)  # noqa: F841 (keeps the name)
    Server(bus, out)
    print("notification server ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
