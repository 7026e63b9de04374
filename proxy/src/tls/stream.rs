//! Either side's socket, plain or encrypted, as one type for the pump.
//!
//! An enum rather than a boxed trait object: the pump's reads and writes are a match away from
//! the socket, and the plain case costs no TLS code at all.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A client connection: as accepted, or after a TLS handshake on it.
#[derive(Debug)]
pub enum ClientStream<C> {
    /// Plaintext.
    Plain(C),
    /// TLS terminated by pgscope, after `SSLRequest`.
    Tls(Box<tokio_rustls::server::TlsStream<C>>),
    /// Direct TLS (PostgreSQL 17): the ClientHello had been read before it was recognised.
    DirectTls(Box<tokio_rustls::server::TlsStream<Replay<C>>>),
}

/// An upstream connection.
#[derive(Debug)]
pub enum ServerStream {
    /// Plaintext TCP.
    Tcp(TcpStream),
    /// A Unix-domain socket (never encrypted).
    Unix(UnixStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl<C> ClientStream<C> {
    /// Whether the client talks TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, ClientStream::Plain(_))
    }
}

impl ServerStream {
    /// Whether the upstream connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, ServerStream::Tls(_))
    }
}

/// Forwards the four IO methods to whichever variant is present.
macro_rules! delegate_io {
    ($type:ty, $($variant:ident),+; $($generics:tt)*) => {
        impl $($generics)* AsyncRead for $type {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }

        impl $($generics)* AsyncWrite for $type {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_write(cx, buf),)+
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

delegate_io!(ClientStream<C>, Plain, Tls, DirectTls; <C: AsyncRead + AsyncWrite + Unpin>);
delegate_io!(ServerStream, Tcp, Unix, Tls;);

/// A stream that first yields bytes already read from it, then reads on: the direct-TLS
/// ClientHello is read before pgscope knows it is one, and rustls must see it from the start.
#[derive(Debug)]
pub struct Replay<C> {
    prefix: Bytes,
    inner: C,
}

impl<C> Replay<C> {
    /// `inner`, with `prefix` read first.
    pub fn new(prefix: Bytes, inner: C) -> Self {
        Replay { prefix, inner }
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for Replay<C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Replay<C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
