//! `hotline`: a 12345 government service hotline gateway.
//!
//! Layers (see DESIGN.md), arrows pointing down only:
//! app (`main`, `server`, `config`) → channels (`sip`, `media`, `ivr`, `sms`, `mail`, `web`)
//! → domain (`tickets`, `speech`) → storage (`store`).

mod config;
mod media;
mod sip;
mod sms;
mod store;
mod tickets;

fn main() {
    println!("hotline");
}
