//! The dialog table and the transaction pump, shared by UAS and UAC dialogs.
//!
//! Requests inside a dialog (BYE, INFO, re-INVITE) reach the dispatcher as new server
//! transactions; the table routes them by Call-ID and our tag to the task that owns the
//! dialog. The pump lets a dialog task `select!` on a transaction whose `receive()` is not
//! cancel-safe.

use std::collections::HashMap;
use std::sync::Mutex;

use rsipstack::sip::SipMessage;
use rsipstack::transaction::transaction::{Transaction, TransactionEventSender};
use tokio::sync::mpsc;

/// Key of the dialog table: Call-ID and our tag (the To tag of requests that reach us).
pub(crate) type DialogKey = (String, String);

/// Where in-dialog requests go: one channel per live dialog.
#[derive(Default)]
pub(crate) struct DialogTable {
    dialogs: Mutex<HashMap<DialogKey, mpsc::UnboundedSender<Transaction>>>,
}

impl DialogTable {
    pub(crate) fn register(&self, key: DialogKey, tx: mpsc::UnboundedSender<Transaction>) {
        if let Ok(mut m) = self.dialogs.lock() {
            m.insert(key, tx);
        }
    }
    pub(crate) fn unregister(&self, key: &DialogKey) {
        if let Ok(mut m) = self.dialogs.lock() {
            m.remove(key);
        }
    }
    pub(crate) fn lookup(&self, key: &DialogKey) -> Option<mpsc::UnboundedSender<Transaction>> {
        self.dialogs.lock().ok()?.get(key).cloned()
    }
}

/// A message pump for one server or client transaction: it owns the transaction and
/// drives `receive()` (which is not cancel-safe) in its own task; responses go in through
/// the transaction's event channel, received messages come out of `rx`.
pub(crate) struct Pump {
    pub tu: TransactionEventSender,
    pub rx: mpsc::UnboundedReceiver<SipMessage>,
}

pub(crate) fn spawn_pump(mut tx: Transaction) -> Pump {
    let tu = tx.tu_sender.clone();
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(m) = tx.receive().await {
            let _ = out.send(m);
        }
    });
    Pump { tu, rx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unregistered_dialog_is_not_found() {
        let table = DialogTable::default();
        let key: DialogKey = ("call".into(), "tag".into());
        let (tx, _rx) = mpsc::unbounded_channel();
        table.register(key.clone(), tx);
        assert!(table.lookup(&key).is_some());
        assert!(table.lookup(&("call".into(), "other".into())).is_none());
        table.unregister(&key);
        assert!(table.lookup(&key).is_none());
    }
}
