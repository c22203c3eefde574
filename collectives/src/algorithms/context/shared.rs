//! Shared objects and counters for store-native algorithms, with the framing and checks
//! of messages.
//!
//! An object is put once by its owner and read by any number of ranks; it carries the
//! call's header, so a reader that disagrees with the owner about the call gets `Mismatch`
//! as a receiver would. Names never meet the call's messages: objects, counters and the
//! counters that release objects each set a high bit of the tag's step (message steps stay
//! below 2^30), and the release counter of an object carries its owner in the chunk
//! (owner·2^16 + chunk), because counters, unlike objects, have no owner in their name.

use std::future::Future;

use futures_util::future::try_join;

use super::{OpCtx, Payload};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{Header, Tag};
use crate::transport::SharedObjects;
use crate::types::{Element, Rank};

/// Step bit of objects.
const OBJECT: u32 = 1 << 31;
/// Step bit of counters; with [`OBJECT`], of release counters.
const COUNTER: u32 = 1 << 30;
/// Owners and chunks a release counter's chunk field holds (16 bits each).
const RELEASE_SPLIT: u32 = 1 << 16;

/// The store requests [`OpCtx::release`] makes for an object of `readers` readers, over all
/// of them: one remove for a single reader; else an add per reader, then the last one
/// removes the object and the counter.
pub fn release_requests(readers: usize) -> u64 {
    match readers {
        0 => 0,
        1 => 1,
        r => r as u64 + 2,
    }
}

impl<'a> OpCtx<'a> {
    /// The transport's shared objects, where the medium has them.
    pub fn shared(&self) -> Option<&'a dyn SharedObjects> {
        self.transport.shared()
    }

    fn store(&self) -> Result<&'a dyn SharedObjects> {
        self.shared().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "a store-native algorithm ran on a transport without shared objects",
            )
            .with_collective(self.header.collective)
        })
    }

    fn shared_tag(&self, bit: u32, step: u32, chunk: u32) -> Tag {
        let step = self.step_base + step;
        debug_assert!(step < COUNTER, "step {step} reaches the shared-object bits");
        Tag {
            step: bit | step,
            chunk,
            ..self.header.tag
        }
    }

    fn counter_error(&self, e: Error, step: u32) -> Error {
        e.with_collective(self.header.collective).with_step(step)
    }

    /// Puts `data` as this rank's object `(step, chunk)`, framed with the call's header. The
    /// data is framed before this returns, so the borrow of `data` ends here (as with
    /// [`OpCtx::send`]).
    pub fn put<T: Element>(
        &self,
        step: u32,
        chunk: u32,
        data: &[T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let tag = self.shared_tag(OBJECT, step, chunk);
        let header = Header {
            tag,
            chunks: 1,
            ..self.header
        };
        let frame = header.encode(bytemuck::cast_slice(data));
        let this = *self;
        async move {
            this.store()?
                .put(tag, frame)
                .await
                .map_err(|e| this.annotate(e, this.rank, step))
        }
    }

    /// Reads `owner`'s object `(step, chunk)`, waiting for it until the call's deadline; it
    /// must hold exactly `len` elements and a header that agrees with this rank's call.
    pub async fn get<T: Element>(
        &self,
        owner: Rank,
        step: u32,
        chunk: u32,
        len: usize,
    ) -> Result<Payload<T>> {
        let from = self.member(owner, "read the object of")?;
        let tag = self.shared_tag(OBJECT, step, chunk);
        let frame = self
            .store()?
            .get(from, tag, self.deadline)
            .await
            .map_err(|e| self.annotate(e, owner, step))?;
        let payload = self.open(&frame, owner, step, 1)?;
        self.check_len(payload, len, owner, step)
    }

    /// Removes `owner`'s object `(step, chunk)`.
    pub async fn remove(&self, owner: Rank, step: u32, chunk: u32) -> Result<()> {
        let of = self.member(owner, "removed the object of")?;
        let tag = self.shared_tag(OBJECT, step, chunk);
        self.store()?
            .remove(of, tag)
            .await
            .map_err(|e| self.annotate(e, owner, step))
    }

    /// Says this rank is done reading `owner`'s object `(step, chunk)`, which `readers`
    /// ranks read: the last of them to say so removes the object (and the counter that
    /// counted them). One reader removes it at once.
    pub async fn release(&self, owner: Rank, step: u32, chunk: u32, readers: usize) -> Result<()> {
        if readers <= 1 {
            return self.remove(owner, step, chunk).await;
        }
        if owner >= RELEASE_SPLIT as usize || chunk >= RELEASE_SPLIT {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("shared objects name at most {RELEASE_SPLIT} owners and chunks"),
            ));
        }
        #[allow(clippy::cast_possible_truncation)] // below 2^16, checked above
        let tag = self.shared_tag(OBJECT | COUNTER, step, owner as u32 * RELEASE_SPLIT + chunk);
        let store = self.store()?;
        let done = store
            .add(tag, 1)
            .await
            .map_err(|e| self.annotate(e, owner, step))?;
        if usize::try_from(done) == Ok(readers) {
            let removed = try_join(self.remove(owner, step, chunk), store.remove_counter(tag));
            removed.await.map_err(|e| self.annotate(e, owner, step))?;
        }
        Ok(())
    }

    /// Adds `delta` to the call's counter `(step, chunk)` (which starts at 0) and returns
    /// the new value.
    pub async fn counter_add(&self, step: u32, chunk: u32, delta: i64) -> Result<i64> {
        let tag = self.shared_tag(COUNTER, step, chunk);
        self.store()?
            .add(tag, delta)
            .await
            .map_err(|e| self.counter_error(e, step))
    }

    /// Waits, until the call's deadline, for the counter `(step, chunk)` to reach
    /// `at_least`, and returns its value.
    pub async fn counter_wait(&self, step: u32, chunk: u32, at_least: i64) -> Result<i64> {
        let tag = self.shared_tag(COUNTER, step, chunk);
        self.store()?
            .wait_for(tag, at_least, self.deadline)
            .await
            .map_err(|e| self.counter_error(e, step))
    }

    /// Removes the counter `(step, chunk)`.
    pub async fn counter_remove(&self, step: u32, chunk: u32) -> Result<()> {
        let tag = self.shared_tag(COUNTER, step, chunk);
        self.store()?
            .remove_counter(tag)
            .await
            .map_err(|e| self.counter_error(e, step))
    }
}
