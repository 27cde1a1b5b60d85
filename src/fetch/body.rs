//! Reading a response body: decoded as its `Content-Encoding` says (gzip, deflate, br), cut at
//! the cap (so a compression bomb costs at most `--max-body`), and timed out when a read waits
//! `--read-timeout` or the body trickles in slower than [`MIN_PROGRESS`] bytes per that long.

use std::time::{Duration, Instant};

use async_compression::futures::bufread::{
    BrotliDecoder, DeflateDecoder, GzipDecoder, ZlibDecoder,
};
use futures_lite::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt};

use super::classify::classify_io_error;
use crate::failure::ErrorKind;
use crate::runtime;

/// Least body progress per `--read-timeout` window before a slow body counts as timed out.
pub const MIN_PROGRESS: u64 = 1024;

pub(super) type BoxRead = Box<dyn AsyncRead + Unpin + Send>;

/// Wraps the raw body in the decoder its `Content-Encoding` names. Returns whether a decoder
/// is in place (its errors are `decode` failures). Unknown codings are stored as received.
/// Sniffing a deflate body waits for its first bytes, under `idle` like every body read.
pub(super) async fn decoder<R: AsyncBufRead + Unpin + Send + 'static>(
    mut raw: R,
    coding: Option<&str>,
    idle: Duration,
) -> std::result::Result<(BoxRead, bool), (ErrorKind, String)> {
    let coding = coding.map(|c| c.rsplit(',').next().unwrap_or("").trim().to_string());
    Ok(match coding.as_deref() {
        Some("gzip") | Some("x-gzip") => {
            let mut d = GzipDecoder::new(raw);
            d.multiple_members(true);
            (Box::new(d), true)
        }
        Some("br") => (Box::new(BrotliDecoder::new(raw)), true),
        Some("deflate") => {
            // "deflate" is zlib-wrapped by the standard, raw deflate from some servers.
            let head = runtime::timeout(idle, raw.fill_buf())
                .await
                .map_err(|_| idle_timeout(idle))?
                .map_err(|e| classify_io_error(&e))?;
            let zlib = head.len() >= 2
                && head[0] & 0x0f == 8
                && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
            if zlib {
                (Box::new(ZlibDecoder::new(raw)), true)
            } else {
                (Box::new(DeflateDecoder::new(raw)), true)
            }
        }
        _ => (Box::new(raw), false),
    })
}

pub(super) fn idle_timeout(idle: Duration) -> (ErrorKind, String) {
    let msg = format!("no body bytes for {}", humantime::format_duration(idle));
    (ErrorKind::Timeout, msg)
}

