//! Starts the whole web site in-process on an ephemeral port over a fresh database, and a
//! small cookie-keeping HTTP client that behaves like a browser posting forms.
#![allow(dead_code)]

use std::sync::Arc;

use hotline::tickets::{Actor, Channel, DepartmentId, Kind, NewTicket, Ticket, Tickets};
use hotline::web::accounts::{self, NewAccount, Role};
use hotline::web::{self, AppState, Readiness, WebConfig, WebExtras};

#[path = "../common/mod.rs"]
pub mod common;
pub mod sheets;

pub struct Site {
    pub base: String,
    pub tickets: Tickets,
    _dir: Option<tempfile::TempDir>,
}

pub async fn start_sqlite() -> Site {
    start_sqlite_with(WebConfig::default(), None).await
}

pub async fn start_sqlite_with(cfg: WebConfig, calls: Option<Arc<dyn web::ActiveCalls>>) -> Site {
    let (dir, url) = common::fresh_sqlite();
    let mut s = start_at(&url, cfg, calls).await;
    s._dir = Some(dir);
    s
}

pub async fn start_at(url: &str, cfg: WebConfig, calls: Option<Arc<dyn web::ActiveCalls>>) -> Site {
    let tickets = common::tickets_at(url).await;
    let readiness = Arc::new(Readiness::default());
    let app = web::router_with(
        AppState {
            tickets: tickets.clone(),
            readiness,
        },
        WebExtras {
            config: cfg,
            calls,
            acd: Some(call_centre(&tickets).await),
            destinations: vec!["water".into()],
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    Site {
        base: format!("http://{addr}"),
        tickets,
        _dir: None,
    }
}

pub fn password(name: &str) -> String {
    format!("pw-{name}-long-enough")
}

/// An account with [`password`]`(name)`; one way for an in-process site and a served one.
async fn add_user(tickets: &Tickets, name: &str, role: Role, dept: Option<&str>) {
    accounts::add_user(
        tickets.db(),
        tickets.departments(),
        &NewAccount {
            name: name.into(),
            display_name: String::new(),
            role,
            department: dept.map(|d| DepartmentId(d.into())),
            password: password(name),
        },
    )
    .await
    .expect("add user");
}

/// An API token for the account `name`.
async fn token_for(tickets: &Tickets, name: &str) -> String {
    let id = accounts::list(tickets.db())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == name)
        .expect("account")
        .id;
    accounts::create_api_token(tickets.db(), id, "test")
        .await
        .unwrap()
}

/// A browser with no session on the site at `base`.
fn anon(base: &str) -> Browser {
    Browser {
        client: client(),
        base: base.to_string(),
        cookies: Vec::new(),
        csrf: String::new(),
    }
}

impl Site {
    pub async fn add_user(&self, name: &str, role: Role, dept: Option<&str>) {
        add_user(&self.tickets, name, role, dept).await
    }

    pub async fn token_for(&self, name: &str) -> String {
        token_for(&self.tickets, name).await
    }

    pub fn anon(&self) -> Browser {
        anon(&self.base)
    }

    /// Logs in through the login form, as a person would.
    pub async fn login(&self, name: &str) -> Browser {
        login_as(self.anon(), name).await
    }

    /// A ticket as if a call left it: routed and dispatched by the rules (or not).
    pub async fn ticket(&self, phone: &str, text: &str) -> Ticket {
        self.tickets
            .create(
                NewTicket {
                    channel: Channel::Call,
                    kind: Some(Kind::Complaint),
                    phone: phone.parse().unwrap(),
                    text: text.into(),
                    address: None,
                    area: None,
                    recording_path: None,
                    language: None,
                },
                &Actor::System,
            )
            .await
            .expect("create ticket")
    }
}

/// Logs in through the login form of the site `b` talks to, as a person would.
pub async fn login_as(mut b: Browser, name: &str) -> Browser {
    let page = b.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf_of(&page.body);
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("password", &password(name)),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "login of {name} failed: {}", r.body);
    // The session's CSRF token is in every page's logout form.
    let home = b.get(r.location.as_deref().unwrap_or("/")).await;
    b.csrf = csrf_of(&home.body);
    assert!(!b.csrf.is_empty(), "no csrf token on the home page");
    b
}

