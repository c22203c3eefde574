//! Calling the collective on the buffers.

use fccl_collectives::{Algorithm, Collective, Communicator, Element, Error, OpOptions, Result};

use super::Case;

/// The user tag of the sendrecv ring exchange.
const SENDRECV_TAG: u32 = 0xbe7c;

impl<T: Element> Case<T> {
    /// Runs the collective once, with `algorithm` forced if given.
    pub(crate) async fn run(
        &mut self,
        comm: &mut Communicator,
        algorithm: Option<Algorithm>,
    ) -> Result<()> {
        match algorithm {
            Some(a) => {
                let mut forced = comm.with_options(OpOptions::new().algorithm(a));
                self.invoke(&mut forced).await
            }
            None => self.invoke(comm).await,
        }
    }

    async fn invoke(&mut self, comm: &mut Communicator) -> Result<()> {
        let (op, root) = (self.op, self.root);
        let at_root = self.rank == root;
        let send = &self.send[..];
        let recv = &mut self.recv[..];
        match self.collective {
            Collective::AllReduce => comm.all_reduce(recv, op).await,
            Collective::Reduce => comm.reduce(send, at_root.then_some(recv), op, root).await,
            Collective::Broadcast => comm.broadcast(recv, root).await,
            Collective::ReduceScatter => comm.reduce_scatter(send, recv, op).await,
            Collective::AllGather => comm.all_gather(send, recv).await,
            Collective::AllToAll => comm.all_to_all(send, recv).await,
            Collective::AllToAllV => {
                comm.all_to_all_v(send, &self.send_counts, recv, &self.recv_counts)
                    .await
            }
            Collective::Gather => comm.gather(send, at_root.then_some(recv), root).await,
            Collective::Scatter => comm.scatter(at_root.then_some(send), recv, root).await,
            Collective::Scan => comm.scan(send, recv, op).await,
            Collective::ExScan => comm.exscan(send, recv, op).await,
            Collective::Barrier => comm.barrier().await,
            Collective::SendRecv => ring_exchange(comm, send, recv).await,
            Collective::Split => Err(Error::invalid("split cannot be benchmarked")),
        }
    }
}

/// Sends `send` to the next rank and receives the previous rank's into `recv`. Even ranks
/// send first and odd ranks receive first, so the ring never waits in a cycle even on a
/// transport with back-pressure (an odd ring's last rank sends to rank 0, which finishes
/// its send to rank 1 first).
async fn ring_exchange<T: Element>(
    comm: &mut Communicator,
    send: &[T],
    recv: &mut [T],
) -> Result<()> {
    let (rank, n) = (comm.rank(), comm.size());
    if n == 1 {
        recv.copy_from_slice(send);
        return Ok(());
    }
    let (next, prev) = ((rank + 1) % n, (rank + n - 1) % n);
    if rank % 2 == 0 {
        comm.send(send, next, SENDRECV_TAG).await?;
        comm.recv(recv, prev, SENDRECV_TAG).await?;
    } else {
        comm.recv(recv, prev, SENDRECV_TAG).await?;
        comm.send(send, next, SENDRECV_TAG).await?;
    }
    Ok(())
}
