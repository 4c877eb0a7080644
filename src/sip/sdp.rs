//! SDP offer/answer for one G.711 audio stream (RFC 4566, RFC 3264).
//!
//! What a typical offer from a trunk looks like, and the answer we build:
//!
//! ```text
//! v=0                                   v=0
//! o=- 1 1 IN IP4 10.0.0.1               o=hotline 8812 1 IN IP4 10.0.0.2
//! s=-                                   s=hotline
//! c=IN IP4 10.0.0.1                     c=IN IP4 10.0.0.2
//! t=0 0                                 t=0 0
//! m=audio 4000 RTP/AVP 8 0 101          m=audio 30000 RTP/AVP 8 101
//! a=rtpmap:101 telephone-event/8000     a=rtpmap:8 PCMA/8000
//! a=ptime:20                            a=rtpmap:101 telephone-event/8000
//!                                       a=fmtp:101 0-16
//!                                       a=ptime:20
//!                                       a=sendrecv
//! ```

use std::net::{IpAddr, SocketAddr};

/// G.711 flavour chosen for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// μ-law, static payload type 0.
    Pcmu,
    /// A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn static_pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Media direction attribute (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The direction we answer with: the mirror of the offer's.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    /// Whether we may send media in this direction (seen from our side).
    pub fn we_send(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// One offered payload format of the audio line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub pt: u8,
    /// Encoding name from `a=rtpmap`, upper case; static names for 0 and 8 without rtpmap.
    pub name: String,
    pub clock: u32,
}

/// The parts of a session description this gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDesc {
    /// Connection address of the audio stream (media level `c=` over session level).
    pub addr: Option<IpAddr>,
    /// Audio port; 0 means the stream was rejected.
    pub port: u16,
    /// Offered formats in preference order.
    pub formats: Vec<Format>,
    pub ptime: Option<u32>,
    pub direction: Direction,
    /// `o=` session id and version.
    pub origin: Option<(String, u64)>,
}

/// Why an SDP body is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP is not UTF-8")]
    NotText,
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("SDP line is malformed: {0}")]
    Malformed(String),
    #[error("no common codec")]
    NoCommonCodec,
}

