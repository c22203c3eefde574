//! A length prefix never makes the rendezvous allocate the length it claims: a claim over
//! the receiver's limit is refused from the four bytes of the prefix alone, and a claim
//! within it (a rank accepts replies of up to 64 MiB) costs only the bytes that arrive.
//! This binary's allocator records the largest single allocation, which the tests bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fccl_collectives::{ErrorKind, JobId, Secret};
use fccl_transports::tcp::rendezvous::{
    JobKey, Registration, RendezvousServer, ServerConfig, register,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

/// The system allocator, recording the largest size it was asked for.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` unchanged; only a size is recorded beside it.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the rest is the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Far below every claim these tests make, far above anything a registration needs.
const NO_BIGGER: usize = 1 << 20;
/// The largest reply a rank accepts (protocol.rs, `REPLY_LIMIT`).
const REPLY_LIMIT: u32 = 64 << 20;

/// Runs `test`, then checks that no allocation on the way reached [`NO_BIGGER`] (the tests
/// in this file make no other large allocation, whichever threads they share).
async fn without_large_allocations<T>(test: impl Future<Output = T>) -> T {
    LARGEST.store(0, Ordering::Relaxed);
    let out = timeout(Duration::from_secs(20), test)
        .await
        .expect("the test overran its limit");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < NO_BIGGER, "an allocation of {largest} bytes");
    out
}

/// A server that reads one registration frame and answers with `answer`, then keeps the
/// connection open (`hold`) or closes it.
async fn fake_server(answer: Vec<u8>, hold: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut prefix = [0; 4];
        stream.read_exact(&mut prefix).await.unwrap();
        let mut body = vec![0; u32::from_le_bytes(prefix) as usize];
        stream.read_exact(&mut body).await.unwrap();
        stream.write_all(&answer).await.unwrap();
        if hold {
            // Until the rank gives up and closes.
            let _ = stream.read(&mut [0; 1]).await;
        }
    });
    addr
}

async fn register_with(server: SocketAddr) -> fccl_collectives::Result<()> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let job = JobId::random();
    let reg = Registration {
        token: None,
        job,
        key: JobKey::derive(&Secret::random(), job),
        size: 2,
        rank: 0,
        wait: Duration::from_secs(5),
        private: vec![],
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    register(socket, server, &reg, deadline).await.map(|_| ())
}

#[tokio::test]
async fn a_reply_claiming_4_gib_is_refused_from_its_prefix() {
    without_large_allocations(async {
        // Only the prefix comes, and the connection stays open: the rank must not wait for
        // a body it would refuse anyway.
        let server = fake_server(u32::MAX.to_le_bytes().to_vec(), true).await;
        let started = Instant::now();
        let err = register_with(server).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rendezvous, "{err}");
        assert!(
            err.message()
                .contains("a reply of 4294967295 bytes, more than the 67108864 accepted"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(4), "it waited");
    })
    .await;
}

#[tokio::test]
async fn a_reply_claiming_64_mib_costs_only_what_arrives() {
    without_large_allocations(async {
        let mut answer = REPLY_LIMIT.to_le_bytes().to_vec();
        answer.extend_from_slice(&[0; 10]);
        let server = fake_server(answer, false).await;
        let err = register_with(server).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rendezvous, "{err}");
        assert!(
            err.message()
                .contains("its reply was cut short after 14 bytes"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_server_refuses_a_4_gib_registration_from_its_prefix() {
    let server =
        RendezvousServer::start_background("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
            .unwrap();
    without_large_allocations(async {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(&0xFFFF_FFF0_u32.to_le_bytes())
            .await
            .unwrap();
        // The connection stays open, so the refusal can only come from the prefix.
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.unwrap();
        let message = String::from_utf8_lossy(reply.get(8..).unwrap_or_default());
        assert!(
            message.contains("a registration of 4294967280 bytes, more than the 4096 accepted"),
            "{reply:?}"
        );
    })
    .await;
}
