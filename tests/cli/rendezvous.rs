//! `fccl rendezvous`: the server in the foreground.

use std::net::TcpStream;
use std::time::Duration;

use crate::support::{rendezvous, signal, wait};

#[test]
fn rendezvous_says_where_it_listens_and_stops_on_sigterm() {
    let (mut server, addr) = rendezvous();
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    assert_eq!(host, "127.0.0.1");
    assert_ne!(port.parse::<u16>().expect("a port"), 0);
    TcpStream::connect(&addr).expect("the server accepts connections");
    signal(server.0.id(), "TERM");
    let status = wait(&mut server.0, Duration::from_secs(10)).expect("the server stops");
    assert!(status.success(), "{status:?}");
}

#[test]
fn rendezvous_stops_on_sigint() {
    let (mut server, _addr) = rendezvous();
    signal(server.0.id(), "INT");
    let status = wait(&mut server.0, Duration::from_secs(10)).expect("the server stops");
    assert!(status.success(), "{status:?}");
}