impl SessionDesc {
    /// Parse an SDP body, keeping the first `m=audio` line.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
        let mut session_addr = None;
        let mut session_dir = Direction::SendRecv;
        let mut origin = None;
        let mut in_audio = false;
        let mut seen_audio = false;
        let mut desc = SessionDesc {
            addr: None,
            port: 0,
            formats: vec![],
            ptime: None,
            direction: Direction::SendRecv,
            origin: None,
        };
        let mut media_addr = None;
        let mut media_dir = None;
        let mut rtpmaps: Vec<(u8, String, u32)> = vec![];
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r').trim();
            if line.len() < 2 || line.as_bytes()[1] != b'=' {
                continue;
            }
            let (kind, value) = (line.as_bytes()[0], &line[2..]);
            match kind {
                b'o' if !seen_audio => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() >= 3 {
                        let ver = f[2].parse().unwrap_or(0);
                        origin = Some((f[1].to_string(), ver));
                    }
                }
                b'm' => {
                    if seen_audio {
                        in_audio = false;
                        continue;
                    }
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.first() == Some(&"audio") {
                        if f.len() < 4 {
                            return Err(SdpError::Malformed(line.into()));
                        }
                        let port_str = f[1].split('/').next().unwrap_or("");
                        desc.port = port_str
                            .parse()
                            .map_err(|_| SdpError::Malformed(line.into()))?;
                        for pt in &f[3..] {
                            if let Ok(pt) = pt.parse::<u8>() {
                                desc.formats.push(Format {
                                    pt,
                                    name: String::new(),
                                    clock: 8000,
                                });
                            }
                        }
                        in_audio = true;
                        seen_audio = true;
                    } else {
                        in_audio = false;
                    }
                }
                b'c' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(SdpError::Malformed(line.into()));
                    }
                    let host = f[2].split('/').next().unwrap_or("");
                    let ip: Option<IpAddr> = host.parse().ok();
                    if in_audio {
                        media_addr = ip;
                    } else if !seen_audio {
                        session_addr = ip;
                    }
                }
                b'a' => {
                    let (name, arg) = match value.split_once(':') {
                        Some((n, a)) => (n, Some(a)),
                        None => (value, None),
                    };
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    if let Some(d) = dir {
                        if in_audio {
                            media_dir = Some(d);
                        } else if !seen_audio {
                            session_dir = d;
                        }
                        continue;
                    }
                    if !in_audio {
                        continue;
                    }
                    match (name, arg) {
                        ("rtpmap", Some(arg)) => {
                            let mut it = arg.splitn(2, ' ');
                            let pt = it.next().and_then(|p| p.trim().parse::<u8>().ok());
                            let enc = it.next().unwrap_or("").trim();
                            let mut parts = enc.split('/');
                            let ename = parts.next().unwrap_or("").to_ascii_uppercase();
                            let clock = parts.next().and_then(|c| c.parse().ok()).unwrap_or(8000);
                            if let Some(pt) = pt {
                                rtpmaps.push((pt, ename, clock));
                            }
                        }
                        ("ptime", Some(arg)) => desc.ptime = arg.trim().parse().ok(),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !seen_audio {
            return Err(SdpError::NoAudio);
        }
        for f in desc.formats.iter_mut() {
            if let Some((_, name, clock)) = rtpmaps.iter().find(|(pt, _, _)| *pt == f.pt) {
                f.name = name.clone();
                f.clock = *clock;
            } else {
                f.name = match f.pt {
                    0 => "PCMU".into(),
                    8 => "PCMA".into(),
                    _ => String::new(),
                };
            }
        }
        desc.addr = media_addr.or(session_addr);
        desc.direction = media_dir.unwrap_or(session_dir);
        // RFC 3264 §8.4 (old style hold): c=0.0.0.0 means "do not send to me".
        if desc.addr == Some(IpAddr::from([0, 0, 0, 0])) && desc.direction == Direction::SendRecv {
            desc.direction = Direction::SendOnly;
        }
        desc.origin = origin;
        Ok(desc)
    }

    /// Where to send RTP, if the stream is live and has an address.
    pub fn rtp_addr(&self) -> Option<SocketAddr> {
        let ip = self.addr?;
        if self.port == 0 || ip.is_unspecified() {
            return None;
        }
        Some(SocketAddr::new(ip, self.port))
    }

    /// Pick a codec and the telephone-event payload type from this offer (RFC 3264 §6.1):
    /// the first G.711 format in the offerer's order, and telephone-event at *its* PT.
    pub fn negotiate(&self) -> Result<Negotiated, SdpError> {
        let codec = self
            .formats
            .iter()
            .find_map(|f| match (f.name.as_str(), f.clock) {
                ("PCMU", 8000) => Some((Codec::Pcmu, f.pt)),
                ("PCMA", 8000) => Some((Codec::Pcma, f.pt)),
                _ => None,
            })
            .ok_or(SdpError::NoCommonCodec)?;
        let dtmf_pt = self
            .formats
            .iter()
            .find(|f| f.name == "TELEPHONE-EVENT" && f.clock == 8000)
            .map(|f| f.pt);
        if self.port == 0 {
            return Err(SdpError::NoCommonCodec);
        }
        Ok(Negotiated {
            codec: codec.0,
            payload_type: codec.1,
            dtmf_payload_type: dtmf_pt,
            ptime_ms: self.ptime.filter(|p| (10..=60).contains(p)).unwrap_or(20),
            remote: self.rtp_addr(),
            remote_direction: self.direction,
        })
    }
}

/// The result of an offer/answer exchange, as the media layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
    pub ptime_ms: u32,
    /// None while on hold with c=0.0.0.0 or a rejected stream.
    pub remote: Option<SocketAddr>,
    /// The direction the *peer* declared.
    pub remote_direction: Direction,
}

/// Our side of the session: the `o=` line state that must survive re-INVITEs.
#[derive(Debug, Clone)]
pub struct LocalSdp {
    session_id: u64,
    version: u64,
    last_body: Option<String>,
    addr: IpAddr,
    port: u16,
}

impl LocalSdp {
    pub fn new(addr: IpAddr, port: u16) -> Self {
        let session_id = rand::random::<u32>() as u64 + 1;
        Self {
            session_id,
            version: session_id,
            last_body: None,
            addr,
            port,
        }
    }

    /// Change our media address (the `o=` version goes up with the next body).
    pub fn set_addr(&mut self, addr: IpAddr, port: u16) {
        self.addr = addr;
        self.port = port;
    }

    /// Our offer: PCMU, PCMA, telephone-event 101.
    pub fn offer(&mut self, direction: Direction) -> String {
        let media = format!(
            "m=audio {} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na={}\r\n",
            self.port,
            direction.attr()
        );
        self.render(&media)
    }

    /// Our answer to `neg`, in the direction mirrored from the offer's.
    pub fn answer(&mut self, neg: &Negotiated, direction: Direction) -> String {
        let mut media = format!("m=audio {} RTP/AVP {}", self.port, neg.payload_type);
        if let Some(te) = neg.dtmf_payload_type {
            media.push_str(&format!(" {te}"));
        }
        media.push_str("\r\n");
        media.push_str(&format!(
            "a=rtpmap:{} {}/8000\r\n",
            neg.payload_type,
            neg.codec.name()
        ));
        if let Some(te) = neg.dtmf_payload_type {
            media.push_str(&format!(
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
            ));
        }
        media.push_str(&format!(
            "a=ptime:{}\r\na={}\r\n",
            neg.ptime_ms,
            direction.attr()
        ));
        self.render(&media)
    }

