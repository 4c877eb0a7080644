//! `hotline serve`: wires the parts together and stops them in order on Ctrl-C / SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use std::sync::atomic::Ordering;

use crate::acd;
use crate::calls::Calls;
use crate::config::Config;
use crate::ivr::{Engine, SpeechInput, Understood};
use crate::notify::consumer;
use crate::notify::speech_jobs::SpeechJobs;
use crate::sip::auth_digest::StoredHa1;
use crate::sip::registrar_uas::Directory;
use crate::sip::{CallHandler, Server as SipServer};
use crate::speech::menu::{match_in, DEFAULT_MIN_SCORE};
use crate::speech::SpeechService;
use crate::store::{redact, Db};
use crate::tickets::{follow_up, supervision, Actor, NewTicket, TicketFilter, Tickets};
use crate::web::{self, AppState, Readiness, WebExtras};
use crate::{mail, sms};

/// Opens the database (creating and migrating it), loads the rules, and builds the ticket
/// service every front end shares.
pub async fn open_tickets(cfg: &Config) -> anyhow::Result<Tickets> {
    let url = cfg.database.effective_url(&cfg.data_dir);
    let db = Db::connect(&cfg.database, &cfg.data_dir)
        .await
        .with_context(|| format!("opening the database {}", redact(&url)))?;
    tracing::info!(database = %redact(&url), "database ready");
    Ok(Tickets::from_config(db, &cfg.tickets)?)
}

/// What one purge of personal data did (个人信息保护法, docs/privacy.md).
#[derive(Debug, Default, Clone, Copy)]
pub struct PrivacyPurged {
    pub tickets: crate::tickets::retention::Purged,
    pub calls: crate::calls::CallsPurged,
    pub sms: crate::sms::retention::SmsPurged,
    /// Call-centre queue entries that let go of the caller's number and voice-menu context.
    pub queue_entries: u64,
}

impl std::fmt::Display for PrivacyPurged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recordings={} transcripts={} phones={} call_recordings={} call_phones={} queue_entries={} sms={}",
            self.tickets.recordings,
            self.tickets.transcripts,
            self.tickets.phones,
            self.calls.recordings,
            self.calls.phones,
            self.queue_entries,
            self.sms.messages
        )
    }
}

/// Purges what each period of retention says has expired by `now`: tickets first, so a
/// call record lets go of a voice message in the same run as its ticket.
pub async fn purge_personal_data(
    cfg: &Config,
    tickets: &Tickets,
    now: i64,
) -> anyhow::Result<PrivacyPurged> {
    use crate::tickets::retention;
    let done = PrivacyPurged {
        tickets: retention::purge(tickets, &cfg.tickets.retention, now).await?,
        calls: Calls::new(tickets.db().clone())
            .purge(
                &cfg.calls.retention,
                now,
                &retention::recordings_held(tickets).await?,
                tickets.recordings(),
            )
            .await?,
        sms: sms::retention::purge(tickets.db(), &cfg.sms.retention, now).await?,
        queue_entries: crate::acd::AcdStore::new(tickets.db().clone())
            .purge_personal_data(now - i64::from(cfg.calls.retention.phone_days) * 86_400_000)
            .await?,
    };
    tracing::info!("privacy purge {done}");
    Ok(done)
}

/// Purges every `[tickets.retention] interval_hours` (the first right away) until shutdown.
async fn run_privacy_purge(cfg: Config, tickets: Tickets, shutdown: CancellationToken) {
    let every = Duration::from_secs(cfg.tickets.retention.interval_hours.max(1) * 3600);
    let mut timer = tokio::time::interval(every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = timer.tick() => {
                if let Err(e) = purge_personal_data(&cfg, &tickets, crate::store::now_ms()).await {
                    tracing::warn!(error = %e, "privacy purge failed; the next run retries");
                }
            }
        }
    }
}

