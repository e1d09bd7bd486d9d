//! Opening a connection to the upstream: name resolution, TCP (no delay, keep-alive probes so
//! a dead peer behind a NAT is noticed), and for `https` the rustls handshake offering h2 and
//! http/1.1 by ALPN (only http/1.1 under `[upstream] http2 = false`). What is spoken over the
//! connection is decided by the caller of `connect` from `Stream::is_h2`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::UpstreamSetupError;

/// How often an idle upstream connection is probed by the kernel.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// One connection to the upstream, plaintext or TLS.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether the upstream closed this idle connection, or sent on it unasked (either way it
    /// cannot carry a request). A plain socket is asked by its readiness, without a system
    /// call while nothing has arrived and without taking the place of the task's waker; TLS
    /// may hold bytes of its own, so it is read with a waker that is never woken.
    pub(super) fn closed_while_idle(&mut self) -> bool {
        let mut probe = [0u8; 64];
        match self {
            Stream::Plain(tcp) => !matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            Stream::Tls(tls) => {
                let mut probe = ReadBuf::new(&mut probe);
                let mut cx = Context::from_waker(Waker::noop());
                !matches!(Pin::new(tls.as_mut()).poll_read(&mut cx, &mut probe), Poll::Pending)
            }
        }
    }

    /// True when ALPN chose HTTP/2.
    pub(super) fn is_h2(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

/// Opens connections to the one configured upstream.
pub(super) struct Connector {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl Connector {
    pub(super) fn new(
        scheme: &http::uri::Scheme,
        authority: &http::uri::Authority,
        tls: rustls::ClientConfig,
        http2: bool,
        timeout: Duration,
    ) -> Result<Connector, UpstreamSetupError> {
        let secure = *scheme == http::uri::Scheme::HTTPS;
        // `Authority::host` keeps an IPv6 literal's brackets; resolution and SNI want it bare.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = if secure {
            let name = ServerName::try_from(host.clone()).map_err(|_| UpstreamSetupError::ServerName(host.clone()))?;
            let mut tls = tls;
            tls.alpn_protocols = if http2 {
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            } else {
                vec![b"http/1.1".to_vec()]
            };
            Some((TlsConnector::from(Arc::new(tls)), name))
        } else {
            None
        };
        Ok(Connector {
            host,
            port,
            tls,
            timeout,
        })
    }

    /// A new connection, within `connect_timeout` (resolution, TCP and TLS together).
    pub(super) async fn connect(&self) -> io::Result<Stream> {
        match tokio::time::timeout(self.timeout, self.open()).await {
            Ok(stream) => stream,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {:?}", self.timeout),
            )),
        }
    }

    async fn open(&self) -> io::Result<Stream> {
        let mut last = None;
        for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
            match tcp(addr).await {
                Ok(tcp) => return self.secure(tcp).await,
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the upstream name has no address")))
    }

    async fn secure(&self, tcp: TcpStream) -> io::Result<Stream> {
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => Ok(Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?))),
        }
    }
}

async fn tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    socket2::SockRef::from(&tcp).set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE))?;
    Ok(tcp)
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
