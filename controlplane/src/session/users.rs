//! The local users file (`aaa.users_file`): one user per line,
//!
//! ```text
//! # user      password   [static-ip]   [dns1]        [dns2]
//! alice       s3cret
//! bob         hunter2    198.18.200.7  198.18.251.53 198.18.251.54
//! carol       pw         -             198.18.251.53
//! ```
//!
//! Fields are separated by blanks; `#` starts a comment (whole line or
//! after the fields); `-` leaves an optional field out. Passwords cannot
//! contain blanks or `#`. Errors name `file:line`.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::ppp::auth::{AuthRequest, LocalVerifier};

/// One user's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// The password (PAP) / CHAP secret.
    pub password: Vec<u8>,
    /// A fixed address for this user instead of one from the default pool.
    pub static_ip: Option<Ipv4Addr>,
    /// DNS servers for this user instead of `ppp.dns`.
    pub dns: Option<[Option<Ipv4Addr>; 2]>,
}

/// The users file, checked.
#[derive(Debug, Clone, Default)]
pub struct LocalUsers {
    users: HashMap<Vec<u8>, LocalUser>,
    verifier: LocalVerifier,
}

/// A users file error: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersError {
    /// The file.
    pub file: String,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for UsersError {}

impl LocalUsers {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| UsersError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses users-file text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, UsersError> {
        let mut u = LocalUsers::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| UsersError {
                file: origin.to_owned(),
                line: i + 1,
                message,
            };
            let line = raw.split('#').next().unwrap_or("");
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.is_empty() {
                continue;
            }
            if f.len() < 2 {
                return Err(err(format!(
                    "expected `user password [static-ip] [dns1] [dns2]` (got {:?})",
                    line.trim()
                )));
            }
            if f.len() > 5 {
                return Err(err(format!(
                    "too many fields ({}); at most `user password static-ip dns1 dns2`",
                    f.len()
                )));
            }
            let addr = |idx: usize, what: &str| -> Result<Option<Ipv4Addr>, UsersError> {
                match f.get(idx) {
                    None | Some(&"-") => Ok(None),
                    Some(s) => s.parse().map(Some).map_err(|_| {
                        err(format!("{what}: not an IPv4 address or `-` (got {s:?})"))
                    }),
                }
            };
            let static_ip = addr(2, "static-ip")?;
            let dns1 = addr(3, "dns1")?;
            let dns2 = addr(4, "dns2")?;
            let name = f[0].as_bytes().to_vec();
            if u.users.contains_key(&name) {
                return Err(err(format!("user {:?} is listed twice", f[0])));
            }
            u.add(
                &name,
                LocalUser {
                    password: f[1].as_bytes().to_vec(),
                    static_ip,
                    dns: (dns1.is_some() || dns2.is_some()).then_some([dns1, dns2]),
                },
            );
        }
        Ok(u)
    }

    /// Adds or replaces a user.
    pub fn add(&mut self, name: &[u8], user: LocalUser) -> &mut Self {
        self.verifier.add(name, &user.password);
        self.users.insert(name.to_vec(), user);
        self
    }

    /// A user's entry.
    pub fn get(&self, name: &[u8]) -> Option<&LocalUser> {
        self.users.get(name)
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Every static address, with its user (for overlap checks).
    pub fn static_addresses(&self) -> impl Iterator<Item = (&[u8], Ipv4Addr)> {
        self.users
            .iter()
            .filter_map(|(n, u)| u.static_ip.map(|a| (n.as_slice(), a)))
    }

    /// Whether `request`'s credentials are right (PAP or CHAP-MD5).
    pub fn verify(&self, request: &AuthRequest) -> bool {
        self.verifier.verify(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms() {
        let u = LocalUsers::parse(
            "# comment\n\nalice s3cret\nbob pw 198.18.200.7 198.18.251.53 198.18.251.54 # trailing\ncarol pw - 198.18.251.9\n",
            "users",
        )
        .unwrap();
        assert_eq!(u.len(), 3);
        assert_eq!(u.get(b"alice").unwrap().static_ip, None);
        let bob = u.get(b"bob").unwrap();
        assert_eq!(bob.static_ip, Some(Ipv4Addr::new(198, 18, 200, 7)));
        assert_eq!(
            bob.dns,
            Some([
                Some(Ipv4Addr::new(198, 18, 251, 53)),
                Some(Ipv4Addr::new(198, 18, 251, 54))
            ])
        );
        let carol = u.get(b"carol").unwrap();
        assert_eq!(carol.static_ip, None);
        assert_eq!(
            carol.dns,
            Some([Some(Ipv4Addr::new(198, 18, 251, 9)), None])
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = LocalUsers::parse("a b\nlonely\n", "/etc/users").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("/etc/users:2: expected"), "{e}");
        let e = LocalUsers::parse("a b 1.2.3\n", "u").unwrap_err();
        assert_eq!(
            e.to_string(),
            "u:1: static-ip: not an IPv4 address or `-` (got \"1.2.3\")"
        );
        let e = LocalUsers::parse("a b\na c\n", "u").unwrap_err();
        assert!(
            e.to_string().starts_with("u:2: user \"a\" is listed twice"),
            "{e}"
        );
        let e = LocalUsers::parse("a b - - - x\n", "u").unwrap_err();
        assert!(e.to_string().starts_with("u:1: too many fields"), "{e}");
    }
}
