//! `cairn tenant`, `cairn token`, `cairn audit`: administration, either
//! through a server (`--server`, with an admin `--token`) or directly on the
//! store (`--data-dir` / `--database`), which is how the first admin token
//! is made.

use super::render::time;
use super::{Ctx, Format, render};
use crate::api::client::Client;
use crate::error::Result;
use crate::model::{AuditRecord, Quotas, Role, Tenant, Token};
use crate::node::{
    AuditQuery, Caller, CreateTenantRequest, CreateTokenRequest, CreatedToken, Node, Schema, TenantDetail,
};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

/// Quota flags of `tenant create` and `tenant update`.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct QuotaArgs {
    /// Largest JSON payload (input, signal), bytes.
    #[arg(long)]
    max_payload_bytes: Option<u64>,
    /// Largest component, bytes.
    #[arg(long)]
    max_component_bytes: Option<u64>,
    /// Most components held.
    #[arg(long)]
    max_components: Option<u64>,
    /// Most executions running or sleeping at once; later starts queue.
    #[arg(long)]
    max_running: Option<u64>,
    /// Most journal entries per execution; a workflow reaching it is parked.
    #[arg(long)]
    max_journal_entries: Option<u64>,
    /// CPU one of its workflows may use between two host calls, ms (below the server's --cpu-budget-ms).
    #[arg(long)]
    cpu_budget_ms: Option<u64>,
    /// CPU its guests may use per minute on each node, ms (past it they wait).
    #[arg(long)]
    cpu_ms_per_minute: Option<u64>,
    /// API requests per second (beyond: 429 with Retry-After).
    #[arg(long)]
    requests_per_second: Option<u64>,
    /// Starts per second (beyond: 429 with Retry-After).
    #[arg(long)]
    starts_per_second: Option<u64>,
    /// Signals per second (beyond: 429 with Retry-After).
    #[arg(long)]
    signals_per_second: Option<u64>,
    /// Memory of one of its instances, MiB (below the server's --memory-limit-mb).
    #[arg(long)]
    max_instance_memory_mb: Option<u64>,
    /// Memory of all its instances on a node, MiB (past it, starts wait for memory).
    #[arg(long)]
    max_total_memory_mb: Option<u64>,
    /// Bytes all its journals may hold (past it, workflows park and starts get 429).
    #[arg(long)]
    max_journal_bytes: Option<u64>,
    /// Timers its workflows may start per second on a node (beyond it they wait).
    #[arg(long)]
    timers_per_second: Option<u64>,
    /// A host its activities may reach (`api.example.com`, `*.example.com`);
    /// repeat it. Without any, any host a deployment lists.
    #[arg(long = "http-host", conflicts_with = "no_http")]
    http_hosts: Vec<String>,
    /// Its activities may reach no host: deploying one that imports HTTP is refused.
    #[arg(long)]
    no_http: bool,
}

impl QuotaArgs {
    /// These flags over `base`: what is given replaces what was.
    fn over(self, mut base: Quotas) -> Quotas {
        base.max_payload_bytes = self.max_payload_bytes.or(base.max_payload_bytes);
        base.max_component_bytes = self.max_component_bytes.or(base.max_component_bytes);
        base.max_components = self.max_components.or(base.max_components);
        base.max_running = self.max_running.or(base.max_running);
        base.max_journal_entries = self.max_journal_entries.or(base.max_journal_entries);
        base.cpu_ms_per_minute = self.cpu_ms_per_minute.or(base.cpu_ms_per_minute);
        base.cpu_budget_ms = self.cpu_budget_ms.or(base.cpu_budget_ms);
        base.requests_per_second = self.requests_per_second.or(base.requests_per_second);
        base.starts_per_second = self.starts_per_second.or(base.starts_per_second);
        base.signals_per_second = self.signals_per_second.or(base.signals_per_second);
        base.max_instance_memory_mb = self.max_instance_memory_mb.or(base.max_instance_memory_mb);
        base.max_total_memory_mb = self.max_total_memory_mb.or(base.max_total_memory_mb);
        base.max_journal_bytes = self.max_journal_bytes.or(base.max_journal_bytes);
        base.timers_per_second = self.timers_per_second.or(base.timers_per_second);
        if !self.http_hosts.is_empty() {
            base.http_hosts = Some(self.http_hosts);
        }
        if self.no_http {
            base.http_hosts = Some(Vec::new());
        }
        base
    }
}

