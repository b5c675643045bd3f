//! A TCP proxy between Tessera and Postgres that a test can cut, to make the database
//! unreachable (or unresponsive) without touching the shared Postgres server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward to Postgres.
    Up,
    /// Drop every connection at once: the database is unreachable.
    Down,
    /// Accept connections and never answer: the database hangs.
    Blackhole,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub address: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (mode, watcher) = watch::channel(Mode::Up);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let mut watcher = watcher.clone();
                let current = *watcher.borrow();
                let task = tokio::spawn(async move {
                    match current {
                        Mode::Down => {}
                        Mode::Blackhole => {
                            let _ = watcher.wait_for(|m| *m == Mode::Down).await;
                        }
                        Mode::Up => {
                            let Ok(mut server) = TcpStream::connect(upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = copy_bidirectional(&mut client, &mut server) => {}
                                _ = watcher.wait_for(|m| *m != Mode::Up) => {}
                            }
                        }
                    }
                });
                connections.lock().unwrap().push(task);
            }
        });
        Proxy {
            address,
            mode,
            accept,
        }
    }

    /// Switches mode; existing connections are cut when leaving `Up`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(Mode::Down);
        self.accept.abort();
    }
}
