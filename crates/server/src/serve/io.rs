//! The socket as hyper sees it: reports arriving bytes to the connection's [`Activity`], holds the
//! connection's slot under the cap (so an upgraded WebSocket, which takes this object over, still
//! counts until it closes), and closes politely after an unfinished request head.
use super::activity::Activity;
use super::stats::Slot;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// After answering an unfinished head (431, 400), what the client is still sending is read and
/// dropped — up to this much, for up to this long — before the socket closes. Closing with unread
/// data makes the kernel send a reset, and the client then often loses the answer.
const LINGER_BYTES: usize = 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// How many bytes of the HTTP/2 preface have matched so far.
    Detecting(usize),
    Http1,
    /// Frames arrive between requests (PINGs, window updates): they do not start a request head.
    Http2,
}

#[derive(Debug)]
pub struct TrackedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    protocol: Protocol,
    linger: Option<Linger>,
    _slot: Slot,
}

#[derive(Debug)]
struct Linger {
    until: Pin<Box<tokio::time::Sleep>>,
    drained: usize,
}

impl TrackedIo {
    pub fn new(stream: TcpStream, activity: Arc<Activity>, slot: Slot) -> Self {
        TrackedIo { stream, activity, protocol: Protocol::Detecting(0), linger: None, _slot: slot }
    }

    fn arrived(&mut self, bytes: &[u8]) {
        if let Protocol::Detecting(matched) = self.protocol {
            let wanted = &H2_PREFACE[matched..];
            let n = bytes.len().min(wanted.len());
            self.protocol = if bytes[..n] != wanted[..n] {
                Protocol::Http1
            } else if matched + n == H2_PREFACE.len() {
                Protocol::Http2
            } else {
                Protocol::Detecting(matched + n)
            };
        }
        if self.protocol != Protocol::Http2 {
            self.activity.bytes_arrived();
        }
    }

    /// Reads and drops input until the client closes, the budget is spent or the time is up.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(linger) = self.linger.as_mut() else { return Poll::Ready(()) };
        let mut scratch = [0u8; 4096];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    linger.drained += buf.filled().len();
                    if linger.drained >= LINGER_BYTES {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return linger.until.as_mut().poll(cx),
            }
        }
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.arrived(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    /// hyper shuts the write side down after its last answer. When that answer refused an
    /// unfinished head, linger (above) so the client gets to read it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            if !this.activity.mid_head() {
                return Poll::Ready(Ok(()));
            }
            this.linger = Some(Linger { until: Box::pin(tokio::time::sleep(LINGER_TIME)), drained: 0 });
        }
        ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::stats::ListenerStats;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn pair() -> (TrackedIo, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let stats = Arc::new(ListenerStats::new("test", 10));
        let slot = stats.try_open().unwrap();
        (TrackedIo::new(server, Arc::new(Activity::new(quanta::Clock::new())), slot), client)
    }

    async fn read_some(io: &mut TrackedIo) -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        let n = io.read(&mut buf).await.unwrap();
        buf.truncate(n);
        buf
    }

    #[tokio::test]
    async fn the_http2_preface_is_recognised_even_byte_by_byte() {
        let (mut io, mut client) = pair().await;
        for byte in H2_PREFACE {
            client.write_all(&[*byte]).await.unwrap();
            assert_eq!(read_some(&mut io).await, [*byte]);
        }
        assert_eq!(io.protocol, Protocol::Http2);
        let (mut io, mut client) = pair().await;
        client.write_all(b"PRI * HTTP/1.1\r\n").await.unwrap();
        let _ = read_some(&mut io).await;
        assert_eq!(io.protocol, Protocol::Http1);
    }

    #[tokio::test]
    async fn shutting_down_mid_head_reads_the_rest_so_the_client_gets_the_answer() {
        let (mut io, mut client) = pair().await;
        client.write_all(b"GET / HTTP/1.1\r\nx: ").await.unwrap();
        let _ = read_some(&mut io).await;
        assert!(io.activity.mid_head());
        let sender = tokio::spawn(async move {
            // still sending when the server answers and closes: without the linger its writes
            // fail with a reset (clients then report that, not the answer)
            for _ in 0..40 {
                client.write_all(&[b'a'; 16 * 1024]).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.map(|_| answer)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        io.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n").await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        let answer = sender.await.unwrap().expect("the client reads the answer, not a reset");
        assert!(answer.starts_with(b"HTTP/1.1 431"), "{}", String::from_utf8_lossy(&answer));
    }
}
