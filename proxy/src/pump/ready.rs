//! Readability before a buffer: how an idle connection holds no read buffer.
//!
//! A read through `AsyncRead` needs its buffer lent before the socket has anything to give, so a
//! connection waiting for its client's next query would hold its 16 KiB buffers for as long as
//! it waits — most of what an idle connection costs (benches/README.md, "Memory per idle
//! client connection"). PgBouncer keeps no buffer for an idle connection; neither does the relay
//! where the socket can say it is readable first: it waits for readability, and only then lends
//! a buffer (which it gives back when it has to wait again with nothing kept in it).
//!
//! Plain TCP and Unix sockets can say so (tokio's `poll_read_ready`). TLS streams cannot — rustls
//! may hold decrypted bytes the socket's readiness knows nothing of — and neither can pingora's
//! stream (the fallback where the raw socket is refused): they answer "ready" at once and are
//! read with the buffer lent, as before.

use std::io;
use std::task::{Context, Poll};

use tokio::net::{TcpStream, UnixStream};

use crate::tls::{ClientStream, ServerStream};

/// A socket that may say it is readable before a buffer is lent to it.
pub(super) trait ReadReady {
    /// `Ready` once a read may find bytes (at once where the socket cannot tell).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ReadReady for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

impl ReadReady for UnixStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        UnixStream::poll_read_ready(self, cx)
    }
}

impl<C> ReadReady for ClientStream<C> {
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl ReadReady for ServerStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            ServerStream::Tcp(socket) => socket.poll_read_ready(cx),
            ServerStream::Unix(socket) => socket.poll_read_ready(cx),
            ServerStream::Tls(_) => Poll::Ready(Ok(())),
        }
    }
}
