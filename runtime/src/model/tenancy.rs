//! Tenants in storage keys.
//!
//! Every execution id, deployment name and schedule id is stored under a
//! *key* that carries its tenant: `tenant/name`, except in the tenant named
//! `default`, whose keys are the bare names (so data written before tenants
//! existed belongs to `default` unchanged). Names never contain `/`, so a
//! key always tells its tenant. Journals, inboxes and leases are keyed by
//! the execution's key, so nothing one tenant addresses can reach another's
//! rows; each table also has a `tenant` column that lists and quotas index.
//! Children and continued runs derive their ids from their parent's key and
//! so stay in its tenant.

/// The tenant every installation has, owning data from before tenants.
pub const DEFAULT_TENANT: &str = "default";

/// The key of `name` in `tenant`. Valid names have no `/`; a name with one
/// (an id sent URL-encoded) gets a key no valid name has — in `default`,
/// `default/...`, never stored — so it can only be "not found", never
/// another tenant's row.
pub fn key(tenant: &str, name: &str) -> String {
    if tenant == DEFAULT_TENANT && !name.contains('/') {
        name.to_owned()
    } else {
        format!("{tenant}/{name}")
    }
}

/// The tenant a key belongs to.
pub fn tenant_of(key: &str) -> &str {
    key.split_once('/').map_or(DEFAULT_TENANT, |(t, _)| t)
}

/// The name a key stands for within its tenant.
pub fn name_of(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, n)| n)
}

/// The key of `name` in the tenant of `sibling` (a child named by its parent).
pub fn key_beside(sibling: &str, name: &str) -> String {
    key(tenant_of(sibling), name)
}

/// A tenant name: up to 64 of `[a-z0-9-_]`, starting with a letter or digit.
pub fn valid_tenant(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_tenant() {
        assert_eq!(key(DEFAULT_TENANT, "order-7"), "order-7");
        assert_eq!(key("acme", "order-7"), "acme/order-7");
        assert_eq!(
            (tenant_of("acme/order-7"), name_of("acme/order-7")),
            ("acme", "order-7")
        );
        assert_eq!((tenant_of("order-7"), name_of("order-7")), (DEFAULT_TENANT, "order-7"));
        assert_eq!(key_beside("acme/p", "c"), "acme/c");
        assert_eq!(key_beside("p", "c"), "c");
        // A name with a `/` never becomes another tenant's key.
        assert_eq!(tenant_of(&key(DEFAULT_TENANT, "acme/order-7")), DEFAULT_TENANT);
        assert_eq!(tenant_of(&key("b", "acme/order-7")), "b");
        assert!(valid_tenant("team-a_1") && !valid_tenant("A") && !valid_tenant("a/b") && !valid_tenant(""));
        assert!(!valid_tenant("-a") && !valid_tenant(&"a".repeat(65)));
    }
}
