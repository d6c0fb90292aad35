//! Tenants in storage keys.
//!
//! Every execution id, deployment name and schedule id is stored under a
//! [`Key`] that carries its tenant: `tenant/name`, except in the tenant
//! named `default`, whose keys are the bare names (so data written before
//! tenants existed belongs to `default` unchanged). Names never contain `/`,
//! so a key always tells its tenant. Journals, inboxes and leases are keyed
//! by the execution's key, so nothing one tenant addresses can reach
//! another's rows; each table also has a `tenant` column that lists and
//! quotas index. Children and continued runs derive their ids from their
//! parent's key and so stay in its tenant.
//!
//! A name a user (or a guest) gives is a `&str`; the key it stands for in a
//! tenant is a `Key`, made only by [`Key::new`] (a name in a tenant),
//! [`Key::beside`] (a name in the tenant of another key) or [`Key::stored`]
//! (a key read back from the store). A name can therefore never be passed
//! where a key is expected, and a key is shown to its tenant only through
//! [`Key::name`].

use serde::{Deserialize, Serialize};

/// The tenant every installation has, owning data from before tenants.
pub const DEFAULT_TENANT: &str = "default";

/// A tenant-qualified storage key: an execution id, a deployment name or a
/// schedule id as stored. Serialized as its stored text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(String);

impl Key {
    /// The key of `name` in `tenant`. Valid names have no `/`; a name with
    /// one (an id sent URL-encoded) gets a key no valid name has — in
    /// `default`, `default/...`, never stored — so it can only be "not
    /// found", never another tenant's row.
    pub fn new(tenant: &str, name: &str) -> Key {
        if tenant == DEFAULT_TENANT && !name.contains('/') {
            Key(name.to_owned())
        } else {
            Key(format!("{tenant}/{name}"))
        }
    }

    /// A key as the store holds it (read back from a row or a journal).
    pub fn stored(text: impl Into<String>) -> Key {
        Key(text.into())
    }

    /// The key of `name` in this key's tenant (a child or a workflow named
    /// by its parent).
    pub fn beside(&self, name: &str) -> Key {
        Key::new(self.tenant(), name)
    }

    /// The key with `suffix` appended to its name (the next run of a
    /// continue-as-new chain stays in the tenant).
    pub fn with_suffix(&self, suffix: &str) -> Key {
        Key(format!("{}{suffix}", self.0))
    }

    /// The tenant it belongs to.
    pub fn tenant(&self) -> &str {
        tenant_of(&self.0)
    }

    /// The name it stands for within its tenant: what its tenant (and a
    /// guest) is shown.
    pub fn name(&self) -> &str {
        name_of(&self.0)
    }

    /// The stored text (for the store's statements and for logs).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The tenant a stored key's text belongs to.
pub fn tenant_of(key: &str) -> &str {
    key.split_once('/').map_or(DEFAULT_TENANT, |(t, _)| t)
}

/// The name a stored key's text stands for within its tenant.
pub fn name_of(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_tenant() {
        assert_eq!(Key::new(DEFAULT_TENANT, "order-7").as_str(), "order-7");
        let k = Key::new("acme", "order-7");
        assert_eq!(k.as_str(), "acme/order-7");
        assert_eq!((k.tenant(), k.name()), ("acme", "order-7"));
        let d = Key::stored("order-7");
        assert_eq!((d.tenant(), d.name()), (DEFAULT_TENANT, "order-7"));
        assert_eq!(k.beside("c").as_str(), "acme/c");
        assert_eq!(d.beside("c").as_str(), "c");
        assert_eq!(k.with_suffix("~1").name(), "order-7~1");
        // A name with a `/` never becomes another tenant's key.
        assert_eq!(Key::new(DEFAULT_TENANT, "acme/order-7").tenant(), DEFAULT_TENANT);
        assert_eq!(Key::new("b", "acme/order-7").tenant(), "b");
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"acme/order-7\"");
    }
}
