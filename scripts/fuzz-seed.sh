#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the frames of ../shared/captures/*.pcap:
# whole frames for ethernet_frame, the UDP payload for l2tp, the L2TP data
# payload for ppp. radius gets the RFC 2865 §7.1 Access-Request.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${L2TPX_SHARED:-../shared}"
python3 - "$shared/captures" fuzz/corpus <<'PY'
import os, struct, sys, hashlib
src, dst = sys.argv[1], sys.argv[2]
def put(target, data):
    d = os.path.join(dst, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, hashlib.sha1(data).hexdigest()), 'wb').write(data)
for name in sorted(os.listdir(src)):
    if not name.endswith('.pcap'): continue
    raw = open(os.path.join(src, name), 'rb').read()
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack('<I', raw[off+8:off+12])[0]; off += 16
        frame = raw[off:off+incl]; off += incl
        put('ethernet_frame', frame)
        if len(frame) < 34 or frame[12:14] != b'\x08\x00': continue
        ihl = (frame[14] & 0x0f) * 4
        if frame[23] != 17: continue
        udp = frame[14+ihl:]
        l2tp = udp[8:]
        put('l2tp', l2tp)
        if len(l2tp) < 6 or l2tp[0] & 0x80: continue
        flags = l2tp[0]
        hl = 6 + (2 if flags & 0x40 else 0) + (4 if flags & 0x08 else 0)
        if flags & 0x02:
            if len(l2tp) < hl + 2: continue
            hl += 2 + struct.unpack('>H', l2tp[hl:hl+2])[0]
        put('ppp', l2tp[hl:])
# RFC 2865 §7.1 Access-Request.
put('radius', bytes.fromhex('010000380f403f9473978057bd83d5cb98f4227a'
    '01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a8011005060000000' '3'))
PY
for t in fuzz/corpus/*; do echo "$t: $(ls "$t" | wc -l) seeds"; done
