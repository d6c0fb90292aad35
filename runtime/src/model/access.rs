//! Who may do what: tenants with their quotas and policy, API tokens with
//! their roles, and the audit trail of what they did.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tenant: a namespace owning deployments, components, executions,
/// schedules and tokens, with its quotas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    /// Name (`[a-z0-9-_]`, up to 64).
    pub name: String,
    /// Its limits and policy.
    pub quotas: Quotas,
    /// When it was created (ms since epoch).
    pub created_at_ms: i64,
}

/// A tenant's limits and policy; an absent field means "no limit" (the
/// server's own limits still apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Largest JSON payload (input, signal) accepted, bytes.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_payload_bytes: Option<u64>,
    /// Largest component it may upload, bytes.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_component_bytes: Option<u64>,
    /// Most components it may hold.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_components: Option<u64>,
    /// Most executions running or sleeping at once: a start beyond it (API,
    /// CLI, schedule) is queued, not refused, and admitted in start order as
    /// others end. Children and continued runs are never queued.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_running: Option<u64>,
    /// Most journal entries one execution may write: a workflow reaching it
    /// is parked with `CAIRN-E031` (raise it, then unpark to go on).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_journal_entries: Option<u64>,
    /// CPU one of its workflows may use between two host calls, ms, when
    /// below the server's `--cpu-budget-ms`: past it, `CAIRN-E011`.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub cpu_budget_ms: Option<u64>,
    /// CPU its guests may use per minute on each node, ms (counted in 10 ms
    /// slices): past it they wait for the next minute, nothing is stopped.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub cpu_ms_per_minute: Option<u64>,
    /// API requests per second (token bucket per node; beyond: 429).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub requests_per_second: Option<u64>,
    /// Starts per second (token bucket per node; beyond: 429).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub starts_per_second: Option<u64>,
    /// Signals per second (token bucket per node; beyond: 429).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub signals_per_second: Option<u64>,
    /// Memory of one of its instances (all its memories and tables), MiB,
    /// when below the server's `--memory-limit-mb`: past it the guest fails
    /// with `CAIRN-E012`.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_instance_memory_mb: Option<u64>,
    /// Memory of all its instances on a node together, MiB: a start or a
    /// `memory.grow` beyond it waits (its idle instances are asked to leave).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_total_memory_mb: Option<u64>,
    /// Bytes all its journals may hold: past it, a workflow's next journaled
    /// call parks it with `CAIRN-E031` and starts are refused (429).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub max_journal_bytes: Option<u64>,
    /// Timers (sleeps, timer handles, signal waits with a timeout) its
    /// workflows may start per second on a node: beyond it the call waits
    /// for the bucket (token bucket per node).
    #[serde(
        default,
        deserialize_with = "super::whole::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1)]
    pub timers_per_second: Option<u64>,
    /// Hosts its activities may ever reach (`*.example.com` allowed); a
    /// deployment's allow-list is cut down to these. Absent: any host a
    /// deployment lists. Empty: none, and an activity importing HTTP is
    /// refused at deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_hosts: Option<Vec<String>>,
    /// The limits the tenant's own admin may not go beyond, set by a
    /// superuser (quotas of the same shape): with a cap, the admin's value
    /// must be present and at most it; `http_hosts` a subset of it.
    #[serde(
        default,
        deserialize_with = "super::whole::opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = caps_schema)]
    pub caps: Option<Box<Quotas>>,
}

/// The schema of `caps`: quotas again.
fn caps_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::Ref::from_schema_name("Quotas").into()
}

impl Quotas {
    /// The quotas every tenant has where it has none of its own (a node's
    /// `--default-quotas` may change them); docs/security.md gives the
    /// reasoning for each. They leave one tenant the whole of a small node
    /// for ordinary work and bound what it can take from the others.
    pub fn defaults() -> Quotas {
        Quotas {
            max_payload_bytes: Some(256 << 10),
            max_component_bytes: Some(64 << 20),
            max_components: Some(1000),
            max_running: Some(10_000),
            max_journal_entries: Some(50_000),
            cpu_ms_per_minute: Some(120_000),
            requests_per_second: Some(5000),
            starts_per_second: Some(1000),
            signals_per_second: Some(1000),
            timers_per_second: Some(1000),
            max_total_memory_mb: Some(4096),
            max_journal_bytes: Some(4 << 30),
            ..Quotas::default()
        }
    }

    /// These quotas, with `defaults`' value for each one absent here
    /// (`caps` are never defaulted).
    pub fn over(&self, defaults: &Quotas) -> Quotas {
        let (Ok(serde_json::Value::Object(mut mine)), Ok(serde_json::Value::Object(base))) =
            (serde_json::to_value(self), serde_json::to_value(defaults))
        else {
            return self.clone();
        };
        for (name, value) in base {
            if name != "caps" {
                mine.entry(name).or_insert(value);
            }
        }
        serde_json::from_value(serde_json::Value::Object(mine)).unwrap_or_else(|_| self.clone())
    }

