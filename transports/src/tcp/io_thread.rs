//! The I/O thread of an endpoint that joined with `TcpTransport::connect`: a thread with a
//! current-thread tokio runtime of its own, on which the endpoint's listener, dials and
//! readers run whatever runtime its caller has.

use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Rank, Result};
use tokio::sync::oneshot;

/// The endpoint's I/O thread; stops when told to, or when dropped.
pub(crate) struct IoThread {
    pub(crate) handle: tokio::runtime::Handle,
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl IoThread {
    pub(crate) fn start(rank: Rank) -> Result<IoThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot start I/O: {e}")))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fccl-tcp-io-{rank}"))
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Dropping the runtime ends every task and closes every socket.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot start I/O: {e}")))?;
        Ok(IoThread {
            handle,
            stop: std::sync::Mutex::new(Some(stop)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// The signal that stops the thread, if nobody took it yet.
    pub(crate) fn take_stop(&self) -> Option<oneshot::Sender<()>> {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops the thread and waits for it (on a blocking-safe thread, not the I/O one).
    pub(crate) async fn stop_and_join(&self) {
        if let Some(stop) = self.take_stop() {
            let _ = stop.send(());
        }
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(stop) = self.take_stop() {
            let _ = stop.send(());
        }
    }
}
