//! The built-in Allo emulator ("sandbox"): answers the Power Dialer, user, conversation-note
//! and pin endpoints of `https://api.withallo.com` from in-memory, per-team state, with Allo's authentication, rate
//! limits, headers and error envelope, so the gateway (or a developer, via `serve`) can be run
//! and tested with no secrets and no network. A request's life reads top to bottom in
//! `Sandbox::handle`: request id -> API key -> rate limit -> route -> endpoint handler. What
//! each step knows lives in its own file: `roster` (seeded users), `target` (teammate
//! targeting), `queue` (queue model and JSON shapes), `dialer` (queue state and operations),
//! `notebook` (notes state), `queues`, `users`, `me`, `notes` and `pins` (endpoint handlers;
//! `pins` keeps its small state too), `conversation` (contact and Allo numbers), `page`
//! (pagination), `phone` (E.164), `limits` (per-key windows), `clock`, `input`, `catalogue`
//! (the operations known, as data) and `routes` (matching them), `respond`, `serve`
//! (standalone HTTP/1.1 server).
//!
//! Teams never share state: each configured key maps to one team with its own roster, limits
//! and queues. If two teams are configured with the same key, the first one listed wins.

mod catalogue;
mod clock;
mod conversation;
mod dialer;
mod input;
mod limits;
mod me;
mod notebook;
mod notes;
mod page;
mod phone;
mod pins;
mod queue;
mod queues;
mod respond;
mod roster;
mod routes;
mod serve;
mod target;
mod users;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, Response};
use serde_json::{Map, Value};

use self::clock::SandboxClock;
use self::dialer::Dialer;
use self::input::Query;
use self::limits::{Class, KeyLimits};
use self::notebook::Notebook;
use self::pins::Pins;
use self::respond::{finish, ApiError, Reply};
use self::routes::{Emulated, Route};
use crate::ids::{acceptable_request_id, new_request_id};
use crate::routes::RouteTable;
use crate::secret::{constant_time_eq, Secret};

pub use self::clock::ManualSandboxClock;
pub use self::limits::{READ_PER_SECOND, WRITE_PER_SECOND};
pub use self::notebook::{NOTE_MAX_CHARS, SEEDED_NOTE_ALLO_NUMBER, SEEDED_NOTE_CONTACT, SEEDED_NOTE_ID};
pub use self::pins::MAX_PINS;
pub use self::roster::{Role, Roster, User};

/// The emulator: every configured team's key, roster, limits and queues.
pub struct Sandbox {
    teams: Vec<Team>,
    clock: SandboxClock,
    /// The API description in force: which operations Allo has.
    routes: Arc<RouteTable>,
}

/// One team: its key and everything that key can see.
pub(crate) struct Team {
    id: String,
    key: Secret,
    roster: Roster,
    limits: Mutex<KeyLimits>,
    dialer: Mutex<Dialer>,
    notes: Mutex<Notebook>,
    pins: Mutex<Pins>,
}

/// A panic while holding a team lock cannot happen by design, but if one ever did, the state
/// is still valid (every operation checks before it changes anything), so keep serving rather
/// than propagate the poison.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Team {
    /// The team's queues.
    pub(crate) fn dialer(&self) -> MutexGuard<'_, Dialer> {
        lock(&self.dialer)
    }

    /// The team's conversation notes.
    pub(crate) fn notes(&self) -> MutexGuard<'_, Notebook> {
        lock(&self.notes)
    }

    /// The team's pinned conversations.
    pub(crate) fn pins(&self) -> MutexGuard<'_, Pins> {
        lock(&self.pins)
    }
}

/// What an endpoint handler gets: the authenticated team and the parts of the request.
pub(crate) struct Call<'a> {
    team: &'a Team,
    clock: &'a SandboxClock,
    query: Query,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

impl Call<'_> {
    fn json_body(&self) -> Result<Option<Map<String, Value>>, ApiError> {
        input::json_object(self.headers, self.body)
    }
}

impl Sandbox {
    /// `teams`: (team id, the Allo API key the sandbox accepts for that team).
    /// Allo's operations are those of the built-in API description.
    pub fn new(teams: Vec<(String, Secret)>) -> Sandbox {
        Sandbox::build(teams, SandboxClock::system(), None)
    }

    /// Like `new`, with Allo's operations taken from `routes` (the gateway's table, so both
    /// read the same description).
    pub fn with_routes(teams: Vec<(String, Secret)>, routes: Arc<RouteTable>) -> Sandbox {
        Sandbox::build(teams, SandboxClock::system(), Some(routes))
    }

    /// Like `new`, on a supplied clock: Unix time is `unix_base_secs + now()`, where `now`
    /// is monotonic time since an arbitrary epoch (see `ManualSandboxClock` for tests).
    pub fn with_clock(
        teams: Vec<(String, Secret)>,
        unix_base_secs: u64,
        now: impl Fn() -> Duration + Send + Sync + 'static,
    ) -> Sandbox {
        Sandbox::build(teams, SandboxClock::from_fn(unix_base_secs, Arc::new(now)), None)
    }

