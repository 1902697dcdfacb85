//! Ensemble membership as ZooKeeper 3.5's dynamic reconfiguration shows it: the text of
//! `/zookeeper/config` (`server.N=host:quorumPort:electionPort:role;clientAddress:clientPort`
//! lines and `version=<hex zxid>`), and the `reconfig` request's arithmetic: incremental
//! (joining servers, leaving ids) or a whole new member list, turned into a path of steps that
//! each add or remove one voter, so every step is a safe single-server change.

use crate::config::{parse_server, ServerLine};

pub const CONFIG_NODE: &str = "/zookeeper/config";

fn line(s: &ServerLine) -> String {
    let host = if s.host.contains(':') { format!("[{}]", s.host) } else { s.host.clone() };
    let mut l = format!("server.{}={host}:{}:{}:{}", s.id, s.quorum_port, s.election_port, s.role);
    if let Some(c) = &s.client {
        l.push(';');
        l.push_str(c);
    }
    l
}

/// The text of `/zookeeper/config` for `servers` at config version `version` (a zxid).
pub fn render(servers: &[ServerLine], version: i64) -> String {
    let mut v: Vec<&ServerLine> = servers.iter().collect();
    v.sort_by_key(|s| s.id);
    let mut out: String = v.iter().map(|s| line(s) + "\n").collect();
    out.push_str(&format!("version={version:x}"));
    out
}

