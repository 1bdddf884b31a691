"""A portmapper and MOUNT v3 server on UDP, enough for ramses-nfsmount's calls (run it inside a
private network namespace: it binds port 111). It answers GETPORT for MOUNT v3 and NFS v3 and
refuses every MNT with status 13 (EACCES), so the client never reaches mount(2); it prints each
call it decoded as one JSON line.

    python3 rpcfake.py   (in `unshare --net`, after `ip link set lo up`)
"""

from __future__ import annotations

import json
import socket
import struct
import sys

MOUNT_PORT = 20048


def serve(count: int) -> None:
    pm = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pm.bind(("127.0.0.1", 111))
    md = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    md.bind(("127.0.0.1", MOUNT_PORT))
    print("ready", flush=True)
    for sock in [pm] * (count - 1) + [md]:
        sock.settimeout(20)
        data, peer = sock.recvfrom(2048)
        xid, _mtype, _rpcvers, prog, vers, proc, flavor, clen = struct.unpack(">8I", data[:32])
        cred = data[32:32 + clen]
        body = data[32 + clen + 8:]
        call = {"peer_port": peer[1], "prog": prog, "vers": vers, "proc": proc, "flavor": flavor}
        if flavor == 1:  # AUTH_UNIX: stamp, machine name, uid, gid, gids
            n = struct.unpack(">I", cred[4:8])[0]
            call["machine"] = cred[8:8 + n].decode()
            call["uid"], call["gid"] = struct.unpack(">II", cred[8 + (n + 3) // 4 * 4:16 + (n + 3) // 4 * 4])
        head = struct.pack(">6I", xid, 1, 0, 0, 0, 0)  # REPLY, accepted, AUTH_NULL verifier, SUCCESS
        if prog == 100000:
            p, v, proto, _ = struct.unpack(">4I", body[:16])
            call["getport"] = [p, v, proto]
            reply = head + struct.pack(">I", {100005: MOUNT_PORT, 100003: 2049}.get(p, 0))
        else:
            n = struct.unpack(">I", body[:4])[0]
            call["path"] = body[4:4 + n].decode()
            reply = head + struct.pack(">I", 13)
        print(json.dumps(call), flush=True)
        sock.sendto(reply, peer)


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
