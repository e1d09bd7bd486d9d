//! The seeded members of each sandbox team. Every team gets the same three people; their ids
//! and emails are derived from the team id, so they are stable across restarts and differ
//! between teams (a `user_id` copied from team A's roster is unknown in team B).
//!
//! | login | name          | role    | email                    | note          |
//! |-------|---------------|---------|--------------------------|---------------|
//! | alice | Alice Martin  | ADMIN   | `alice@<domain>.example` | the key owner |
//! | bob   | Bob Dupont    | MANAGER | `bob@<domain>.example`   |               |
//! | chloe | Chloé Bernard | MEMBER  | `chloe@<domain>.example` |               |
//!
//! * id: `usr-` + the first 20 bytes of SHA-256(`allo-sandbox:<team id>:<login>`) as upper-case
//!   hex (40 characters, the shape of Allo's `usr-15BB6831...` ids). `GET /v2/api/users` lists
//!   them.
//! * `<domain>`: the team id lower-cased, with every character other than `a-z`, `0-9` and `-`
//!   replaced by `-` (`team` if that leaves nothing).
//! * All three are `ACTIVE` with `image_url: null`.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A team member's role, as `GET /v2/api/users` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Manager,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Member => "MEMBER",
        }
    }

    /// Allo lets only admins and managers reassign queues.
    pub fn may_reassign(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

/// One seeded member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
}

impl User {
    /// The user object of `GET /v2/api/users` and `/users/{id}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "role": self.role.as_str(),
            "status": "ACTIVE",
            "image_url": null,
        })
    }
}

/// A team's members; the first is the owner of the team's API key.
#[derive(Debug, Clone)]
pub struct Roster {
    users: Vec<User>,
}

const SEED: [(&str, &str, Role); 3] = [
    ("alice", "Alice Martin", Role::Admin),
    ("bob", "Bob Dupont", Role::Manager),
    ("chloe", "Chloé Bernard", Role::Member),
];

impl Roster {
    /// The fixed roster of `team_id` (see the module docs).
    pub fn seed(team_id: &str) -> Roster {
        let domain = email_domain(team_id);
        let users = SEED
            .iter()
            .map(|(login, name, role)| User {
                id: derived_user_id(team_id, login),
                name: (*name).to_owned(),
                email: format!("{login}@{domain}.example"),
                role: *role,
            })
            .collect();
        Roster { users }
    }

    /// The owner of the team's API key: the creator of every queue made through the API.
    pub fn owner(&self) -> &User {
        // `seed` always builds SEED.len() > 0 users.
        &self.users[0]
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Email comparison ignores ASCII case, as mail providers and Allo's login do.
    pub fn by_email(&self, email: &str) -> Option<&User> {
        self.users.iter().find(|u| u.email.eq_ignore_ascii_case(email.trim()))
    }
}

/// `usr-` + 40 upper-case hex characters derived from the team and the login.
pub(super) fn derived_user_id(team_id: &str, login: &str) -> String {
    let digest = Sha256::digest(format!("allo-sandbox:{team_id}:{login}").as_bytes());
    format!("usr-{}", hex::encode_upper(&digest[..20]))
}

/// A stable, non-secret id for the team's key in `GET /v2/api/me` (never derived from the key).
pub(super) fn derived_api_key_id(team_id: &str) -> String {
    let digest = Sha256::digest(format!("allo-sandbox:{team_id}:api-key").as_bytes());
    format!("key_{}", hex::encode(&digest[..8]))
}

fn email_domain(team_id: &str) -> String {
    let domain: String = team_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let domain = domain.trim_matches('-');
    if domain.is_empty() {
        "team".to_owned()
    } else {
        domain.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_is_deterministic_and_per_team() {
        let a = Roster::seed("sales");
        let again = Roster::seed("sales");
        let b = Roster::seed("support");
        assert_eq!(a.users(), again.users());
        assert_eq!(a.users().len(), 3);
        assert_eq!(a.owner().email, "alice@sales.example");
        assert_eq!(a.owner().role, Role::Admin);
        assert_ne!(a.owner().id, b.owner().id);
        for user in a.users() {
            assert!(user.id.starts_with("usr-"));
            assert_eq!(user.id.len(), 44);
        }
    }

    #[test]
    fn lookups() {
        let r = Roster::seed("Sales Team");
        assert_eq!(r.users()[1].email, "bob@sales-team.example");
        assert_eq!(
            r.by_email("BOB@Sales-Team.example").map(|u| u.role),
            Some(Role::Manager)
        );
        let chloe_id = r.users()[2].id.clone();
        assert_eq!(r.by_id(&chloe_id).map(|u| u.name.as_str()), Some("Chloé Bernard"));
        assert!(r.by_id("usr-nope").is_none());
        assert!(r.by_email("eve@sales-team.example").is_none());
    }

    #[test]
    fn odd_team_ids_still_give_a_domain() {
        assert_eq!(email_domain("___"), "team");
        assert_eq!(email_domain("Équipe"), "quipe");
    }
}