/// Server lines of a config text (other lines ignored); errors name the bad line.
pub fn parse(text: &str) -> Result<Vec<ServerLine>, String> {
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        let Some((k, v)) = l.split_once('=') else { continue };
        let Some(id) = k.trim().strip_prefix("server.") else { continue };
        let id: i64 = id.parse().map_err(|_| format!("bad server id in {l:?}"))?;
        out.push(parse_server("config", 0, k.trim(), id, v).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The config version of a config text (`version=<hex>`; 0 without one).
pub fn version(text: &str) -> i64 {
    text.lines().find_map(|l| l.trim().strip_prefix("version=").and_then(|v| i64::from_str_radix(v.trim(), 16).ok())).unwrap_or(0)
}

/// The membership a `reconfig` asks for. `joining`: comma-separated `server.N=...` specs (a spec
/// for a member changes it); `leaving`: comma-separated ids; `new_members`: a whole list
/// (then the other two must be empty).
pub fn target(current: &[ServerLine], joining: &str, leaving: &str, new_members: &str) -> Result<Vec<ServerLine>, String> {
    let specs = |s: &str| -> Result<Vec<ServerLine>, String> { parse(&s.split(',').map(str::trim).collect::<Vec<_>>().join("\n")) };
    let mut next: Vec<ServerLine> = if !new_members.trim().is_empty() {
        if !joining.trim().is_empty() || !leaving.trim().is_empty() {
            return Err("a new member list cannot be combined with joining or leaving servers".into());
        }
        specs(new_members)?
    } else {
        let mut v = current.to_vec();
        for j in specs(joining)? {
            v.retain(|s| s.id != j.id);
            v.push(j);
        }
        for id in leaving.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id: i64 = id.parse().map_err(|_| format!("leaving server id {id:?} is not a number"))?;
            if !v.iter().any(|s| s.id == id) {
                return Err(format!("server {id} is not a member"));
            }
            v.retain(|s| s.id != id);
        }
        v
    };
    next.sort_by_key(|s| s.id);
    let mut ids: Vec<i64> = next.iter().map(|s| s.id).collect();
    ids.dedup();
    if ids.len() != next.len() {
        return Err("a server id appears twice".into());
    }
    if next.iter().all(|s| s.role != "participant") {
        return Err("the new configuration has no participant".into());
    }
    if next.iter().any(|s| s.role != "participant") {
        return Err("observers are not supported".into());
    }
    Ok(next)
}

/// Steps from `current` to `target`, each adding or removing at most one voter: additions
/// first, so the ensemble never shrinks below what both ends need. Voters are ids: a member
/// whose line changes (addresses, client port) stays a voter and carries its new line from the
/// first step on. A request that changes no voter is one step (a new config version, as
/// ZooKeeper gives even an unchanged member list). The last step is `target` itself.
pub fn steps(current: &[ServerLine], target: &[ServerLine]) -> Vec<Vec<ServerLine>> {
    let mut at: Vec<ServerLine> = current.iter().map(|c| target.iter().find(|t| t.id == c.id).unwrap_or(c).clone()).collect();
    let mut out = Vec::new();
    for t in target.iter().filter(|t| !current.iter().any(|c| c.id == t.id)) {
        at.push(t.clone());
        out.push(sorted(&at));
    }
    let leaving: Vec<i64> = at.iter().filter(|c| !target.iter().any(|t| t.id == c.id)).map(|c| c.id).collect();
    for id in leaving.into_iter().rev() {
        at.retain(|c| c.id != id);
        out.push(sorted(&at));
    }
    if out.is_empty() {
        out.push(sorted(&at));
    }
    out
}

fn sorted(v: &[ServerLine]) -> Vec<ServerLine> {
    let mut v = v.to_vec();
    v.sort_by_key(|s| s.id);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Vec<ServerLine> {
        parse("server.1=10.0.0.1:3188:3288:participant;0.0.0.0:2181\nserver.2=10.0.0.2:3188:3288;2181\nserver.3=10.0.0.3:3188:3288\nversion=0").unwrap()
    }

    #[test]
    fn renders_and_parses_back() {
        let t = render(&three(), 0x1f);
        assert_eq!(
            t,
            "server.1=10.0.0.1:3188:3288:participant;0.0.0.0:2181\nserver.2=10.0.0.2:3188:3288:participant;2181\nserver.3=10.0.0.3:3188:3288:participant\nversion=1f"
        );
        assert_eq!(parse(&t).unwrap(), three());
        assert_eq!(version(&t), 0x1f);
    }

    #[test]
    fn three_to_five_to_three_one_voter_at_a_time() {
        let cur = three();
        let five = target(&cur, "server.4=10.0.0.4:3188:3288;2181,server.5=10.0.0.5:3188:3288;2181", "", "").unwrap();
        assert_eq!(five.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        let path = steps(&cur, &five);
        assert_eq!(path.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4, 5]);
        let back = target(&five, "", "4,5", "").unwrap();
        assert_eq!(back, cur);
        let path = steps(&five, &back);
        assert_eq!(path.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4, 3]);
        // A new member list that replaces a server: add first, then remove.
        let swapped = target(&cur, "", "", "server.1=10.0.0.1:3188:3288;2181,server.2=10.0.0.2:3188:3288;2181,server.9=10.0.0.9:3188:3288").unwrap();
        let path = steps(&cur, &swapped);
        assert_eq!(path.first().map(|c| c.len()), Some(4));
        assert_eq!(path.last().unwrap().iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 9]);
        for w in path.windows(2) {
            let a: Vec<i64> = w[0].iter().map(|s| s.id).collect();
            let b: Vec<i64> = w[1].iter().map(|s| s.id).collect();
            assert_eq!(a.len().abs_diff(b.len()), 1, "{a:?} -> {b:?}");
        }
        // The changed lines of servers 1 and 2 ride with the first step; 1 and 2 never leave.
        assert_eq!(path.len(), 2);
        assert!(path.iter().all(|c| c.iter().any(|s| s.id == 1) && c.iter().any(|s| s.id == 2)));
        assert_eq!(path[0].iter().find(|s| s.id == 1).unwrap().client.as_deref(), Some("2181"));
    }

    #[test]
    fn same_voters_is_one_step_with_the_new_lines() {
        let cur = three();
        assert_eq!(steps(&cur, &cur), vec![cur.clone()]);
        let readdressed = target(&cur, "server.3=10.0.0.33:3188:3288;2181", "", "").unwrap();
        let path = steps(&cur, &readdressed);
        assert_eq!(path, vec![readdressed.clone()]);
        assert_eq!(path[0][2].host, "10.0.0.33");
    }

    #[test]
    fn refuses_what_cannot_work() {
        let cur = three();
        assert!(target(&cur, "", "7", "").is_err());
        assert!(target(&cur, "server.4=h:1:2", "", "server.1=h:1:2").is_err());
        assert!(target(&cur, "server.4=h:notaport:2", "", "").is_err());
        assert!(target(&cur, "", "", "server.1=h:1:2:observer").is_err());
    }
}
