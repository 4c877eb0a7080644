//! One harness per parser that takes outside bytes, for the AFL++ targets in `fuzz/` and for
//! `tests/fuzz_short_test.rs`, which replays `fuzz/corpus/<target>/` through the very same
//! functions in the ordinary test build. Each feeds the bytes down the path the gateway
//! takes with them (not just the first parse call), and must return for every input: a
//! panic here is a finding. docs/fuzzing.md lists the targets and their runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// A harness: takes any bytes, returns for all of them.
pub type Harness = fn(&[u8]);

/// Every target by name, as `fuzz/src/bin/<name>.rs` and `fuzz/corpus/<name>/` spell it.
pub const TARGETS: &[(&str, Harness)] = &[
    ("sip_udp", sip_udp),
    ("sdp", sdp),
    ("rtp", rtp),
    ("rtcp", rtcp),
    ("dtmf_event", dtmf_event),
    ("smpp_pdu", smpp_pdu),
    ("sms_text", sms_text),
    ("wav", wav),
    ("dialplan", dialplan),
    ("config", config),
    ("open311", open311),
    ("api_body", api_body),
];

fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 5062))
}

/// A UDP datagram on the SIP port: the pre-filter's verdict, the 400/405/416/505 it writes
/// from raw lines, then what the stack does with what passes (parse, Via `received`,
/// transaction key).
pub fn sip_udp(data: &[u8]) {
    use crate::sip::transport_udp_check::{check, validate, Check};
    use crate::sip::transport_udp_filter::reply_raw;
    use rsipstack::sip::prelude::HeadersExt;
    use rsipstack::sip::SipMessage;
    use rsipstack::transaction::key::{TransactionKey, TransactionRole};
    use rsipstack::transport::connection::SipConnection;

    let passed = match check(data) {
        Check::Pass => data.to_vec(),
        Check::Rewrite(bytes) => bytes,
        Check::Drop => return,
        Check::Reply(status, reason) => {
            let _ = reply_raw(data, status, &reason, peer(), "hotline");
            return;
        }
    };
    let Ok(msg) = SipMessage::try_from(passed.as_slice()) else {
        return;
    };
    let Ok(msg) =
        SipConnection::update_msg_received(msg, peer(), rsipstack::sip::transport::Transport::Udp)
    else {
        return;
    };
    let _ = msg.cseq_header().map(|c| c.value().to_string());
    if let SipMessage::Request(req) = &msg {
        let _ = validate(req);
        let _ = TransactionKey::from_request(req, TransactionRole::Server);
        if let Ok(body) = crate::sip::sdp::SessionDesc::parse(&req.body) {
            let _ = body.negotiate();
        }
    }
    let _ = msg.to_string();
}

/// An SDP offer or answer body: parse, pick a codec, write our answer to it.
pub fn sdp(data: &[u8]) {
    use crate::sip::sdp::{Direction, LocalSdp, SessionDesc};
    let Ok(desc) = SessionDesc::parse(data) else {
        return;
    };
    let _ = desc.rtp_addr();
    if let Ok(neg) = desc.negotiate() {
        let mut local = LocalSdp::new([127, 0, 0, 1].into(), 40000);
        let _ = local.answer(&neg, desc.direction.reverse());
        let _ = local.offer(Direction::SendRecv);
    }
}

/// An RTP datagram on a media port: the header (rtp-rs), then a telephone-event (PT 101)
/// or G.711 audio (PT 0/8) into the in-band tone detector, as the receive path does.
pub fn rtp(data: &[u8]) {
    use crate::media::dtmf::{EventDeduper, TelephoneEvent, ToneDetector};
    use crate::media::g711::Codec;
    let Ok(rd) = rtp_rs::RtpReader::new(data) else {
        return;
    };
    let _ = (rd.version(), rd.padding(), rd.mark(), rd.ssrc());
    let _ = (rd.csrc().count(), rd.extension(), rd.payload_offset());
    let seq: u16 = rd.sequence_number().into();
    let _ = seq.wrapping_sub(1) as i16;
    let payload = rd.payload();
    let codec = match rd.payload_type() {
        101 => {
            if let Some(ev) = TelephoneEvent::parse(payload) {
                let _ = EventDeduper::default().on_packet(rd.timestamp(), ev, Instant::now());
            }
            return;
        }
        8 => Codec::Pcma,
        _ => Codec::Pcmu,
    };
    let mut pcm = [0i16; 1500];
    let pcm = &mut pcm[..payload.len().min(1500)];
    codec.decode(payload, pcm);
    ToneDetector::new().feed(pcm, |_| {});
}

/// An RTCP datagram on a media port.
pub fn rtcp(data: &[u8]) {
    let _ = crate::media::rtcp::is_valid_rtcp(data);
}

