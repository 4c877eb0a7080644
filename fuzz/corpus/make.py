#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target from the repository's own material:
RFC 4475 torture messages and SIPp scenarios (tests/), the demo dialplans and config, real
WAV prompts and recordings trimmed small, and PDUs, packets and bodies laid out by hand
after the specifications. Run from anywhere; it rewrites fuzz/corpus/<target>/ in place."""

import json
import pathlib
import re
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fuzz" / "corpus"


def target(name):
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def put(d, name, data):
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# --- SIP: RFC 4475 byte for byte, and every message the SIPp scenarios send. ---------------
SIPP_FIELDS = {
    "service": "12345", "remote_ip": "127.0.0.1", "remote_port": "5060",
    "local_ip": "127.0.0.1", "local_port": "5070", "transport": "UDP",
    "branch": "z9hG4bK-1-0", "pid": "4242", "call_number": "1",
    "call_id": "1-4242@127.0.0.1", "local_ip_type": "4", "media_ip_type": "4",
    "media_ip": "127.0.0.1", "media_port": "6000", "next_url": "sip:12345@127.0.0.1:5060",
    "peer_tag_param": ";tag=abc123", "last_Via:": "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK9",
    "last_From:": "From: <sip:1@127.0.0.1>;tag=9", "last_To:": "To: <sip:2@127.0.0.1>;tag=8",
    "last_Call-ID:": "Call-ID: x@127.0.0.1", "last_CSeq:": "CSeq: 1 INVITE",
    "cseq": "1", "field0": "1001", "field1": "secret", "authentication": "",
}


def sipp_messages():
    for xml in sorted((ROOT / "tests" / "sipp").glob("*.xml")):
        text = xml.read_text(encoding="latin-1")
        for i, block in enumerate(re.findall(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", text, re.S)):
            lines = [l.strip() for l in block.strip("\n").split("\n")]
            while lines and not lines[0]:
                lines.pop(0)
            msg = "\r\n".join(lines)
            head, _, body = msg.partition("\r\n\r\n")
            msg = re.sub(r"\[\$?([^\]\s]+)\]", lambda m: SIPP_FIELDS.get(m.group(1), "1"), head)
            body = re.sub(r"\[\$?([^\]\s]+)\]", lambda m: SIPP_FIELDS.get(m.group(1), "1"), body)
            body = body.strip("\r\n") + "\r\n" if body.strip() else ""
            msg = msg.replace("Content-Length: 1", f"Content-Length: {len(body)}")
            yield f"sipp_{xml.stem}_{i}", (msg + "\r\n\r\n" + body).encode()


d = target("sip_udp")
for dat in sorted((ROOT / "tests" / "sip_torture").glob("*.dat")):
    put(d, "rfc4475_" + dat.stem, dat.read_bytes())
sdp_bodies = []
for name, msg in sipp_messages():
    put(d, name, msg)
    _, _, body = msg.partition(b"\r\n\r\n")
    if b"m=audio" in body:
        sdp_bodies.append((name, body))

# --- SDP: the SIPp offers, RFC 4475's, and the shapes phones send. ---------------------------
d = target("sdp")
seen = set()
for name, body in sdp_bodies:
    if body not in seen:
        seen.add(body)
        put(d, name, body)
put(d, "rfc4475_sdp01", (ROOT / "tests/sip_torture/sdp01.dat").read_bytes().partition(b"\r\n\r\n")[2])
put(d, "baresip_offer", "v=0\r\no=- 1 2 IN IP4 10.0.0.2\r\ns=baresip\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
    "m=audio 10000 RTP/AVP 9 0 8 101\r\nb=AS:64\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")
put(d, "hold_old_style", "v=0\r\no=a 1 3 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n")
put(d, "video_then_audio_ipv6", "v=0\r\no=- 5 5 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
    "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 5002/2 RTP/AVP 0 101\r\n"
    "a=rtpmap:101 TELEPHONE-EVENT/8000\r\na=recvonly\r\nm=audio 7 RTP/AVP 8\r\n")


# --- RTP and RTCP: packets as SIPp's pcap replay and our own sender make them. --------------
def rtp(pt, seq, ts, ssrc, payload, marker=False, csrc=(), ext=None, pad=0):
    b0 = 0x80 | (len(csrc) & 0x0F) | (0x10 if ext else 0) | (0x20 if pad else 0)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    for c in csrc:
        out += struct.pack("!I", c)
    if ext:
        prof, words = ext
        out += struct.pack("!HH", prof, len(words) // 4) + words
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


ulaw_tone = bytes((0xFF - (i * 37) % 128) for i in range(160))
d = target("rtp")
put(d, "pcmu_20ms", rtp(0, 1, 160, 0x1234, ulaw_tone, marker=True))
put(d, "pcma_20ms", rtp(8, 2, 320, 0x1234, bytes((0xD5 ^ (i % 64)) for i in range(160))))
put(d, "event_5_end", rtp(101, 3, 480, 0x1234, bytes([5, 0x8A, 0x03, 0x20])))
put(d, "csrc_ext_pad", rtp(0, 4, 640, 0x99, ulaw_tone[:40], csrc=(1, 2), ext=(0xBEDE, b"\x10\xAA\0\0"), pad=4))

d = target("rtcp")
sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0x12345678, 0xE0000000, 0, 160, 50, 8000)
sdes = struct.pack("!BBHIBB", 0x81, 202, 4, 0x12345678, 1, 7) + b"hotline" + b"\0\0\0\0\0"
put(d, "sr_sdes", sr + sdes[: 4 + 4 * 4])
put(d, "rr_empty", struct.pack("!BBHI", 0x80, 201, 1, 0x1))
put(d, "bye", struct.pack("!BBHI", 0x81, 203, 1, 0x1))
put(d, "app", struct.pack("!BBHI", 0x80, 204, 2, 0x1) + b"name")

d = target("dtmf_event")
press = b"".join(struct.pack("!I", 8000) + bytes([1, 0x0A]) + struct.pack("!H", 160 * k) for k in range(1, 4))
end = b"".join(struct.pack("!I", 8000) + bytes([1, 0x8A]) + struct.pack("!H", 480) for _ in range(3))
put(d, "key_1_three_ends", press + end)
put(d, "keys_9_then_hash_no_end", struct.pack("!I", 100) + bytes([9, 10, 0, 160]) + struct.pack("!I", 900) + bytes([11, 10, 0, 160]))
put(d, "flash_event_16", struct.pack("!I", 7) + bytes([16, 0x80, 1, 0]))


# --- SMPP: the PDUs the SMSC simulator sends, laid out per SMPP 3.4 §4. ---------------------
def cstr(s):
    return s.encode() + b"\0"


def pdu(command_id, seq, body=b"", status=0):
    return struct.pack("!IIII", 16 + len(body), command_id, status, seq) + body


def deliver_sm(seq, src, dst, esm, dc, sm, tlvs=b""):
    body = (cstr("") + bytes([1, 1]) + cstr(src) + bytes([0, 0]) + cstr(dst) + bytes([esm, 0, 0])
            + cstr("") + cstr("") + bytes([0, 0, dc, 0, len(sm)]) + sm + tlvs)
    return pdu(0x00000005, seq, body)


def ucs2(s):
    return s.encode("utf-16-be")


d = target("smpp_pdu")
put(d, "bind_transceiver_resp", pdu(0x80000009, 1, cstr("smsc")))
put(d, "enquire_link", pdu(0x00000015, 2))
put(d, "submit_sm_resp", pdu(0x80000004, 3, cstr("lk2x-17")))
put(d, "generic_nack", pdu(0x80000000, 4, status=3))
put(d, "deliver_sm_gsm_cx", deliver_sm(5, "13800138000", "12345", 0, 0, b"CX"))
put(d, "deliver_sm_ucs2", deliver_sm(6, "+8613800138000", "12345", 0, 8, ucs2("路灯坏了，在人民路口")))
udh = bytes([5, 0, 3, 0x2A, 2, 1])
put(d, "deliver_sm_concat_1of2", deliver_sm(7, "13800138000", "12345", 0x40, 8, udh + ucs2("第一段")))
receipt = b"id:lk2x-17 sub:001 dlvrd:001 submit date:2611261430 done date:2611261430 stat:DELIVRD err:000 text:"
rid = cstr("lk2x-17")
put(d, "deliver_sm_receipt", deliver_sm(8, "13800138000", "12345", 0x04, 0, receipt,
                                         struct.pack("!HH", 0x001E, len(rid)) + rid))
put(d, "two_pdus", pdu(0x00000015, 9) + deliver_sm(10, "13800138000", "12345", 0, 0, b"TD"))

d = target("sms_text")
put(d, "gsm_ext", bytes([0, 0]) + b"Price \x1b\x65 5 \x1b\x3c")
put(d, "ucs2", bytes([8, 0]) + ucs2("查询工单"))
put(d, "ucs2_concat16_2of2", bytes([8, 0x40]) + bytes([6, 8, 4, 1, 0x2A, 2, 2]) + ucs2("第二段"))
put(d, "latin1", bytes([3, 0]) + "café".encode("latin-1"))
put(d, "ia5_udh_concat_1of1", bytes([1, 0x40]) + bytes([5, 0, 3, 7, 1, 1]) + b"PJ 1")


# --- WAV: real prompts and recordings, trimmed to a few dozen samples. ---------------------
def trim_wav(raw, keep):
    out, pos = bytearray(raw[:12]), 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"data":
            body = body[:keep]
            out += cid + struct.pack("<I", len(body)) + body
            break
        out += raw[pos:pos + 8] + body + (b"\0" if size & 1 else b"")
        pos += 8 + size + (size & 1)
    out[4:8] = struct.pack("<I", len(out) - 8)
    return bytes(out)


d = target("wav")
put(d, "hold_chimes_pcm16", trim_wav((ROOT / "sounds/hold/01-chimes.wav").read_bytes(), 64))
held = sorted((ROOT / "tests/fixtures/speech-heldout").glob("*.wav"))
if held:
    put(d, "recording_ulaw", trim_wav(held[0].read_bytes(), 48))
tones = sorted((ROOT / "dialplans/tones").glob("*.wav"))
if tones:
    put(d, "dialplan_tone", trim_wav(tones[0].read_bytes(), 48))

# --- Dialplans and config: the demo's own files and the validator's broken examples. --------
d = target("dialplan")
for f in sorted((ROOT / "dialplans").glob("*.toml")):
    put(d, "demo_" + f.stem, f.read_bytes())
for f in sorted((ROOT / "tests/dialplans/broken").glob("*.toml")):
    put(d, "broken_" + f.stem, f.read_bytes())

d = target("config")
put(d, "demo_hotline", (ROOT / "config/hotline.toml").read_bytes())
put(d, "empty", b"")
put(d, "sip_and_sms", b"[sip]\nmax_calls = 50\n\n[sms]\nenabled = true\nsystem_id = \"hotline\"\n")

# --- Open311 and the JSON API: the bodies their tests send. ---------------------------------
d = target("open311")
put(d, "create_latlong", "jurisdiction_id=pizhou\napi_key=k123&service_code=complaint&lat=34.3&long=117.9"
    "&phone=13800138000&description=%E8%B7%AF%E7%81%AF")
put(d, "create_address", "\napi_key=k&service_code=help&address_string=%E4%BA%BA%E6%B0%91%E8%B7%AF+1&phone=%2B8613800138000")
put(d, "no_query", "service_code=suggestion&address_id=17&phone=123")

d = target("api_body")
bodies = [
    {"phone": "13800138000", "text": "路灯不亮", "kind": "complaint", "address": "人民路"},
    {"action": "return", "reason": "不属于本单位", "days": 3, "satisfaction": "basically_satisfied"},
    {"state": "paused", "reason": "meal"},
    {"action": "transfer", "target": "queue:general"},
]
for i, b in enumerate(bodies):
    put(d, f"json_{i}", bytes([i]) + json.dumps(b, ensure_ascii=False).encode())
queries = ["state=dispatched&page=2&per_page=50&q=%E8%B7%AF", "from=2026-11-01&to=2026-11-30",
           "date=2026-11-26", "state=closed", "from=2026-11-01", "period=month&date=2026-11",
           "period=week", "from=2026-11-01&to=2026-11-07&department=d1"]
for i, q in enumerate(queries):
    put(d, f"query_{4 + i}", bytes([4 + i]) + q.encode())