    /// The first limit of `self` beyond `caps`, named, if any.
    pub fn beyond(&self, caps: &Quotas) -> Option<String> {
        let (mine, caps) = (serde_json::to_value(self).ok()?, serde_json::to_value(caps).ok()?);
        for (name, cap) in caps.as_object()? {
            let value = mine.get(name);
            let over = match (cap, value) {
                (_, None) => true,
                (serde_json::Value::Number(c), Some(v)) => v.as_u64().zip(c.as_u64()).is_none_or(|(v, c)| v > c),
                (serde_json::Value::Array(hosts), Some(serde_json::Value::Array(wanted))) => wanted.iter().any(|w| {
                    !hosts.iter().any(|h| {
                        h.as_str()
                            .zip(w.as_str())
                            .is_some_and(|(h, w)| h == w || host_matches(h, w))
                    })
                }),
                _ => name != "caps",
            };
            if over && name != "caps" {
                return Some(format!("{name} (cap {cap})"));
            }
        }
        None
    }

    /// Whether the tenant's policy lets its activities reach `host`
    /// (`host` or `host:port`; a policy entry without a port allows any).
    pub fn allows_host(&self, host: &str) -> bool {
        let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
        self.http_hosts
            .as_ref()
            .is_none_or(|hosts| hosts.iter().any(|h| host_matches(h, host) || host_matches(h, bare)))
    }
}

/// Whether `pattern` (`example.com` or `*.example.com`) matches `host`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.len() > domain.len() + 1 && host.ends_with(domain) && {
                let cut = host.len() - domain.len();
                host.as_bytes()[cut - 1] == b'.'
            }
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// What a tenant uses now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantUsage {
    /// Executions running or sleeping.
    pub unfinished_executions: i64,
    /// Executions stored, finished or not.
    pub executions: i64,
    /// Executions waiting for a place under `max_running`.
    pub queued_executions: i64,
    /// Components it holds.
    pub components: i64,
    /// Their total size, bytes.
    pub component_bytes: i64,
    /// Bytes its journals hold (entries and inputs).
    #[serde(default)]
    pub journal_bytes: i64,
    /// Memory its instances hold on the node that answered, bytes.
    #[serde(default)]
    pub instance_memory_bytes: i64,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read executions, journals, deployments and schedules.
    Read,
    /// `read`, plus start, signal, cancel, terminate, unpark and schedules.
    Operate,
    /// `operate`, plus upload components and deploy.
    Deploy,
    /// A tenant's administrator: everything in its own tenant — its
    /// tokens (up to `admin`), its audit, its quotas within the caps the
    /// superuser set. Never another tenant.
    Admin,
    /// The server's operator: every tenant, tenants themselves, their caps.
    Superuser,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 5] = [Role::Read, Role::Operate, Role::Deploy, Role::Admin, Role::Superuser];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Deploy => "deploy",
            Role::Admin => "admin",
            Role::Superuser => "superuser",
        }
    }

    /// Parses a role's name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A stored API token: only the SHA-256 of its secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// Public id (the token's `cairn_<id>_` prefix), for listing and revoking.
    pub id: String,
    /// Tenant it acts in.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// Hex SHA-256 of the secret.
    #[serde(skip)]
    pub hash: String,
    /// When it was made (ms since epoch).
    pub created_at_ms: i64,
    /// When it stops working (ms since epoch), if ever.
    pub expires_at_ms: Option<i64>,
    /// When it was revoked (ms since epoch).
    pub revoked_at_ms: Option<i64>,
    /// When an operator vouched for it (ms since epoch): minting it with
    /// a token, on the store itself, or `cairn token confirm`. A token an
    /// unauthenticated server minted has none, and proves nothing.
    #[serde(default)]
    pub confirmed_at_ms: Option<i64>,
    /// For a console session: the token that signed in (it ends with it).
    #[serde(default)]
    pub session_of: Option<String>,
}

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Order of recording.
    pub id: i64,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// Id of the token that did it (`local` for the CLI on the store).
    pub token: String,
    /// Tenant acted in.
    pub tenant: String,
    /// What was done (`deploy`, `cancel`, `token.create`, ...).
    pub action: String,
    /// What it was done to.
    pub target: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_by_subdomain() {
        assert!(host_matches("example.com", "EXAMPLE.com") && !host_matches("example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "a.example.com") && !host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        let q = Quotas {
            http_hosts: Some(vec!["api.x".into()]),
            ..Quotas::default()
        };
        assert!(q.allows_host("api.x") && !q.allows_host("evil.x") && Quotas::default().allows_host("any"));
        assert_eq!(Role::parse("deploy"), Some(Role::Deploy));
        assert!(
            Role::Superuser > Role::Admin
                && Role::Admin > Role::Deploy
                && Role::Deploy > Role::Operate
                && Role::Operate > Role::Read
        );
    }

    #[test]
    fn a_tenants_own_quotas_win_over_the_defaults() {
        let own = Quotas {
            starts_per_second: Some(5),
            caps: Some(Box::new(Quotas::default())),
            ..Quotas::default()
        };
        let defaults = Quotas::defaults();
        let q = own.over(&defaults);
        assert_eq!(q.starts_per_second, Some(5));
        assert_eq!(q.max_payload_bytes, defaults.max_payload_bytes);
        assert!(q.caps.is_some() && q.http_hosts.is_none());
        assert_eq!(Quotas::default().over(&defaults), defaults);
        assert!(defaults.caps.is_none());
    }
}
