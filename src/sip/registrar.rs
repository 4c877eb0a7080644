//! The registrar's rules (RFC 3261 §10.3): what a REGISTER asks for and how it changes the
//! bindings of one address of record. Pure: the caller reads the stored bindings, applies
//! the [`Change`]s this returns in one transaction, and answers with [`Reply`].
//!
//! ```text
//! REGISTER sip:hotline.example SIP/2.0
//! To: <sip:ops1@hotline.example>                      ← the address of record (an account)
//! Call-ID: 843817637684230@998sdasdh09
//! CSeq: 1826 REGISTER
//! Contact: <sip:ops1@192.0.2.4:5062>;expires=600, <sip:ops1@[2001:db8::4]>
//! Expires: 3600
//!
//! SIP/2.0 200 OK
//! Contact: <sip:ops1@192.0.2.4:5062>;expires=600
//! Contact: <sip:ops1@[2001:db8::4]>;expires=3600
//! ```
//!
//! `Contact: *` with `Expires: 0` removes every binding; `expires=0` removes one; an expiry
//! below the minimum is answered 423 with Min-Expires; a request that repeats an older
//! CSeq of the same Call-ID changes nothing (a retransmission or a reordered packet).
//!
//! A REGISTER relayed by Kamailio carries a Path (RFC 3327): the proxies between the phone
//! and the registrar. It is kept with the binding, and every request to that phone, from
//! any node, goes along it as its Route set ([`Path::route`]), so a phone behind the
//! balancer (or a NAT only the balancer can cross) is reached the way it registered.
//!
//! ```text
//! REGISTER …
//! Path: <sip:198.51.100.5:5060;lr;received=sip:203.0.113.9:40312>
//! Supported: path                          → the 200 echoes the Path (RFC 3327 §5.3)
//!
//! INVITE sip:ops1@192.168.1.20:5062 SIP/2.0    (sent to 198.51.100.5:5060)
//! Route: <sip:198.51.100.5:5060;lr;received=sip:203.0.113.9:40312>
//! ```

/// One contact of an address of record, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as the phone sent it, e.g. `sip:ops1@192.0.2.4:5062`.
    pub contact: String,
    pub call_id: String,
    pub cseq: u32,
    /// Unix time in milliseconds.
    pub expires_at: i64,
    /// Where the REGISTER came from (`udp:203.0.113.9:40312`): behind NAT the Contact's own
    /// address is unreachable and requests go here instead.
    pub source: String,
    pub user_agent: String,
    /// The proxies the REGISTER came through; empty when the phone registered directly.
    pub path: Path,
}

/// The Path of a REGISTER (RFC 3327): its entries as written (`<sip:…;lr>`), nearest the
/// registrar first, which is also their order as Route headers of requests to the phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(Vec<String>);

/// Where a request goes first: the host and port of a URI and its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub addr: std::net::SocketAddr,
    pub tcp: bool,
}

impl Path {
    /// Reads Path header values (each may hold several entries); `None` when an entry is
    /// not a `<sip:…>` name-addr.
    pub fn read<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Path> {
        let mut out = Vec::new();
        for v in values {
            for item in split_list(v) {
                let item = item.trim();
                let (a, b) = (item.find('<')?, item.find('>')?);
                let uri = item.get(a + 1..b).unwrap_or_default().trim();
                let scheme_ok = ["sip:", "sips:"]
                    .iter()
                    .any(|s| uri.len() > s.len() && uri[..s.len()].eq_ignore_ascii_case(s));
                if a > b || !scheme_ok || item.chars().any(|c| c.is_control()) {
                    return None;
                }
                out.push(item.to_string());
            }
        }
        Some(Path(out))
    }

    /// The stored form: the entries joined with `, `.
    pub fn stored(&self) -> String {
        self.0.join(", ")
    }

    /// From the stored form; an unreadable one (never written by us) counts as none.
    pub fn from_stored(s: &str) -> Path {
        Path::read([s]).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The Route header values of a request to the phone, in order (RFC 3327 §5.4).
    pub fn route(&self) -> &[String] {
        &self.0
    }

    /// Where a request along this Path is sent: the first entry's address. `None` without
    /// a Path or when its host is a name, not an address.
    pub fn first_hop(&self) -> Option<Hop> {
        let first = self.0.first()?;
        let uri = &first[first.find('<')? + 1..first.find('>')?];
        let (host_port, params) = uri_host_port(uri)?;
        let tcp = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("transport=tcp"));
        Some(Hop {
            addr: socket_addr(host_port, 5060)?,
            tcp,
        })
    }

