#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""dhcp-rootpath.py - a DHCP server for one QEMU NIC, giving a root-path.

Usage: dhcp-rootpath.py ROOT_PATH

QEMU's user-mode network (slirp) answers DHCP but has no root-path
option (17), which dracut's root=dhcp reads the root from.  This serves
a second NIC of the guest whose only peer is this process: QEMU's
`-netdev dgram` carries each Ethernet frame as one UDP datagram between
127.0.0.1 ports.  It binds 127.0.0.1 on a port of the kernel's choice
and prints it as the first line of standard output; it answers each
frame to the address it came from (QEMU's local port).  It
answers DHCPDISCOVER with an OFFER and DHCPREQUEST with an ACK of
10.0.3.15/24 (server 10.0.3.1, no router: the guest's other NIC keeps
the default route), with ROOT_PATH as option 17, and logs each reply to
standard error ("DHCP OFFER MAC" / "DHCP ACK MAC").  Everything else
(ARP, IPv6, the guest's other traffic) is dropped: nothing reaches past
this process.
"""

import socket
import struct
import sys

SERVER_MAC = bytes.fromhex("525400000301")
SERVER_IP = socket.inet_aton("10.0.3.1")
CLIENT_IP = socket.inet_aton("10.0.3.15")
MASK = socket.inet_aton("255.255.255.0")
MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, ACK = 1, 2, 3, 5


def checksum(data):
    """The Internet checksum (RFC 1071) of an IPv4 header."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def dhcp_request(frame):
    """(msg type, xid, chaddr, flags) of a BOOTP request in FRAME, or None."""
    if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 17:
        return None
    udp = ip[ihl:]
    if struct.unpack("!H", udp[2:4])[0] != 67:
        return None
    bootp = udp[8:]
    if bootp[0] != 1 or bootp[236:240] != MAGIC:
        return None
    xid, flags = bootp[4:8], bootp[10:12]
    chaddr = bootp[28:34]
    opts = bootp[240:]
    i = 0
    while i < len(opts) and opts[i] != 255:
        if opts[i] == 0:
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        code, length = opts[i], opts[i + 1]
        if code == 53 and length == 1:
            return opts[i + 2], xid, chaddr, flags
        i += 2 + length
    return None


def dhcp_reply(kind, xid, chaddr, flags, root_path):
    """The Ethernet frame of an OFFER or ACK (broadcast, as a client
    without an address can take it)."""
    opts = bytes([53, 1, kind]) + bytes([54, 4]) + SERVER_IP
    opts += bytes([51, 4]) + struct.pack("!I", 3600)
    opts += bytes([1, 4]) + MASK
    rp = root_path.encode()
    opts += bytes([17, len(rp)]) + rp + b"\xff"
    bootp = struct.pack("!BBBB", 2, 1, 6, 0) + xid + b"\0\0" + flags
    bootp += b"\0" * 4 + CLIENT_IP + SERVER_IP + b"\0" * 4
    bootp += chaddr + b"\0" * 10 + b"\0" * 192 + MAGIC + opts
    bootp += b"\0" * max(0, 300 - len(bootp))
    udp = struct.pack("!HHHH", 67, 68, 8 + len(bootp), 0) + bootp
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      SERVER_IP, b"\xff\xff\xff\xff")
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return b"\xff" * 6 + SERVER_MAC + b"\x08\x00" + hdr + udp


def main():
    if len(sys.argv) != 2 or len(sys.argv[1].encode()) > 255:
        sys.exit("usage: dhcp-rootpath.py ROOT_PATH (at most 255 bytes)")
    root_path = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    while True:
        frame, peer = sock.recvfrom(65536)
        if peer[0] != "127.0.0.1":
            continue
        req = dhcp_request(frame)
        if req is None:
            continue
        kind, xid, chaddr, flags = req
        reply = {DISCOVER: OFFER, REQUEST: ACK}.get(kind)
        if reply is None:
            continue
        sock.sendto(dhcp_reply(reply, xid, chaddr, flags, root_path), peer)
        print("DHCP %s %s" % ("OFFER" if reply == OFFER else "ACK", chaddr.hex(":")),
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