/// Runs everything configured until `shutdown` fires.
pub async fn serve(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    // First, so no part records into the no-op recorder before it exists.
    crate::telemetry::install();
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    // Before anything records: a wrong store or secret stops the start here, saying so.
    let recordings = crate::store::objects::Recordings::connect(&cfg.recordings, &cfg.data_dir)
        .await
        .context("opening the recordings store ([recordings])")?;
    let tickets = open_tickets(&cfg)
        .await?
        .with_recordings(recordings.clone());
    let db = tickets.db().clone();
    if !cfg.demo_tickets_file.as_os_str().is_empty() {
        if let Err(e) = seed_demo(&tickets, &cfg.demo_tickets_file).await {
            tracing::warn!(error = %e, "demo tickets not created");
        }
    }
    let readiness = Arc::new(Readiness::default());
    let mut tasks = tokio::task::JoinSet::new();
    if db.kind() == crate::store::DbKind::Postgres {
        // Several nodes may share this database: screens here follow changes made there.
        tasks.spawn(crate::tickets::fanout::run(
            tickets.clone(),
            cfg.database.effective_url(&cfg.data_dir),
            shutdown.clone(),
        ));
    }
    // Recordings waiting in the spool (an upload failed, or the node stopped) go up.
    tasks.spawn(recordings.clone().run_uploads(shutdown.clone()));

    if cfg.tickets.supervision.enabled {
        let s = &cfg.tickets.supervision;
        tasks.spawn(supervision::run(
            tickets.clone(),
            Duration::from_secs(s.interval_secs.max(1)),
            s.warn_at.clone(),
            shutdown.clone(),
        ));
        tracing::info!(every_secs = s.interval_secs, "supervision clock running");
    }
    if cfg.tickets.retention.enabled {
        let r = &cfg.tickets.retention;
        tracing::info!(
            every_hours = r.interval_hours,
            recording_days = r.recording_days,
            transcript_days = r.transcript_days,
            phone_days = r.phone_days,
            call_recording_days = cfg.calls.retention.recording_days,
            call_phone_days = cfg.calls.retention.phone_days,
            sms_days = cfg.sms.retention.days,
            "privacy retention running"
        );
        tasks.spawn(run_privacy_purge(
            cfg.clone(),
            tickets.clone(),
            shutdown.clone(),
        ));
    }
    if cfg.tickets.follow_up.enabled {
        let f = &cfg.tickets.follow_up;
        tasks.spawn(follow_up::run(tickets.clone(), f.clone(), shutdown.clone()));
        tracing::info!(
            every_secs = f.interval_secs,
            delay_secs = f.delay_secs,
            close_after_secs = f.close_after_secs,
            "follow-up clock running"
        );
    }

    // Speech: a missing model is reported, and calls, menus and tickets go on without it;
    // transcription jobs wait until a model appears.
    let speech = SpeechService::new(
        cfg.speech.clone(),
        cfg.data_dir.clone(),
        db.clone(),
        tickets.clone(),
    );
    readiness.speech_enabled.store(true, Ordering::Relaxed);
    // A missing model is logged by the speech service itself, with what to do.
    let _ = speech.load_model().await;
    tasks.spawn(speech.clone().run(shutdown.clone()));
    // Voice messages become transcription jobs from their `accepted` event, whether or not
    // a model is loaded: the jobs wait for one.
    tasks.spawn(consumer::run(
        db.clone(),
        Arc::new(SpeechJobs {
            service: Some(speech.clone()),
        }),
        Some(tickets.subscribe()),
        shutdown.clone(),
    ));

    // Notices: SMS to residents and mail to departments, from durable outboxes.
    let sms = cfg.sms.enabled.then(|| {
        sms::start(
            cfg.sms.clone(),
            db.clone(),
            tickets.clone(),
            shutdown.clone(),
        )
    });
    readiness
        .sms_enabled
        .store(sms.is_some(), Ordering::Relaxed);
    if sms.is_none() {
        // No carrier yet: notices are still written, and go out once an SMSC is configured.
        tracing::info!(
            "SMS sending is off ([sms] enabled = false); notices queue in the SMS outbox"
        );
        let notices = Arc::new(sms::notices::SmsNotices {
            cfg: cfg.sms.clone(),
            sender: None,
        });
        tasks.spawn(consumer::run(
            db.clone(),
            notices,
            Some(tickets.subscribe()),
            shutdown.clone(),
        ));
    }
    let mail = cfg.mail.enabled.then(|| {
        mail::start(
            cfg.mail.clone(),
            db.clone(),
            tickets.clone(),
            shutdown.clone(),
        )
    });

    // The call centre: queues of callers waiting for a person.
    let queues = acd::Queues::load(
        &cfg.acd.queues_file,
        &cfg.sip.destinations.keys().cloned().collect::<Vec<_>>(),
    )
    .map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "the queues file has problems; fix them and start again:\n{}",
            list.join("\n")
        )
    })?;
    // Voice menus and SIP: a broken dialplan stops the start with every problem listed.
    let destinations: Vec<String> = cfg.sip.destinations.keys().cloned().collect();
    let menus: Arc<dyn SpeechInput> = Arc::new(SpeechMenus(speech.clone()));
    let engine = Engine::start(
        cfg.ivr.clone(),
        &cfg.data_dir,
        tickets.clone(),
        Calls::new(db.clone()),
        destinations,
        Some(queues.queues.keys().cloned().collect()),
        Some(menus),
    )
    .await
    .map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "the dialplans have problems; fix them and start again:\n{}",
            list.join("\n")
        )
    })?;
    tasks.spawn(engine.clone().watch(shutdown.clone()));
    let follow_up = &cfg.tickets.follow_up;
    if follow_up.enabled && follow_up.survey_call.enabled {
        let dests: Vec<String> = cfg.sip.destinations.keys().cloned().collect();
        crate::ivr::survey::check(&follow_up.survey_call, &dests, &engine.current())
            .context("the survey call cannot be placed; fix the config and start again")?;
        tasks.spawn(crate::ivr::survey::run(
            engine.clone(),
            follow_up.clone(),
            shutdown.clone(),
        ));
        tracing::info!(trunk = %follow_up.survey_call.trunk, dialplan = %follow_up.survey_call.dialplan, "survey calls on");
    }

    let acd = acd::Acd::start(
        cfg.acd.clone(),
        crate::media::RecordLayout::for_operator_calls(&cfg.media),
        queues,
        db.clone(),
        Arc::new(AccountRoster(db.clone())),
        &cfg.data_dir,
        shutdown.clone(),
    )
    .await
    .context("starting the call centre")?;
    acd.keep_recordings_in(recordings.clone());
    engine.set_acd(acd.clone());
    if db.shared() {
        // Several nodes may share this database: one call centre, woken by their changes.
        tasks.spawn(
            acd.clone()
                .follow_other_nodes(cfg.database.effective_url(&cfg.data_dir), shutdown.clone()),
        );
    }

    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("listening for HTTP on {}", cfg.http.listen))?;
    let tls = cfg.web.tls().context("the console's TLS certificate")?;
    tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), "HTTP listening (web console, APIs, /healthz, /readyz)");
    let app = web::router_with(
        AppState {
            tickets: tickets.clone(),
            readiness: readiness.clone(),
        },
        WebExtras {
            config: cfg.web.clone(),
            calls: Some(Arc::new(OperatorCalls(engine.clone()))),
            acd: Some(acd.clone()),
            destinations: cfg.sip.destinations.keys().cloned().collect(),
            webrtc: Some(crate::webrtc::Gateway::new(Arc::new(
                crate::media::PortPool::new(&cfg.media).context("media ports for browser legs")?,
            ))),
            scorecard: cfg.scorecard.clone(),
        },
    );
    let http_stop = shutdown.clone();
    match tls {
        None => {
            tasks.spawn(async move {
                let r = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(async move { http_stop.cancelled().await })
                .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
        }
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let server = axum_server::tls_rustls::from_tcp_rustls(
                listener.into_std()?,
                axum_server::tls_rustls::RustlsConfig::from_config(tls),
            )
            .context("serving HTTPS")?
            .handle(handle.clone());
            tokio::spawn(async move {
                http_stop.cancelled().await;
                handle.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            tasks.spawn(async move {
                let r = server
                    .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "HTTPS server stopped");
                }
            });
        }
    }

    let handler: Arc<dyn CallHandler> = engine;
    let accounts: Arc<dyn Directory> = Arc::new(AccountDirectory(db.clone()));
    let sip = SipServer::start_with(
        cfg.sip.clone(),
        cfg.media.clone(),
        handler,
        Some((db.clone(), accounts)),
        shutdown.clone(),
    )
    .await
    .context("starting SIP")?;
    for a in &sip.udp_addrs {
        tracing::info!(addr = %a, "SIP listening (UDP)");
    }
    for a in &sip.tcp_addrs {
        tracing::info!(addr = %a, "SIP listening (TCP)");
    }
    readiness.sip_listening.store(true, Ordering::Relaxed);
    acd.set_dialer(sip.dialer());
    if db.shared() {
        match node_sip_address(&cfg.sip, &sip.udp_addrs) {
            Some(addr) => acd.set_sip_address(addr),
            None => tracing::warn!(
                "SIP listens on a wildcard address and [sip] public_addr is not set: other \
                 nodes cannot ring the browser softphones attached to this node"
            ),
        }
    }

    // Readiness of the parts that come and go.
    {
        let (readiness, speech, link, stop) = (
            readiness.clone(),
            speech.clone(),
            sms.as_ref().map(|h| h.link.clone()),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(1));
            while !stop.is_cancelled() {
                tokio::select! { _ = stop.cancelled() => break, _ = t.tick() => {} }
                readiness
                    .speech_model_loaded
                    .store(speech.available(), Ordering::Relaxed);
                if let Some(l) = &link {
                    readiness.smsc_bound.store(
                        matches!(l.state(), sms::LinkState::Bound),
                        Ordering::Relaxed,
                    );
                }
            }
        });
    }

    shutdown.cancelled().await;
    tracing::info!("shutting down: new calls are refused, calls in progress may finish");
    sip.wait().await;
    readiness.sip_listening.store(false, Ordering::Relaxed);
    if let Some(h) = sms {
        h.join().await;
    }
    if let Some(h) = mail {
        h.join().await;
    }
    while tasks.join_next().await.is_some() {}
    tickets.db().close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// A few realistic tickets in an empty demo database, so the console is not empty.