    /// The phone's own address as the edge proxy saw it (the `received` parameter of the
    /// last entry, Kamailio's `add_path_received()`): where its media will come from.
    pub fn received(&self) -> Option<std::net::SocketAddr> {
        let last = self.0.last()?;
        let uri = &last[last.find('<')? + 1..last.find('>')?];
        let value = uri.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("received")
                .then_some(v.trim())
        })?;
        let value = unescape(value);
        let (host_port, _) = uri_host_port(&value)?;
        socket_addr(host_port, 5060)
    }
}

/// `sip:user@host:port;params` → (`host:port`, `params`).
fn uri_host_port(uri: &str) -> Option<(&str, &str)> {
    let (_, rest) = uri.split_once(':')?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    Some(match rest.split_once(';') {
        Some((h, p)) => (h, p),
        None => (rest, ""),
    })
}

/// `192.0.2.1:5080`, `[2001:db8::1]:5080`, `192.0.2.1` → an address; names give `None`.
fn socket_addr(host_port: &str, default_port: u16) -> Option<std::net::SocketAddr> {
    if let Ok(a) = host_port.parse() {
        return Some(a);
    }
    let ip: std::net::IpAddr = host_port
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(std::net::SocketAddr::new(ip, default_port))
}

/// Undoes URI %-escapes (`%3B` → `;`); a broken escape is kept as it is.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(c) => {
                out.push(c);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the registrar needs of a REGISTER, read from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub call_id: String,
    pub cseq: u32,
    pub contacts: Contacts,
    /// The Expires header, if any.
    pub expires: Option<u32>,
    pub source: String,
    pub user_agent: String,
    pub path: Path,
    /// `Supported: path`: the phone wants the Path echoed in the 200.
    pub supports_path: bool,
}

/// The Contact header field(s) of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// No Contact: a query for the current bindings.
    None,
    /// `Contact: *`
    Star,
    List(Vec<ContactSpec>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSpec {
    pub uri: String,
    /// The contact's own `expires` parameter.
    pub expires: Option<u32>,
}

/// Limits of the registrar, from `[sip.registrar]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 5,
        }
    }
}

/// A change to the stored bindings of one address of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Binding),
    Remove { contact: String },
}

/// How to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with every binding left (Contact with `expires`).
    Ok,
    /// 423 Interval Too Brief with Min-Expires.
    IntervalTooBrief { min_expires: u32 },
    /// 400 with a reason phrase.
    BadRequest(&'static str),
}

/// Why a REGISTER could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("missing or unreadable {0}")]
    Missing(&'static str),
    #[error("unreadable Contact `{0}`")]
    Contact(String),
    #[error("unreadable Path")]
    Path,
}

impl Register {
    /// Reads the fields the registrar needs from `(name, value)` header pairs.
    pub fn read(headers: &[(String, String)], source: String) -> Result<Register, ReadError> {
        fn get<'a>(
            headers: &'a [(String, String)],
            n: &'static str,
            compact: Option<&'static str>,
        ) -> impl Iterator<Item = &'a (String, String)> {
            headers.iter().filter(move |(k, _)| {
                k.eq_ignore_ascii_case(n) || compact.is_some_and(|c| k.eq_ignore_ascii_case(c))
            })
        }
        let call_id = get(headers, "Call-ID", Some("i"))
            .next()
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or(ReadError::Missing("Call-ID"))?;
        let cseq = get(headers, "CSeq", None)
            .next()
            .and_then(|(_, v)| v.split_whitespace().next()?.parse().ok())
            .ok_or(ReadError::Missing("CSeq"))?;
        let expires = match get(headers, "Expires", None).next() {
            Some((_, v)) => Some(
                v.trim()
                    .parse::<u64>()
                    .map(|e| e.min(u32::MAX as u64) as u32)
                    .map_err(|_| ReadError::Missing("Expires"))?,
            ),
            None => None,
        };
        let mut list = Vec::new();
        let mut star = false;
        for (_, v) in get(headers, "Contact", Some("m")) {
            for item in split_list(v) {
                let item = item.trim();
                if item == "*" {
                    star = true;
                } else {
                    list.push(contact_spec(item)?);
                }
            }
        }
        let contacts = match (star, list.is_empty()) {
            (false, true) => Contacts::None,
            (true, true) => Contacts::Star,
            (true, false) => return Err(ReadError::Contact("* beside other contacts".into())),
            (false, false) => Contacts::List(list),
        };
        let user_agent = get(headers, "User-Agent", None)
            .next()
            .map(|(_, v)| v.trim().chars().take(120).collect())
            .unwrap_or_default();
        let path = Path::read(get(headers, "Path", None).map(|(_, v)| v.as_str()))
            .ok_or(ReadError::Path)?;
        let supports_path = get(headers, "Supported", Some("k"))
            .flat_map(|(_, v)| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case("path"));
        Ok(Register {
            call_id,
            cseq,
            contacts,
            expires,
            source,
            user_agent,
            path,
            supports_path,
        })
    }
}