/// Most bytes asked of one read: the window of the body zero-filled and read into at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Reads up to `cap` bytes, then stops: the rest of the body is never read, and dropping the
/// reader lets curl close that connection rather than drain it. A read that waits longer than
/// `idle`, or a window of `idle` bringing fewer than [`MIN_PROGRESS`] bytes of a body that goes
/// on, is a timeout. Bytes are read straight into the body, sized from `size_hint` (the
/// Content-Length of a body not being decoded) when there is one: no second buffer, no copy,
/// and no regrowth of a body whose size was announced.
pub(super) async fn read_capped<R: AsyncRead + Unpin>(
    mut reader: R,
    cap: u64,
    idle: Duration,
    size_hint: Option<u64>,
) -> std::result::Result<(Vec<u8>, bool), (ErrorKind, String)> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    // One byte past the cap tells a cut body from one that ends exactly there.
    let limit = cap.saturating_add(1);
    let expected = size_hint
        .and_then(|n| usize::try_from(n).ok())
        .map(|n| n.saturating_add(1));
    let mut body = Vec::with_capacity(expected.unwrap_or(16 * 1024).min(limit));
    let (mut window_start, mut window_bytes) = (Instant::now(), 0u64);
    // The last window brought too little. The verdict waits for the next read: a body that is
    // over (a small page read late because the machine was busy) is complete, not slow.
    let mut slow = false;
    loop {
        let start = body.len();
        if start == body.capacity() {
            body.reserve(READ_CHUNK.min(limit - start));
        }
        let want = (body.capacity() - start).min(READ_CHUNK).min(limit - start);
        body.resize(start + want, 0);
        let read = runtime::timeout(idle, reader.read(&mut body[start..])).await;
        let n = match read {
            Err(_) => return Err(idle_timeout(idle)),
            Ok(Err(e)) => return Err(classify_io_error(&e)),
            Ok(Ok(n)) => n,
        };
        body.truncate(start + n);
        if n == 0 {
            return Ok((body, false));
        }
        if slow {
            let msg = format!(
                "body slower than {MIN_PROGRESS} bytes per {}",
                humantime::format_duration(idle)
            );
            return Err((ErrorKind::Timeout, msg));
        }
        if body.len() > cap {
            body.truncate(cap);
            return Ok((body, true));
        }
        window_bytes += n as u64;
        if window_start.elapsed() >= idle {
            slow = window_bytes < MIN_PROGRESS;
            (window_start, window_bytes) = (Instant::now(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_cut_at_the_cap() {
        let data = [7u8; 100];
        let idle = Duration::from_secs(5);
        let (b, t) = runtime::block_on(read_capped(&data[..], 10, idle, None)).unwrap();
        assert_eq!((b.len(), t), (10, true));
        let (b, t) = runtime::block_on(read_capped(&data[..], 100, idle, None)).unwrap();
        assert_eq!((b.len(), t), (100, false));
        // A size hint, right or wrong, changes nothing but how the body is allocated.
        for hint in [0, 5, 100, 1000, u64::MAX] {
            let got = runtime::block_on(read_capped(&data[..], 100, idle, Some(hint))).unwrap();
            assert_eq!(got, (data.to_vec(), false), "hint {hint}");
            let got = runtime::block_on(read_capped(&data[..], 10, idle, Some(hint))).unwrap();
            assert_eq!(got, (data[..10].to_vec(), true), "hint {hint}");
        }
        let (b, t) = runtime::block_on(read_capped(&data[..], 0, idle, None)).unwrap();
        assert_eq!((b.len(), t), (0, true));
    }

    /// A loopback socket whose peer writes `steps` (pause, then bytes) and closes.
    fn paced(steps: Vec<(u64, Vec<u8>)>) -> async_std::net::TcpStream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            let (mut conn, _) = listener.accept().unwrap();
            for (pause, bytes) in steps {
                std::thread::sleep(Duration::from_millis(pause));
                if conn.write_all(&bytes).is_err() {
                    return;
                }
            }
        });
        runtime::block_on(async_std::net::TcpStream::connect(addr)).unwrap()
    }

    #[test]
    fn a_trickle_times_out_but_a_small_late_body_is_complete() {
        let idle = Duration::from_millis(300);
        // One byte every 100 ms: never idle for 300 ms, yet far below MIN_PROGRESS.
        let drip = paced((0..40).map(|_| (100, vec![b'x'])).collect());
        let started = Instant::now();
        let err = runtime::block_on(read_capped(drip, 1 << 20, idle, None)).unwrap_err();
        assert_eq!(err.0, ErrorKind::Timeout, "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "cut by the window"
        );
        // 200 bytes once a whole window has passed, then the end: the window closes with
        // fewer than MIN_PROGRESS bytes, but the body is over, not slow.
        let late = Scripted(vec![(idle, vec![b'a'; 200])].into());
        let (b, t) = runtime::block_on(read_capped(late, 1 << 20, idle, None)).unwrap();
        assert_eq!((b.len(), t), (200, false));
        // The same window with more to come is slow.
        let on = Scripted(vec![(idle, vec![b'a'; 200]), (Duration::ZERO, vec![b'b'])].into());
        let err = runtime::block_on(read_capped(on, 1 << 20, idle, None)).unwrap_err();
        assert!(err.1.starts_with("body slower than"), "{err:?}");
    }

    /// A body whose reads each take their pause, then give their bytes; after the last, the
    /// end. The pause passes inside the read, so when `read_capped` sees the bytes at least
    /// that much of its window is gone, however busy the machine. (A socket whose peer sleeps,
    /// then writes, leaves that to the scheduler: under load a read saw 200 bytes meant for
    /// inside the window only after it, or waited past the read timeout for them.)
    struct Scripted(std::collections::VecDeque<(Duration, Vec<u8>)>);

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let Some((pause, bytes)) = self.0.pop_front() else {
                return std::task::Poll::Ready(Ok(0));
            };
            std::thread::sleep(pause);
            assert!(bytes.len() <= buf.len(), "one step fits one read");
            buf[..bytes.len()].copy_from_slice(&bytes);
            std::task::Poll::Ready(Ok(bytes.len()))
        }
    }

    #[test]
    fn a_deflate_body_that_never_starts_times_out_while_sniffed() {
        let idle = Duration::from_millis(300);
        let silent = futures_lite::io::BufReader::new(paced(vec![(3_000, vec![0x78, 0x9c])]));
        let started = Instant::now();
        let sniffed = runtime::block_on(decoder(silent, Some("deflate"), idle));
        assert_eq!(sniffed.err().map(|e| e.0), Some(ErrorKind::Timeout));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "cut at --read-timeout"
        );
    }

    #[test]
    fn gzip_and_deflate_bodies_decode_under_the_cap() {
        use std::io::Write;
        let plain = b"hello ".repeat(10_000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(&plain).unwrap();
        let zl = zl.finish().unwrap();
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&plain).unwrap();
        let raw = raw.finish().unwrap();
        let idle = Duration::from_secs(5);
        for (coding, bytes) in [("gzip", &gz), ("deflate", &zl), ("deflate", &raw)] {
            let body = runtime::block_on(async {
                let (r, decoding) = decoder(
                    futures_lite::io::Cursor::new(bytes.clone()),
                    Some(coding),
                    idle,
                )
                .await
                .unwrap();
                assert!(decoding);
                read_capped(r, 1000, idle, None).await.unwrap()
            });
            assert_eq!((body.0.len(), body.1), (1000, true), "{coding}");
            assert_eq!(&body.0[..], &plain[..1000]);
        }
    }
}