async fn seed_demo(tickets: &Tickets, file: &std::path::Path) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Seed {
        ticket: Vec<SeedTicket>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SeedTicket {
        phone: String,
        channel: String,
        text: String,
        #[serde(default)]
        kind: Option<String>,
    }
    if tickets
        .count(&TicketFilter {
            limit: 1,
            ..Default::default()
        })
        .await?
        > 0
    {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let seed: Seed =
        toml::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
    for t in seed.ticket {
        let new = NewTicket {
            channel: t
                .channel
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
            kind: t
                .kind
                .map(|k| k.parse())
                .transpose()
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
            phone: t
                .phone
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
            text: t.text,
            address: None,
            area: None,
            recording_path: None,
            language: None,
        };
        tickets.create(new, &Actor::System).await?;
    }
    tracing::info!(file = %file.display(), "demo tickets created in the empty database");
    Ok(())
}

/// Speech menus for the voice menus (speech may not know the IVR, a layer above it).
struct SpeechMenus(Arc<SpeechService>);

#[async_trait::async_trait]
impl SpeechInput for SpeechMenus {
    fn available(&self) -> bool {
        self.0.available()
    }
    async fn choose(&self, pcm: Vec<i16>, phrases: Vec<String>) -> Option<usize> {
        self.0.choose_phrase(pcm, &phrases).await
    }
    async fn understand(&self, pcm: Vec<i16>, phrases: Vec<String>) -> Understood {
        // Most callers speak the city's language: hear them in it first (one whisper pass,
        // what a command's answer time allows); only words that do not come out as Chinese
        // pay for language detection. Without phrases (a story going on) detect at once.
        let primary = self.0.primary_language().to_string();
        let first = match phrases.is_empty() {
            true => None,
            false => self.0.hear_in(pcm.clone(), Some(&primary)).await,
        };
        let heard = match first {
            Some(h) if h.language != "zh" || mostly_chinese(&h.text) => Some(h),
            _ => self.0.hear(pcm).await,
        };
        let Some(heard) = heard else {
            return Understood::default();
        };
        let list: Vec<&str> = phrases.iter().map(String::as_str).collect();
        let choice = match_in(&heard.text, &heard.language, &list, DEFAULT_MIN_SCORE);
        tracing::debug!(heard = %heard.text, language = %heard.language, choice = ?choice.as_ref().map(|c| &c.phrase), "the caller's first words");
        Understood {
            language: Some(heard.language),
            choice: choice.map(|c| c.index),
        }
    }
}

/// Whether most of the letters of `text` are Chinese characters (whisper held to Mandarin
/// writes English speech in Latin letters or not at all).
fn mostly_chinese(text: &str) -> bool {
    let letters = text.chars().filter(|c| c.is_alphanumeric()).count();
    let han = text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    letters > 0 && han * 2 > letters
}

/// Operator phones register with their console account's name and SIP password.
struct AccountDirectory(Db);

#[async_trait::async_trait]
impl Directory for AccountDirectory {
    async fn sip_credentials(&self, user: &str, realm: &str) -> Option<StoredHa1> {
        match web::accounts::sip_secret(&self.0, user, realm).await {
            Ok(s) => s.map(|s| StoredHa1 {
                md5: s.ha1_md5,
                sha256: s.ha1_sha256,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "reading SIP credentials failed");
                None
            }
        }
    }
}

/// Queue members named by role are the console's active accounts with that role.
struct AccountRoster(Db);

#[async_trait::async_trait]
impl acd::Roster for AccountRoster {
    async fn with_role(&self, role: &str) -> Vec<String> {
        match web::accounts::list(&self.0).await {
            Ok(list) => list
                .into_iter()
                .filter(|a| a.active && a.role.code() == role)
                .map(|a| a.name)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading accounts failed");
                Vec::new()
            }
        }
    }
    async fn exists(&self, name: &str) -> bool {
        match web::accounts::list(&self.0).await {
            Ok(list) => list.iter().any(|a| a.active && a.name == name),
            Err(_) => false,
        }
    }
}

/// Callers now connected to an operator, for the console's "new ticket" form.
struct OperatorCalls(Arc<Engine>);

impl web::ActiveCalls for OperatorCalls {
    fn callers(&self) -> Vec<String> {
        self.0.bridged_callers()
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM; a second signal exits at once.
pub fn on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                tracing::info!("signal received; draining (send again to stop at once)");
                token.cancel();
            } else {
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
}

/// Where other nodes reach this node's SIP over UDP (`ip:port`): the first UDP listener,
/// with `[sip] public_addr` as its IP when set; None when that leaves a wildcard address.
fn node_sip_address(cfg: &crate::sip::SipConfig, udp: &[std::net::SocketAddr]) -> Option<String> {
    let first = udp.first()?;
    let ip = match cfg.public_addr.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => p.parse().ok()?,
        _ => first.ip(),
    };
    (!ip.is_unspecified()).then(|| std::net::SocketAddr::new(ip, first.port()).to_string())
}