/// A run of RFC 4733 packets of one call: each 8 bytes are an RTP timestamp and a
/// telephone-event payload, 20 ms apart, then silence.
pub fn dtmf_event(data: &[u8]) {
    use crate::media::dtmf::{EventDeduper, TelephoneEvent};
    let mut dedupe = EventDeduper::default();
    let start = Instant::now();
    for (i, p) in data.chunks(8).enumerate() {
        let Some(ts) = p.get(..4) else { break };
        let ts = u32::from_be_bytes([ts[0], ts[1], ts[2], ts[3]]);
        let Some(ev) = TelephoneEvent::parse(&p[4..]) else {
            break;
        };
        let now = start + Duration::from_millis(20 * i as u64);
        let _ = dedupe.on_packet(ts, ev, now);
        let _ = TelephoneEvent::parse(&ev.to_bytes());
    }
    let _ = dedupe.on_quiet();
}

/// Bytes from the SMSC on the SMPP connection: rusmpp's frame decoder as the client runs
/// it, then every deliver_sm down the path of an incoming text (sender check, UDH,
/// data_coding, reassembly) or a delivery receipt.
pub fn smpp_pdu(data: &[u8]) {
    use rusmpp::tokio_codec::CommandCodec;
    use rusmpp::Pdu;
    use tokio_util::codec::Decoder;
    let mut codec = CommandCodec::new();
    let mut buf = tokio_util::bytes::BytesMut::from(data);
    while let Ok(Some(command)) = codec.decode(&mut buf) {
        let _ = format!("{command:?}");
        if let Some(Pdu::DeliverSm(d)) = command.pdu() {
            incoming_text(crate::sms::link::to_incoming(d));
        }
    }
}

/// What happens to a text before the database: sender, UDH, data_coding, the fingerprint
/// its parts and redeliveries are known by, the command parser. (Parts are put together in
/// the database, `sms::received`.)
fn incoming_text(item: crate::sms::link::Incoming) {
    use crate::sms::encoding::{decode, split_udh, ESM_UDHI};
    use crate::sms::link::Incoming;
    let Incoming::Message {
        from,
        to,
        data_coding,
        esm_class,
        bytes,
    } = item
    else {
        return;
    };
    let phone = from.trim().trim_start_matches("+86");
    let (concat, ud) = if esm_class & ESM_UDHI != 0 {
        match split_udh(&bytes) {
            Ok(x) => x,
            Err(_) => return,
        }
    } else {
        (None, &bytes[..])
    };
    let Ok(text) = decode(data_coding, ud) else {
        return;
    };
    let split = concat.map(|c| (c.reference, c.total));
    let _ = crate::sms::received::fingerprint(phone, &to, &text, split);
    let _ = crate::sms::inbound::parse(&text);
}

/// The short message of one deliver_sm by itself: byte 0 is data_coding, byte 1 esm_class,
/// the rest the short_message octets.
pub fn sms_text(data: &[u8]) {
    let [data_coding, esm_class, sm @ ..] = data else {
        return;
    };
    incoming_text(crate::sms::link::Incoming::Message {
        from: "13800000000".into(),
        to: "12345".into(),
        data_coding: *data_coding,
        esm_class: *esm_class,
        bytes: sm.to_vec(),
    });
}

/// A WAV file: a prompt a city drops in, or a recording handed to speech.
pub fn wav(data: &[u8]) {
    if let Ok(w) = crate::wav::parse(data) {
        let _ = w.describe();
    }
    let _ = crate::media::prompt::decode_wav(data);
    let _ = crate::speech::audio::parse_wav(data);
}

/// A dialplan file, checked as `hotline check` and a reload do.
pub fn dialplan(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = crate::ivr::validate::Context {
        destinations: ["operators".to_string()].into_iter().collect(),
        queues: Some(["general".to_string()].into_iter().collect()),
        prompt_dir: "fuzz-prompts-absent".into(),
        ..Default::default()
    };
    if let Err(problems) = crate::ivr::validate::check(Path::new("fuzz.toml"), text, &ctx) {
        for p in problems {
            let _ = p.to_string();
        }
    }
}

/// The configuration file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = crate::config::Config::parse(text, Path::new("hotline.toml")) {
        let _ = e.to_string();
    }
}

/// An Open311 `POST requests.{fmt}`: the query string up to the first newline, the
/// form-encoded body after it.
pub fn open311(data: &[u8]) {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    let Ok(p): Result<HashMap<String, String>, _> =
        crate::web::open311::create::read_params(query, body)
    else {
        return;
    };
    let _ = crate::web::open311::create::read_request(&p);
}

/// A JSON API body or query string; byte 0 picks which of them (see
/// `web::api::read_untrusted`), the rest is it.
pub fn api_body(data: &[u8]) {
    let [which, rest @ ..] = data else { return };
    let _ = crate::web::api::read_untrusted(*which, rest);
}
