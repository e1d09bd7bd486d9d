//! Leaf values of the config: addresses, durations, bounded numbers, choices, files, secret
//! sources, identifiers, rates and the upstream URL. Each reads one value, pushes a problem
//! with its key path when it is wrong, and returns a usable default so the walk goes on.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};

use super::defaults::{Bounds, MAX_PER_SECOND};
use super::raw::{RawRate, RawSecret};
use super::typed::{Rate, UpstreamTarget};
use super::Problems;
use crate::secret::{Secret, SecretSource};

pub(super) fn secret_source(p: &mut Problems, path: &str, s: RawSecret, base_dir: &Path) -> SecretSource {
    match (s.env, s.file, s.value) {
        (Some(name), None, None) => SecretSource::Env(name),
        (None, Some(file), None) => SecretSource::File(base_dir.join(file)),
        (None, None, Some(value)) => SecretSource::Value(Secret::new(value)),
        _ => {
            p.push(path, "give exactly one of env, file or value");
            SecretSource::Value(Secret::new(""))
        }
    }
}

pub(super) fn identifier(p: &mut Problems, path: &str, id: Option<String>) -> String {
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            id
        }
        Some(_) => {
            p.push(
                path,
                "must be 1 to 64 characters among letters, digits, '-', '_' and '.'",
            );
            String::new()
        }
        None => {
            p.push(path, "missing");
            String::new()
        }
    }
}

pub(super) fn rate(p: &mut Problems, path: &str, r: RawRate) -> Rate {
    let per_second = per_second(p, &format!("{path}.per_second"), r.per_second, 1);
    if r.per_second.is_none() {
        p.push(format!("{path}.per_second"), "missing");
    }
    let burst = match r.burst {
        Some(burst) => per_second_value(p, &format!("{path}.burst"), burst),
        None => per_second,
    };
    Rate { per_second, burst }
}

pub(super) fn per_second(p: &mut Problems, path: &str, value: Option<u64>, default: u32) -> NonZeroU32 {
    match value {
        Some(v) => per_second_value(p, path, v),
        None => NonZeroU32::new(default).unwrap_or(NonZeroU32::MIN),
    }
}

pub(super) fn per_second_value(p: &mut Problems, path: &str, value: u64) -> NonZeroU32 {
    match u32::try_from(value).ok().and_then(NonZeroU32::new) {
        Some(v) if v.get() <= MAX_PER_SECOND => v,
        _ => {
            p.push(path, format!("must be between 1 and {MAX_PER_SECOND}"));
            NonZeroU32::MIN
        }
    }
}

pub(super) fn addr(p: &mut Problems, path: &str, text: &str) -> SocketAddr {
    text.parse().unwrap_or_else(|_| {
        p.push(
            path,
            format!("{text:?} is not an IP address with a port, e.g. \"127.0.0.1:8080\""),
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

pub(super) fn duration(p: &mut Problems, path: &str, text: Option<String>, default: Duration) -> Duration {
    let Some(text) = text else { return default };
    match humantime::parse_duration(&text) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            p.push(
                path,
                format!("{text:?} is not a duration with a unit, e.g. \"250ms\", \"10s\", \"2m\""),
            );
            default
        }
    }
}

/// A whole number within `bounds`, or its default when absent.
pub(super) fn within(p: &mut Problems, path: &str, value: Option<u64>, bounds: Bounds) -> usize {
    bounded(p, path, value, bounds.default, bounds.min, bounds.max)
}

pub(super) fn bounded(p: &mut Problems, path: &str, value: Option<u64>, default: u64, min: u64, max: u64) -> usize {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        p.push(path, format!("must be between {min} and {max}"));
        return usize::try_from(default).unwrap_or(usize::MAX);
    }
    usize::try_from(v).unwrap_or(usize::MAX)
}

pub(super) fn choice<T: Copy>(p: &mut Problems, path: &str, value: Option<String>, options: &[(&str, T)]) -> T {
    let Some(value) = value else { return options[0].1 };
    match options.iter().find(|(name, _)| *name == value) {
        Some((_, v)) => *v,
        None => {
            let names: Vec<_> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
            p.push(path, format!("{value:?} is not one of {}", names.join(", ")));
            options[0].1
        }
    }
}

pub(super) fn existing_file(p: &mut Problems, path: &str, base_dir: &Path, file: &str) -> PathBuf {
    let full = base_dir.join(file);
    if !full.is_file() {
        p.push(path, format!("file {} does not exist", full.display()));
    }
    full
}

pub(super) fn upstream_target(p: &mut Problems, url: &str) -> UpstreamTarget {
    if url == "sandbox" {
        return UpstreamTarget::Sandbox;
    }
    let fallback = UpstreamTarget::Url {
        scheme: Scheme::HTTPS,
        authority: Authority::from_static("api.withallo.com"),
    };
    let Ok(uri) = url.parse::<http::Uri>() else {
        p.push("upstream.url", format!("{url:?} is not a URL"));
        return fallback;
    };
    let path_ok = uri
        .path_and_query()
        .is_none_or(|pq| pq.as_str() == "/" || pq.as_str().is_empty());
    match (uri.scheme(), uri.authority()) {
        (Some(scheme), Some(authority))
            if (*scheme == Scheme::HTTPS || *scheme == Scheme::HTTP)
                && path_ok
                && !authority.as_str().contains('@') =>
        {
            UpstreamTarget::Url {
                scheme: scheme.clone(),
                authority: authority.clone(),
            }
        }
        _ => {
            p.push(
                "upstream.url",
                "must be \"sandbox\" or http(s)://host[:port] with no path, query or user info",
            );
            fallback
        }
    }
}