/// Splits a header value at commas outside `<…>` and quotes.
fn split_list(v: &str) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quote) = (Vec::new(), 0, false, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' if !angle => quote = !quote,
            '<' if !quote => angle = true,
            '>' if !quote => angle = false,
            ',' if !angle && !quote => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// `"Name" <sip:u@h;transport=tcp>;expires=60;q=0.5` → the URI and its expiry.
fn contact_spec(item: &str) -> Result<ContactSpec, ReadError> {
    let bad = || ReadError::Contact(item.chars().take(200).collect());
    let (uri, params) = match (item.find('<'), item.find('>')) {
        (Some(a), Some(b)) if a < b => (&item[a + 1..b], &item[b + 1..]),
        (None, None) => match item.split_once(';') {
            Some((u, p)) => (u, p),
            None => (item, ""),
        },
        _ => return Err(bad()),
    };
    let uri = uri.trim();
    let scheme_ok = ["sip:", "sips:"]
        .iter()
        .any(|s| uri.len() > s.len() && uri[..s.len()].eq_ignore_ascii_case(s));
    if !scheme_ok || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let mut expires = None;
    for p in params.split(';') {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("expires") {
                let e: u64 = v.trim().parse().map_err(|_| bad())?;
                expires = Some(e.min(u32::MAX as u64) as u32);
            }
        }
    }
    Ok(ContactSpec {
        uri: uri.to_string(),
        expires,
    })
}

/// Decides what `req` does to `current` (the unexpired bindings of its address of record)
/// at `now` (Unix ms).
pub fn plan(
    now: i64,
    current: &[Binding],
    req: &Register,
    limits: &Limits,
) -> (Reply, Vec<Change>) {
    match &req.contacts {
        Contacts::None => (Reply::Ok, vec![]),
        Contacts::Star => {
            if req.expires != Some(0) {
                return (Reply::BadRequest("Contact * needs Expires: 0"), vec![]);
            }
            let changes = current
                .iter()
                .filter(|b| !stale_request(b, req))
                .map(|b| Change::Remove {
                    contact: b.contact.clone(),
                })
                .collect();
            (Reply::Ok, changes)
        }
        Contacts::List(list) => {
            let asked =
                |c: &ContactSpec| c.expires.or(req.expires).unwrap_or(limits.default_expires);
            if let Some(_brief) = list
                .iter()
                .map(asked)
                .find(|&e| e != 0 && e < limits.min_expires)
            {
                return (
                    Reply::IntervalTooBrief {
                        min_expires: limits.min_expires,
                    },
                    vec![],
                );
            }
            let mut changes = Vec::new();
            let mut kept: Vec<&str> = current.iter().map(|b| b.contact.as_str()).collect();
            for c in list {
                let existing = current.iter().find(|b| same_uri(&b.contact, &c.uri));
                if existing.is_some_and(|b| stale_request(b, req)) {
                    continue;
                }
                let contact = existing.map_or(c.uri.clone(), |b| b.contact.clone());
                let e = asked(c).min(limits.max_expires);
                if e == 0 {
                    kept.retain(|k| *k != contact);
                    changes.push(Change::Remove { contact });
                } else {
                    if !kept.contains(&contact.as_str()) {
                        if kept.len() >= limits.max_contacts {
                            return (Reply::BadRequest("too many contacts"), vec![]);
                        }
                        kept.push(match existing {
                            Some(b) => b.contact.as_str(),
                            None => c.uri.as_str(),
                        });
                    }
                    changes.push(Change::Put(Binding {
                        contact,
                        call_id: req.call_id.clone(),
                        cseq: req.cseq,
                        expires_at: now + e as i64 * 1000,
                        source: req.source.clone(),
                        user_agent: req.user_agent.clone(),
                        path: req.path.clone(),
                    }));
                }
            }
            (Reply::Ok, changes)
        }
    }
}

/// Same Call-ID and a CSeq not above the stored one: an old or repeated request.
fn stale_request(b: &Binding, req: &Register) -> bool {
    b.call_id == req.call_id && req.cseq <= b.cseq
}