/// `cairn tenant ...`.
#[derive(Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Tenant name (a-z, 0-9, '-', '_').
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// List tenants.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Show a tenant, its quotas and what it uses.
    Describe {
        /// Tenant name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Change a tenant's quotas (the flags given replace their values).
    Update {
        /// Tenant name.
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// Delete a tenant and all its data.
    Delete {
        /// Tenant name.
        name: String,
        /// Delete even while its executions run.
        #[arg(long)]
        force: bool,
    },
}

/// `cairn token ...`.
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a token for `--tenant` (default `default`) and print it once.
    Create {
        /// What it may do: read, operate, deploy, admin (its tenant) or
        /// superuser (every tenant).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Lifetime, e.g. `30d`, `12h` (default: until revoked).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// List tokens (of `--tenant`, or all).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Revoke a token at once.
    Revoke {
        /// The token's id (the 12 hex digits after `cairn_`).
        id: String,
    },
    /// Confirm a token a server without authentication minted: until then
    /// it proves nothing. Run it on the store, or with a token.
    Confirm {
        /// The token's id (the 12 hex digits after `cairn_`).
        id: String,
    },
}

/// Arguments of `cairn audit`.
#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Newest records to show.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    Role::parse(s).ok_or_else(|| "use read, operate, deploy, admin or superuser".to_owned())
}

/// Where administration goes: a server, or the store itself.
enum Admin {
    Remote(Client),
    Local(Arc<Node>, Caller),
}

impl Admin {
    async fn open(ctx: &Ctx) -> Result<Admin> {
        Ok(match &ctx.server {
            Some(_) => Admin::Remote(ctx.client()?),
            None => Admin::Local(ctx.store_node(Schema::Migrate).await?, ctx.local_caller()),
        })
    }

    async fn create_tenant(&self, req: CreateTenantRequest) -> Result<Tenant> {
        match self {
            Admin::Remote(c) => c.create_tenant(&req).await,
            Admin::Local(n, who) => n.create_tenant(who, req).await,
        }
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        match self {
            Admin::Remote(c) => c.tenants().await,
            Admin::Local(n, who) => n.tenants(who).await,
        }
    }

    async fn tenant(&self, name: &str) -> Result<TenantDetail> {
        match self {
            Admin::Remote(c) => c.tenant(name).await,
            Admin::Local(n, who) => n.tenant(who, name).await,
        }
    }

    async fn update_tenant(&self, name: &str, quotas: Quotas) -> Result<TenantDetail> {
        match self {
            Admin::Remote(c) => c.update_tenant(name, &quotas).await,
            Admin::Local(n, who) => n.update_tenant(who, name, quotas).await,
        }
    }

    async fn delete_tenant(&self, name: &str, force: bool) -> Result<()> {
        match self {
            Admin::Remote(c) => c.delete_tenant(name, force).await,
            Admin::Local(n, who) => n.delete_tenant(who, name, force).await,
        }
    }

    async fn create_token(&self, req: CreateTokenRequest) -> Result<CreatedToken> {
        match self {
            Admin::Remote(c) => c.create_token(&req).await,
            Admin::Local(n, who) => n.create_token(who, req).await,
        }
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<Token>> {
        match self {
            Admin::Remote(c) => c.tokens(tenant).await,
            Admin::Local(n, who) => n.tokens(who, tenant).await,
        }
    }

    async fn revoke_token(&self, id: &str) -> Result<Token> {
        match self {
            Admin::Remote(c) => c.revoke_token(id).await,
            Admin::Local(n, who) => n.revoke_token(who, id).await,
        }
    }

    async fn confirm_token(&self, id: &str) -> Result<Token> {
        match self {
            Admin::Remote(c) => c.confirm_token(id).await,
            Admin::Local(n, who) => n.confirm_token(who, id).await,
        }
    }

    async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        match self {
            Admin::Remote(c) => c.audit(q).await,
            Admin::Local(n, who) => n.audit(who, q).await,
        }
    }
}

