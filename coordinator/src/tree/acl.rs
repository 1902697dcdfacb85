//! ACLs: schemes world, auth, digest and ip; permission checks; the auth identities a
//! connection holds.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::proto::codes::perm;
use crate::proto::records::{Acl, Id};

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1("user:password"))`.
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

/// Whether an `ip` ACL id (`a.b.c.d` or `a.b.c.d/bits`) matches a client address.
pub fn ip_matches(acl_id: &str, client: std::net::IpAddr) -> bool {
    let (addr, bits) = match acl_id.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (acl_id, None),
    };
    let Ok(addr) = addr.parse::<std::net::IpAddr>() else { return false };
    match (addr, client) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(c)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            (u32::from(a) & mask) == (u32::from(c) & mask)
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(c)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            (u128::from(a) & mask) == (u128::from(c) & mask)
        }
        _ => false,
    }
}

fn valid_ip_id(id: &str) -> bool {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let Ok(a) = addr.parse::<std::net::IpAddr>() else { return false };
    match bits {
        None => true,
        Some(b) => b.parse::<u32>().is_ok_and(|b| b <= if a.is_ipv4() { 32 } else { 128 }),
    }
}

/// Checks an ACL list given on create/setACL and expands the `auth` scheme into the
/// connection's authenticated identities (`PrepRequestProcessor.fixupACL`). `None` = INVALIDACL.
pub fn fixup(acls: &[Acl], auth_ids: &[Id]) -> Option<Vec<Acl>> {
    if acls.is_empty() {
        return None;
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acls.len());
    for a in acls {
        if a.perms & !perm::ALL != 0 {
            return None;
        }
        match a.id.scheme.as_str() {
            "world" => {
                if a.id.id != "anyone" {
                    return None;
                }
                out.push(a.clone());
            }
            "auth" => {
                let mut any = false;
                for id in auth_ids.iter().filter(|i| i.scheme != "super" && i.scheme != "ip") {
                    any = true;
                    out.push(Acl { perms: a.perms, id: id.clone() });
                }
                if !any {
                    return None;
                }
            }
            "digest" => {
                if a.id.id.split(':').count() != 2 {
                    return None;
                }
                out.push(a.clone());
            }
            "ip" => {
                if !valid_ip_id(&a.id.id) {
                    return None;
                }
                out.push(a.clone());
            }
            _ => return None,
        }
    }
    let mut dedup: Vec<Acl> = Vec::with_capacity(out.len());
    for a in out {
        if !dedup.contains(&a) {
            dedup.push(a);
        }
    }
    Some(dedup)
}

/// Whether identities `ids` (plus the client address) hold `wanted` permission under `acls`.
pub fn allowed(acls: &[Acl], wanted: i32, ids: &[Id], client: Option<std::net::IpAddr>) -> bool {
    if ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    acls.iter().any(|a| {
        if a.perms & wanted == 0 {
            return false;
        }
        match a.id.scheme.as_str() {
            "world" => a.id.id == "anyone",
            "ip" => client.is_some_and(|c| ip_matches(&a.id.id, c)),
            scheme => ids.iter().any(|i| i.scheme == scheme && i.id == a.id.id),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl { perms, id: Id { scheme: scheme.into(), id: id.into() } }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // ZooKeeper's docs: superDigest super:D/InIHSb7yEEbrWz8b9l71RjZJU= is the password "test";
        // kazoo's make_digest_acl_credential("user", "pw") gives the second.
        assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(digest("user:pw"), "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=");
    }

    #[test]
    fn fixup_rules() {
        let me = Id { scheme: "digest".into(), id: digest("u:p") };
        assert_eq!(fixup(&[], &[]), None);
        assert_eq!(fixup(&[acl(31, "auth", "")], &[]), None);
        assert_eq!(fixup(&[acl(31, "auth", "")], &[me.clone()]), Some(vec![Acl { perms: 31, id: me }]));
        assert_eq!(fixup(&[acl(31, "bogus", "x")], &[]), None);
        assert_eq!(fixup(&[acl(31, "digest", "nocolon")], &[]), None);
        assert!(fixup(&[acl(31, "ip", "10.0.0.0/8")], &[]).is_some());
        assert_eq!(fixup(&[acl(31, "ip", "10.0.0.0/99")], &[]), None);
        assert_eq!(fixup(&[acl(64, "world", "anyone")], &[]), None);
    }

    #[test]
    fn permission_checks() {
        let me = Id { scheme: "digest".into(), id: digest("u:p") };
        let acls = vec![acl(perm::READ, "world", "anyone"), acl(perm::ALL, "digest", &digest("u:p"))];
        assert!(allowed(&acls, perm::READ, &[], None));
        assert!(!allowed(&acls, perm::WRITE, &[], None));
        assert!(allowed(&acls, perm::WRITE, &[me], None));
        let ip = vec![acl(perm::ALL, "ip", "127.0.0.0/8")];
        assert!(allowed(&ip, perm::READ, &[], Some("127.0.0.5".parse().unwrap())));
        assert!(!allowed(&ip, perm::READ, &[], Some("10.0.0.5".parse().unwrap())));
    }
}
