//! The raw socket under a connection pingora accepted, so the pump reads and writes it without
//! pingora's `Stream` in between.
//!
//! pingora owns the listeners (and hands them to a new process on a graceful upgrade), and gives
//! each accepted connection to [`crate::server::ProxyApp`] as a `Stream`: a boxed trait object
//! around its L4 stream, which layers read and write buffers, a rewind buffer and read/write
//! timing digests (a clock read on every read that waits) over the tokio socket. The pump needs
//! none of it once the startup is over (which runs on pingora's stream: the TLS handshake after
//! `SSLRequest` starts there, and rustls stays on it). [`Accepted::into_raw`] then gets the
//! tokio socket itself: it duplicates the socket's file
//! descriptor with `pidfd_getfd(2)` on this process's own pidfd — the one way, without `unsafe`,
//! to turn the raw descriptor pingora exposes into an owned one — registers the duplicate with
//! tokio and drops pingora's `Stream` (which deregisters and closes its own descriptor; the
//! connection lives on in the duplicate). pingora's stream reads straight from the socket (the
//! listeners are unbuffered) and has no byte put back, so none is lost. The duplicate is close-on-exec, as `pidfd_getfd` makes
//! every descriptor it returns.
//!
//! Where the kernel or a seccomp policy refuses `pidfd_open` or `pidfd_getfd` (Linux before
//! 5.6; some container runtimes), pingora's `Stream` is used as it is: the same bytes through
//! more code. Which one is in use is logged once, at start.

use std::os::fd::{AsRawFd, OwnedFd};

use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::protocols::Stream;
use rustix::net::AddressFamily;
use rustix::process::{getpid, pidfd_getfd, pidfd_open, PidfdFlags, PidfdGetfdFlags};
use tokio::net::{TcpStream, UnixStream};

/// The raw socket under an accepted connection.
#[derive(Debug)]
pub enum Raw {
    /// A TCP socket.
    Tcp(TcpStream),
    /// A Unix-domain socket.
    Unix(UnixStream),
}

/// A connection as a listener accepted it, which may give up its raw socket.
pub trait Accepted: Sized {
    /// The raw socket under `self`, or `self` when it cannot be had.
    fn into_raw(self, unwrapper: &Unwrapper) -> Result<Raw, Self>;
}

impl Accepted for Stream {
    fn into_raw(self, unwrapper: &Unwrapper) -> Result<Raw, Self> {
        unwrapper.raw(&self).ok_or(self)
    }
}

/// Takes raw sockets out of pingora's streams. One per listener service.
#[derive(Debug)]
pub struct Unwrapper {
    /// This process's pidfd; `None`: the kernel refused, every stream stays pingora's.
    pidfd: Option<OwnedFd>,
}

impl Default for Unwrapper {
    fn default() -> Self {
        Self::new()
    }
}

impl Unwrapper {
    /// An unwrapper for this process; logs whether raw sockets are available.
    pub fn new() -> Self {
        let pidfd = match pidfd_open(getpid(), PidfdFlags::empty()) {
            Ok(pidfd) => Some(pidfd),
            Err(error) => {
                log::info!(
                    "pidfd_open refused ({error}): client connections go through pingora's \
                     stream, not the raw socket"
                );
                None
            }
        };
        Unwrapper { pidfd }
    }

    /// A duplicate of the socket under `stream`, registered with tokio; `stream` is to be
    /// dropped once this returns `Some`.
    fn raw(&self, stream: &Stream) -> Option<Raw> {
        let pidfd = self.pidfd.as_ref()?;
        // `Stream` is a `Box<dyn IO>`, which is an `IO` itself: ask the stream inside the box.
        let l4 = (**stream).as_any().downcast_ref::<L4Stream>()?;
        let fd = pidfd_getfd(pidfd, l4.as_raw_fd(), PidfdGetfdFlags::empty())
            .map_err(|error| log::debug!("pidfd_getfd refused ({error}): using pingora's stream"))
            .ok()?;
        let family = rustix::net::sockopt::socket_domain(&fd).ok()?;
        // The duplicate shares the file description, non-blocking flag included; setting it
        // again costs one call per connection and keeps tokio's precondition explicit.
        if family == AddressFamily::UNIX {
            let socket = std::os::unix::net::UnixStream::from(fd);
            socket.set_nonblocking(true).ok()?;
            UnixStream::from_std(socket).ok().map(Raw::Unix)
        } else {
            let socket = std::net::TcpStream::from(fd);
            socket.set_nonblocking(true).ok()?;
            TcpStream::from_std(socket).ok().map(Raw::Tcp)
        }
    }
}