    /// The full body around `media`, with the `o=` version bumped when it changed.
    fn render(&mut self, media: &str) -> String {
        let ip_kind = if self.addr.is_ipv6() { "IP6" } else { "IP4" };
        let rest = format!(
            "s=hotline\r\nc=IN {ip_kind} {}\r\nt=0 0\r\n{media}",
            self.addr
        );
        // RFC 3264 §8: the version goes up by one exactly when the description changes.
        if self.last_body.as_deref() != Some(rest.as_str()) {
            if self.last_body.is_some() {
                self.version += 1;
            }
            self.last_body = Some(rest.clone());
        }
        format!(
            "v=0\r\no=hotline {} {} IN {ip_kind} {}\r\n{rest}",
            self.session_id, self.version, self.addr
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn sipp_default_offer_gets_pcmu_without_telephone_event() {
        let d = SessionDesc::parse(SIPP_OFFER.as_bytes()).unwrap();
        let n = d.negotiate().unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.dtmf_payload_type, None);
        assert_eq!(n.remote, Some("127.0.0.1:6000".parse().unwrap()));
        let mut l = LocalSdp::new("127.0.0.1".parse().unwrap(), 30000);
        let a = l.answer(&n, Direction::SendRecv);
        assert!(a.contains("m=audio 30000 RTP/AVP 0\r\n"), "{a}");
        assert!(!a.contains("telephone-event"));
    }

    #[test]
    fn telephone_event_answered_at_offer_pt_and_offer_order_kept() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:30\r\n";
        let n = SessionDesc::parse(offer.as_bytes())
            .unwrap()
            .negotiate()
            .unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.dtmf_payload_type, Some(96));
        assert_eq!(n.ptime_ms, 30);
        let a = LocalSdp::new("10.0.0.2".parse().unwrap(), 1).answer(&n, Direction::SendRecv);
        assert!(a.contains("RTP/AVP 8 96\r\n"), "{a}");
        assert!(a.contains("a=rtpmap:96 telephone-event/8000"));
    }

    #[test]
    fn no_common_codec() {
        let offer =
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n";
        let d = SessionDesc::parse(offer.as_bytes()).unwrap();
        assert_eq!(d.negotiate(), Err(SdpError::NoCommonCodec));
        let pcmu16k =
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMU/16000\r\n";
        let d = SessionDesc::parse(pcmu16k.as_bytes()).unwrap();
        assert_eq!(d.negotiate(), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn hold_forms() {
        let sendonly = SIPP_OFFER.to_string() + "a=sendonly\r\n";
        let d = SessionDesc::parse(sendonly.as_bytes()).unwrap();
        assert_eq!(d.direction, Direction::SendOnly);
        assert_eq!(d.direction.reverse(), Direction::RecvOnly);
        let old = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let d = SessionDesc::parse(old.as_bytes()).unwrap();
        assert_eq!(d.direction, Direction::SendOnly);
        assert_eq!(d.rtp_addr(), None);
        let sess_inactive = SIPP_OFFER.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
        let d = SessionDesc::parse(sess_inactive.as_bytes()).unwrap();
        assert_eq!(d.direction, Direction::Inactive);
    }

    #[test]
    fn origin_version_goes_up_only_on_change() {
        let n = SessionDesc::parse(SIPP_OFFER.as_bytes())
            .unwrap()
            .negotiate()
            .unwrap();
        let mut l = LocalSdp::new("127.0.0.1".parse().unwrap(), 30000);
        let v = |s: &str| SessionDesc::parse(s.as_bytes()).unwrap().origin.unwrap().1;
        let a1 = l.answer(&n, Direction::SendRecv);
        let a2 = l.answer(&n, Direction::SendRecv);
        assert_eq!(v(&a1), v(&a2));
        let a3 = l.answer(&n, Direction::RecvOnly);
        assert_eq!(v(&a3), v(&a1) + 1);
        let a4 = l.answer(&n, Direction::SendRecv);
        assert_eq!(v(&a4), v(&a1) + 2);
        // Same session id throughout.
        let id = |s: &str| SessionDesc::parse(s.as_bytes()).unwrap().origin.unwrap().0;
        assert_eq!(id(&a1), id(&a4));
    }

    #[test]
    fn ipv6_and_garbage() {
        let v6 = "v=0\r\nc=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 8\r\n";
        let d = SessionDesc::parse(v6.as_bytes()).unwrap();
        assert_eq!(d.rtp_addr(), Some("[::1]:4000".parse().unwrap()));
        assert!(SessionDesc::parse(b"\xff\xfe").is_err());
        assert_eq!(
            SessionDesc::parse(b"v=0\r\nm=video 1 RTP/AVP 31\r\n"),
            Err(SdpError::NoAudio)
        );
        assert!(SessionDesc::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
    }
}
