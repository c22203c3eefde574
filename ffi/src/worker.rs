//! The queue behind every communicator handle.
//!
//! The async [`Communicator`] lives in one task on the shared runtime, which runs the
//! operations queued on it one after the other, in the order they were issued (the order
//! every rank must issue them in). A blocking call queues its operation and waits for its
//! result; a non-blocking one returns at once with the [`Pending`] result in a request.
//! So a communicator can have any number of outstanding operations, and they complete in
//! issue order, except point-to-point messages: the queue only posts them (their place in
//! their `(peer, tag)` order), and they finish on tasks of their own, so a receive posted
//! before the matching send on every rank completes, as in MPI.
//!
//! A panic inside an operation poisons the communicator: that operation and every later one
//! end with `FCCL_ERR_PANIC`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fccl::{CommId, Communicator, Rank, Transport};
use futures_util::FutureExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::{AbortHandle, JoinHandle};

use crate::error::{FCCL_ERR_INTERNAL, FCCL_ERR_REMOTE, Fail, panic_message};
use crate::runtime::runtime;

/// A future borrowing the communicator for its run.
pub(crate) type OpFuture<'c, T> = Pin<Box<dyn Future<Output = fccl::Result<T>> + Send + 'c>>;

/// A queued operation: it runs with the communicator and reports through its own channel.
type Op = Box<
    dyn for<'c> FnOnce(&'c mut Communicator) -> Pin<Box<dyn Future<Output = ()> + Send + 'c>>
        + Send,
>;

/// What the queue carries.
enum Msg {
    /// An operation.
    Op(Op),
    /// Leave the job (if this communicator owns the media) after every earlier operation.
    Finalize(std::sync::mpsc::SyncSender<fccl::Result<()>>),
}

/// What the handle and the task both see.
#[derive(Default)]
pub(crate) struct Shared {
    panic: Mutex<Option<String>>,
    aborted: AtomicBool,
    /// The tasks of posted messages, ended by an abort.
    posted: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    /// Poisons the communicator with a panic's message (the first one stays).
    pub(crate) fn poison(&self, message: &str) {
        let mut panic = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
        panic.get_or_insert_with(|| message.to_string());
    }

    /// The failure of a call on a poisoned communicator, if it is.
    fn poisoned(&self) -> Option<Fail> {
        let panic = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
        panic.as_ref().map(|m| {
            Fail::panic(format!(
                "the communicator is poisoned by an earlier panic: {m}"
            ))
        })
    }

    /// Why an operation ended without a result.
    fn dropped(&self) -> Fail {
        if let Some(fail) = self.poisoned() {
            return fail;
        }
        if self.aborted.load(Ordering::Acquire) {
            return Fail {
                code: FCCL_ERR_REMOTE,
                message: "the communicator was aborted (fccl_comm_abort)".into(),
            };
        }
        Fail {
            code: FCCL_ERR_INTERNAL,
            message: "the operation was dropped without a result".into(),
        }
    }
}

/// The result of a queued operation, to wait for or poll.
pub(crate) struct Pending<T> {
    rx: Receiver<fccl::Result<T>>,
    shared: Arc<Shared>,
}

impl<T> Pending<T> {
    /// Blocks until the operation ends.
    pub(crate) fn wait(self) -> Result<T, Fail> {
        match self.rx.recv() {
            Ok(result) => result.map_err(Fail::from),
            Err(_) => Err(self.shared.dropped()),
        }
    }

    /// The result if the operation has ended, `None` if it runs still.
    pub(crate) fn poll(&self) -> Option<Result<T, Fail>> {
        match self.rx.try_recv() {
            Ok(result) => Some(result.map_err(Fail::from)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(self.shared.dropped())),
        }
    }
}

/// The queue of one communicator and the task that works through it.
pub(crate) struct Worker {
    queue: Mutex<Option<UnboundedSender<Msg>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    media: Vec<Arc<dyn Transport>>,
    id: CommId,
    owns_media: bool,
}

impl Worker {
    /// Starts the task for `comm`. A communicator that `owns_media` (one from
    /// `fccl_comm_init_*`, not a split) closes them when it is finalized or destroyed.
    pub(crate) fn start(comm: Communicator, owns_media: bool) -> Result<Worker, Fail> {
        let shared = Arc::new(Shared::default());
        let media = comm.media().to_vec();
        let id = comm.id();
        let (tx, rx) = unbounded_channel();
        let task = runtime()?.spawn(work(comm, rx, Arc::clone(&shared), owns_media));
        Ok(Worker {
            queue: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            shared,
            media,
            id,
            owns_media,
        })
    }

