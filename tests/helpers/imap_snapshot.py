"""What an IMAP client sees of a mailbox, as JSON (tests of `extremail import`).

    python3 imap_snapshot.py HOST PORT USER PASSWORD

Prints {"subscribed": [...], "folders": {name: {"uidvalidity", "uidnext", "messages":
[{"uid", "flags", "internaldate", "sha256", "size"}]}}} for every selectable folder;
\\Recent is left out of the flags (it belongs to a session, not to the message).
"""
import hashlib
import imaplib
import json
import re
import sys
import time

host, port, user, password = sys.argv[1:5]
m = imaplib.IMAP4(host, int(port))
m.login(user, password)

LIST_RE = re.compile(rb'\((.*?)\) (?:"(?:\\.|[^"])"|NIL) (.*)$')


def names(lines):
    out = []
    for raw in lines:
        if raw is None:
            continue
        if isinstance(raw, tuple):  # a literal name
            flags = LIST_RE.match(raw[0] + b" x").group(1)
            name = raw[1]
        else:
            mm = LIST_RE.match(raw)
            flags, name = mm.group(1), mm.group(2)
            if name.startswith(b'"'):
                name = re.sub(rb'\\(.)', rb'\1', name[1:-1])
        if b"\\Noselect" in flags or b"\\NonExistent" in flags:
            continue
        out.append(name.decode())
    return out


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


typ, lines = m.list()
folders = names(lines)
typ, lines = m.lsub()
subscribed = sorted(names(lines))
result = {"subscribed": subscribed, "folders": {}}
for name in folders:
    typ, data = m.select(quote(name), readonly=True)
    assert typ == "OK", (name, data)
    exists = int(data[0])
    uidvalidity = int(m.response("UIDVALIDITY")[1][0])
    uidnext = int(m.response("UIDNEXT")[1][0])
    messages = {}
    if exists:
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE)")
        for item in data:
            text = item if isinstance(item, bytes) else item[0]
            uid = int(re.search(rb"UID (\d+)", text).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", text).group(1).decode().split()
            when = imaplib.Internaldate2tuple(text)
            messages[uid] = {
                "uid": uid,
                "flags": sorted(f for f in flags if f != "\\Recent"),
                "internaldate": int(time.mktime(when)),  # Internaldate2tuple gives local time
                "size": int(re.search(rb"RFC822\.SIZE (\d+)", text).group(1)),
            }
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                messages[uid]["sha256"] = hashlib.sha256(item[1]).hexdigest()
    result["folders"][name] = {
        "uidvalidity": uidvalidity,
        "uidnext": uidnext,
        "messages": [messages[u] for u in sorted(messages)],
    }
m.logout()
print(json.dumps(result))
