//! zoo.cfg: the same file ZooKeeper reads (a Java properties file). Known keys are typed and
//! checked; an invalid value is an error naming the file, line and key; an unknown key is a
//! warning. `server.N` lines and the `myid` file in dataDir give this server's identity.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("failed to read {file}: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}:{line}: invalid value {value:?} for {key}: {expected}")]
    Invalid { file: String, line: usize, key: String, value: String, expected: String },
    #[error("{file}: {key} is required")]
    Missing { file: String, key: &'static str },
    #[error("{file}: {reason}")]
    Inconsistent { file: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    pub id: i64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub client: Option<String>,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: String,
    pub tick_time: i32,
    pub init_limit: i32,
    pub sync_limit: i32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: Option<IpAddr>,
    pub max_client_cnxns: usize,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    pub snap_retain_count: usize,
    pub purge_interval_hours: u64,
    pub snap_count: u64,
    /// Committed entries an ensemble member keeps behind its newest snapshot, so a follower a
    /// little behind catches up from the log instead of a snapshot (ZooKeeper's
    /// `zookeeper.commitLogCount`, settable in zoo.cfg as `commitLogCount`).
    pub commit_log_count: u64,
    /// `reconfigEnabled` (ZooKeeper's default: false) and `skipACL=yes`.
    pub reconfig_enabled: bool,
    pub skip_acl: bool,
    /// `DigestAuthenticationProvider.superDigest=super:<base64 sha1>`: a client that
    /// authenticates with the matching `digest` user:password is the super user (every
    /// permission, reconfig included). ZooKeeper takes zoo.cfg keys it does not know as
    /// `zookeeper.<key>` system properties, so the same line configures Apache ZooKeeper.
    pub super_digest: Option<String>,
    pub four_letter_whitelist: Vec<String>,
    pub admin_enabled: bool,
    pub admin_port: u16,
    pub admin_address: IpAddr,
    pub max_buffer: usize,
    pub container_check_ms: i64,
    pub servers: Vec<ServerLine>,
    pub my_id: i64,
    /// Every key=value as written, for `conf`.
    pub raw: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Keys ZooKeeper knows that this server accepts without using (they concern features such
/// as TLS, metrics providers or quorum tuning that have no effect on a standalone server).
const ACCEPTED_UNUSED: &[&str] = &[
    "standaloneEnabled", "dynamicConfigFile", "extendedTypesEnabled", "preAllocSize",
    "globalOutstandingLimit", "electionAlg", "peerType", "quorumListenOnAllIPs", "syncEnabled",
      "localSessionsEnabled", "localSessionsUpgradingEnabled", "forceSync", "fsync.warningthresholdms",
    "leaderServes", "cnxTimeout", "metricsProvider.className", "metricsProvider.httpPort",
    "metricsProvider.exportJvmInfo", "admin.idleTimeout", "admin.commandURL", "electionPortBindRetry",
    "maxCnxns", "clientPortListenBacklog", "connectToLearnerMasterLimit", "initialConfig",
];

fn parse_num<T: std::str::FromStr>(file: &str, line: usize, key: &str, v: &str, expected: &str) -> Result<T, ConfigError> {
    v.trim().parse::<T>().map_err(|_| ConfigError::Invalid {
        file: file.into(),
        line,
        key: key.into(),
        value: v.into(),
        expected: expected.into(),
    })
}

pub fn parse_server(file: &str, line: usize, key: &str, id: i64, v: &str) -> Result<ServerLine, ConfigError> {
    let bad = |why: &str| ConfigError::Invalid {
        file: file.into(),
        line,
        key: key.into(),
        value: v.into(),
        expected: format!("host:quorumPort:electionPort[:participant|observer][;[clientAddress:]clientPort] ({why})"),
    };
    let (addr, client) = match v.split_once(';') {
        Some((a, c)) => (a.trim(), Some(c.trim().to_string())),
        None => (v.trim(), None),
    };
    let parts: Vec<&str> = if addr.starts_with('[') {
        // [v6]:p:p
        let end = addr.find(']').ok_or_else(|| bad("unclosed ["))?;
        let mut p = vec![&addr[1..end]];
        p.extend(addr[end + 1..].trim_start_matches(':').split(':'));
        p
    } else {
        addr.split(':').collect()
    };
    if parts.len() < 3 || parts.len() > 4 {
        return Err(bad("wrong number of fields"));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("port must be 1-65535"));
    let role = parts.get(3).map(|s| s.to_string()).unwrap_or_else(|| "participant".into());
    if role != "participant" && role != "observer" {
        return Err(bad("role must be participant or observer"));
    }
    Ok(ServerLine { id, host: parts[0].to_string(), quorum_port: port(parts[1])?, election_port: port(parts[2])?, client, role })
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { file: file.clone(), reason: e.to_string() })?;
        let mut cfg = Config::parse(&file, &text)?;
        let hostname = std::env::var("HOSTNAME").ok().or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()));
        cfg.read_myid(hostname.as_deref())?;
        Ok(cfg)
    }

    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let mut c = Config {
            file: file.to_string(),
            tick_time: 2000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            client_port: 2181,
            client_port_address: None,
            max_client_cnxns: 60,
            min_session_timeout: -1,
            max_session_timeout: -1,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            snap_count: 100_000,
            commit_log_count: 10_000,
            reconfig_enabled: false,
            skip_acl: false,
            super_digest: None,
            four_letter_whitelist: vec!["srvr".into()],
            admin_enabled: true,
            admin_port: 8080,
            admin_address: IpAddr::from([0, 0, 0, 0]),
            max_buffer: 0xfffff,
            container_check_ms: 60_000,
            servers: vec![],
            my_id: 0,
            raw: BTreeMap::new(),
            warnings: vec![],
        };
        let mut data_dir = None;
        let mut data_log_dir = None;
        for (i, raw_line) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw_line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
                continue;
            }
            let sep = l.find(['=', ':']).filter(|_| true);
            let ws = l.find(char::is_whitespace);
            let (key, value) = match (sep, ws) {
                (Some(s), Some(w)) if w < s => {
                    // "key value" or "key = value"
                    let k = &l[..w];
                    let rest = l[w..].trim_start();
                    let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')).unwrap_or(rest);
                    (k, rest.trim())
                }
                (Some(s), _) => (l[..s].trim(), l[s + 1..].trim()),
                (None, Some(w)) => (&l[..w], l[w..].trim()),
                (None, None) => (l, ""),
            };
            // Inline comments as in the seed's annotated file ("tickTime=2000   #...").
            let value = match value.find(" #").or_else(|| value.find("\t#")) {
                Some(p) => value[..p].trim(),
                None => value,
            };
            c.raw.insert(key.to_string(), value.to_string());
            let f = file;
            match key {
                "tickTime" => c.tick_time = parse_num::<i32>(f, line, key, value, "a positive number of milliseconds")?,
                "initLimit" => c.init_limit = parse_num(f, line, key, value, "a positive number of ticks")?,
                "syncLimit" => c.sync_limit = parse_num(f, line, key, value, "a positive number of ticks")?,
                "dataDir" => data_dir = Some(PathBuf::from(value)),
                "dataLogDir" => data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => c.client_port = parse_num(f, line, key, value, "a port number 0-65535")?,
                "clientPortAddress" => {
                    c.client_port_address = Some(parse_num(f, line, key, value, "an IP address")?)
                }
                "maxClientCnxns" => c.max_client_cnxns = parse_num(f, line, key, value, "a number (0 = unlimited)")?,
                "minSessionTimeout" => c.min_session_timeout = parse_num(f, line, key, value, "milliseconds")?,
                "maxSessionTimeout" => c.max_session_timeout = parse_num(f, line, key, value, "milliseconds")?,
                "autopurge.snapRetainCount" => {
                    c.snap_retain_count = parse_num(f, line, key, value, "a number of snapshots (minimum 3)")?
                }
                "autopurge.purgeInterval" => c.purge_interval_hours = parse_num(f, line, key, value, "hours (0 = off)")?,
                "snapCount" => c.snap_count = parse_num(f, line, key, value, "a positive number of transactions")?,
"reconfigEnabled" => c.reconfig_enabled = parse_num(f, line, key, value, "true or false")?,
                "skipACL" => c.skip_acl = value.trim() == "yes" || value.trim() == "true",
                "DigestAuthenticationProvider.superDigest" => {
                    let v = value.trim();
                    if !v.contains(':') {
                        return Err(ConfigError::Invalid { file: f.into(), line, key: key.into(), value: v.into(), expected: "user:base64-sha1-digest".into() });
                    }
                    c.super_digest = Some(v.to_string());
                }
                "commitLogCount" => c.commit_log_count = parse_num(f, line, key, value, "a number of transactions")?,
                "4lw.commands.whitelist" => {
                    c.four_letter_whitelist = value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
                }
                "admin.enableServer" => c.admin_enabled = parse_num(f, line, key, value, "true or false")?,
                "admin.serverPort" => c.admin_port = parse_num(f, line, key, value, "a port number")?,
                "admin.serverAddress" => c.admin_address = parse_num(f, line, key, value, "an IP address")?,
                "jute.maxbuffer" => c.max_buffer = parse_num(f, line, key, value, "a number of bytes")?,
                "znode.container.checkIntervalMs" => {
                    c.container_check_ms = parse_num(f, line, key, value, "milliseconds")?
                }
                k if k.starts_with("server.") => {
                    let id = parse_num::<i64>(f, line, key, &k[7..], "server.N with N a number 1-254")?;
                    if !(1..=254).contains(&id) {
                        return Err(ConfigError::Invalid {
                            file: f.into(),
                            line,
                            key: key.into(),
                            value: value.into(),
                            expected: "server id between 1 and 254".into(),
                        });
                    }
                    c.servers.push(parse_server(f, line, key, id, value)?);
                }
                k if ACCEPTED_UNUSED.contains(&k) || k.starts_with("group.") || k.starts_with("weight.") || k.starts_with("ssl.") => {}
                k => c.warnings.push(format!("{file}:{line}: unknown key {k} (ignored)")),
            }
        }
        if c.tick_time <= 0 {
            return Err(ConfigError::Invalid {
                file: file.into(),
                line: 0,
                key: "tickTime".into(),
                value: c.tick_time.to_string(),
                expected: "a positive number of milliseconds".into(),
            });
        }
        c.data_dir = data_dir.ok_or(ConfigError::Missing { file: file.into(), key: "dataDir" })?;
        c.data_log_dir = data_log_dir.unwrap_or_else(|| c.data_dir.clone());
        if c.min_session_timeout < 0 {
            c.min_session_timeout = 2 * c.tick_time;
        }
        if c.max_session_timeout < 0 {
            c.max_session_timeout = 20 * c.tick_time;
        }
        if c.min_session_timeout > c.max_session_timeout {
            return Err(ConfigError::Inconsistent {
                file: file.into(),
                reason: format!(
                    "minSessionTimeout ({}) must not exceed maxSessionTimeout ({})",
                    c.min_session_timeout, c.max_session_timeout
                ),
            });
        }
        c.snap_retain_count = c.snap_retain_count.max(3);
        let mut ids: Vec<i64> = c.servers.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != c.servers.len() {
            return Err(ConfigError::Inconsistent { file: file.into(), reason: "a server.N id appears twice".into() });
        }
        Ok(c)
    }

    /// Reads `dataDir/myid` (required when zoo.cfg lists servers). When it is absent and the
    /// hostname ends in a StatefulSet ordinal (`zk-2`), myid is the ordinal + 1 and is written, so
    /// one ConfigMap serves every pod; an existing myid always wins.
    fn read_myid(&mut self, hostname: Option<&str>) -> Result<(), ConfigError> {
        let p = self.data_dir.join("myid");
        if !p.exists() && self.servers.len() > 1 {
            let ordinal = hostname.and_then(|h| h.split('.').next()).and_then(|h| h.rsplit_once('-')).and_then(|(_, n)| n.parse::<i64>().ok());
            if let Some(id) = ordinal.map(|o| o + 1).filter(|id| self.servers.iter().any(|s| s.id == *id)) {
                let written = std::fs::create_dir_all(&self.data_dir).and_then(|_| std::fs::write(&p, format!("{id}\n")));
                if let Err(e) = written {
                    return Err(ConfigError::Inconsistent { file: self.file.clone(), reason: format!("failed to write {} (myid {id} from the hostname's ordinal): {e}", p.display()) });
                }
                tracing::info!(myid = id, file = %p.display(), "wrote myid from the hostname's ordinal");
            }
        }
        self.read_myid_file()
    }

    fn read_myid_file(&mut self) -> Result<(), ConfigError> {
        let p = self.data_dir.join("myid");
        match std::fs::read_to_string(&p) {
            Ok(s) => {
                self.my_id = s.trim().parse().map_err(|_| ConfigError::Invalid {
                    file: p.display().to_string(),
                    line: 1,
                    key: "myid".into(),
                    value: s.trim().into(),
                    expected: "a server id 1-254".into(),
                })?;
                if !self.servers.is_empty() && !self.servers.iter().any(|s| s.id == self.my_id) {
                    return Err(ConfigError::Inconsistent {
                        file: self.file.clone(),
                        reason: format!("myid {} (from {}) has no server.{} line", self.my_id, p.display(), self.my_id),
                    });
                }
            }
            Err(_) if self.servers.len() > 1 => {
                return Err(ConfigError::Inconsistent {
                    file: self.file.clone(),
                    reason: format!("{} lists {} servers but {} is missing", self.file, self.servers.len(), p.display()),
                })
            }
            Err(_) => self.my_id = self.servers.first().map(|s| s.id).unwrap_or(0),
        }
        Ok(())
    }

    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::new(self.client_port_address.unwrap_or(IpAddr::from([0, 0, 0, 0])), self.client_port)
    }

    pub fn four_letter_allowed(&self, word: &str) -> bool {
        self.four_letter_whitelist.iter().any(|w| w == "*" || w == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed article's zoo.cfg, annotated lines and all.
    const SEED: &str = "tickTime=2000   #通信心跳时间\ninitLimit=10    #Leader\nsyncLimit=5\n\
dataDir=/usr/local/zookeeper-3.5.7/data      #修改\ndataLogDir=/usr/local/zookeeper-3.5.7/logs\nclientPort=2181\n\
#autopurge.snapRetainCount=3\n#autopurge.purgeInterval=1\n\
server.1=192.168.223.104:3188:3288\nserver.2=192.168.223.105:3188:3288\nserver.3=192.168.223.106:3188:3288\n";

    #[test]
    fn reads_the_seed_file_unchanged() {
        let c = Config::parse("zoo.cfg", SEED).unwrap();
        assert_eq!(c.tick_time, 2000);
        assert_eq!(c.init_limit, 10);
        assert_eq!(c.data_dir, PathBuf::from("/usr/local/zookeeper-3.5.7/data"));
        assert_eq!(c.data_log_dir, PathBuf::from("/usr/local/zookeeper-3.5.7/logs"));
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.servers[1], ServerLine { id: 2, host: "192.168.223.105".into(), quorum_port: 3188, election_port: 3288, client: None, role: "participant".into() });
        assert_eq!((c.min_session_timeout, c.max_session_timeout), (4000, 40000));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn invalid_value_names_key_and_line() {
        let e = Config::parse("zoo.cfg", "dataDir=/x\ntickTime=abc\n").unwrap_err();
        assert_eq!(e.to_string(), "zoo.cfg:2: invalid value \"abc\" for tickTime: a positive number of milliseconds");
        let e = Config::parse("zoo.cfg", "dataDir=/x\nserver.1=h:1\n").unwrap_err();
        assert!(e.to_string().starts_with("zoo.cfg:2: invalid value \"h:1\" for server.1"), "{e}");
        assert_eq!(Config::parse("zoo.cfg", "tickTime=1\n").unwrap_err(), ConfigError::Missing { file: "zoo.cfg".into(), key: "dataDir" });
    }

    #[test]
    fn unknown_keys_warn_and_whitelist_works() {
        let c = Config::parse("z", "dataDir=/x\nfoo.bar=1\n4lw.commands.whitelist=ruok, stat\n").unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(c.four_letter_allowed("ruok") && c.four_letter_allowed("stat") && !c.four_letter_allowed("dump"));
        let c = Config::parse("z", "dataDir=/x\n4lw.commands.whitelist=*\n").unwrap();
        assert!(c.four_letter_allowed("dump"));
    }

    #[test]
    fn the_readme_example_config_is_valid() {
        let c = Config::parse("examples/local/zoo.cfg", include_str!("../../examples/local/zoo.cfg")).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.client_addr().to_string(), "127.0.0.1:2181");
        assert!(c.servers.is_empty(), "standalone");
        assert!(c.four_letter_allowed("mntr"), "the README pipes mntr through nc");
    }

    #[test]
    fn server_line_forms() {
        let c = Config::parse("z", "dataDir=/x\nserver.1=a:1:2:observer;0.0.0.0:2181\nserver.2=[::1]:3:4\n").unwrap();
        assert_eq!(c.servers[0].role, "observer");
        assert_eq!(c.servers[0].client.as_deref(), Some("0.0.0.0:2181"));
        assert_eq!(c.servers[1].host, "::1");
    }
}

