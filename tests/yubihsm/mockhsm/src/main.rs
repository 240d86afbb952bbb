//! yubihsm-mockhsm - the `yubihsm` crate's MockHsm served over the HTTP API
//! of yubihsm-connector, so that Yubico's yubihsm_pkcs11.so can talk to it.
//! TEST TOOL (tests/yubihsm).  The MockHsm keeps its objects in memory only
//! and starts as a factory-fresh device: authentication key 1, password
//! "password".
//!
//! Usage: yubihsm-mockhsm PORT   (binds 127.0.0.1:PORT only; 0 is refused:
//! the test picks a free port and waits for this one to answer)

use std::{env, process};

fn main() {
    let port: u16 = match env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(p)) if p != 0 => p,
        _ => {
            eprintln!("usage: yubihsm-mockhsm PORT");
            process::exit(2);
        }
    };
    let config = yubihsm::connector::HttpConfig {
        addr: "127.0.0.1".to_owned(),
        port,
        timeout_ms: 5000,
    };
    let server = match yubihsm::connector::http::Server::new(&config, yubihsm::Connector::mockhsm()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("yubihsm-mockhsm: cannot serve on 127.0.0.1:{port}: {e}");
            process::exit(1);
        }
    };
    eprintln!("yubihsm-mockhsm: serving on http://127.0.0.1:{port}");
    if let Err(e) = server.run() {
        eprintln!("yubihsm-mockhsm: {e}");
        process::exit(1);
    }
}
