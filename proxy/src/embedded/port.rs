//! Choosing a free TCP port on 127.0.0.1 for a server we are about to start.
//!
//! A port is only "free" until someone else binds it, so callers must still retry when their
//! server reports the address in use. Two things make that rare. Ports are drawn at random
//! from [`FIRST`]..[`LAST`], below Linux's ephemeral range (32768 and up by default), so the
//! source port of some unrelated outgoing connection cannot take ours in the gap between
//! choosing and binding, as it could with a port the kernel handed out for `bind(:0)`. And
//! every candidate is test-bound first, so ports already listening are skipped.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener};

use super::EmbeddedError;

/// The lowest port drawn.
const FIRST: u16 = 20_000;
/// One past the highest port drawn.
const LAST: u16 = 32_000;
/// How many random candidates are tried before falling back to a kernel-chosen port.
const RANDOM_ATTEMPTS: u32 = 64;

/// A TCP port on 127.0.0.1 that nothing was listening on a moment ago.
pub fn free_port() -> Result<u16, EmbeddedError> {
    let random = RandomState::new();
    for attempt in 0..RANDOM_ATTEMPTS {
        let port = draw(&random, attempt);
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|_| EmbeddedError::NoFreePort {
            attempts: RANDOM_ATTEMPTS + 1,
        })
}

/// The `attempt`-th pseudo-random port in [`FIRST`]..[`LAST`] for this `random` seed.
fn draw(random: &RandomState, attempt: u32) -> u16 {
    let mut hasher = random.build_hasher();
    hasher.write_u32(attempt);
    let span = u64::from(LAST - FIRST);
    let offset = u16::try_from(hasher.finish() % span).unwrap_or(0);
    FIRST + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_ports_stay_in_range_and_vary() {
        let random = RandomState::new();
        let ports: Vec<u16> = (0..200).map(|i| draw(&random, i)).collect();
        assert!(ports.iter().all(|p| (FIRST..LAST).contains(p)));
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.len() > 150,
            "only {} distinct ports",
            distinct.len()
        );
    }

    #[test]
    fn free_port_can_be_bound() {
        let port = free_port().unwrap();
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