/// The real `hotline serve` binary (fresh SQLite or the database `env` names, the demo
/// config and `env`) with its database opened beside it, for seeding accounts and tickets.
pub struct Served {
    pub hotline: common::serve::Hotline,
    pub base: String,
    pub tickets: Tickets,
}

impl Served {
    pub async fn start(env: &[(&str, String)]) -> Served {
        Served::start_on(None, env).await
    }

    /// On the database at `url` (PostgreSQL too) instead of the fresh SQLite beside it.
    pub async fn start_on(url: Option<&str>, env: &[(&str, String)]) -> Served {
        let mut env = env.to_vec();
        if let Some(u) = url {
            env.push(("HOTLINE__DATABASE__URL", u.to_string()));
        }
        let hotline = common::serve::Hotline::start(&env);
        let base = format!("http://127.0.0.1:{}", hotline.http_port);
        // The database given, or one named in `env` (PostgreSQL shared by several nodes),
        // else its SQLite.
        let db_url = url
            .map(str::to_string)
            .or_else(|| {
                env.iter()
                    .find(|(k, _)| *k == "HOTLINE__DATABASE__URL")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| hotline.db_url());
        let tickets = common::tickets_at(&db_url).await;
        Served {
            hotline,
            base,
            tickets,
        }
    }

    /// An account with [`password`]`(name)`.
    pub async fn add_user(&self, name: &str, role: Role, dept: Option<&str>) {
        add_user(&self.tickets, name, role, dept).await
    }

    pub async fn token_for(&self, name: &str) -> String {
        token_for(&self.tickets, name).await
    }

    pub fn anon(&self) -> Browser {
        anon(&self.base)
    }

    pub async fn login(&self, name: &str) -> Browser {
        login_as(self.anon(), name).await
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    html.find(key)
        .map(|i| {
            let rest = &html[i + key.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .unwrap_or_default()
}

pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub content_type: String,
}

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> Reply {
        for v in r.headers().get_all("set-cookie") {
            let s = v.to_str().unwrap_or("");
            let kv = s.split(';').next().unwrap_or("");
            if let Some((k, v)) = kv.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                if !v.is_empty() {
                    self.cookies.push((k.to_string(), v.to_string()));
                }
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.text().await.unwrap_or_default();
        Reply {
            status,
            location,
            body,
            content_type,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let r = self
            .client
            .get(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(r).await
    }

    /// Opens a long-lived response (a live stream) with this session's cookies, unread.
    pub async fn open(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET")
    }

    /// A download as bytes (a recording is not text), with its status.
    pub async fn get_bytes(&mut self, path: &str) -> (u16, Vec<u8>) {
        let r = self.open(path).await;
        let status = r.status().as_u16();
        (status, r.bytes().await.unwrap_or_default().to_vec())
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let r = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// Posts a form with this session's CSRF token added.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf.clone();
        let mut f: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        f.extend_from_slice(form);
        self.post(path, &f).await
    }
}

/// What a person reads: the HTML without its tags (attribute values such as form values
/// are not shown to anyone).
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The console's accounts as the call centre's roster (as `hotline serve` wires it).
struct Roster(hotline::store::Db);

#[async_trait::async_trait]
impl hotline::acd::Roster for Roster {
    async fn with_role(&self, role: &str) -> Vec<String> {
        accounts::list(&self.0)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.active && a.role.code() == role)
            .map(|a| a.name)
            .collect()
    }
    async fn exists(&self, name: &str) -> bool {
        accounts::list(&self.0)
            .await
            .unwrap_or_default()
            .iter()
            .any(|a| a.active && a.name == name)
    }
}

/// A call centre with one queue of every operator and no phones (no SIP stack): agent
/// states and the wallboard work, calls never arrive.
async fn call_centre(tickets: &Tickets) -> hotline::acd::Acd {
    let queues = hotline::acd::Queues::parse(
        "[queue.operators]\nname = \"人工服务\"\nmembers = [\"role:operator\"]\n",
        std::path::Path::new("queues.toml"),
        &["water".to_string()],
    )
    .expect("queues");
    hotline::acd::Acd::start(
        hotline::acd::AcdConfig::default(),
        None,
        queues,
        tickets.db().clone(),
        Arc::new(Roster(tickets.db().clone())),
        &std::env::temp_dir(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("call centre")
}