/// `cairn tenant ...`.
pub(crate) async fn tenant(ctx: &Ctx, command: TenantCommand) -> Result<ExitCode> {
    let admin = Admin::open(ctx).await?;
    match command {
        TenantCommand::Create { name, quotas } => {
            let t = admin
                .create_tenant(CreateTenantRequest {
                    name,
                    quotas: quotas.over(Quotas::default()),
                })
                .await?;
            eprintln!("tenant {} created", t.name);
        }
        TenantCommand::List { output } => {
            let list = admin.tenants().await?;
            match output {
                Format::Json => render::json(&list),
                Format::Text => {
                    println!("{:<24}  {:<24}  QUOTAS", "NAME", "CREATED");
                    for t in &list {
                        println!(
                            "{:<24}  {:<24}  {}",
                            t.name,
                            time(t.created_at_ms),
                            quota_text(&t.quotas)
                        );
                    }
                }
            }
        }
        TenantCommand::Describe { name, output } => {
            let d = admin.tenant(&name).await?;
            match output {
                Format::Json => render::json(&d),
                Format::Text => {
                    println!("tenant      {}", d.tenant.name);
                    println!("created     {}", time(d.tenant.created_at_ms));
                    println!("quotas      {}", quota_text(&d.tenant.quotas));
                    println!("in force    {}", quota_text(&d.effective_quotas));
                    println!("running     {}", d.usage.unfinished_executions);
                    println!("queued      {}", d.usage.queued_executions);
                    println!("executions  {}", d.usage.executions);
                    println!("components  {} ({} bytes)", d.usage.components, d.usage.component_bytes);
                    println!(
                        "memory      {} bytes in instances on the server",
                        d.usage.instance_memory_bytes
                    );
                }
            }
        }
        TenantCommand::Update { name, quotas } => {
            let current = admin.tenant(&name).await?.tenant.quotas;
            let d = admin.update_tenant(&name, quotas.over(current)).await?;
            eprintln!("tenant {} updated: {}", d.tenant.name, quota_text(&d.tenant.quotas));
        }
        TenantCommand::Delete { name, force } => {
            admin.delete_tenant(&name, force).await?;
            eprintln!("tenant {name} deleted with all its data");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn quota_text(q: &Quotas) -> String {
    let text = serde_json::to_string(q).unwrap_or_default();
    if text == "{}" { "none".into() } else { text }
}

/// `cairn token ...`.
pub(crate) async fn token(ctx: &Ctx, command: TokenCommand) -> Result<ExitCode> {
    let admin = Admin::open(ctx).await?;
    match command {
        TokenCommand::Create { role, expires_in } => {
            let req = CreateTokenRequest {
                tenant: ctx.tenant.clone(),
                role,
                expires_in_s: expires_in.map(|d| d.as_secs().max(1)),
            };
            let made = admin.create_token(req).await?;
            eprintln!(
                "token {} ({} in tenant {}): shown this once, keep it secret",
                made.info.id,
                made.info.role.as_str(),
                made.info.tenant
            );
            println!("{}", made.token);
            if made.info.confirmed_at_ms.is_none() {
                eprintln!(
                    "warning: minted by a server without authentication, this token works nowhere until an operator runs `cairn token confirm {}` on the store",
                    made.info.id
                );
            }
        }
        TokenCommand::List { output } => {
            let list = admin.tokens(ctx.tenant.as_deref()).await?;
            match output {
                Format::Json => render::json(&list),
                Format::Text => {
                    println!(
                        "{:<14}  {:<20}  {:<10}  {:<24}  STATE",
                        "ID", "TENANT", "ROLE", "CREATED"
                    );
                    for t in &list {
                        let mut state = match (t.revoked_at_ms, t.expires_at_ms) {
                            (Some(at), _) => format!("revoked {}", time(at)),
                            (None, Some(at)) => format!("expires {}", time(at)),
                            (None, None) => "active".into(),
                        };
                        if t.confirmed_at_ms.is_none() {
                            state.push_str(", unconfirmed");
                        }
                        if let Some(parent) = &t.session_of {
                            state.push_str(&format!(", console session of {parent}"));
                        }
                        println!(
                            "{:<14}  {:<20}  {:<10}  {:<24}  {state}",
                            t.id,
                            t.tenant,
                            t.role.as_str(),
                            time(t.created_at_ms)
                        );
                    }
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let t = admin.revoke_token(&id).await?;
            eprintln!("token {} revoked", t.id);
        }
        TokenCommand::Confirm { id } => {
            let t = admin.confirm_token(&id).await?;
            eprintln!("token {} confirmed ({} in {})", t.id, t.role.as_str(), t.tenant);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn audit`.
pub(crate) async fn audit(ctx: &Ctx, args: AuditArgs) -> Result<ExitCode> {
    let admin = Admin::open(ctx).await?;
    let q = AuditQuery {
        tenant: ctx.tenant.clone(),
        limit: Some(args.limit),
    };
    let list = admin.audit(&q).await?;
    match args.output {
        Format::Json => render::json(&list),
        Format::Text => {
            println!(
                "{:<24}  {:<14}  {:<16}  {:<14}  TARGET",
                "AT", "TOKEN", "TENANT", "ACTION"
            );
            for a in &list {
                println!(
                    "{:<24}  {:<14}  {:<16}  {:<14}  {}",
                    time(a.at_ms),
                    a.token,
                    a.tenant,
                    a.action,
                    a.target
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