    /// What the handle shares with the task.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Queues `op`; its result comes through the returned [`Pending`].
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        op: impl for<'c> FnOnce(&'c mut Communicator) -> OpFuture<'c, T> + Send + 'static,
    ) -> Result<Pending<T>, Fail> {
        if let Some(fail) = self.shared.poisoned() {
            return Err(fail);
        }
        let (tx, rx) = sync_channel(1);
        let job: Op = Box::new(move |comm: &mut Communicator| {
            Box::pin(async move {
                let result = op(comm).await;
                let _ = tx.send(result);
            })
        });
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = queue.as_ref().map(|q| q.send(Msg::Op(job)).is_ok());
        match sent {
            Some(true) => Ok(Pending {
                rx,
                shared: Arc::clone(&self.shared),
            }),
            Some(false) => Err(self.shared.dropped()),
            None => Err(Fail::invalid("the communicator is finalized")),
        }
    }

    /// Queues `post`, which takes a message's place in its order (as
    /// [`Communicator::post_recv`] does) and returns the future that finishes it. That future
    /// runs on a task of its own, so later operations do not wait for it: a receive posted
    /// before the matching send on every rank completes, as with `MPI_Irecv`.
    pub(crate) fn submit_posted<T: Send + 'static>(
        &self,
        post: impl FnOnce(&mut Communicator) -> fccl::Result<OpFuture<'static, T>> + Send + 'static,
    ) -> Result<Pending<T>, Fail> {
        let (tx, rx) = sync_channel(1);
        let shared = Arc::clone(&self.shared);
        let rt = runtime()?;
        self.submit(move |comm| {
            let posted = post(comm);
            Box::pin(async move {
                match posted {
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                    Ok(future) => {
                        let owner = Arc::clone(&shared);
                        let task = rt.spawn(async move {
                            match AssertUnwindSafe(future).catch_unwind().await {
                                Ok(result) => {
                                    let _ = tx.send(result);
                                }
                                Err(payload) => owner.poison(&panic_message(payload.as_ref())),
                            }
                        });
                        let mut posted =
                            shared.posted.lock().unwrap_or_else(PoisonError::into_inner);
                        posted.retain(|t| !t.is_finished());
                        posted.push(task.abort_handle());
                    }
                }
                Ok(())
            })
        })?;
        Ok(Pending {
            rx,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Waits for every queued operation, then leaves the job if this communicator owns the
    /// media. Later operations are refused.
    pub(crate) fn finalize(&self) -> Result<(), Fail> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(queue) = queue else {
            return Err(Fail::invalid("the communicator is finalized already"));
        };
        let (tx, rx) = sync_channel(1);
        if queue.send(Msg::Finalize(tx)).is_err() {
            return Err(self.shared.dropped());
        }
        drop(queue);
        match rx.recv() {
            Ok(result) => result.map_err(Fail::from),
            Err(_) => Err(self.shared.dropped()),
        }
    }

    /// Ends the communicator at once: tells the peers (best effort, at most a second), drops
    /// the queued operations (their requests end with `FCCL_ERR_REMOTE`) and, if this
    /// communicator owns the media, closes them.
    pub(crate) fn abort(&self) -> Result<(), Fail> {
        self.shared.aborted.store(true, Ordering::Release);
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let rt = runtime()?;
        if let Some(task) = &task {
            task.abort();
        }
        let posted = std::mem::take(
            &mut *self
                .shared
                .posted
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        posted.iter().for_each(AbortHandle::abort);
        let (media, id, owns) = (&self.media, self.id, self.owns_media);
        rt.block_on(async move {
            if let Some(task) = task {
                let _ = task.await;
            }
            let Some(first) = media.first() else { return };
            let me = first.rank();
            let peers: Vec<Rank> = (0..first.size()).filter(|&r| r != me).collect();
            let reason = format!("rank {me} aborted the communicator");
            let tell =
                futures_util::future::join_all(media.iter().map(|m| m.abort(id, &peers, &reason)));
            let _ = tokio::time::timeout(Duration::from_secs(1), tell).await;
            if owns {
                let close = futures_util::future::join_all(media.iter().map(|m| m.close()));
                let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
            }
        });
        Ok(())
    }
}

impl Drop for Worker {
    /// Lets the task finish the queued operations (and leave the job if it owns the media),
    /// and waits for it.
    fn drop(&mut self) {
        drop(
            self.queue
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let (Some(task), Ok(rt)) = (task, runtime()) {
            let _ = rt.block_on(task);
        }
    }
}

/// The task: runs each queued operation in turn.
async fn work(
    comm: Communicator,
    mut queue: UnboundedReceiver<Msg>,
    shared: Arc<Shared>,
    owns_media: bool,
) {
    let mut comm = Some(comm);
    while let Some(msg) = queue.recv().await {
        match msg {
            Msg::Op(op) => {
                let Some(c) = comm.as_mut() else { continue };
                if shared.poisoned().is_some() {
                    continue;
                }
                let run = AssertUnwindSafe(async move { op(c).await });
                if let Err(payload) = run.catch_unwind().await {
                    shared.poison(&panic_message(payload.as_ref()));
                }
            }
            Msg::Finalize(reply) => {
                let result = match comm.take() {
                    Some(c) if owns_media => c.close().await,
                    _ => Ok(()),
                };
                let _ = reply.send(result);
            }
        }
    }
    if let (true, Some(c)) = (owns_media, comm.take()) {
        let _ = c.close().await;
    }
}