    fn build(teams: Vec<(String, Secret)>, clock: SandboxClock, routes: Option<Arc<RouteTable>>) -> Sandbox {
        let now = clock.timestamp();
        let teams = teams
            .into_iter()
            .map(|(id, key)| {
                let roster = Roster::seed(&id);
                // The seeded note's author is a teammate, never the key owner (see notebook.rs).
                let author = roster.users().get(1).unwrap_or(roster.owner());
                let notes = Notebook::seeded(&author.id, &now);
                Team {
                    id,
                    key,
                    roster,
                    limits: Mutex::new(KeyLimits::default()),
                    dialer: Mutex::new(Dialer::default()),
                    notes: Mutex::new(notes),
                    pins: Mutex::new(Pins::default()),
                }
            })
            .collect();
        // The built-in table always builds (a unit test holds it to that); an empty one would
        // only answer 404s.
        let routes = routes.unwrap_or_else(|| {
            Arc::new(RouteTable::builtin(crate::config::UnknownFields::Reject).unwrap_or_else(|_| RouteTable::empty()))
        });
        Sandbox { teams, clock, routes }
    }

    /// The seeded roster of `team_id`, e.g. for the CLI to print or tests to target teammates.
    pub fn roster(&self, team_id: &str) -> Option<&Roster> {
        self.teams.iter().find(|t| t.id == team_id).map(|t| &t.roster)
    }

    /// Handle one complete request (body already read). Never panics on any input.
    pub fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let request_id = request_id(req.headers());
        let Some(team) = self.authenticate(req.headers()) else {
            return finish(Err(ApiError::unauthenticated()), &request_id, None);
        };
        // Limits are per key and apply to every authenticated request, known path or not.
        let class = Class::of(req.method());
        let verdict = team
            .limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(class, self.clock.unix());
        if let Some(seconds) = verdict.retry_after {
            let err = ApiError::rate_limited(verdict.limit, class.label(), seconds);
            return finish(Err(err), &request_id, Some(&verdict));
        }
        let outcome = self.dispatch(team, &req);
        finish(outcome, &request_id, Some(&verdict))
    }

    fn dispatch(&self, team: &Team, req: &Request<Bytes>) -> Result<Reply, ApiError> {
        let method = req.method().as_str();
        let (endpoint, param) = match routes::route(&self.routes, req.method(), req.uri().path()) {
            Route::Emulated(endpoint, param) => (endpoint, param.unwrap_or_default()),
            Route::NotEmulated(template) => return Err(ApiError::not_emulated(method, &template)),
            Route::MethodNotAllowed(allow) => return Err(ApiError::method_not_allowed(allow)),
            Route::NotFound => return Err(ApiError::endpoint_not_found()),
        };
        let call = Call {
            team,
            clock: &self.clock,
            query: Query::parse(req.uri().query())?,
            headers: req.headers(),
            body: req.body(),
        };
        match endpoint {
            Emulated::Me => me::me(&call),
            Emulated::UsersList => users::list(&call),
            Emulated::UsersGet => users::get(&call, param),
            Emulated::QueueGet => queues::get_current(&call),
            Emulated::QueueUpsert => queues::upsert(&call),
            Emulated::QueueReset => queues::reset(&call),
            Emulated::QueueAppend => queues::append(&call),
            Emulated::QueueClear => queues::clear(&call),
            Emulated::QueueReassign => queues::reassign(&call, param),
            Emulated::NotesList => notes::list(&call, param),
            Emulated::NoteCreate => notes::create(&call, param),
            Emulated::NoteGet => notes::get(&call, param),
            Emulated::NoteUpdate => notes::update(&call, param),
            Emulated::NoteDelete => notes::delete(&call, param),
            Emulated::Pin => pins::pin(&call, param),
            Emulated::Unpin => pins::unpin(&call, param),
        }
    }

    /// The team whose key is in `Authorization: Api-Key <key>` (scheme word case-insensitive,
    /// as HTTP auth schemes are). Exactly one Authorization header is accepted.
    fn authenticate(&self, headers: &HeaderMap) -> Option<&Team> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return None;
        };
        let (scheme, key) = value.to_str().ok()?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("Api-Key") {
            return None;
        }
        let key = key.trim();
        // Compare against every team so timing does not reveal which key came close.
        let mut found = None;
        for team in &self.teams {
            if constant_time_eq(team.key.expose().as_bytes(), key.as_bytes()) && found.is_none() {
                found = Some(team);
            }
        }
        found
    }
}

/// The caller's `X-Request-Id` when acceptable, else a new one in Allo's form.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .filter(|v| acceptable_request_id(v.as_bytes()))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}