#[cfg(test)]
mod myid_tests {
    use super::*;

    fn ensemble(dir: &Path) -> Config {
        let text = format!("dataDir={}\nclientPort=2181\nserver.1=zk-0:2888:3888\nserver.2=zk-1:2888:3888\nserver.3=zk-2:2888:3888\n", dir.display());
        Config::parse("zoo.cfg", &text).unwrap()
    }

    #[test]
    fn myid_comes_from_the_ordinal_when_absent_and_the_file_wins_otherwise() {
        let dir = std::env::temp_dir().join(format!("strom-myid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = ensemble(&dir);
        c.read_myid(Some("zk-2.zk-headless.default.svc")).unwrap();
        assert_eq!(c.my_id, 3);
        assert_eq!(std::fs::read_to_string(dir.join("myid")).unwrap().trim(), "3");
        // An existing myid wins over the hostname.
        let mut c = ensemble(&dir);
        c.read_myid(Some("zk-0")).unwrap();
        assert_eq!(c.my_id, 3);
        // No ordinal, no myid: the error names the missing file.
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = ensemble(&dir);
        let err = c.read_myid(Some("laptop")).unwrap_err().to_string();
        assert!(err.contains("myid") && err.contains("missing"), "{err}");
        // An ordinal beyond the listed servers is not used.
        let mut c = ensemble(&dir);
        assert!(c.read_myid(Some("zk-7")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