/// RFC 3261 §19.1.4: scheme and host compare without case, the user part with case.
fn same_uri(a: &str, b: &str) -> bool {
    fn norm(u: &str) -> String {
        let (scheme, rest) = u.split_once(':').unwrap_or(("", u));
        match rest.rsplit_once('@') {
            Some((user, host)) => format!(
                "{}:{user}@{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ),
            None => format!(
                "{}:{}",
                scheme.to_ascii_lowercase(),
                rest.to_ascii_lowercase()
            ),
        }
    }
    norm(a) == norm(b)
}

/// Applies `changes` to `current`, for callers that keep bindings in memory and for tests.
pub fn applied(current: &[Binding], changes: &[Change]) -> Vec<Binding> {
    let mut out = current.to_vec();
    for c in changes {
        match c {
            Change::Put(b) => {
                out.retain(|x| x.contact != b.contact);
                out.push(b.clone());
            }
            Change::Remove { contact } => out.retain(|x| &x.contact != contact),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(call_id: &str, cseq: u32, contact: Option<&str>, expires: Option<&str>) -> Register {
        let mut p = vec![("Call-ID", call_id), ("CSeq", "")];
        let cs = format!("{cseq} REGISTER");
        p[1].1 = &cs;
        if let Some(c) = contact {
            p.push(("Contact", c));
        }
        if let Some(e) = expires {
            p.push(("Expires", e));
        }
        Register::read(&h(&p), "udp:127.0.0.1:5062".into()).unwrap()
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn reads_several_contacts_with_their_own_expiry() {
        let r = req(
            "a",
            1,
            Some(
                r#""Ops, One" <sip:ops1@192.0.2.4:5062;transport=udp>;expires=600, sip:ops1@[2001:db8::4];q=0.5"#,
            ),
            Some("3600"),
        );
        assert_eq!(
            r.contacts,
            Contacts::List(vec![
                ContactSpec {
                    uri: "sip:ops1@192.0.2.4:5062;transport=udp".into(),
                    expires: Some(600)
                },
                ContactSpec {
                    uri: "sip:ops1@[2001:db8::4]".into(),
                    expires: None
                },
            ])
        );
        let (reply, changes) = plan(NOW, &[], &r, &Limits::default());
        assert_eq!(reply, Reply::Ok);
        let b = applied(&[], &changes);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].expires_at, NOW + 600_000);
        assert_eq!(b[1].expires_at, NOW + 3_600_000);
    }

    #[test]
    fn too_brief_gets_423_and_too_long_is_capped() {
        let r = req("a", 1, Some("<sip:ops1@h>"), Some("30"));
        assert_eq!(
            plan(NOW, &[], &r, &Limits::default()).0,
            Reply::IntervalTooBrief { min_expires: 60 }
        );
        let r = req("a", 1, Some("<sip:ops1@h>"), Some("99999"));
        let (_, ch) = plan(NOW, &[], &r, &Limits::default());
        assert_eq!(applied(&[], &ch)[0].expires_at, NOW + 3_600_000);
    }

    #[test]
    fn star_needs_expires_zero_and_removes_all() {
        let r = req("a", 1, Some("<sip:ops1@h1>, <sip:ops1@h2>"), None);
        let b = applied(&[], &plan(NOW, &[], &r, &Limits::default()).1);
        let bad = req("b", 1, Some("*"), Some("60"));
        assert!(matches!(
            plan(NOW, &b, &bad, &Limits::default()).0,
            Reply::BadRequest(_)
        ));
        let un = req("b", 1, Some("*"), Some("0"));
        let (reply, ch) = plan(NOW, &b, &un, &Limits::default());
        assert_eq!(reply, Reply::Ok);
        assert!(applied(&b, &ch).is_empty());
    }

    #[test]
    fn expires_zero_removes_one_contact() {
        let r = req("a", 1, Some("<sip:ops1@h1>, <sip:ops1@h2>"), None);
        let b = applied(&[], &plan(NOW, &[], &r, &Limits::default()).1);
        let r = req("a", 2, Some("<sip:ops1@h1>;expires=0"), None);
        let left = applied(&b, &plan(NOW, &b, &r, &Limits::default()).1);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].contact, "sip:ops1@h2");
    }

    #[test]
    fn older_cseq_of_the_same_call_id_changes_nothing() {
        let r = req("a", 5, Some("<sip:ops1@h1>"), Some("600"));
        let b = applied(&[], &plan(NOW, &[], &r, &Limits::default()).1);
        let old = req("a", 4, Some("<sip:ops1@h1>"), Some("0"));
        let (reply, ch) = plan(NOW, &b, &old, &Limits::default());
        assert_eq!(reply, Reply::Ok);
        assert!(ch.is_empty());
        // A new Call-ID (the phone restarted) may change it whatever its CSeq.
        let other = req("b", 1, Some("<sip:ops1@H1>"), Some("0"));
        assert!(applied(&b, &plan(NOW, &b, &other, &Limits::default()).1).is_empty());
    }

    #[test]
    fn query_without_contact_changes_nothing() {
        let r = req("a", 1, None, None);
        assert_eq!(plan(NOW, &[], &r, &Limits::default()), (Reply::Ok, vec![]));
    }

    #[test]
    fn contact_limit_and_bad_contacts() {
        let many = (0..6)
            .map(|i| format!("<sip:ops1@h{i}>"))
            .collect::<Vec<_>>()
            .join(", ");
        let r = req("a", 1, Some(&many), None);
        assert!(matches!(
            plan(NOW, &[], &r, &Limits::default()).0,
            Reply::BadRequest(_)
        ));
        for bad in [
            "<http://x>",
            "<sip:a@b",
            "*, <sip:a@b>",
            "<sip:a@b>;expires=x",
        ] {
            let p = h(&[("Call-ID", "a"), ("CSeq", "1 REGISTER"), ("Contact", bad)]);
            assert!(Register::read(&p, String::new()).is_err(), "{bad}");
        }
        assert_eq!(
            Register::read(&h(&[("CSeq", "1 REGISTER")]), String::new()),
            Err(ReadError::Missing("Call-ID"))
        );
    }

    #[test]
    fn path_of_a_relayed_register_is_kept_and_becomes_the_route_set() {
        // Two proxies: Kamailio nearest the registrar wrote its Path last, on top.
        let p = h(&[
            ("Call-ID", "a"),
            ("CSeq", "1 REGISTER"),
            ("Contact", "<sip:ops1@192.168.1.20:5062>"),
            (
                "Path",
                "<sip:198.51.100.5:5070;lr>, <sip:10.0.0.1;lr;transport=tcp>",
            ),
            (
                "Path",
                "<sip:203.0.113.1;lr;received=sip:203.0.113.9:40312%3Btransport%3Dudp>",
            ),
            ("k", "100rel, path"),
        ]);
        let r = Register::read(&p, "udp:198.51.100.5:5070".into()).unwrap();
        assert!(r.supports_path);
        assert_eq!(
            r.path.route(),
            [
                "<sip:198.51.100.5:5070;lr>",
                "<sip:10.0.0.1;lr;transport=tcp>",
                "<sip:203.0.113.1;lr;received=sip:203.0.113.9:40312%3Btransport%3Dudp>",
            ]
        );
        assert_eq!(
            r.path.first_hop(),
            Some(Hop {
                addr: "198.51.100.5:5070".parse().unwrap(),
                tcp: false
            })
        );
        assert_eq!(
            r.path.received(),
            Some("203.0.113.9:40312".parse().unwrap())
        );
        // What the registrar stores reads back the same, and the binding carries it.
        assert_eq!(Path::from_stored(&r.path.stored()), r.path);
        let b = applied(&[], &plan(NOW, &[], &r, &Limits::default()).1);
        assert_eq!(b[0].path, r.path);
    }

    #[test]
    fn a_direct_register_has_no_path_and_a_bad_path_is_refused() {
        let r = req("a", 1, Some("<sip:ops1@h>"), None);
        assert!(r.path.is_empty() && !r.supports_path);
        assert_eq!(r.path.first_hop(), None);
        assert_eq!(r.path.received(), None);
        assert_eq!(Path::from_stored(""), Path::default());
        let tcp = Path::read(["<sip:[2001:db8::5];lr;transport=TCP>"]).unwrap();
        assert_eq!(
            tcp.first_hop(),
            Some(Hop {
                addr: "[2001:db8::5]:5060".parse().unwrap(),
                tcp: true
            })
        );
        // A name, not an address: no hop we could send to without DNS.
        assert_eq!(
            Path::read(["<sip:edge.example;lr>"]).unwrap().first_hop(),
            None
        );
        for bad in [
            "sip:198.51.100.5;lr",
            "<http://x>",
            "<sip:a",
            "a> <sip:b;lr>",
        ] {
            let p = h(&[("Call-ID", "a"), ("CSeq", "1 REGISTER"), ("Path", bad)]);
            assert_eq!(
                Register::read(&p, String::new()),
                Err(ReadError::Path),
                "{bad}"
            );
        }
    }
}
